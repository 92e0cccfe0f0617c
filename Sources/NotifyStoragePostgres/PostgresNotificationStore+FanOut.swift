import Foundation
import Logging
import NotifyDomain
public import NotifyStorage
import PostgresNIO
import Synchronization

/// What one writer transaction hands to the background fan-out: the inline
/// limit, and how many jobs it recorded (so that the writer wakes the
/// fan-out once the transaction has committed, not before, when the job
/// would not be visible yet).
final class FanOutHandoff: Sendable {
    let inlineLimit: Int
    private let created = Mutex(0)

    init(inlineLimit: Int) {
        self.inlineLimit = max(0, inlineLimit)
    }

    /// A job was recorded in the transaction under way.
    func recorded() {
        created.withLock { $0 += 1 }
    }

    /// The transaction rolled back: its jobs are gone (the batch runs again).
    func rolledBack() {
        created.withLock { $0 = 0 }
    }

    /// Jobs recorded by the committed transaction.
    var jobs: Int { created.withLock { $0 } }
}

extension PostgresNotificationStore {
    /// After a writer transaction: counts the jobs it recorded and wakes this
    /// instance's fan-out for them, when at least one of its appends
    /// committed (a failed transaction recorded nothing).
    func jobsCommitted(_ handoff: FanOutHandoff, _ outcomes: [PostgresAppendOutcome]) {
        let jobs = handoff.jobs
        guard jobs > 0, outcomes.contains(where: { if case .appended = $0 { true } else { false } }) else { return }
        counters.withLock { $0.fanOutJobsCreated += jobs }
        fanOutWake.continuation.yield()
    }

    /// The background fan-out of this instance: on each wake-up (a job this
    /// instance recorded, the store's start, and every
    /// ``PostgresStoreConfiguration/fanOutPollInterval`` for the jobs of
    /// other instances, or of one that died), runs batches of any pending job
    /// until none is left unclaimed. Ends when cancelled.
    ///
    /// Each batch's rows follow from how long the last one's statements
    /// took against ``PostgresStoreConfiguration/fanOutTransactionBudget``,
    /// and while this instance's appends flow (``appendsFlow``) it then rests
    /// as long, plus ``PostgresStoreConfiguration/fanOutPause``: a writer
    /// batch naming one of the feeds it writes waits for it.
    func runFanOut() async {
        guard configuration.runsBackgroundFanOut else { return }
        let pause = configuration.fanOutPause
        var rows = BudgetedBatch(
            budget: configuration.fanOutTransactionBudget, cap: max(1, configuration.fanOutBatchSize), floor: Self.fanOutFloor)
        // Jobs left by a previous run, or by an instance that died.
        fanOutWake.continuation.yield()
        for await _ in fanOutWake.stream {
            while !Task.isCancelled && !queue.isClosed {
                do {
                    guard let took = try await fanOutBatch(size: rows.size) else { break }
                    rows.took(took)
                    let rest = rows.budget > .zero && appendsFlow ? pause + took : pause
                    if rest > .zero { try await Task.sleep(for: rest) }
                } catch let error as StorageError {
                    if Task.isCancelled || queue.isClosed { return }
                    logger.info("background fan-out failed; retrying", metadata: ["error.type": "\(error)"])
                    try? await Task.sleep(for: .seconds(1))
                } catch {
                    // Only the pause's sleep throws otherwise: cancelled.
                    return
                }
            }
        }
    }

    /// Wakes the fan-out every ``PostgresStoreConfiguration/fanOutPollInterval``:
    /// jobs recorded by other instances are found this way. Ends when cancelled.
    func pollFanOut() async {
        let interval = configuration.fanOutPollInterval
        guard configuration.runsBackgroundFanOut, interval > .zero else { return }
        while !queue.isClosed {
            do {
                try await Task.sleep(for: interval)
            } catch {
                return
            }
            fanOutWake.continuation.yield()
        }
    }

