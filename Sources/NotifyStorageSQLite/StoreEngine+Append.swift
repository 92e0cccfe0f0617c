import Foundation
import GRDB
import Synchronization
import Logging
import NotifyDomain
import NotifyStorage

extension StoreEngine {
    /// The most expired idempotency keys one purge deletes.
    static let idempotencyPurgeLimit = 10_000

    /// The group-commit writer, on a thread of its own: commits the queued
    /// appends batch by batch until the queue is closed and drained, with a
    /// WAL checkpoint after a batch whenever ``SQLiteStoreConfiguration/checkpointInterval``
    /// has passed since the last one.
    func runAppendWriter() {
        var lastPurge: ContinuousClock.Instant?
        var lastCheckpoint = ContinuousClock.now
        while let batch = queue.next(limit: configuration.maxAppendsPerTransaction) {
            lastAppendBatch.store(DispatchTime.now().uptimeNanoseconds, ordering: .relaxed)
            let now = ContinuousClock.now
            let purge = lastPurge.map { now - $0 >= configuration.idempotencyPurgeInterval } ?? true
            if purge { lastPurge = now }
            commit(batch, purgeIdempotencyKeys: purge)
            metrics.recordBatch(size: batch.count, waiting: batch.count, since: now)
            if configuration.checkpointInterval > .zero, now - lastCheckpoint >= configuration.checkpointInterval {
                lastCheckpoint = now
                checkpoint()
            }
        }
    }

    /// Commits `batch` in one transaction, then completes every append.
    ///
    /// One refused append (a reused idempotency key, a duplicate id) must fail
    /// alone, but a savepoint around every append costs two statements each.
    /// So the batch first runs without them; only when an append fails is that
    /// transaction rolled back and the batch run again with one savepoint per
    /// append. A failed commit fails them all.
    ///
    /// GRDB's synchronous `write` runs on this thread, which does nothing else.
    private func commit(_ batch: [AppendQueue.Pending], purgeIdempotencyKeys: Bool) {
        let now = Timestamp.now().storedMicroseconds
        let cutoff = now - configuration.idempotencyRetention.microseconds
        let configuration = configuration
        var outcomes: [AppendOutcome]
        var jobsCreated = 0
        var skippedFull = 0
        // The users the batch's connections notifications reached, read only when
        // someone is watching; nil means not known (all watchers wake).
        var reached: [Int64]?
        let watched = feedAdvances.isWatched
        do {
            do {
                (outcomes, jobsCreated, reached, skippedFull) = try pool.write { db in
                    try Self.appendBatch(
                        db, batch, isolated: false, purge: purgeIdempotencyKeys, now: now, cutoff: cutoff,
                        collectReached: watched, configuration: configuration)
                }
            } catch is IsolateAppends {
                (outcomes, jobsCreated, reached, skippedFull) = try pool.write { db in
                    try Self.appendBatch(
                        db, batch, isolated: true, purge: purgeIdempotencyKeys, now: now, cutoff: cutoff,
                        collectReached: watched, configuration: configuration)
                }
            }
        } catch {
            let failure = StorageError(mapping: error, during: "committing \(batch.count) appends")
            // A full disk is logged once, by writability, not once per batch.
            if failure.code != .unavailable {
                logger.info("an append batch failed", metadata: ["error.type": "\(failure)"])
            }
            outcomes = Array(repeating: .failed(failure), count: batch.count)
            jobsCreated = 0
        }
        noteWritability(outcomes)
        statistics.withLock {
            $0.appends += batch.count
            $0.appendTransactions += 1
            $0.largestAppendBatch = max($0.largestAppendBatch, batch.count)
            $0.fanOutJobsCreated += jobsCreated
            $0.feedsSkippedFull += skippedFull
        }
        if jobsCreated > 0, configuration.runsBackgroundFanOut { fanOutSignal.yield() }
        if feedAdvances.isWatched { wakeFeeds(batch, outcomes, reached: reached) }
        for (pending, outcome) in zip(batch, outcomes) {
            pending.complete(outcome)
        }
    }

