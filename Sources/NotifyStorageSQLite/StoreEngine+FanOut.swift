import Foundation
import GRDB
import Synchronization
import Logging
import NotifyDomain
import NotifyStorage

extension StoreEngine {
    /// The background fan-out: on each signal, writes feed rows for pending
    /// jobs, oldest job first, until none is left. Ends when cancelled.
    ///
    /// Each batch is a transaction of its own that reads the job's cursor and
    /// advances it with the rows it writes, so two processes (or a restart
    /// midway) never write a recipient twice and never pass one over. Between
    /// two batches the append writer takes its turn (GRDB's writer queue is
    /// first come, first served). As the sweeper's, a batch's rows follow
    /// from how long the last one's statements took against
    /// ``SQLiteStoreConfiguration/fanOutTransactionBudget`` (at most
    /// ``SQLiteStoreConfiguration/fanOutBatchSize``), and the fan-out then
    /// rests as long as that transaction held the writer, commit included,
    /// plus ``SQLiteStoreConfiguration/fanOutPause``: appends arriving
    /// meanwhile find the writer free, and wait behind one short batch at
    /// most. That while appends flow (``appendsFlow``); otherwise whole
    /// batches, back to back.
    func runFanOut(_ signals: AsyncStream<Void>) async {
        let pause = configuration.fanOutPause
        let cap = max(1, configuration.fanOutBatchSize)
        let budget = configuration.fanOutTransactionBudget
        var rows = BudgetedBatch(budget: budget, cap: cap, floor: Self.fanOutFloor)
        for await _ in signals {
            while !Task.isCancelled {
                do {
                    let gentle = budget > .zero && appendsFlow
                    guard let took = try await materializeFanOutBatch(size: gentle ? rows.size : cap) else { break }
                    var rest = pause
                    if gentle {
                        rows.took(took.work)
                        rest += took.held
                    }
                    if rest > .zero { try await Task.sleep(for: rest) }
                } catch let error as StorageError {
                    if Task.isCancelled || isClosed { return }
                    if error.code != .unavailable {
                        logger.info("background fan-out failed; retrying", metadata: ["error.type": "\(error)"])
                    }
                    try? await Task.sleep(for: .seconds(1))
                } catch {
                    // Only the pause's sleep throws otherwise: cancelled.
                    return
                }
            }
        }
    }

    /// The fewest rows of a gentle fan-out batch: a batch's commit and its
    /// own statements (the job, its audience's next users) cost it whatever
    /// its rows, and with at least 8 rows a 100k fan-out under load took
    /// 22 s against 10 s with at least 32, at about the same cost to other
    /// callers (docs/PERFORMANCE.md, "Fan-out to 100,000 followers").
    static let fanOutFloor = 32

    /// What one batch did, for the statistics and the wake-ups.
    private struct FanOutBatch {
        var written = 0
        var completed = false
        /// The users whose feeds were written; nil: not read (wake everyone).
        var reached: [Int64]?
        var skipped = 0
    }

    /// Writes up to ``SQLiteStoreConfiguration/fanOutBatchSize`` feed rows of
    /// the oldest job in one transaction.
    /// - Returns: false when there was no job.
    func materializeFanOutBatch() async throws(StorageError) -> Bool {
        try await materializeFanOutBatch(size: max(1, configuration.fanOutBatchSize)) != nil
    }

