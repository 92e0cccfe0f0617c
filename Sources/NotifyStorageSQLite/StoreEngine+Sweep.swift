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
            let mark = retentionMark.withLock { $0 }
            let step = try await write("sweeping") { db in
                try Self.sweepBatch(db, now: now, retentionCutoff: cutoff, batch: batch, mark: mark)
            }
            retentionMark.withLock { $0 = step.mark }
            outcome.expiredEntries += step.expired
            outcome.retainedEntries += step.retained
            outcome.notifications += step.notifications
            outcome.transactions += 1
            statistics.withLock {
                $0.sweptExpiredEntries += step.expired
                $0.sweptRetainedEntries += step.retained
                $0.sweptNotifications += step.notifications
                $0.sweepTransactions += 1
            }
            guard step.expired + step.retained >= batch || step.notifications >= batch || step.walkGoesOn else {
                return outcome
            }
            if isClosed || Task.isCancelled { return outcome }
            await Task.yield()
        }
    }

    /// What one transaction of the sweep did.
    private struct SweepStep: Sendable {
        var expired = 0
        var retained = 0
        var notifications = 0
        /// ``StoreEngine/retentionMark`` after it.
        var mark: Int64
        /// The retention's walk stopped at the transaction's bound, not at
        /// the cutoff: more may be past it.
        var walkGoesOn = false
    }

    /// One transaction of the sweep: up to `batch` feed entries (expired
    /// first), the notifications left unnamed, and a step of the retention's
    /// walk from `mark`.
    ///
    /// Retention walks notifications in serial order, which is creation
    /// order, so that no index on their time must be written by every
    /// append (docs/PERFORMANCE.md, "The append path"): from the mark on,
    /// until the first one created after the cutoff. Appends committed in
    /// one batch may differ from that order by the milliseconds between
    /// their calls: one created just before the cutoff behind one just after
    /// waits for the next sweep. A notification past the retention loses its
    /// feed entries, then goes; one a key still names is given the cutoff
    /// as its expiry instead, so that it goes with the expired ones once the
    /// key is purged; one a fan-out job still writes stops the walk until the
    /// job ends.
    private static func sweepBatch(
        _ db: Database, now: Int64, retentionCutoff: Int64?, batch: Int, mark: Int64
    ) throws -> SweepStep {
        var step = SweepStep(mark: mark)
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
        step.expired = expired.count
        // Nothing left that names them.
        let unnamed = """
            NOT EXISTS (SELECT 1 FROM feed f WHERE f.notification = n.serial)
            AND NOT EXISTS (SELECT 1 FROM idempotency i WHERE i.notification = n.serial)
            AND NOT EXISTS (SELECT 1 FROM fanout_jobs j WHERE j.notification = n.serial)
            """
        if let retentionCutoff, step.expired < batch {
            try walkRetention(db, cutoff: retentionCutoff, budget: batch - step.expired, step: &step,
                deleteEntry: deleteEntry, unseenNotify: unseenNotify)
        }
        try db.execute(
            sql: """
                DELETE FROM notifications WHERE serial IN (
                    SELECT n.serial FROM notifications n
                    WHERE n.expires_at IS NOT NULL AND n.expires_at <= ? AND \(unnamed)
                    LIMIT ?)
                """,
            arguments: [now, batch])
        step.notifications += db.changesCount
        // A serial is given again after the newest row is deleted (SQLite
        // takes the highest plus one): the walk must not be past it then.
        let newest = try Int64.fetchOne(db.cachedStatement(sql: "SELECT MAX(serial) FROM notifications")) ?? 0
        step.mark = min(step.mark, newest)
        return step
    }

    /// The retention's step: from `step.mark`, the Notify notifications
    /// created before `cutoff` lose their feed entries (at most `budget`),
    /// then go; see ``sweepBatch(_:now:retentionCutoff:batch:mark:)``.
    private static func walkRetention(
        _ db: Database, cutoff: Int64, budget: Int, step: inout SweepStep, deleteEntry: Statement,
        unseenNotify: Statement
    ) throws {
        var budget = budget
        let walk = try db.cachedStatement(
            sql: "SELECT serial, created_at, expires_at FROM notifications WHERE serial > ? ORDER BY serial LIMIT ?")
        let entriesOf = try db.cachedStatement(sql: "SELECT user, seq, read FROM feed WHERE notification = ? LIMIT ?")
        let raise = try db.cachedStatement(
            sql: "UPDATE feed_heads SET swept_through = max(swept_through, ?) WHERE user = ?")
        let writing = try db.cachedStatement(sql: "SELECT 1 FROM fanout_jobs WHERE notification = ? LIMIT 1")
        let keyed = try db.cachedStatement(sql: "SELECT 1 FROM idempotency WHERE notification = ? LIMIT 1")
        let expire = try db.cachedStatement(sql: "UPDATE notifications SET expires_at = ? WHERE serial = ?")
        let delete = try db.cachedStatement(sql: "DELETE FROM notifications WHERE serial = ?")
        let rows = try Row.fetchAll(walk, arguments: [step.mark, budget])
        // Walked to the bound without reaching the cutoff: more follow.
        step.walkGoesOn = rows.count == budget
        for row in rows {
            let serial: Int64 = row[0]
            guard (row[1] as Int64) < cutoff else {
                step.walkGoesOn = false
                return
            }
            // SendNotification's: the expiry's.
            guard (row[2] as Int64?) == nil else {
                step.mark = serial
                continue
            }
            let entries = try Row.fetchAll(entriesOf, arguments: [serial, budget + 1])
            let removed = min(entries.count, budget)
            for entry in entries.prefix(removed) {
                let user: Int64 = entry[0]
                let seq: Int64 = entry[1]
                try raise.execute(arguments: [seq, user])
                try deleteEntry.execute(arguments: [user, seq])
                if !(entry[2] as Bool) { try unseenNotify.execute(arguments: [user]) }
            }
            step.retained += removed
            budget -= removed
            // More entries than this transaction removes: the next goes on here.
            guard entries.count == removed else {
                step.walkGoesOn = true
                return
            }
            guard try Row.fetchOne(writing, arguments: [serial]) == nil else {
                step.walkGoesOn = false
                return
            }
            if try Row.fetchOne(keyed, arguments: [serial]) != nil {
                try expire.execute(arguments: [cutoff, serial])
            } else {
                try delete.execute(arguments: [serial])
                step.notifications += 1
            }
            step.mark = serial
            guard budget > 0 else {
                step.walkGoesOn = true
                return
            }
        }
    }
}