    /// Feeds ``writability`` with a batch's outcomes: an append refused
    /// because the disk is full stops writing.
    private func noteWritability(_ outcomes: [AppendOutcome]) {
        var refused = 0
        var refusal: StorageError?
        for case .failed(let error) in outcomes where error.code == .unavailable {
            refused += 1
            refusal = error
        }
        if let refusal { writability.failed(refusal, count: refused) }
    }

    /// Wakes the live readers of the feeds `batch` advanced: by user, the
    /// users an append named and those its connections reached (`reached`).
    ///
    /// `reached` is read inside the transaction only when someone watched as
    /// the batch began. A watcher that came during the transaction may have
    /// read before the commit, so then (nil) every watcher wakes.
    private func wakeFeeds(_ batch: [AppendQueue.Pending], _ outcomes: [AppendOutcome], reached: [Int64]?) {
        var users = reached ?? []
        for (pending, outcome) in zip(batch, outcomes) {
            let encoded: EncodedAppend
            switch (pending, outcome) {
            case (.append(let append, _), .appended):
                encoded = append
            case (.change(let change, _), .changed(.changed)):
                users.append(change.user)
                continue
            default:
                continue
            }
            switch encoded.item.recipients {
            case .users(let ids):
                users.append(contentsOf: ids)
            case .connections:
                guard reached != nil else {
                    feedAdvances.advancedAll()
                    return
                }
            }
        }
        feedAdvances.advanced(users: users)
    }

    /// Thrown out of a batch run without savepoints when one append failed:
    /// its transaction rolls back and the batch runs again, isolated.
    private struct IsolateAppends: Error {}

    /// Every append of `batch` inside one transaction.
    ///
    /// - Parameter isolated: each append in a savepoint of its own, so that a
    ///   failing one is undone alone; without it, a failure throws
    ///   ``IsolateAppends`` and the caller runs the batch again isolated.
    /// - Parameter collectReached: read whom each connections notification's
    ///   feed rows reached in this transaction, for the wake-ups.
    /// - Returns: an outcome per append, how many fan-out jobs were created,
    ///   the users reached by connections (nil unless collected), and how
    ///   many full feeds were skipped.
    private static func appendBatch(
        _ db: Database, _ batch: [AppendQueue.Pending], isolated: Bool, purge: Bool, now: Int64, cutoff: Int64,
        collectReached: Bool, configuration: SQLiteStoreConfiguration
    ) throws -> ([AppendOutcome], Int, [Int64]?, Int) {
        if purge {
            // Bounded, so a backlog of keys cannot delay this batch's callers;
            // the next purge takes the rest.
            try db.execute(
                sql: """
                    DELETE FROM idempotency WHERE (scope, method, key) IN (
                        SELECT scope, method, key FROM idempotency WHERE created_at < ? LIMIT ?)
                    """,
                arguments: [cutoff, idempotencyPurgeLimit])
        }
        var statements = try AppendStatements(db)
        var heads = FeedHeads()
        // An undone append may leave users here: a spare wake-up costs a read.
        var reached: [Int64]? = collectReached ? [] : nil
        var outcomes: [AppendOutcome] = []
        outcomes.reserveCapacity(batch.count)
        var jobs = 0
        var skipped = 0
        for pending in batch {
            // A failure outside the append itself (opening or undoing its
            // savepoint) escapes the closure: the whole batch rolls back and fails.
            if isolated { try statements.savepoint.execute() }
            // Only under savepoints: a copy kept alive makes the next change
            // to `heads` copy its storage, once per append.
            let headsBefore = isolated ? heads : nil
            do {
                switch pending {
                case .append(let item, _):
                    var skippedHere = 0
                    let (appended, createdJob) = try appendOne(
                        db, statements, &heads, &reached, &skippedHere, item, now: now, cutoff: cutoff,
                        configuration: configuration)
                    if isolated { try statements.releaseSavepoint.execute() }
                    outcomes.append(appended)
                    if createdJob { jobs += 1 }
                    skipped += skippedHere
                case .change(let change, _):
                    let changed = try applyChange(db, statements, &heads, change)
                    if isolated { try statements.releaseSavepoint.execute() }
                    outcomes.append(.changed(changed))
                }
            } catch {
                guard isolated else { throw IsolateAppends() }
                // An I/O error can make SQLite roll the whole transaction
                // back: then nothing in this batch may be reported as done.
                guard db.isInsideTransaction else { throw error }
                // GRDB drops a statement that failed from its cache
                // (SQLite cannot reset it): fetch fresh ones.
                statements = try AppendStatements(db)
                // Undo this append's writes, keep the batch's others.
                try statements.rollbackToSavepoint.execute()
                try statements.releaseSavepoint.execute()
                if let headsBefore { heads = headsBefore }
                outcomes.append(.failed(StorageError(mapping: error, during: pending.operation)))
            }
        }
        try heads.flush(db, statements)
        return (outcomes, jobs, reached, skipped)
    }