    /// Writes up to `batchSize` feed rows of the oldest job in one transaction.
    /// - Returns: nil when there was no job; else how long it took (``WriteTimes``).
    func materializeFanOutBatch(size batchSize: Int) async throws(StorageError) -> WriteTimes? {
        // Whom the batch reaches, read only when someone watches as it begins
        // (see wakeFeeds: nil wakes every watcher).
        let watched = feedAdvances.isWatched
        let feedLimit = configuration.maxFeedEntries
        let (batch, took) = try await timedWrite("fan-out") { db -> FanOutBatch? in
            // Cached statements throughout: at a few dozen rows a batch,
            // preparing them (GRDB's authorizer walks every column) cost more
            // than the rows.
            guard let job = try FanOutJobRow.fetchOne(db.cachedStatement(sql: "SELECT * FROM fanout_jobs ORDER BY id LIMIT 1")),
                let jobID = job.id
            else {
                return nil
            }
            let graph = try String.fetchOne(
                db.cachedStatement(sql: "SELECT kind FROM notifications WHERE serial = ?"), arguments: [job.notification]
            ) == ContentColumns.graphKind
            if let issuer = job.issuer {
                guard let mode = job.mode.flatMap(CommunityMode.init(rawValue:)) else {
                    throw StorageError(code: .corrupt, message: "a fan-out job names no known audience")
                }
                return try Self.connectionsBatch(
                    db, jobID: jobID, notification: job.notification, graph: graph, issuer: issuer, mode: mode,
                    after: job.cursor, batchSize: batchSize, feedLimit: feedLimit, watched: watched)
            }
            return try Self.snapshotBatch(
                db, jobID: jobID, notification: job.notification, graph: graph, batchSize: batchSize,
                feedLimit: feedLimit, watched: watched)
        }
        guard let batch else {
            metrics.recordFanOutBacklog(0)
            return nil
        }
        if batch.completed, let backlog = try? await read("fan-out backlog", { db in try FanOutJobRow.fetchCount(db) }) {
            metrics.recordFanOutBacklog(backlog)
        }
        if batch.written > 0, feedAdvances.isWatched {
            if let reached = batch.reached { feedAdvances.advanced(users: reached) } else { feedAdvances.advancedAll() }
        }
        statistics.withLock {
            $0.fanOutTransactions += 1
            $0.fanOutRowsWritten += batch.written
            $0.feedsSkippedFull += batch.skipped
            if batch.completed { $0.fanOutJobsCompleted += 1 }
        }
        if batch.completed {
            logger.debug("fan-out job finished")
        }
        return took
    }

    /// One batch of a job that reads its audience from `connections`: the
    /// next `batchSize` users after the cursor in id order, their feed rows,
    /// and the cursor moved to the last of them, in the caller's transaction.
    /// The job ends (its row deleted) in the transaction that writes its last
    /// users.
    ///
    /// The audience is read as the job goes: a connection made during the
    /// job receives the notification when its user's id is past the cursor,
    /// one removed before its batch does not (docs/PROTOCOL.md).
    private static func connectionsBatch(
        _ db: Database, jobID: Int64, notification: Int64, graph: Bool, issuer: Int64, mode: CommunityMode,
        after cursor: Int64?, batchSize: Int, feedLimit: Int64?, watched: Bool
    ) throws -> FanOutBatch {
        // One past the batch says whether any user is left after it.
        let next = try Audience.nextUsers(db, issuer: issuer, mode: mode, after: cursor, count: batchSize + 1)
        let end: Int64? = next.count > batchSize ? next[batchSize - 1] : next.last
        var batch = FanOutBatch()
        if let end {
            var audience = Audience(issuer: issuer, mode: mode, after: cursor, through: end)
            if let feedLimit { audience = audience.bounded(by: feedLimit) }
            // The audience is read once, by the feed rows' insert; the heads
            // and the wake-ups read back what it wrote, by the
            // feed_notification index: this job's rows for users in the batch's range.
            let written = ["notification": notification, "after": cursor ?? Int64.min, "through": end] as StatementArguments
            let range = "notification = :notification AND user > :after AND user <= :through"
            batch.written = try insertFeedRows(
                db, audience: audience.sql, arguments: audience.arguments, notification: notification)
            batch.skipped = max(0, min(next.count, batchSize) - batch.written)
            try advanceHeads(db, graph: graph, written: "SELECT user, seq FROM feed WHERE \(range)", arguments: written)
            batch.reached =
                watched ? try Int64.fetchAll(db.cachedStatement(sql: "SELECT user FROM feed WHERE \(range)"), arguments: written) : nil
        }
        if next.count > batchSize, let end {
            try db.cachedStatement(sql: "UPDATE fanout_jobs SET cursor = ? WHERE id = ?").execute(arguments: [end, jobID])
        } else {
            try db.cachedStatement(sql: "DELETE FROM fanout_jobs WHERE id = ?").execute(arguments: [jobID])
            batch.completed = true
        }
        return batch
    }

