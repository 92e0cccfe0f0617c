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
    /// Events older than the retention.
    public var retainedEvents = 0
    /// `removed` events (reason `expired`) appended for the expired entries:
    /// one per feed per transaction.
    public var removalEvents = 0
    /// Notification rows no feed entry, idempotency key or fan-out job names any more.
    public var notifications = 0
    /// Write transactions the sweep ran.
    public var transactions = 0

    public init() {}
}

/// What one transaction of a sweep did.
private struct SweepBatch: Sendable {
    var expired = 0
    var retained = 0
    var retainedEvents = 0
    var notifications = 0
    /// The feeds a `removed` event was appended to: their readers are woken.
    var users: [Int64] = []
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

    /// Removes expired notifications' feed entries, entries and events older
    /// than the retention, then the notifications nothing names any more, in
    /// transactions of at most ``SQLiteStoreConfiguration/sweepBatchSize``
    /// rows each, until a transaction finds less than a batch.
    ///
    /// Each transaction goes through the one writer, as appends do, and the
    /// sweep yields between them: an append waits for one batch at most.
    /// Readers never need the sweep to hide an expired entry (reads filter
    /// it), so it may lag behind.
    ///
    /// Expired entries leave each feed with a `removed` event (reason
    /// `expired`) naming them, one per feed per transaction, in that
    /// transaction, and wake the feed's readers. An entry or event removed by
    /// retention raises its feed's `swept_through` to its sequence
    /// (``FeedPage/sweptThrough``); an expired entry does not. The
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
            let done = try await write("sweeping") { db in
                try Self.sweepBatch(db, now: now, retentionCutoff: cutoff, batch: batch)
            }
            feedAdvances.advanced(users: done.users)
            outcome.expiredEntries += done.expired
            outcome.retainedEntries += done.retained
            outcome.retainedEvents += done.retainedEvents
            outcome.removalEvents += done.users.count
            outcome.notifications += done.notifications
            outcome.transactions += 1
            statistics.withLock {
                $0.sweptExpiredEntries += done.expired
                $0.sweptRetainedEntries += done.retained
                $0.sweptNotifications += done.notifications
                $0.sweepTransactions += 1
            }
            guard done.expired + done.retained + done.retainedEvents >= batch || done.notifications >= batch else {
                return outcome
            }
            if isClosed || Task.isCancelled { return outcome }
            await Task.yield()
        }
    }

    /// One transaction of the sweep: up to `batch` feed entries (expired
    /// first) and old events, then up to `batch` notifications left unnamed.
    ///
    /// The expired entries of each feed leave it with one `removed` event
    /// (reason `expired`) naming them, numbered from the feed's head as every
    /// entry is, so that every reader learns the removal in order.
    private static func sweepBatch(
        _ db: Database, now: Int64, retentionCutoff: Int64?, batch: Int
    ) throws -> SweepBatch {
        var done = SweepBatch()
        let deleteEntry = try db.cachedStatement(sql: "DELETE FROM feed WHERE user = ? AND seq = ?")
        let unseenNotify = try db.cachedStatement(
            sql: "UPDATE feed_heads SET unseen_notify = max(0, unseen_notify - 1) WHERE user = ?")
        let expired = try Row.fetchAll(
            db.cachedStatement(
                sql: """
                    SELECT f.user, f.seq, f.read, n.id, \(targetColumnsSQL)
                    FROM notifications n JOIN feed f ON f.notification = n.serial
                    WHERE n.expires_at IS NOT NULL AND n.expires_at <= ?
                    LIMIT ?
                    """),
            arguments: [now, batch])
        done.expired = expired.count
        // Grouped by feed, each feed's entries in sequence order.
        var removals: [Int64: (ids: [(seq: Int64, id: String)], unread: Int64, audience: EventAudience)] = [:]
        for row in expired {
            let user: Int64 = row[0]
            let seq: Int64 = row[1]
            try deleteEntry.execute(arguments: [user, seq])
            if removals[user] == nil {
                done.users.append(user)
                removals[user] = ([], 0, EventAudience())
            }
            removals[user]?.ids.append((seq, row[3]))
            // An unread entry leaves its view's unseen count with it: only
            // SendNotification's entries expire.
            if !(row[2] as Bool) { removals[user]?.unread += 1 }
            removals[user]?.audience.add(graph: true, app: row[4], platforms: row[5])
        }
        let appendRemoval = try db.cachedStatement(
            sql: """
                UPDATE feed_heads SET last_seq = last_seq + 1, last_event = last_seq + 1,
                    unseen_graph = max(0, unseen_graph - ?)
                WHERE user = ? RETURNING last_seq
                """)
        for user in done.users {
            guard let removal = removals[user] else { continue }
            guard let sequence = try Int64.fetchOne(appendRemoval, arguments: [removal.unread, user]) else {
                throw StorageError(code: .corrupt, message: "a feed with entries has no head")
            }
            let ids = removal.ids.sorted { $0.seq < $1.seq }.map(\.id)
            try EventRow(
                user: user, seq: sequence, createdAt: now, ids: ids, change: .removed(.expired),
                audience: removal.audience.stored
            ).insert(db)
        }
        if let retentionCutoff, done.expired < batch {
            let retained = try Row.fetchAll(
                db.cachedStatement(
                    sql: """
                        SELECT f.user, f.seq, f.read FROM notifications n JOIN feed f ON f.notification = n.serial
                        WHERE n.expires_at IS NULL AND n.created_at < ?
                        LIMIT ?
                        """),
                arguments: [retentionCutoff, batch - done.expired])
            let raise = try db.cachedStatement(
                sql: "UPDATE feed_heads SET swept_through = max(swept_through, ?) WHERE user = ?")
            for row in retained {
                let user: Int64 = row[0]
                let seq: Int64 = row[1]
                try raise.execute(arguments: [seq, user])
                try deleteEntry.execute(arguments: [user, seq])
                // Notify's entries are the ones without an expiration.
                if !(row[2] as Bool) { try unseenNotify.execute(arguments: [user]) }
            }
            done.retained = retained.count
            // Events go with the entries of their age, and raise the signal as they do.
            if done.expired + done.retained < batch {
                let events = try Row.fetchAll(
                    db.cachedStatement(sql: "SELECT user, seq FROM feed_events WHERE created_at < ? LIMIT ?"),
                    arguments: [retentionCutoff, batch - done.expired - done.retained])
                let deleteEvent = try db.cachedStatement(sql: "DELETE FROM feed_events WHERE user = ? AND seq = ?")
                for row in events {
                    let user: Int64 = row[0]
                    let seq: Int64 = row[1]
                    try raise.execute(arguments: [seq, user])
                    try deleteEvent.execute(arguments: [user, seq])
                }
                done.retainedEvents = events.count
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
        done.notifications = db.changesCount
        if let retentionCutoff, done.notifications < batch {
            try db.execute(
                sql: """
                    DELETE FROM notifications WHERE serial IN (
                        SELECT n.serial FROM notifications n
                        WHERE n.expires_at IS NULL AND n.created_at < ? AND \(unnamed)
                        LIMIT ?)
                    """,
                arguments: [retentionCutoff, batch - done.notifications])
            done.notifications += db.changesCount
        }
        return done
    }
}
