import Foundation
import Logging
public import NotifyDomain
public import NotifyStorage
import PostgresNIO

extension PostgresNotificationStore {
    /// The sweeper: every ``PostgresStoreConfiguration/sweepInterval``, one
    /// ``sweep(now:)``. Ends when cancelled or the store closes. Instances
    /// sharing a database may sweep at once: each statement removes rows
    /// another has not (a row deleted twice is deleted once).
    func runSweeper() async {
        let interval = configuration.sweepInterval
        guard interval > .zero else { return }
        while !queue.isClosed {
            do {
                try await Task.sleep(for: interval)
            } catch {
                return
            }
            if queue.isClosed || Task.isCancelled { return }
            do {
                _ = try await sweep(now: .now())
            } catch {
                if queue.isClosed || Task.isCancelled { return }
                logger.info("the sweep failed; retrying at the next interval", metadata: ["error.type": "\(error)"])
            }
        }
    }

    /// Deletes subscriptions past their renewal grace, every
    /// ``PostgresStoreConfiguration/subscriptionSweepInterval``.
    func runSubscriptionSweeper() async {
        let interval = configuration.subscriptionSweepInterval
        guard interval > .zero else { return }
        while !queue.isClosed {
            do {
                try await Task.sleep(for: interval)
            } catch {
                return
            }
            if queue.isClosed || Task.isCancelled { return }
            let cutoff = Timestamp.now().adding(seconds: -Subscription.renewalGraceSeconds)
            let batch = max(1, configuration.subscriptionSweepBatchSize)
            do {
                while try await sweepSubscriptions(expiredBefore: cutoff, limit: batch) >= batch {
                    if queue.isClosed || Task.isCancelled { return }
                }
            } catch {
                if queue.isClosed || Task.isCancelled { return }
                logger.info("the subscription sweep failed; retrying at the next interval", metadata: ["error.type": "\(error)"])
            }
        }
    }

