import Foundation
import Logging
public import NotifyDomain
public import NotifyStorage
import PostgresNIO

/// What one sweep removed.
public struct PostgresSweepOutcome: Hashable, Sendable {
    /// Feed entries of expired notifications.
    public var expiredEntries = 0
    /// Feed entries without an expiration, older than the retention.
    public var retainedEntries = 0
    /// Events older than the retention.
    public var retainedEvents = 0
    /// `removed` events (reason `expired`) appended for the expired entries:
    /// one per feed per transaction.
    public var removalEvents = 0
    /// Notification rows no feed entry or idempotency key names any more.
    public var notifications = 0
    /// Transactions the sweep ran.
    public var transactions = 0

    public init() {}
}

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
    /// than the retention, then the notifications nothing names any more, in
    /// transactions of at most ``PostgresStoreConfiguration/sweepBatchSize``
    /// rows each, until one finds less than a batch.
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
    public func sweep(now: Timestamp = .now()) async throws(StorageError) -> PostgresSweepOutcome {
        let batch = Int64(max(1, configuration.sweepBatchSize))
        let now = now.microsecondsSince1970
        let cutoff = configuration.retention.map { retention -> Int64 in
            let parts = retention.components
            return now - (parts.seconds * 1_000_000 + parts.attoseconds / 1_000_000_000_000)
        }
        let logger = logger
        var outcome = PostgresSweepOutcome()
        while true {
            let done = try await write("sweeping") { connection in
                let done = try await Self.sweepBatch(connection, logger, now: now, retentionCutoff: cutoff, batch: batch)
                try await self.sendFeedNotices(done.removalUsers, connection)
                return done
            }
            feedAdvances.advanced(users: done.removalUsers)
            outcome.expiredEntries += Int(done.expired)
            outcome.retainedEntries += Int(done.retained)
            outcome.retainedEvents += Int(done.retainedEvents)
            outcome.removalEvents += done.removalUsers.count
            outcome.notifications += Int(done.notifications)
            outcome.transactions += 1
            guard done.expired + done.retained + done.retainedEvents >= batch || done.notifications >= batch else {
                return outcome
            }
            if queue.isClosed || Task.isCancelled { return outcome }
        }
    }

    /// What one transaction of the sweep did.
    private struct SweepBatch: Sendable {
        var expired: Int64 = 0
        var retained: Int64 = 0
        var retainedEvents: Int64 = 0
        var notifications: Int64 = 0
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

    /// One transaction of the sweep: up to `batch` rows of expired feed
    /// entries (first, those of the fewest feeds among the first
    /// `sweepWindow` times as many), of entries past the retention and of
    /// events past it; then up to `batch` notifications left unnamed.
    ///
    /// It chooses its rows first, then locks their feeds' heads in user
    /// order, as an append batch does, before it deletes anything: a state
    /// change locks the head before the rows it changes, so deleting rows
    /// first could deadlock with it.
    private static func sweepBatch(
        _ connection: PostgresConnection, _ logger: Logger, now: Int64, retentionCutoff: Int64?, batch: Int64
    ) async throws -> SweepBatch {
        var done = SweepBatch()
        // Only SendNotification's entries expire; only Notify's lack an expiration.
        let expired = try await keys(
            connection, logger,
            """
            SELECT user_id, seq FROM (
                SELECT f.user_id, f.seq FROM notifications n JOIN feed f ON f.notification = n.serial
                WHERE n.expires_at IS NOT NULL AND n.expires_at <= \(now) LIMIT \(batch * sweepWindow)) AS w
            ORDER BY user_id, seq LIMIT \(batch)
            """)
        var retained: (users: [Int64], seqs: [Int64]) = ([], [])
        var oldEvents: (users: [Int64], seqs: [Int64]) = ([], [])
        if let retentionCutoff, Int64(expired.users.count) < batch {
            retained = try await keys(
                connection, logger,
                """
                SELECT f.user_id, f.seq FROM notifications n JOIN feed f ON f.notification = n.serial
                WHERE n.expires_at IS NULL AND n.created_at < \(retentionCutoff)
                LIMIT \(batch - Int64(expired.users.count))
                """)
            let room = batch - Int64(expired.users.count + retained.users.count)
            if room > 0 {
                // Events go with the entries of their age, and raise the signal as they do.
                oldEvents = try await keys(
                    connection, logger,
                    "SELECT user_id, seq FROM feed_events WHERE created_at < \(retentionCutoff) LIMIT \(room)")
            }
        }
        let users = Set(expired.users + retained.users + oldEvents.users).sorted()
        if !users.isEmpty {
            _ = try await connection.query(
                "SELECT 1 FROM feed_heads WHERE user_id = ANY(\(users)) ORDER BY user_id FOR UPDATE", logger: logger
            ).collect()
        }
        if !expired.users.isEmpty {
            var bindings = PostgresBindings()
            bindings.append(expired.users)
            bindings.append(expired.seqs)
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
        // Past their time, with nothing left that names them.
        let unnamed = """
            NOT EXISTS (SELECT 1 FROM feed f WHERE f.notification = n.serial)
            AND NOT EXISTS (SELECT 1 FROM idempotency i WHERE i.notification = n.serial)
            AND NOT EXISTS (SELECT 1 FROM fanout_jobs j WHERE j.notification = n.serial)
            """
        done.notifications = Int64(
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
        if let retentionCutoff, done.notifications < batch {
            done.notifications += Int64(
                try await connection.query(
                    """
                    DELETE FROM notifications WHERE serial IN (
                        SELECT n.serial FROM notifications n
                        WHERE n.expires_at IS NULL AND n.created_at < \(retentionCutoff) AND \(unescaped: unnamed)
                        LIMIT \(batch - done.notifications))
                    RETURNING 1
                    """,
                    logger: logger
                ).collect().count)
        }
        return done
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

    /// A transaction takes its expired entries from this many times its
    /// rows of the first expired ones, those of the fewest feeds: each feed
    /// it touches costs a `removed` event and its head's update (as the
    /// SQLite store's sweep, `StoreEngine.sweepWindow`).
    static let sweepWindow: Int64 = 4
}