    /// One append inside the batch's transaction.
    /// - Parameter skippedFull: counts the recipients skipped because their
    ///   feed holds ``SQLiteStoreConfiguration/maxFeedEntries``.
    /// - Returns: the outcome for the caller, and whether a background fan-out job was created.
    /// - Throws: ``StorageError/Code/feedFull`` when every feed it names is full.
    static func appendOne(
        _ db: Database, _ statements: AppendStatements, _ heads: inout FeedHeads, _ reached: inout [Int64]?,
        _ skippedFull: inout Int, _ encoded: EncodedAppend, now: Int64, cutoff: Int64,
        configuration: SQLiteStoreConfiguration
    ) throws -> (AppendOutcome, Bool) {
        let item = encoded.item
        if let key = item.idempotencyKey, let fingerprint = encoded.fingerprint {
            let keyArguments: StatementArguments = [key.scope, key.method, key.key]
            statements.findKey.setUncheckedArguments(keyArguments)
            if let row = try Row.fetchOne(statements.findKey) {
                let earlier = IdempotencyRow(
                    scope: key.scope, method: key.method, key: key.key, fingerprint: row[0], notification: row[1],
                    recipients: row[2], firstUser: row[3], firstSeq: row[4], createdAt: row[5])
                if earlier.createdAt >= cutoff {
                    guard earlier.fingerprint == fingerprint else {
                        throw StorageError(
                            code: .idempotencyKeyReused, message: "the idempotency key was used with another request")
                    }
                    return (.replayed(ReplayedAppend(try replay(db, earlier))), false)
                }
                // Expired but not yet purged: the key is free again.
                statements.deleteKey.setUncheckedArguments(keyArguments)
                try statements.deleteKey.execute()
            }
        }

        try ContentColumns.bindInsert(
            item.content, id: item.id, createdAt: encoded.createdAt, platforms: encoded.platforms,
            custom: statements.insertCustom, graph: statements.insertGraph
        ).execute(db)
        let serial = db.lastInsertedRowID
        let graph = encoded.kind == ContentColumns.graphKind

        var recipients: Int64 = 0
        var first: (user: Int64, seq: Int64)?
        var createdJob = false
        switch item.recipients {
        case .users(let ids):
            // Most notifications have one recipient or a few: a set only for many.
            var seen: Set<Int64>? = ids.count > 16 ? Set(minimumCapacity: ids.count) : nil
            for (index, id) in ids.enumerated() {
                if seen != nil {
                    guard seen?.insert(id).inserted == true else { continue }
                } else if ids[..<index].contains(id) {
                    continue
                }
                guard let seq = try heads.next(db, statements, user: id, limit: configuration.maxFeedEntries, graph: graph) else {
                    skippedFull += 1
                    continue
                }
                try insertFeedRow(db, statements, user: id, seq: seq, notification: serial)
                if first == nil { first = (id, seq) }
                recipients += 1
            }
            if recipients == 0, skippedFull > 0 {
                // Thrown out of the append's savepoint: nothing of it stays.
                throw StorageError(
                    code: .feedFull,
                    message: "the recipient's feed holds its most entries (\(configuration.maxFeedEntries ?? 0))")
            }
        case .connections(let issuer, let mode):
            var audience = Audience(issuer: issuer, mode: mode)
            // Counted only up to one past the inline limit: a large audience
            // costs this transaction no more than a small one to classify.
            let inlineLimit = max(0, configuration.inlineFanOutLimit)
            let counted = try Int64.fetchOne(
                db, sql: "SELECT COUNT(*) FROM (SELECT 1 FROM (\(audience.sql)) LIMIT \(inlineLimit + 1))",
                arguments: audience.arguments) ?? 0
            guard counted > Int64(inlineLimit) else {
                if let limit = configuration.maxFeedEntries {
                    // The bound reads the heads: write this batch's first.
                    try heads.flush(db, statements)
                    audience = audience.bounded(by: limit)
                    let room =
                        try Int64.fetchOne(db, sql: "SELECT COUNT(*) FROM (\(audience.sql))", arguments: audience.arguments) ?? 0
                    skippedFull += Int(clamping: max(0, counted - room))
                    recipients = room
                } else {
                    recipients = counted
                }
                guard recipients > 0,
                    let firstUser = try Int64.fetchOne(
                        db, sql: "SELECT MIN(user) FROM (\(audience.sql))", arguments: audience.arguments)
                else { break }
                // The SQL reads and advances the heads itself.
                try heads.flush(db, statements)
                try writeFeedRows(
                    db, audience: audience.sql, arguments: audience.arguments, notification: serial, graph: graph)
                heads.forget()
                if reached != nil {
                    reached! += try Int64.fetchAll(db, sql: audience.sql, arguments: audience.arguments)
                }
                let seq = try Int64.fetchOne(
                    db, sql: "SELECT last_seq FROM feed_heads WHERE user = ?", arguments: [firstUser])
                first = seq.map { (firstUser, $0) }
                break
            }
            // A large audience: this transaction writes the first recipient's
            // feed (so the answer carries its entry) and records a job that the
            // background fan-out runs from the connections table, batch by
            // batch after its cursor (StoreEngine+FanOut.swift). Nothing here
            // reads the audience beyond its first user: the answer's
            // `recipients` (the audience at the call) is the count the
            // connections' triggers keep (Schema.swift, v10).
            recipients = try Audience.count(db, issuer: issuer, mode: mode)
            guard let firstUser = try Audience.nextUsers(db, issuer: issuer, mode: mode, after: nil, count: 1).first else {
                break
            }
            // A full first feed is skipped, as the fan-out skips full ones.
            if let seq = try heads.next(db, statements, user: firstUser, limit: configuration.maxFeedEntries, graph: graph) {
                try insertFeedRow(db, statements, user: firstUser, seq: seq, notification: serial)
                first = (firstUser, seq)
                reached?.append(firstUser)
            } else {
                skippedFull += 1
            }
            var job = FanOutJobRow(
                id: nil, notification: serial, total: max(0, recipients - 1), createdAt: now,
                issuer: issuer, mode: mode.rawValue, cursor: firstUser)
            try job.insert(db)
            createdJob = true
        }

        if let key = item.idempotencyKey, let fingerprint = encoded.fingerprint {
            statements.insertKey.setUncheckedArguments([
                key.scope, key.method, key.key, fingerprint, serial, recipients, first?.user, first?.seq, now,
            ])
            try statements.insertKey.execute()
        }

        return (.appended(recipients: recipients, first: first), createdJob)
    }