    /// Removes expired notifications' feed entries, entries and events older
    /// than the retention, then the notifications nothing names any more,
    /// until none is left.
    ///
    /// A transaction that removes entries locks the heads of their feeds
    /// until it commits, and an append batch naming one of them waits as
    /// long: 1,000 rows at a time made appends to the swept feeds wait
    /// 16.7× their p99 (docs/PERFORMANCE.md, "The sweeper"). So those
    /// transactions only remove entries and events, their rows follow from
    /// how long the previous one's statements took against
    /// ``PostgresStoreConfiguration/sweepTransactionBudget`` (at most
    /// ``PostgresStoreConfiguration/sweepBatchSize``), and while this
    /// instance's appends flow (``appendsFlow``) the sweep rests after each
    /// for as long as that took. The expired keys are read ahead, outside
    /// them, in feed order, so that each touches few feeds and does not walk
    /// the expired notifications again; the notifications they leave unnamed
    /// go afterwards, in transactions of ``PostgresStoreConfiguration/sweepBatchSize``
    /// that lock no head.
    ///
    /// As the SQLite store's sweep: expired entries leave each feed with a
    /// `removed` event (reason `expired`) naming them, one per feed per
    /// transaction, numbered from the feed's head, and wake the feed's
    /// readers on every instance (NOTIFY in the transaction); an unread entry
    /// leaves its view's unseen count in the transaction that removes it (the
    /// count of the row as it is deleted, so a read committed meanwhile is not
    /// counted twice); an entry or event removed by retention raises its
    /// feed's `swept_through`, an expired entry does not; heads stay; a
    /// notification stays while an idempotency key or a fan-out job names it.
    /// Instances sharing a database may sweep at once: a row deleted twice
    /// is deleted once, and a key is never given again.
    public func sweep(now: Timestamp = .now()) async throws(StorageError) -> SweepOutcome {
        let cap = max(1, configuration.sweepBatchSize)
        var rows = BudgetedBatch(budget: configuration.sweepTransactionBudget, cap: cap)
        let now = now.microsecondsSince1970
        let cutoff = configuration.retention.map { retention -> Int64 in
            let parts = retention.components
            return now - (parts.seconds * 1_000_000 + parts.attoseconds / 1_000_000_000_000)
        }
        let logger = logger
        let clock = ContinuousClock()
        var outcome = SweepOutcome()
        var plan = ArraySlice<FeedKey>()
        // Whether the last read of expired keys found as many as it asked for: more may follow.
        var planFull = true
        while true {
            if plan.isEmpty && planFull {
                let limit = cap * Self.sweepPlanBatches
                plan = ArraySlice(try await expiredKeys(now: now, limit: limit))
                planFull = plan.count == limit
            }
            let size = rows.size
            let expired = Array(plan.prefix(size))
            plan = plan.dropFirst(expired.count)
            // Past the retention only once nothing expired is left.
            let retentionCutoff = plan.isEmpty && !planFull ? cutoff : nil
            let (done, took) = try await write("sweeping") { connection in
                let start = clock.now
                let done = try await Self.removeEntries(
                    connection, logger, expired: expired, now: now, retentionCutoff: retentionCutoff, batch: Int64(size))
                try await self.sendFeedNotices(done.removalUsers, connection)
                return (done, start.duration(to: clock.now))
            }
            rows.took(took)
            feedAdvances.advanced(users: done.removalUsers)
            outcome.expiredEntries += Int(done.expired)
            outcome.retainedEntries += Int(done.retained)
            outcome.retainedEvents += Int(done.retainedEvents)
            outcome.removalEvents += done.removalUsers.count
            outcome.transactions += 1
            if queue.isClosed || Task.isCancelled { return outcome }
            if plan.isEmpty {
                // The notifications this plan's entries named, before the next read walks them again.
                try await removeUnnamed(now: now, retentionCutoff: retentionCutoff, batch: Int64(cap), into: &outcome)
                let retentionFull = retentionCutoff != nil && done.retained + done.retainedEvents >= Int64(size - expired.count)
                guard planFull || retentionFull else { return outcome }
            }
            if rows.budget > .zero && appendsFlow {
                outcome.rests += 1
                do {
                    try await Task.sleep(for: took)
                } catch {
                    return outcome
                }
            }
        }
    }

    /// An entry's key.
    struct FeedKey: Sendable {
        var user: Int64
        var seq: Int64
    }

    /// Up to `limit` keys of expired entries, in feed order, read outside
    /// any transaction that locks: those of the first expired notifications,
    /// so that they come from few feeds.
    private func expiredKeys(now: Int64, limit: Int) async throws(StorageError) -> [FeedKey] {
        let logger = logger
        return try await withConnection("planning a sweep") { connection in
            var keys: [FeedKey] = []
            keys.reserveCapacity(limit)
            // Only SendNotification's entries expire.
            let query: PostgresQuery = """
                SELECT user_id, seq FROM (
                    SELECT f.user_id, f.seq FROM notifications n JOIN feed f ON f.notification = n.serial
                    WHERE n.expires_at IS NOT NULL AND n.expires_at <= \(now) LIMIT \(limit)) AS w
                ORDER BY user_id, seq
                """
            for try await (user, seq) in try await connection.query(query, logger: logger).decode((Int64, Int64).self) {
                keys.append(FeedKey(user: user, seq: seq))
            }
            return keys
        }
    }

    /// Deletes, `batch` rows per transaction, the notifications past their
    /// time that nothing names any more: expired ones, and with a cutoff
    /// those past the retention. These transactions lock no feed head.
    private func removeUnnamed(
        now: Int64, retentionCutoff: Int64?, batch: Int64, into outcome: inout SweepOutcome
    ) async throws(StorageError) {
        let logger = logger
        while true {
            let removed = try await write("sweeping notifications") { connection in
                try await Self.deleteUnnamed(connection, logger, now: now, retentionCutoff: retentionCutoff, batch: batch)
            }
            outcome.notifications += Int(removed)
            outcome.transactions += 1
            if removed < batch || queue.isClosed || Task.isCancelled { return }
        }
    }

