import GRDB
import Logging
import NotifyDomain
import NotifyStorage
import Synchronization

/// What one sweep removed.
public struct SweepOutcome: Hashable, Sendable {
    /// Feed entries of expired notifications.
    public var expiredEntries = 0
    /// Feed entries without an expiration, older than the retention.
    public var retainedEntries = 0
    /// Notification rows no feed entry, idempotency key or fan-out job names any more.
    public var notifications = 0
    /// Write transactions the sweep ran.
    public var transactions = 0

    public init() {}
}

extension StoreEngine {
    /// The sweeper: every ``SQLiteStoreConfiguration/sweepInterval``, one
    /// ``sweep(now:)``. Ends when cancelled or the store closes.
    func runSweeper() async {
        guard configuration.sweepInterval > .zero else { return }
        while true {
            do {
                try await Task.sleep(for: configuration.sweepInterval)
            } catch {
                return
            }
            if isClosed || Task.isCancelled { return }
            do {
                _ = try await sweep(now: .now())
            } catch {
                if isClosed || Task.isCancelled { return }
                // A full disk is logged once, by writability.
                if error.code != .unavailable {
                    logger.info("the sweep failed; retrying at the next interval", metadata: ["error.type": "\(error)"])
                }
            }
        }
    }

    /// Removes expired notifications' feed entries, entries older than the
    /// retention, then the notifications nothing names any more, in
    /// transactions of at most ``SQLiteStoreConfiguration/sweepBatchSize``
    /// rows each, until a transaction finds less than a batch.
    ///
    /// Each transaction goes through the one writer, as appends do, and the
    /// sweep yields between them: an append waits for one batch at most.
    /// Readers never need the sweep to hide an expired entry (reads filter
    /// it), so it may lag behind.
    ///
    /// An entry removed by retention raises its feed's `swept_through` to its
    /// sequence (``FeedPage/sweptThrough``); an expired one does not. The
    /// feed's head stays, so no sequence number is given twice. A
    /// notification stays while an idempotency key names it (until the key
    /// is purged, so that a replay still answers) or a fan-out job still
    /// writes it.
    func sweep(now: Timestamp) async throws(StorageError) -> SweepOutcome {
        let batch = max(1, configuration.sweepBatchSize)
        let now = now.storedMicroseconds
        let cutoff = configuration.retention.map { now - $0.microseconds }
        var outcome = SweepOutcome()
        while true {
            let (expired, retained, notifications) = try await write("sweeping") { db in
                try Self.sweepBatch(db, now: now, retentionCutoff: cutoff, batch: batch)
            }
            outcome.expiredEntries += expired
            outcome.retainedEntries += retained
            outcome.notifications += notifications
            outcome.transactions += 1
            statistics.withLock {
                $0.sweptExpiredEntries += expired
                $0.sweptRetainedEntries += retained
                $0.sweptNotifications += notifications
                $0.sweepTransactions += 1
            }
            guard expired + retained >= batch || notifications >= batch else { return outcome }
            if isClosed || Task.isCancelled { return outcome }
            await Task.yield()
        }
    }

    /// One transaction of the sweep: up to `batch` feed entries (expired
    /// first), then up to `batch` notifications left unnamed.
    private static func sweepBatch(
        _ db: Database, now: Int64, retentionCutoff: Int64?, batch: Int
    ) throws -> (expired: Int, retained: Int, notifications: Int) {
        let deleteEntry = try db.cachedStatement(sql: "DELETE FROM feed WHERE user = ? AND seq = ?")
        // An unread entry leaves its view's unseen count as it is removed, in
        // the same transaction: expired entries are SendNotification's (only
        // they expire), retained ones Notify's (only they lack an expiration).
        let unseenGraph = try db.cachedStatement(
            sql: "UPDATE feed_heads SET unseen_graph = max(0, unseen_graph - 1) WHERE user = ?")
        let unseenNotify = try db.cachedStatement(
            sql: "UPDATE feed_heads SET unseen_notify = max(0, unseen_notify - 1) WHERE user = ?")
        let expired = try Row.fetchAll(
            db.cachedStatement(
                sql: """
                    SELECT f.user, f.seq, f.read FROM notifications n JOIN feed f ON f.notification = n.serial
                    WHERE n.expires_at IS NOT NULL AND n.expires_at <= ?
                    LIMIT ?
                    """),
            arguments: [now, batch])
        for row in expired {
            try deleteEntry.execute(arguments: [row[0] as Int64, row[1] as Int64])
            if !(row[2] as Bool) { try unseenGraph.execute(arguments: [row[0] as Int64]) }
        }
        var retained: [Row] = []
        if let retentionCutoff, expired.count < batch {
            retained = try Row.fetchAll(
                db.cachedStatement(
                    sql: """
                        SELECT f.user, f.seq, f.read FROM notifications n JOIN feed f ON f.notification = n.serial
                        WHERE n.expires_at IS NULL AND n.created_at < ?
                        LIMIT ?
                        """),
                arguments: [retentionCutoff, batch - expired.count])
            let raise = try db.cachedStatement(
                sql: "UPDATE feed_heads SET swept_through = max(swept_through, ?) WHERE user = ?")
            for row in retained {
                let user: Int64 = row[0]
                let seq: Int64 = row[1]
                try raise.execute(arguments: [seq, user])
                try deleteEntry.execute(arguments: [user, seq])
                if !(row[2] as Bool) { try unseenNotify.execute(arguments: [user]) }
            }
        }
        // Past their time, with nothing left that names them.
        let unnamed = """
            NOT EXISTS (SELECT 1 FROM feed f WHERE f.notification = n.serial)
            AND NOT EXISTS (SELECT 1 FROM idempotency i WHERE i.notification = n.serial)
            AND NOT EXISTS (SELECT 1 FROM fanout_jobs j WHERE j.notification = n.serial)
            """
        try db.execute(
            sql: """
                DELETE FROM notifications WHERE serial IN (
                    SELECT n.serial FROM notifications n
                    WHERE n.expires_at IS NOT NULL AND n.expires_at <= ? AND \(unnamed)
                    LIMIT ?)
                """,
            arguments: [now, batch])
        var notifications = db.changesCount
        if let retentionCutoff, notifications < batch {
            try db.execute(
                sql: """
                    DELETE FROM notifications WHERE serial IN (
                        SELECT n.serial FROM notifications n
                        WHERE n.expires_at IS NULL AND n.created_at < ? AND \(unnamed)
                        LIMIT ?)
                    """,
                arguments: [retentionCutoff, batch - notifications])
            notifications += db.changesCount
        }
        return (expired.count, retained.count, notifications)
    }
}