    /// The first call's answer, rebuilt from what it stored.
    private static func replay(_ db: Database, _ earlier: IdempotencyRow) throws -> AppendResult {
        let statement = try db.cachedStatement(
            sql: "SELECT n.id, n.created_at, \(ContentColumns.selection("n")) FROM notifications n WHERE n.serial = ?")
        let rows = try Row.fetchCursor(statement, arguments: [earlier.notification])
        guard let row = try rows.next() else {
            throw StorageError(code: .corrupt, message: "an idempotency key names a missing notification")
        }
        let id: String = row[0]
        var first: NotifyDomain.Notification?
        if let user = earlier.firstUser, let seq = earlier.firstSeq {
            first = NotifyDomain.Notification(
                id: id, sequence: UInt64(max(0, seq)), user: user, createdAt: Timestamp(storedMicroseconds: row[1]),
                content: try ContentColumns.read(statement, from: 2))
        }
        // Stepped to its end (one row by key): no statement left open in the writer's transaction.
        _ = try rows.next()
        return AppendResult(id: id, recipients: UInt64(max(0, earlier.recipients)), first: first, replayed: true)
    }

    /// One row of `user`'s feed.
    static func insertFeedRow(
        _ db: Database, _ statements: AppendStatements, user: Int64, seq: Int64, notification: Int64
    ) throws {
        let insert = statements.insertFeed
        insert.bind(user, at: 1)
        insert.bind(seq, at: 2)
        insert.bind(notification, at: 3)
        try insert.execute(db)
    }

