import GRDB
import Logging
import NotifyDomain
import NotifyStorage
import Synchronization

/// What one transaction of a sweep did.
private struct SweepBatch: Sendable {
    var expired = 0
    var retained = 0
    var retainedEvents = 0
    var notifications = 0
    /// The feeds a `removed` event was appended to: their readers are woken.
    var users: [Int64] = []
    /// ``StoreEngine/retentionMark`` after it.
    var mark: Int64 = 0
    /// The retention's walk stopped at the transaction's bound, not at the
    /// cutoff: more may be past it.
    var walkGoesOn = false
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
    /// rows each, until none is left.
    ///
    /// Each transaction goes through the one writer, as appends do: an
    /// append waits for one at most. So that this is short, a transaction's
    /// rows follow from how long the previous one's statements took against
    /// ``SQLiteStoreConfiguration/sweepTransactionBudget``, and after each
    /// the sweep leaves the writer alone for as long as that transaction held
    /// it, commit included: appends queued meanwhile go first (while appends
    /// flow, ``appendsFlow``; otherwise transactions of about
    /// ``SQLiteStoreConfiguration/sweepQuietBudget``, back to back). What one
    /// transaction costs is mostly the pages its commit writes, so the rows
    /// are taken where they share pages: the expired feed rows are read
    /// ahead on a reader and removed in feed order (``expiredKeys(_:now:limit:)``),
    /// and the notifications they leave unnamed only once they are all gone,
    /// then found together in serial order. Taken in expiry order instead,
    /// nearly every row of a mass expiry lay in a feed of its own, and
    /// appends' p99 rose 4.7× against 1.7× now (docs/PERFORMANCE.md,
    /// "The sweeper"). Readers never need the sweep to hide an expired
    /// entry (reads filter it), so it may lag behind.
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
        let cap = max(1, configuration.sweepBatchSize)
        let budget = configuration.sweepTransactionBudget
        var gentleRows = BudgetedBatch(budget: budget, cap: cap)
        var quietRows = BudgetedBatch(budget: budget > .zero ? configuration.sweepQuietBudget : .zero, cap: cap)
        let now = now.storedMicroseconds
        let cutoff = configuration.retention.map { now - $0.microseconds }
        var outcome = SweepOutcome()
        // The expired feed rows to remove, in feed order, read ahead on a
        // reader; `planFull` whether the last read found as many as it asked
        // for (more may follow).
        var plan = ArraySlice<FeedKey>()
        var planFull = true
        while true {
            if plan.isEmpty && planFull {
                let limit = Self.sweepPlanRows(cap: cap)
                plan = ArraySlice(try await read("planning a sweep") { db in try Self.expiredKeys(db, now: now, limit: limit) })
                planFull = plan.count == limit
            }
            let mark = retentionMark.withLock { $0 }
            // Nobody appending: larger transactions, back to back.
            let gentle = budget > .zero && appendsFlow
            let size = gentle ? gentleRows.size : quietRows.size
            let expired = Array(plan.prefix(size))
            plan = plan.dropFirst(expired.count)
            let (done, took) = try await timedWrite("sweeping") { db in
                try Self.sweepBatch(db, expired: expired, now: now, retentionCutoff: cutoff, batch: size, mark: mark)
            }
            retentionMark.withLock { $0 = done.mark }
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
            // More to do: planned rows, or a transaction that filled its rows.
            guard !plan.isEmpty || planFull || done.walkGoesOn
                || done.expired + done.retained + done.retainedEvents + done.notifications >= size
            else {
                return outcome
            }
            if isClosed || Task.isCancelled { return outcome }
            guard gentle else {
                quietRows.took(took.work)
                await Task.yield()
                continue
            }
            gentleRows.took(took.work)
            // As long again without the writer: the sweep holds it at most
            // half the time, so appends queued meanwhile commit first.
            outcome.rests += 1
            do {
                try await Task.sleep(for: took.held)
            } catch {
                return outcome
            }
        }
    }

    /// One feed row: its user and sequence number.
    struct FeedKey: Comparable, Sendable {
        var user: Int64
        var seq: Int64

        static func < (a: Self, b: Self) -> Bool { (a.user, a.seq) < (b.user, b.seq) }
    }

    /// Expired feed rows a sweep reads ahead, at most: four transactions' worth.
    static func sweepPlanRows(cap: Int) -> Int { 4 * cap }

    /// Up to `limit` expired feed rows, in feed order (user, then sequence):
    /// taken from the earliest expiries, sorted so that each transaction
    /// removes a run of few feeds. A transaction costs by the pages its
    /// commit writes, and rows of one feed share theirs (the row pages, the
    /// one `removed` event, the head), where rows taken in expiry order
    /// mostly lie in a feed each (docs/PERFORMANCE.md, "The sweeper").
    static func expiredKeys(_ db: Database, now: Int64, limit: Int) throws -> [FeedKey] {
        let rows = try Row.fetchCursor(
            db.cachedStatement(
                sql: """
                    SELECT f.user, f.seq FROM notifications n JOIN feed f ON f.notification = n.serial
                    WHERE n.expires_at IS NOT NULL AND n.expires_at <= ? LIMIT ?
                    """),
            arguments: [now, limit])
        var keys: [FeedKey] = []
        while let row = try rows.next() { keys.append(FeedKey(user: row[0], seq: row[1])) }
        return keys.sorted()
    }

    /// One transaction of the sweep: the `expired` feed rows still there,
    /// then, while its rows are fewer than `batch`, entries and events past
    /// the retention, then notifications left unnamed.
    ///
    /// The expired entries of each feed leave it with one `removed` event
    /// (reason `expired`) naming them, numbered from the feed's head as every
    /// entry is, so that every reader learns the removal in order.
    ///
    /// Retention walks notifications in serial order, which is creation
    /// order, so that no index on their time must be written by every
    /// append (docs/PERFORMANCE.md, "Latest figures"): from `mark` on,
    /// until the first one created after the cutoff. Appends committed in
    /// one batch may differ from that order by the milliseconds between
    /// their calls: one created just before the cutoff behind one just after
    /// waits for the next sweep. A notification past the retention loses its
    /// feed entries, then goes; one a key still names is given the cutoff
    /// as its expiry instead, so that it goes with the expired ones once the
    /// key is purged; one a fan-out job still writes stops the walk until the
    /// job ends.
    private static func sweepBatch(
        _ db: Database, expired: [FeedKey], now: Int64, retentionCutoff: Int64?, batch: Int, mark: Int64
    ) throws -> SweepBatch {
        var done = SweepBatch()
        done.mark = mark
        let deleteEntry = try db.cachedStatement(sql: "DELETE FROM feed WHERE user = ? AND seq = ?")
        let unseenNotify = try db.cachedStatement(
            sql: "UPDATE feed_heads SET unseen_notify = max(0, unseen_notify - 1) WHERE user = ?")
        // Those of the planned rows still there (a state change may have
        // deleted some since), with what their events need.
        let find = try db.cachedStatement(
            sql: """
                SELECT f.user, f.seq, f.read, n.id, \(targetColumnsSQL)
                FROM feed f JOIN notifications n ON n.serial = f.notification WHERE f.user = ? AND f.seq = ?
                """)
        let expired = try expired.compactMap { key in try Row.fetchOne(find, arguments: [key.user, key.seq]) }
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
        // As EventRow(change: .removed(.expired)) stores it, without its
        // encoder: one such event per feed per transaction.
        let insertRemoval = try db.cachedStatement(
            sql: """
                INSERT INTO feed_events (user, seq, created_at, kind, ids, removed_reason, audience)
                VALUES (?, ?, ?, 'removed', ?, 'expired', ?)
                """)
        for user in done.users {
            guard let removal = removals[user] else { continue }
            guard let sequence = try Int64.fetchOne(appendRemoval, arguments: [removal.unread, user]) else {
                throw StorageError(code: .corrupt, message: "a feed with entries has no head")
            }
            let ids = removal.ids.sorted { $0.seq < $1.seq }.map(\.id)
            try insertRemoval.execute(arguments: [user, sequence, now, ids.joined(separator: ","), removal.audience.stored])
        }
        if let retentionCutoff, expired.count < batch {
            let raise = try db.cachedStatement(
                sql: "UPDATE feed_heads SET swept_through = max(swept_through, ?) WHERE user = ?")
            try walkRetention(
                db, cutoff: retentionCutoff, budget: batch - expired.count, done: &done, deleteEntry: deleteEntry,
                unseenNotify: unseenNotify, raise: raise)
            // Events go with the entries of their age, and raise the signal as they do.
            if expired.count + done.retained < batch {
                let events = try Row.fetchAll(
                    db.cachedStatement(sql: "SELECT user, seq FROM feed_events WHERE created_at < ? LIMIT ?"),
                    arguments: [retentionCutoff, batch - expired.count - done.retained])
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
        // Past their time, with nothing left that names them: once the
        // planned rows are gone (their notifications are then found together,
        // in serial order, pages shared; before, one here and there).
        let room = batch - expired.count - done.retained - done.retainedEvents
        if room > 0 {
            let unnamed = """
                NOT EXISTS (SELECT 1 FROM feed f WHERE f.notification = n.serial)
                AND NOT EXISTS (SELECT 1 FROM idempotency i WHERE i.notification = n.serial)
                AND NOT EXISTS (SELECT 1 FROM fanout_jobs j WHERE j.notification = n.serial)
                """
            try db.cachedStatement(
                sql: """
                    DELETE FROM notifications WHERE serial IN (
                        SELECT n.serial FROM notifications n
                        WHERE n.expires_at IS NOT NULL AND n.expires_at <= ? AND \(unnamed)
                        LIMIT ?)
                    """
            ).execute(arguments: [now, room])
            done.notifications += db.changesCount
        }
        // A serial is given again after the newest row is deleted (SQLite
        // takes the highest plus one): the walk must not be past it then.
        let newest = try Int64.fetchOne(db.cachedStatement(sql: "SELECT MAX(serial) FROM notifications")) ?? 0
        done.mark = min(done.mark, newest)
        return done
    }

    /// The retention's step: from `step.mark`, the Notify notifications
    /// created before `cutoff` lose their feed entries (at most `budget`),
    /// then go; see ``sweepBatch(_:expired:now:retentionCutoff:batch:mark:)``.
    private static func walkRetention(
        _ db: Database, cutoff: Int64, budget: Int, done step: inout SweepBatch, deleteEntry: Statement,
        unseenNotify: Statement, raise: Statement
    ) throws {
        var budget = budget
        let walk = try db.cachedStatement(
            sql: "SELECT serial, created_at, expires_at FROM notifications WHERE serial > ? ORDER BY serial LIMIT ?")
        let entriesOf = try db.cachedStatement(sql: "SELECT user, seq, read FROM feed WHERE notification = ? LIMIT ?")
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