    /// One batch of the oldest job no other transaction holds, in one
    /// transaction: the job's row is claimed with `FOR UPDATE SKIP LOCKED`
    /// (another instance's worker skips it and takes the next job, or waits
    /// for its next wake-up), the next
    /// ``PostgresStoreConfiguration/fanOutBatchSize`` users after its cursor
    /// get their feed rows (heads row-locked in user order, as the writer
    /// locks them), and the cursor moves past them, or the job is deleted
    /// with its last users; a NOTIFY naming them goes with the commit
    /// (``sendFeedNotices(_:_:)``). A crash loses only the open transaction: the
    /// lock goes with the connection, and the next claim starts from the
    /// committed cursor, so no follower gets the entry twice or not at all.
    /// - Parameter batchSize: the most users it writes.
    /// - Returns: nil when no job was left to claim, else how long its statements took.
    func fanOutBatch(size batchSize: Int) async throws(StorageError) -> Duration? {
        let limit = configuration.maxFeedEntries
        let logger = logger
        let handoff = FanOutHandoff(inlineLimit: configuration.inlineFanOutLimit)
        let clock = ContinuousClock()
        let batch = try await withConnection("fan-out") { connection -> (written: [Int64], completed: Bool, took: Duration)? in
            try await Self.transaction(connection, logger) { () async throws -> (written: [Int64], completed: Bool, took: Duration)? in
                let start = clock.now
                let jobs = try await connection.query(
                    """
                    SELECT id, notification, issuer, mode, graph, cursor_user FROM fanout_jobs
                    ORDER BY id LIMIT 1 FOR UPDATE SKIP LOCKED
                    """,
                    logger: logger
                ).collect()
                guard let row = jobs.first else { return nil }
                let (id, notification, issuer, modeName, graph, cursor) =
                    try row.decode((Int64, Int64, Int64, String, Bool, Int64).self)
                guard let mode = CommunityMode(rawValue: modeName) else {
                    throw StorageError(code: .corrupt, message: "a fan-out job names no known audience")
                }
                // One past the batch says whether any user is left after it.
                let next = try await Audience.nextUsers(
                    connection, logger, issuer: issuer, mode: mode, after: cursor, count: batchSize + 1)
                var written: [Int64] = []
                if let end = next.count > batchSize ? next[batchSize - 1] : next.last {
                    let writer = BatchWriter(
                        connection: connection, logger: logger, now: 0, cutoff: 0, limit: limit, handoff: handoff)
                    written = try await writer.writeAudience(
                        Audience(issuer: issuer, mode: mode, after: cursor, through: end), serial: notification, graph: graph,
                        lockingHeads: false
                    ).map(\.user)
                    // The other instances' readers hear of it when (and only if) this commits.
                    try await self.sendFeedNotices(written, connection)
                    if next.count > batchSize {
                        try await connection.query(
                            "UPDATE fanout_jobs SET cursor_user = \(end) WHERE id = \(id)", logger: logger)
                        return (written, false, start.duration(to: clock.now))
                    }
                }
                try await connection.query("DELETE FROM fanout_jobs WHERE id = \(id)", logger: logger)
                return (written, true, start.duration(to: clock.now))
            }
        }
        guard let batch else {
            await recordFanOutBacklog()
            return nil
        }
        if batch.completed { await recordFanOutBacklog() }
        fanOutAdvanced(users: batch.written)
        counters.withLock {
            $0.fanOutTransactions += 1
            $0.fanOutRowsWritten += batch.written.count
            if batch.completed { $0.fanOutJobsCompleted += 1 }
        }
        if batch.completed { logger.debug("fan-out job finished") }
        return batch.took
    }

    /// The fewest users of a fan-out batch under a budget: its fixed cost
    /// (the job's claim, its audience's next users, the commit) is then
    /// spread over some rows, as the SQLite store's `StoreEngine.fanOutFloor`.
    static let fanOutFloor = 32