    /// Appends the notification to the feed of every user `audience` selects,
    /// in SQL, so no id passes through memory.
    ///
    /// `audience` must select distinct users in a column named `user`. Each
    /// gets the sequence after its head, then every head advances by one:
    /// both statements see the same heads, so the feeds stay gapless. The
    /// new entries are unread: the head's unseen count of their view grows.
    /// - Parameter graph: a SendNotification's entries (else a Notify's).
    /// - Returns: the number of feed rows written.
    @discardableResult
    static func writeFeedRows(
        _ db: Database, audience: String, arguments: StatementArguments, notification: Int64, graph: Bool
    ) throws -> Int {
        let written = try insertFeedRows(db, audience: audience, arguments: arguments, notification: notification)
        let unseen = graph ? "unseen_graph" : "unseen_notify"
        try db.execute(
            sql: """
                INSERT INTO feed_heads (user, last_seq, \(unseen))
                SELECT user, 1, 1 FROM (\(audience)) WHERE true
                ON CONFLICT (user) DO UPDATE SET last_seq = last_seq + 1, \(unseen) = \(unseen) + 1
                """,
            arguments: arguments)
        return written
    }

    /// The feed rows of ``writeFeedRows(_:audience:arguments:notification:graph:)``,
    /// heads not yet advanced.
    /// - Returns: the number of rows written.
    static func insertFeedRows(
        _ db: Database, audience: String, arguments: StatementArguments, notification: Int64
    ) throws -> Int {
        var feedArguments = arguments
        feedArguments += ["notification": notification]
        // Cached: an audience's text is one of a few shapes (the fan-out's batches reuse it).
        try db.cachedStatement(
            sql: """
                INSERT INTO feed (user, seq, notification)
                SELECT a.user, COALESCE(h.last_seq, 0) + 1, :notification
                FROM (\(audience)) a LEFT JOIN feed_heads h ON h.user = a.user
                """
        ).execute(arguments: feedArguments)
        return db.changesCount
    }

    /// Moves each head that `written` selects (`user`, and `seq`, its feed's
    /// new last sequence) to that sequence, one more unseen entry of its view.
    static func advanceHeads(_ db: Database, graph: Bool, written: String, arguments: StatementArguments) throws {
        let unseen = graph ? "unseen_graph" : "unseen_notify"
        try db.cachedStatement(
            sql: """
                INSERT INTO feed_heads (user, last_seq, \(unseen))
                SELECT user, seq, 1 FROM (\(written)) WHERE true
                ON CONFLICT (user) DO UPDATE SET last_seq = excluded.last_seq, \(unseen) = \(unseen) + 1
                """
        ).execute(arguments: arguments)
    }
}

/// The users a connections notification goes to, as SQL selecting `user`.
///
/// Friendships are stored once with the lower id first, so the two
/// branches never select the same user. The issuer is never in its own audience.
struct Audience {
    var sql: String
    var arguments: StatementArguments

    /// This audience less the users whose feed holds `limit` entries or more
    /// (see ``FeedHeads/next(_:_:user:limit:)`` for how entries are counted).
    ///
    /// Writing feed rows and then advancing heads reads it twice; both reads
    /// agree, because neither a head nor a non-empty feed's first entry
    /// moves between them, and a feed that was empty counts as not full both times.
    func bounded(by limit: Int64) -> Audience {
        var bounded = self
        bounded.sql = """
            SELECT b.user AS user FROM (\(sql)) b WHERE NOT EXISTS (
                SELECT 1 FROM feed_heads h WHERE h.user = b.user AND h.last_seq >= :feedLimit
                AND h.last_seq - (SELECT f.seq FROM feed f WHERE f.user = b.user ORDER BY f.seq LIMIT 1) + 1 >= :feedLimit)
            """
        bounded.arguments += ["feedLimit": limit]
        return bounded
    }