    /// What one transaction of the sweep did.
    private struct SweepBatch: Sendable {
        var expired: Int64 = 0
        var retained: Int64 = 0
        var retainedEvents: Int64 = 0
        /// The feeds a `removed` event was appended to: their readers are woken.
        var removalUsers: [Int64] = []
    }

    /// The rows (`user_id`, `seq`) one statement selects, as two arrays.
    private static func keys(_ connection: PostgresConnection, _ logger: Logger, _ query: PostgresQuery) async throws
        -> (users: [Int64], seqs: [Int64])
    {
        var keys: (users: [Int64], seqs: [Int64]) = ([], [])
        for try await (user, seq) in try await connection.query(query, logger: logger).decode((Int64, Int64).self) {
            keys.users.append(user)
            keys.seqs.append(seq)
        }
        return keys
    }

    /// One transaction of the sweep: the `expired` entries, and with a
    /// cutoff, up to the rest of `batch` entries and events past the retention.
    ///
    /// It locks the feeds' heads in user order, as an append batch does,
    /// before it deletes anything: a state change locks the head before the
    /// rows it changes, so deleting rows first could deadlock with it.
    private static func removeEntries(
        _ connection: PostgresConnection, _ logger: Logger, expired: [FeedKey], now: Int64, retentionCutoff: Int64?,
        batch: Int64
    ) async throws -> SweepBatch {
        var done = SweepBatch()
        var retained: (users: [Int64], seqs: [Int64]) = ([], [])
        var oldEvents: (users: [Int64], seqs: [Int64]) = ([], [])
        if let retentionCutoff, Int64(expired.count) < batch {
            retained = try await keys(
                connection, logger,
                """
                SELECT f.user_id, f.seq FROM notifications n JOIN feed f ON f.notification = n.serial
                WHERE n.expires_at IS NULL AND n.created_at < \(retentionCutoff)
                LIMIT \(batch - Int64(expired.count))
                """)
            let room = batch - Int64(expired.count + retained.users.count)
            if room > 0 {
                // Events go with the entries of their age, and raise the signal as they do.
                oldEvents = try await keys(
                    connection, logger,
                    "SELECT user_id, seq FROM feed_events WHERE created_at < \(retentionCutoff) LIMIT \(room)")
            }
        }
        let users = Set(expired.map(\.user) + retained.users + oldEvents.users).sorted()
        if !users.isEmpty {
            _ = try await connection.query(
                "SELECT 1 FROM feed_heads WHERE user_id = ANY(\(users)) ORDER BY user_id FOR UPDATE", logger: logger
            ).collect()
        }
        if !expired.isEmpty {
            var bindings = PostgresBindings()
            bindings.append(expired.map(\.user))
            bindings.append(expired.map(\.seq))
            bindings.append(now)
            // Each feed's removed entries, in sequence order, become its one
            // event, whose audience their keys make (as a change's does).
            let rows = try await connection.query(
                PostgresQuery(
                    unsafeSQL: """
                        WITH gone AS (DELETE FROM feed f USING unnest($1::int8[], $2::int8[]) AS d(user_id, seq)
                            WHERE f.user_id = d.user_id AND f.seq = d.seq RETURNING f.user_id, f.seq, f.read, f.notification),
                        r AS (SELECT g.user_id, array_agg(n.id ORDER BY g.seq) AS ids,
                                count(*) FILTER (WHERE NOT g.read) AS unread
                            FROM gone g JOIN notifications n ON n.serial = g.notification GROUP BY g.user_id),
                        h AS (UPDATE feed_heads h SET last_seq = h.last_seq + 1, unseen_graph = greatest(0, h.unseen_graph - r.unread)
                            FROM r WHERE h.user_id = r.user_id RETURNING h.user_id, h.last_seq),
                        e AS (INSERT INTO feed_events (user_id, seq, created_at, kind, ids, removed_reason, audience)
                            SELECT r.user_id, h.last_seq, $3, 'removed', array_to_string(r.ids, ','), 'expired',
                                \(PostgresSchema.eventAudienceSQL("r.ids"))
                            FROM r JOIN h ON h.user_id = r.user_id RETURNING user_id)
                        SELECT r.user_id, cardinality(r.ids)::int8 FROM r
                        """,
                    binds: bindings),
                logger: logger)
            for try await (user, count) in rows.decode((Int64, Int64).self) {
                done.removalUsers.append(user)
                done.expired += count
            }
        }
        done.retained = try await deleteRetained(connection, logger, from: "feed", retained)
        done.retainedEvents = try await deleteRetained(connection, logger, from: "feed_events", oldEvents)
        return done
    }