    /// Sets `/metrics`' fan-out backlog to the jobs not yet finished, by
    /// every instance: after each finished job, and each time this instance
    /// finds none to claim (at least every ``PostgresStoreConfiguration/fanOutPollInterval``).
    /// A count it cannot read leaves the gauge as it was.
    private func recordFanOutBacklog() async {
        guard let rows = try? await rows("SELECT count(*) FROM fanout_jobs", "counting fan-out jobs"),
            let count = try? rows.first?.decode(Int64.self)
        else { return }
        metrics.recordFanOutBacklog(Int(count))
    }

    /// Wakes this instance's watchers of the feeds a fan-out batch wrote,
    /// after its commit (the batch's transaction sent the NOTIFY that wakes
    /// the other instances' watchers, as the writer's does).
    func fanOutAdvanced(users: [Int64]) {
        guard !users.isEmpty else { return }
        feedAdvances.advanced(users: users)
    }

    /// Feed rows the pending jobs still owe: the audience after each job's
    /// cursor as it is now (tests and tools).
    public func pendingFanOutRecipients() async throws(StorageError) -> Int {
        let logger = logger
        return try await withConnection("counting pending fan-out") { connection in
            var pending = 0
            let jobs = try await connection.query("SELECT issuer, mode, cursor_user FROM fanout_jobs", logger: logger).collect()
            for row in jobs {
                let (issuer, modeName, cursor) = try row.decode((Int64, String, Int64).self)
                guard let mode = CommunityMode(rawValue: modeName) else { continue }
                let audience = Audience(issuer: issuer, mode: mode, after: cursor, through: nil)
                let counted = try await connection.query(
                    PostgresQuery(unsafeSQL: "SELECT count(*) FROM (\(audience.sql)) a", binds: audience.bindings),
                    logger: logger
                ).collect()
                pending += Int(try counted.first?.decode(Int64.self) ?? 0)
            }
            return pending
        }
    }
}

extension PostgresNotificationStore.BatchWriter {
    /// A connections append: its audience written in this transaction when
    /// it is at most the inline limit; above it, the first recipient's feed
    /// only (so the answer carries an entry) and a job for the background
    /// fan-out, which reads the rest from `connections` as it goes.
    /// - Returns: the answer's `recipients` (written feeds inline; the
    ///   audience at the call for a job) and the feeds written here.
    func writeConnections(
        issuer: Int64, mode: CommunityMode, serial: Int64, graph: Bool, lockingHeads: Bool
    ) async throws -> (recipients: Int64, written: [(user: Int64, seq: Int64)]) {
        let audience = PostgresNotificationStore.Audience(issuer: issuer, mode: mode)
        // Counted only up to one past the inline limit: a large audience
        // costs the writer's transaction no more than a small one to classify.
        var bindings = audience.bindings
        bindings.append(Int64(handoff.inlineLimit + 1))
        let counted = try await count(
            PostgresQuery(
                unsafeSQL: "SELECT count(*) FROM (SELECT 1 FROM (\(audience.sql)) a LIMIT $\(bindings.count)) c",
                binds: bindings))
        guard counted > Int64(handoff.inlineLimit) else {
            let written = try await writeAudience(audience, serial: serial, graph: graph, lockingHeads: lockingHeads)
            return (Int64(written.count), written)
        }
        // The audience at the call, as the connections' trigger keeps it (v7).
        let recipients = try await count(
            "SELECT n FROM audience_counts WHERE user_id = \(issuer) AND kind = \(mode == .follow ? "follow" : "friend")")
        guard
            let first = try await PostgresNotificationStore.Audience.nextUsers(
                connection, logger, issuer: issuer, mode: mode, after: nil, count: 1
            ).first
        else { return (recipients, []) }
        // A full first feed is skipped, as the fan-out skips full ones.
        let written = try await writeAudience(
            PostgresNotificationStore.Audience(users: [first]), serial: serial, graph: graph, lockingHeads: lockingHeads)
        try await connection.query(
            """
            INSERT INTO fanout_jobs (notification, issuer, mode, graph, cursor_user, total, created_at)
            VALUES (\(serial), \(issuer), \(mode.rawValue), \(graph), \(first), \(max(0, recipients - 1)), \(now))
            """,
            logger: logger)
        handoff.recorded()
        return (recipients, written)
    }