    /// `sql` selects distinct users in a column named `user`, with named arguments.
    init(sql: String, arguments: StatementArguments) {
        self.sql = sql
        self.arguments = arguments
    }

    /// How many users `issuer`'s whole audience holds, from `audience_counts`.
    static func count(_ db: Database, issuer: Int64, mode: CommunityMode) throws -> Int64 {
        try Int64.fetchOne(
            db.cachedStatement(sql: "SELECT n FROM audience_counts WHERE user = ? AND kind = ?"),
            arguments: [issuer, mode == .follow ? "follow" : "friend"]) ?? 0
    }

    init(issuer: Int64, mode: CommunityMode) {
        arguments = ["issuer": issuer]
        switch mode {
        case .friendship:
            sql = """
                SELECT "to" AS user FROM connections WHERE user = :issuer AND kind = 'friend' AND "to" <> :issuer
                UNION ALL
                SELECT user FROM connections WHERE "to" = :issuer AND kind = 'friend' AND user <> :issuer
                """
        case .follow:
            sql = """
                SELECT user FROM connections WHERE "to" = :issuer AND kind = 'follow' AND user <> :issuer
                """
        }
    }
}

/// The append path's statements, compiled once per connection (GRDB caches
/// them) and looked up once per batch rather than parsed per append.
struct AppendStatements {
    let savepoint: Statement
    let releaseSavepoint: Statement
    let rollbackToSavepoint: Statement
    let findKey: Statement
    let deleteKey: Statement
    let insertKey: Statement
    let insertCustom: HotStatement
    let insertGraph: HotStatement
    let readHead: HotStatement
    let readFirstSeq: HotStatement
    let writeHead: HotStatement
    let insertFeed: HotStatement

    init(_ db: Database) throws {
        // A name of our own, so GRDB's "grdb" savepoints never meet ours.
        savepoint = try db.cachedStatement(sql: "SAVEPOINT notify_append")
        releaseSavepoint = try db.cachedStatement(sql: "RELEASE SAVEPOINT notify_append")
        rollbackToSavepoint = try db.cachedStatement(sql: "ROLLBACK TO SAVEPOINT notify_append")
        findKey = try db.cachedStatement(
            sql: """
                SELECT fingerprint, notification, recipients, first_user, first_seq, created_at
                FROM idempotency WHERE scope = ? AND method = ? AND key = ?
                """)
        deleteKey = try db.cachedStatement(sql: "DELETE FROM idempotency WHERE scope = ? AND method = ? AND key = ?")
        insertKey = try db.cachedStatement(
            sql: """
                INSERT INTO idempotency
                    (scope, method, key, fingerprint, notification, recipients, first_user, first_seq, created_at)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
                """)
        insertCustom = HotStatement(statement: try db.cachedStatement(sql: ContentColumns.insertCustomSQL))
        insertGraph = HotStatement(statement: try db.cachedStatement(sql: ContentColumns.insertGraphSQL))
        readHead = HotStatement(statement: try db.cachedStatement(sql: "SELECT last_seq FROM feed_heads WHERE user = ?"))
        readFirstSeq = HotStatement(statement: try db.cachedStatement(sql: "SELECT seq FROM feed WHERE user = ? ORDER BY seq LIMIT 1"))
        writeHead = HotStatement(statement: try db.cachedStatement(
            sql: """
                INSERT INTO feed_heads (user, last_seq, unseen_notify, unseen_graph) VALUES (?, ?, ?, ?)
                ON CONFLICT (user) DO UPDATE SET last_seq = excluded.last_seq,
                    unseen_notify = unseen_notify + excluded.unseen_notify,
                    unseen_graph = unseen_graph + excluded.unseen_graph
                """))
        insertFeed = HotStatement(statement: try db.cachedStatement(sql: "INSERT INTO feed (user, seq, notification) VALUES (?, ?, ?)"))
    }
}
