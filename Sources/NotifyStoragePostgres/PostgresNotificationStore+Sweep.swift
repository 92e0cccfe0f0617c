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

    /// Removes expired notifications' feed entries, entries older than the
    /// retention, then the notifications nothing names any more, in
    /// transactions of at most ``PostgresStoreConfiguration/sweepBatchSize``
    /// rows each, until one finds less than a batch.
    ///
    /// As the SQLite store's sweep: an unread entry leaves its view's unseen
    /// count in the transaction that removes it (the count of the row as it
    /// is deleted, so a read committed meanwhile is not counted twice); an
    /// entry removed by retention raises its feed's `swept_through`, an
    /// expired one does not; heads stay; a notification stays while an
    /// idempotency key names it.
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
            let (expired, retained, notifications) = try await write("sweeping") { connection in
                try await Self.sweepBatch(connection, logger, now: now, retentionCutoff: cutoff, batch: batch)
            }
            outcome.expiredEntries += Int(expired)
            outcome.retainedEntries += Int(retained)
            outcome.notifications += Int(notifications)
            outcome.transactions += 1
            guard expired + retained >= batch || notifications >= batch else { return outcome }
            if queue.isClosed || Task.isCancelled { return outcome }
        }
    }

    /// Deletes up to `batch` feed rows `doomed` selects (`user_id`, `seq`), and
    /// moves their heads: the unread ones leave `unseen`, and with
    /// `raiseSwept` the feed's `swept_through` rises to the highest removed.
    /// - Returns: how many rows it deleted.
    private static func deleteEntries(
        _ connection: PostgresConnection, _ logger: Logger, doomed: String, bindings: PostgresBindings, unseen: String,
        raiseSwept: Bool
    ) async throws -> Int64 {
        let swept = raiseSwept ? ", swept_through = greatest(h.swept_through, c.top)" : ""
        let rows = try await connection.query(
            PostgresQuery(
                unsafeSQL: """
                    WITH doomed AS (\(doomed)),
                    gone AS (DELETE FROM feed f USING doomed d WHERE f.user_id = d.user_id AND f.seq = d.seq
                        RETURNING f.user_id, f.seq, f.read),
                    counts AS (SELECT user_id, count(*) FILTER (WHERE NOT read) AS unread, max(seq) AS top, count(*) AS n
                        FROM gone GROUP BY user_id),
                    heads AS (UPDATE feed_heads h SET \(unseen) = greatest(0, h.\(unseen) - c.unread)\(swept)
                        FROM counts c WHERE h.user_id = c.user_id RETURNING 1)
                    SELECT COALESCE(sum(n), 0)::int8 FROM counts
                    """,
                binds: bindings),
            logger: logger
        ).collect()
        return try rows.first?.decode(Int64.self) ?? 0
    }

    /// One transaction of the sweep: up to `batch` feed entries (expired
    /// first), then up to `batch` notifications left unnamed.
    private static func sweepBatch(
        _ connection: PostgresConnection, _ logger: Logger, now: Int64, retentionCutoff: Int64?, batch: Int64
    ) async throws -> (expired: Int64, retained: Int64, notifications: Int64) {
        var bindings = PostgresBindings()
        bindings.append(now)
        bindings.append(batch)
        // Only SendNotification's entries expire; only Notify's lack an expiration.
        let expired = try await deleteEntries(
            connection, logger,
            doomed: """
                SELECT f.user_id, f.seq FROM notifications n JOIN feed f ON f.notification = n.serial
                WHERE n.expires_at IS NOT NULL AND n.expires_at <= $1 LIMIT $2
                """,
            bindings: bindings, unseen: "unseen_graph", raiseSwept: false)
        var retained: Int64 = 0
        if let retentionCutoff, expired < batch {
            var bindings = PostgresBindings()
            bindings.append(retentionCutoff)
            bindings.append(batch - expired)
            retained = try await deleteEntries(
                connection, logger,
                doomed: """
                    SELECT f.user_id, f.seq FROM notifications n JOIN feed f ON f.notification = n.serial
                    WHERE n.expires_at IS NULL AND n.created_at < $1 LIMIT $2
                    """,
                bindings: bindings, unseen: "unseen_notify", raiseSwept: true)
        }
        // Past their time, with nothing left that names them.
        let unnamed = """
            NOT EXISTS (SELECT 1 FROM feed f WHERE f.notification = n.serial)
            AND NOT EXISTS (SELECT 1 FROM idempotency i WHERE i.notification = n.serial)
            AND NOT EXISTS (SELECT 1 FROM fanout_jobs j WHERE j.notification = n.serial)
            """
        var notifications = Int64(
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
        if let retentionCutoff, notifications < batch {
            notifications += Int64(
                try await connection.query(
                    """
                    DELETE FROM notifications WHERE serial IN (
                        SELECT n.serial FROM notifications n
                        WHERE n.expires_at IS NULL AND n.created_at < \(retentionCutoff) AND \(unescaped: unnamed)
                        LIMIT \(batch - notifications))
                    RETURNING 1
                    """,
                    logger: logger
                ).collect().count)
        }
        return (expired, retained, notifications)
    }
}