    private func count(_ query: PostgresQuery) async throws -> Int64 {
        let rows = try await connection.query(query, logger: logger).collect()
        return try rows.first?.decode(Int64.self) ?? 0
    }
}

extension PostgresNotificationStore.Audience {
    /// The parts of a connections audience: each selects one column of
    /// `connections` for one issuer ($1), and an index orders it by that
    /// column (the primary key `(user_id, kind, to_user)` and
    /// `connections_to` `(to_user, kind, user_id)`), so that a range of it is
    /// read in key order.
    private static func branches(_ mode: CommunityMode) -> [(column: String, filter: String)] {
        switch mode {
        case .friendship:
            // A friendship is stored once, either way round.
            [("to_user", "user_id = $1 AND kind = 'friend'"), ("user_id", "to_user = $1 AND kind = 'friend'")]
        case .follow:
            [("user_id", "to_user = $1 AND kind = 'follow'")]
        }
    }

    /// The part of `issuer`'s audience with ids after `after` (nil: from the
    /// first) up to `through` (nil: to the last), the bounds in every branch
    /// so that each reads only its index range.
    init(issuer: Int64, mode: CommunityMode, after: Int64?, through: Int64?) {
        self.init(issuer: issuer, mode: mode)
        var conditions: [(String, Int64)] = []
        if let after { conditions.append((">", after)) }
        if let through { conditions.append(("<=", through)) }
        var placeholders: [String] = []
        for (_, value) in conditions {
            bindings.append(value)
            placeholders.append("$\(bindings.count)")
        }
        sql = Self.branches(mode).map { column, filter in
            var sql = "SELECT \(column) AS user_id FROM connections WHERE \(filter) AND \(column) <> $1"
            for ((comparison, _), placeholder) in zip(conditions, placeholders) {
                sql += " AND \(column) \(comparison) \(placeholder)"
            }
            return sql
        }.joined(separator: " UNION ALL ")
    }

    /// The first `count` users of `issuer`'s audience after `after` (nil:
    /// from the first), in id order: each branch read in its index order up
    /// to `count`, then merged.
    static func nextUsers(
        _ connection: PostgresConnection, _ logger: Logger, issuer: Int64, mode: CommunityMode, after: Int64?, count: Int
    ) async throws -> [Int64] {
        var merged: [Int64] = []
        for (column, filter) in branches(mode) {
            var bindings = PostgresBindings()
            bindings.append(issuer)
            bindings.append(Int64(count))
            var sql = "SELECT \(column) FROM connections WHERE \(filter) AND \(column) <> $1"
            if let after {
                bindings.append(after)
                sql += " AND \(column) > $3"
            }
            sql += " ORDER BY \(column) LIMIT $2"
            var users: [Int64] = []
            for try await user in try await connection.query(PostgresQuery(unsafeSQL: sql, binds: bindings), logger: logger)
                .decode(Int64.self)
            {
                users.append(user)
            }
            merged = merged.isEmpty ? users : Array((merged + users).sorted().prefix(count))
        }
        return merged
    }
}

extension PostgresNotificationStore {
    /// Ends, on the server, every connection whose `application_name` is
    /// `applicationName` (`pg_terminate_backend`), as if their instance had
    /// crashed: tests of what survives it.
    /// - Returns: how many connections were ended.
    public static func terminateConnections(url: String, applicationName: String) async throws -> Int {
        try await withOwnConnection(url: url) { connection, logger in
            try await connection.query(
                """
                SELECT pg_terminate_backend(pid) FROM pg_stat_activity
                WHERE application_name = \(applicationName) AND pid <> pg_backend_pid()
                """,
                logger: logger
            ).collect().count
        }
    }
}