    /// Up to `batch` notifications past their time with nothing left that
    /// names them: expired ones first, then with a cutoff those past the retention.
    /// - Returns: how many it deleted.
    private static func deleteUnnamed(
        _ connection: PostgresConnection, _ logger: Logger, now: Int64, retentionCutoff: Int64?, batch: Int64
    ) async throws -> Int64 {
        let unnamed = """
            NOT EXISTS (SELECT 1 FROM feed f WHERE f.notification = n.serial)
            AND NOT EXISTS (SELECT 1 FROM idempotency i WHERE i.notification = n.serial)
            AND NOT EXISTS (SELECT 1 FROM fanout_jobs j WHERE j.notification = n.serial)
            """
        var removed = Int64(
            try await connection.query(
                """
                DELETE FROM notifications WHERE serial IN (
                    SELECT n.serial FROM notifications n
                    WHERE n.expires_at IS NOT NULL AND n.expires_at <= \(now) AND \(unescaped: unnamed)
                    LIMIT \(batch))
                RETURNING 1
                """,
                logger: logger
            ).collect().count)
        if let retentionCutoff, removed < batch {
            removed += Int64(
                try await connection.query(
                    """
                    DELETE FROM notifications WHERE serial IN (
                        SELECT n.serial FROM notifications n
                        WHERE n.expires_at IS NULL AND n.created_at < \(retentionCutoff) AND \(unescaped: unnamed)
                        LIMIT \(batch - removed))
                    RETURNING 1
                    """,
                    logger: logger
                ).collect().count)
        }
        return removed
    }

    /// Deletes the rows `keys` names from `table` (`feed` or `feed_events`),
    /// past the retention: each feed's `swept_through` rises to the highest
    /// removed, and unread entries leave `unseen_notify` (only Notify's
    /// entries lack an expiration).
    /// - Returns: how many rows it deleted.
    private static func deleteRetained(
        _ connection: PostgresConnection, _ logger: Logger, from table: String, _ keys: (users: [Int64], seqs: [Int64])
    ) async throws -> Int64 {
        guard !keys.users.isEmpty else { return 0 }
        let entries = table == "feed"
        var bindings = PostgresBindings()
        bindings.append(keys.users)
        bindings.append(keys.seqs)
        let rows = try await connection.query(
            PostgresQuery(
                unsafeSQL: """
                    WITH gone AS (DELETE FROM \(table) t USING unnest($1::int8[], $2::int8[]) AS d(user_id, seq)
                        WHERE t.user_id = d.user_id AND t.seq = d.seq
                        RETURNING t.user_id, t.seq, \(entries ? "t.read" : "true AS read")),
                    c AS (SELECT user_id, count(*) FILTER (WHERE NOT read) AS unread, max(seq) AS top, count(*) AS n
                        FROM gone GROUP BY user_id),
                    h AS (UPDATE feed_heads h SET unseen_notify = greatest(0, h.unseen_notify - c.unread),
                            swept_through = greatest(h.swept_through, c.top)
                        FROM c WHERE h.user_id = c.user_id RETURNING 1)
                    SELECT COALESCE(sum(n), 0)::int8 FROM c
                    """,
                binds: bindings),
            logger: logger
        ).collect()
        return try rows.first?.decode(Int64.self) ?? 0
    }

    /// One read of expired keys plans this many times
    /// ``PostgresStoreConfiguration/sweepBatchSize`` rows.
    static let sweepPlanBatches = 16
}