    /// One batch of a job made before migration `v9-fanout-cursor`, whose
    /// audience is the snapshot of ids in `fanout_recipients`: finished as it
    /// was promised, recipients deleted as their feeds are written.
    private static func snapshotBatch(
        _ db: Database, jobID: Int64, notification: Int64, graph: Bool, batchSize: Int, feedLimit: Int64?, watched: Bool
    ) throws -> FanOutBatch {
        // The last recipient of this batch: recipients are taken in id order.
        let end = try Int64.fetchOne(
            db, sql: "SELECT user FROM fanout_recipients WHERE job = ? ORDER BY user LIMIT 1 OFFSET ?",
            arguments: [jobID, batchSize - 1])
        let range = end == nil ? "" : " AND r.user <= :end"
        var arguments: StatementArguments = ["job": jobID]
        if let end { arguments += ["end": end] }
        // A recipient deleted since the snapshot gets no feed, nor does
        // one whose feed is full (skipped and counted).
        var audience = Audience(
            sql: """
                SELECT r.user AS user FROM fanout_recipients r JOIN users u ON u.id = r.user
                WHERE r.job = :job\(range)
                """,
            arguments: arguments)
        var batch = FanOutBatch()
        if let feedLimit {
            let everyone =
                try Int64.fetchOne(db, sql: "SELECT COUNT(*) FROM (\(audience.sql))", arguments: audience.arguments) ?? 0
            audience = audience.bounded(by: feedLimit)
            let room =
                try Int64.fetchOne(db, sql: "SELECT COUNT(*) FROM (\(audience.sql))", arguments: audience.arguments) ?? 0
            batch.skipped = Int(clamping: max(0, everyone - room))
        }
        batch.reached = watched ? try Int64.fetchAll(db, sql: audience.sql, arguments: audience.arguments) : nil
        batch.written = try writeFeedRows(
            db, audience: audience.sql, arguments: audience.arguments, notification: notification, graph: graph)
        if let end {
            try db.execute(sql: "DELETE FROM fanout_recipients WHERE job = ? AND user <= ?", arguments: [jobID, end])
        }
        if end != nil, try !FanOutRecipientRow.filter(Column("job") == jobID).isEmpty(db) {
            return batch
        }
        // Deleting the job deletes any recipients left (by cascade).
        try FanOutJobRow.deleteOne(db, key: jobID)
        batch.completed = true
        return batch
    }

    /// Feed rows the pending jobs still owe: a snapshot job's recipients
    /// left, and the audience after each other job's cursor as it is now.
    static func pendingFanOutRows(_ db: Database) throws -> Int {
        var pending = try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM fanout_recipients") ?? 0
        let jobs = try FanOutJobRow.filter(Column("issuer") != nil).fetchAll(db)
        for job in jobs {
            guard let issuer = job.issuer, let mode = job.mode.flatMap(CommunityMode.init(rawValue:)) else { continue }
            let audience = Audience(issuer: issuer, mode: mode, after: job.cursor, through: nil)
            pending += try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM (\(audience.sql))", arguments: audience.arguments) ?? 0
        }
        return pending
    }
}

extension Audience {
    /// The parts of a connections audience: each selects one column of
    /// `connections` for one issuer, and an index orders it by that column
    /// (the primary key `(user, kind, "to")` and `connections_to`
    /// `("to", kind, user)`), so a range of it is read in key order.
    private static func branches(_ mode: CommunityMode) -> [(column: String, filter: String)] {
        switch mode {
        case .friendship:
            // A friendship is stored once, either way round.
            [(#""to""#, "user = :issuer AND kind = 'friend'"), ("user", #""to" = :issuer AND kind = 'friend'"#)]
        case .follow:
            [("user", #""to" = :issuer AND kind = 'follow'"#)]
        }
    }

    /// The part of `issuer`'s audience with ids after `after` (nil: from the
    /// first) up to `through` (nil: to the last), the bounds in every branch
    /// so that each reads only its index range.
    init(issuer: Int64, mode: CommunityMode, after: Int64?, through: Int64?) {
        var arguments: StatementArguments = ["issuer": issuer]
        if let after { arguments += ["after": after] }
        if let through { arguments += ["through": through] }
        self.init(
            sql: Self.branches(mode).map { column, filter in
                var sql = "SELECT \(column) AS user FROM connections WHERE \(filter) AND \(column) <> :issuer"
                if after != nil { sql += " AND \(column) > :after" }
                if through != nil { sql += " AND \(column) <= :through" }
                return sql
            }.joined(separator: " UNION ALL "),
            arguments: arguments)
    }

    /// The first `count` users of `issuer`'s audience after `after` (nil:
    /// from the first), in id order: each branch read in its index order up
    /// to `count`, then merged.
    static func nextUsers(
        _ db: Database, issuer: Int64, mode: CommunityMode, after: Int64?, count: Int
    ) throws -> [Int64] {
        var merged: [Int64] = []
        for (column, filter) in branches(mode) {
            var sql = "SELECT \(column) FROM connections WHERE \(filter) AND \(column) <> :issuer"
            var arguments: StatementArguments = ["issuer": issuer, "count": count]
            if let after {
                sql += " AND \(column) > :after"
                arguments += ["after": after]
            }
            sql += " ORDER BY \(column) LIMIT :count"
            let users = try Int64.fetchAll(db.cachedStatement(sql: sql), arguments: arguments)
            merged = merged.isEmpty ? users : Array((merged + users).sorted().prefix(count))
        }
        return merged
    }
}
