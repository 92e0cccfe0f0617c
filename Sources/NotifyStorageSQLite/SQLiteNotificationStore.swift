import Foundation
public import Logging
public import NotifyDomain
public import NotifyStorage
import GRDB
import ServiceLifecycle
import Synchronization
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A ``NotificationStore`` in one SQLite file, through GRDB.
///
/// One `DatabasePool` (WAL: reads never wait for the writer) serves the
/// process for its whole life. Every connection runs `synchronous = FULL`,
/// so a committed append survives a power cut, and waits up to
/// ``SQLiteStoreConfiguration/busyTimeout`` for another process's lock: the
/// bootstrap CLI (`notifyd admin ...`) can open the same file while the
/// server runs. Appends run on the store's writer thread, everything else on
/// GRDB's own threads through its async `read`/`write`: no caller's thread
/// (an event loop) ever blocks.
///
/// Appends are group-committed: concurrent appends queue, and one writer
/// thread commits up to ``SQLiteStoreConfiguration/maxAppendsPerTransaction``
/// of them per transaction, so one fsync covers the batch. A connections
/// audience above ``SQLiteStoreConfiguration/inlineFanOutLimit`` is committed as
/// a durable fan-out job that a background task writes into feeds in batches,
/// resuming after a restart.
///
/// A sweeper removes expired entries and those past the retention
/// (``SQLiteStoreConfiguration/retention``) in small transactions.
///
/// ``run()`` owns that thread and those tasks (the fan-out, the sweeper and
/// the writability probe): nothing runs before it starts, and nothing is left
/// running once it returns.
public final class SQLiteNotificationStore: NotificationStore {
    let engine: StoreEngine
    private let lifecycle = Mutex(Lifecycle.opened)
    /// Handed to ``run()``'s background tasks.
    private let fanOutSignals: AsyncStream<Void>
    private let probeSignals: AsyncStream<Void>

    private enum Lifecycle {
        /// Open, not yet run: appends queue for the writer.
        case opened
        case running
        /// Run and stopped: every call fails as unavailable.
        case stopped
    }

    /// Opens (creating if needed) the database at `path` and migrates it.
    /// Reads and writes work at once; appends are committed once ``run()``
    /// has started.
    ///
    /// Opening blocks the calling thread for the migrations: call it once at
    /// startup, not on an event loop.
    /// - Parameters:
    ///   - path: the database file; its directory must exist.
    ///   - configuration: limits and timeouts.
    ///   - logger: where the store reports migrations and background failures.
    ///   - metrics: where the writer's batches and the fan-out's backlog are recorded.
    /// - Throws: ``StorageError`` when the file cannot be opened or migrated.
    public init(
        path: String, configuration: SQLiteStoreConfiguration = .init(), logger: Logger, metrics: StoreMetrics = .disabled
    ) throws(StorageError) {
        var config = Configuration()
        config.foreignKeysEnabled = true
        config.busyMode = .timeout(configuration.busyTimeout.seconds)
        config.maximumReaderCount = max(1, configuration.maximumReaderCount)
        config.label = "notify.store"
        config.prepareDatabase { db in
            try db.execute(sql: "PRAGMA synchronous = FULL")
        }
        try Self.makePrivate(path)
        let pool: DatabasePool
        do {
            pool = try DatabasePool(path: path, configuration: config)
            // DatabasePool turns on WAL after prepareDatabase and sets
            // synchronous = NORMAL on the writer while doing so: put FULL back,
            // or a commit could be lost on power failure.
            try pool.writeWithoutTransaction { db in
                try db.execute(sql: "PRAGMA synchronous = FULL")
            }
            try Schema.migrator.migrate(pool)
        } catch {
            throw StorageError(mapping: error, during: "opening \(path)")
        }

        let (fanOutSignals, fanOutSignal) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
        let (probeSignals, probeSignal) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
        engine = StoreEngine(
            pool: pool, configuration: configuration, logger: logger,
            fanOutSignal: fanOutSignal, probeSignal: probeSignal, metrics: metrics)
        self.fanOutSignals = fanOutSignals
        self.probeSignals = probeSignals
        // Jobs a previous process left unfinished, taken up once run() starts.
        if configuration.runsBackgroundFanOut { fanOutSignal.yield() }
        logger.info("notification store opened", metadata: ["notify.store.path": "\(path)"])
    }

    deinit {
        // Dropped without having run: fail what queued rather than leave
        // its callers waiting (run() left nothing else behind).
        guard engine.queue.close() else { return }
        while let batch = engine.queue.next(limit: .max) {
            for pending in batch { pending.fail(StoreEngine.closedError) }
        }
    }

    /// Runs the writer and the background work until graceful shutdown or
    /// cancellation, then stops the store.
    ///
    /// The append writer is a thread of its own (it blocks in SQLite and
    /// fsync, so it does not take one of the few threads tasks share); the
    /// background fan-out and the writability probe are child tasks. On
    /// graceful shutdown or cancellation the queue stops accepting, the
    /// writer commits every append already queued and completes it, the
    /// fan-out stops between two batches (its unfinished jobs resume at the
    /// next open), the live readers' watches end and the database closes.
    /// - Throws: ``StorageError/Code/unavailable`` when the store has run before.
    public func run() async throws {
        let first = lifecycle.withLock { state -> Bool in
            guard case .opened = state else { return false }
            state = .running
            return true
        }
        guard first else { throw StorageError(code: .unavailable, message: "the store has run already") }
        let engine = engine
        let fanOutSignals = fanOutSignals
        let probeSignals = probeSignals
        await withTaskCancellationOrGracefulShutdownHandler {
            await withDiscardingTaskGroup { group in
                group.addTask { await engine.runFanOut(fanOutSignals) }
                group.addTask { await engine.runWritabilityProbe(probeSignals) }
                group.addTask { await engine.runSweeper() }
                group.addTask { await engine.runSubscriptionSweeper() }
                group.addTask { await engine.runDirectoryWatch() }
                // Not cancellable: once the queue is closed, the writer ends
                // after the last accepted append, and only then may the
                // database close.
                await withCheckedContinuation { (ended: CheckedContinuation<Void, Never>) in
                    let writer = Thread {
                        engine.runAppendWriter()
                        ended.resume()
                    }
                    writer.name = "notify.store.append"
                    writer.start()
                }
                engine.fanOutSignal.finish()
                engine.writability.finish()
                engine.feedAdvances.finishAll()
                engine.heardChanges.finishAll()
                engine.hearsChanges.store(false, ordering: .relaxed)
                group.cancelAll()
            }
        } onCancelOrGracefulShutdown: {
            _ = engine.queue.close()
        }
        lifecycle.withLock { $0 = .stopped }
        do {
            try engine.pool.close()
        } catch {
            engine.logger.info("the database did not close cleanly", metadata: ["error.type": "\(error)"])
        }
        engine.logger.info("notification store stopped")
    }

    /// Makes the database readable by its owner only, whatever the umask:
    /// creates a missing file 0600 (SQLite gives its -wal and -shm the main
    /// file's mode) and takes group and other permissions off existing ones.
    private static func makePrivate(_ path: String) throws(StorageError) {
        let created = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        if created >= 0 {
            #if canImport(Glibc)
            _ = Glibc.close(created)
            #else
            _ = Darwin.close(created)
            #endif
        } else if errno != EEXIST {
            throw StorageError(code: .unavailable, message: "cannot create \(path)", cause: String(cString: strerror(errno)))
        }
        for file in [path, path + "-wal", path + "-shm"] {
            var info = stat()
            guard stat(file, &info) == 0, info.st_mode & 0o077 != 0 else { continue }
            // Best effort on the side files: a failure shows in the modes, not in the service.
            if chmod(file, info.st_mode & 0o700) != 0, file == path {
                throw StorageError(code: .unavailable, message: "cannot make \(path) private", cause: String(cString: strerror(errno)))
            }
        }
    }

    /// False while the store cannot write (the disk is full, the file cannot
    /// be written): appends and other writes are refused at once with
    /// ``StorageError/Code/unavailable`` and nothing of them is stored. It
    /// turns true again by itself once the store's probe finds room
    /// (every ``SQLiteStoreConfiguration/probeInterval``). Reads keep working.
    public var isWritable: Bool {
        engine.writability.isWritable
    }

    /// Changes other processes made to what servers cache, read from the
    /// file every ``SQLiteStoreConfiguration/directoryPollInterval`` while
    /// the store runs (``StoreEngine/runDirectoryWatch()``).
    public func directoryChanges() -> DirectoryChangeStream {
        engine.heardChanges.subscribe()
    }

    /// True while the store runs and reads those changes.
    public var hearsEveryDirectoryChange: Bool {
        engine.hearsChanges.load(ordering: .relaxed)
    }

    /// Counters since this store opened.
    public var statistics: SQLiteStoreStatistics {
        engine.statistics.withLock { $0 }
    }

    /// Feed rows still to be written by the background fan-out (every
    /// process's jobs): for a job that reads its audience as it goes, the
    /// audience after its cursor as it is now.
    public func pendingFanOutRecipients() async throws(StorageError) -> Int {
        try await engine.read("counting pending fan-out") { db in
            try StoreEngine.pendingFanOutRows(db)
        }
    }

    // MARK: Users and connections

    /// Creates or updates many users in one transaction: bootstrap and tests.
    public func putUsers(_ users: [User]) async throws(StorageError) {
        let rows = users.map(UserRow.init)
        let engine = engine
        try await engine.write("putting \(rows.count) users") { db in
            for row in rows { try row.upsert(db) }
            if !rows.isEmpty { try engine.recordChange(rows.count == 1 ? .userChanged(rows[0].id) : .everything, db) }
        }
    }

    /// Adds many connections in one transaction: bootstrap and tests.
    /// - Throws: ``StorageError/Code/notFound`` when a user does not exist (nothing is added).
    public func putConnections(_ connections: [Connection]) async throws(StorageError) {
        let rows = connections.map(ConnectionRow.init)
        try await engine.write("putting \(rows.count) connections") { db in
            for row in rows { try Self.insert(row, db) }
        }
    }

    private static func insert(_ row: ConnectionRow, _ db: Database) throws {
        try db.execute(
            sql: """
                INSERT INTO connections (user, kind, "to") VALUES (?, ?, ?)
                ON CONFLICT DO NOTHING
                """,
            arguments: [row.user, row.kind, row.to])
    }

    public func putUser(_ user: User) async throws(StorageError) {
        let row = UserRow(user)
        let engine = engine
        try await engine.write("putting user \(user.id)") { db in
            try row.upsert(db)
            try engine.recordChange(.userChanged(user.id), db)
        }
    }

    /// Deletes the user, their connections and subscriptions (by cascade) and their feed.
    /// Deletes the user, in one transaction: his connections and
    /// subscriptions (by cascade), his feed entries and any feed rows a
    /// background fan-out still owed him; his tokens are revoked.
    ///
    /// His feed's head (the last sequence number given) is kept, so that a
    /// user created again with the same id continues after it and never
    /// reuses a sequence number a reader of the old feed saw. The revoked
    /// tokens are kept too, so that they answer TOKEN_REVOKED, also after the
    /// id is created again. docs/PROTOCOL.md ("Deleting a user") is the contract.
    public func deleteUser(id: Int64) async throws(StorageError) -> Bool {
        let engine = engine
        return try await engine.write("deleting user \(id)") { db in
            guard try UserRow.deleteOne(db, key: id) else { return false }
            try FeedRow.filter(Column("user") == id).deleteAll(db)
            try EventRow.filter(Column("user") == id).deleteAll(db)
            try db.execute(sql: "UPDATE feed_heads SET unseen_notify = 0, unseen_graph = 0, last_event = 0 WHERE user = ?", arguments: [id])
            try db.execute(sql: "DELETE FROM fanout_recipients WHERE user = ?", arguments: [id])
            try db.execute(
                sql: "UPDATE tokens SET revoked = 1 WHERE principal = ? AND revoked = 0",
                arguments: [Principal.user(id).stored])
            try engine.recordChange(.userDeleted(id), db)
            return true
        }
    }

    public func user(id: Int64) async throws(StorageError) -> User? {
        try await engine.read("reading user \(id)") { db in
            try UserRow.fetchOne(db, key: id)?.user
        }
    }

    /// Adds the connection; adding it again changes nothing.
    /// - Throws: ``StorageError/Code/notFound`` when either user does not exist.
    public func putConnection(_ connection: Connection) async throws(StorageError) {
        let row = ConnectionRow(connection)
        try await engine.write("putting a connection") { db in
            try Self.insert(row, db)
        }
    }

    /// Removes the connection; a friendship goes in both directions.
    public func deleteConnection(_ connection: Connection) async throws(StorageError) -> Bool {
        let row = ConnectionRow(connection)
        return try await engine.write("deleting a connection") { db in
            try ConnectionRow.deleteOne(db, key: ["user": row.user, "kind": row.kind, "to": row.to])
        }
    }

    // MARK: Subscriptions

    /// - Throws: ``StorageError/Code/alreadyExists`` for a known id,
    ///   ``StorageError/Code/notFound`` when the user does not exist.
    public func createSubscription(_ subscription: Subscription) async throws(StorageError) {
        let row = SubscriptionRow(subscription)
        try await engine.write("creating subscription") { db in
            try row.insert(db)
        }
    }

    public func subscription(id: String) async throws(StorageError) -> Subscription? {
        let row = try await engine.read("reading subscription") { db in
            try SubscriptionRow.fetchOne(db, key: id)
        }
        return try row?.subscription()
    }

    public func renewSubscription(id: String, expiresAt: Timestamp) async throws(StorageError) -> Subscription? {
        let expires = expiresAt.storedMicroseconds
        let engine = engine
        let row = try await engine.write("renewing subscription") { db -> SubscriptionRow? in
            guard var row = try SubscriptionRow.fetchOne(db, key: id) else { return nil }
            row.expiresAt = expires
            try row.update(db)
            try engine.recordChange(.subscriptionChanged(id), db)
            return row
        }
        return try row?.subscription()
    }

    /// Deletes subscriptions that expired before `expiredBefore`, at most
    /// `limit` of them, in one transaction; the store's `run()` calls it
    /// every ``SQLiteStoreConfiguration/subscriptionSweepInterval``.
    public func sweepSubscriptions(expiredBefore: Timestamp, limit: Int) async throws(StorageError) -> Int {
        try await engine.sweepSubscriptions(expiredBefore: expiredBefore, limit: limit)
    }

    public func deleteSubscription(id: String) async throws(StorageError) -> Bool {
        let engine = engine
        return try await engine.write("deleting subscription") { db in
            guard try SubscriptionRow.deleteOne(db, key: id) else { return false }
            try engine.recordChange(.subscriptionChanged(id), db)
            return true
        }
    }

    // MARK: Blocked list

    /// Blocks the principal; blocking it again changes nothing.
    public func block(_ principal: Principal) async throws(StorageError) {
        let stored = principal.stored
        let engine = engine
        try await engine.write("blocking") { db in
            try db.execute(
                sql: "INSERT INTO blocked (principal) VALUES (?) ON CONFLICT DO NOTHING", arguments: [stored])
            if db.changesCount > 0 { try engine.recordChange(.blockListChanged(principal), db) }
        }
    }

    public func unblock(_ principal: Principal) async throws(StorageError) -> Bool {
        let stored = principal.stored
        let engine = engine
        return try await engine.write("unblocking") { db in
            guard try BlockedRow.deleteOne(db, key: stored) else { return false }
            try engine.recordChange(.blockListChanged(principal), db)
            return true
        }
    }

    public func isBlocked(_ principal: Principal) async throws(StorageError) -> Bool {
        let stored = principal.stored
        return try await engine.read("reading the blocked list") { db in
            try BlockedRow.exists(db, key: stored)
        }
    }

    // MARK: Tokens

    /// - Throws: ``StorageError/Code/alreadyExists`` for a known id or hash.
    public func insertToken(_ token: TokenRecord) async throws(StorageError) {
        let row = TokenRow(token)
        try await engine.write("inserting a token") { db in
            try row.insert(db)
        }
    }

    public func token(hash: [UInt8]) async throws(StorageError) -> TokenRecord? {
        let hash = Data(hash)
        let row = try await engine.read("reading a token") { db in
            try TokenRow.filter(Column("hash") == hash).fetchOne(db)
        }
        return try row?.token()
    }

    /// Marks the token revoked; the row stays, so its id keeps answering.
    public func revokeToken(id: String) async throws(StorageError) -> Bool {
        let engine = engine
        return try await engine.write("revoking a token") { db in
            try db.execute(sql: "UPDATE tokens SET revoked = 1 WHERE id = ?", arguments: [id])
            guard db.changesCount > 0 else { return false }
            try engine.recordChange(.tokenRevoked, db)
            return true
        }
    }

    // MARK: Stream tickets

    public func insertStreamTicket(_ ticket: StreamTicketRecord) async throws(StorageError) {
        let hash = Data(ticket.hash)
        let (token, expiresAt) = (ticket.tokenID, ticket.expiresAt.storedMicroseconds)
        let now = Timestamp.now().storedMicroseconds
        let batch = Self.streamTicketSweepBatch
        try await engine.write("inserting a stream ticket") { db in
            try db.execute(
                sql: """
                    DELETE FROM stream_tickets WHERE hash IN
                        (SELECT hash FROM stream_tickets WHERE expires_at <= ? ORDER BY expires_at LIMIT ?)
                    """,
                arguments: [now, batch])
            try db.execute(
                sql: "INSERT INTO stream_tickets (hash, token, expires_at) VALUES (?, ?, ?)",
                arguments: [hash, token, expiresAt])
        }
    }

    /// One write transaction: the ticket's row is read and deleted together,
    /// so a second redemption finds nothing.
    public func redeemStreamTicket(hash: [UInt8], now: Timestamp) async throws(StorageError) -> TokenRecord? {
        let hash = Data(hash)
        let now = now.storedMicroseconds
        let row = try await engine.write("redeeming a stream ticket") { db -> TokenRow? in
            guard let ticket = try Row.fetchOne(
                db, sql: "SELECT token, expires_at FROM stream_tickets WHERE hash = ?", arguments: [hash])
            else { return nil }
            try db.execute(sql: "DELETE FROM stream_tickets WHERE hash = ?", arguments: [hash])
            let (token, expiresAt): (String, Int64) = (ticket["token"], ticket["expires_at"])
            guard expiresAt > now else { return nil }
            return try TokenRow.fetchOne(db, key: token)
        }
        return try row?.token()
    }

    // MARK: Notifications

    /// Queues the append for the group-commit writer; `completion` runs on
    /// the writer's thread once its transaction has committed (or failed).
    ///
    /// Once queued, the append completes whatever its caller does: the writer
    /// may already be committing it, and a stopping store commits it before
    /// ``run()`` returns. Queued before ``run()`` starts, it waits for it.
    /// - Failures: ``StorageError/Code/busy`` at once (on the calling
    ///   thread) when ``SQLiteStoreConfiguration/maxPendingAppends`` appends are
    ///   already waiting; ``StorageError/Code/unavailable`` at once when the
    ///   store has stopped or cannot write (``isWritable``), or when the commit
    ///   finds the disk full; ``StorageError/Code/idempotencyKeyReused``;
    ///   ``StorageError/Code/alreadyExists`` for a notification id already stored.
    public func append(
        _ notification: NewNotification,
        completion: @escaping @Sendable (Result<AppendResult, StorageError>) -> Void
    ) {
        // While the disk is full, refused before any work (StoreWritability).
        if let refusal = engine.writability.refusal() {
            completion(.failure(refusal))
            return
        }
        let encoded = EncodedAppend(notification)
        if let refusal = engine.queue.enqueue(.append(encoded, completion)) {
            completion(.failure(refusal))
        }
    }

    public func watchFeed(user: Int64) -> AsyncStream<Void> {
        engine.feedAdvances.watch(user: user)
    }

    public func wakeFeedWatchers() {
        engine.feedAdvances.advancedAll()
    }

    /// A user's feed entries with `sequence > after`, oldest first, at most
    /// `limit`, with no byte budget: tests and tools.
    public func feed(user: Int64, after: UInt64, limit: Int) async throws(StorageError) -> [NotifyDomain.Notification] {
        try await feedPage(user: user, after: after, limit: limit, maxBytes: .max).entries
    }

    public func feedPage(
        user: Int64, after: UInt64, limit: Int, maxBytes: Int, now: Timestamp, filter: FeedFilter
    ) async throws(StorageError) -> FeedPage {
        guard limit > 0 else { return FeedPage(entries: [], caughtUp: false, nextAfter: after) }
        let cursor = Int64(clamping: after)
        let now = now.storedMicroseconds
        return try await engine.read("reading a feed") { db in
            // The head, in one statement: where retention has cut the feed
            // (a cursor before it is told; the page itself still starts
            // right after the cursor, so an entry kept below it is not
            // skipped), and the last event's sequence: a page after it has
            // no event to read, and reads none.
            let head = try Row.fetchOne(
                db.cachedStatement(sql: "SELECT swept_through, last_event FROM feed_heads WHERE user = ?"),
                arguments: [user])
            let swept: Int64 = head?[0] ?? 0
            let lastEvent: Int64 = head?[1] ?? 0
            let sweptThrough = cursor < swept ? UInt64(swept) : nil
            guard lastEvent > cursor else {
                var none: [Int]?
                return try Self.notificationPage(
                    db, user: user, cursor: cursor, limit: limit, maxBytes: maxBytes, now: now, filter: filter,
                    sweptThrough: sweptThrough, sizes: &none)
            }
            var sizes: [Int]? = []
            let notifications = try Self.notificationPage(
                db, user: user, cursor: cursor, limit: limit, maxBytes: maxBytes, now: now, filter: filter,
                sweptThrough: sweptThrough, sizes: &sizes)
            let events = try Self.events(db, user: user, after: cursor, limit: limit, maxBytes: maxBytes, filter: filter)
            return notifications.merging(
                events: events.events, eventsThrough: events.through, eventsComplete: events.complete,
                entrySizes: sizes ?? [], after: after, limit: limit, maxBytes: maxBytes)
        }
    }

    /// The notifications of a page (``feedPage(user:after:limit:maxBytes:now:filter:)``), before its events.
    /// - Parameter sizes: when not nil, each entry's size against the budget, appended in order.
    private static func notificationPage(
        _ db: Database, user: Int64, cursor: Int64, limit: Int, maxBytes: Int, now: Int64, filter: FeedFilter,
        sweptThrough: UInt64?, sizes: inout [Int]?
    ) throws -> FeedPage {
        // One kept row past `limit`: whether it exists says whether the
        // page is caught up. Rows are read one at a time, and a row's
        // content is measured before it is decoded, so a page of large
        // entries never holds more than its budget and the one row it
        // stops at. An expired row, or one the filter does not admit,
        // is passed over without its content being read into Swift (the
        // CASE answers 0 for it), at most maxPassedOver of them. One
        // statement serves every filter: an absent part binds NULL.
        let rows = try feedRows(
            db, sql: oldestFirstSQL, user: user, cursor: cursor, limit: limit, maxBytes: maxBytes, now: now,
            filter: filter, sizes: &sizes)
        var page = FeedPage(
            entries: rows.entries, caughtUp: rows.caughtUp, nextAfter: UInt64(max(0, rows.next)),
            sweptThrough: sweptThrough)
        if rows.caughtUp && rows.entries.isEmpty { page.end = try feedEnd(db, user: user) }
        return page
    }

    /// The kept rows of one page, read by `sql` (either order) one at a
    /// time up to `limit` entries and `maxBytes`, passing over at most
    /// ``FeedPage/maxPassedOver`` rows that are expired or not admitted.
    /// - Returns: the entries; the last sequence read or passed over
    ///   (`cursor` when none); whether the statement ran out of rows.
    static func feedRows(
        _ db: Database, sql: String, user: Int64, cursor: Int64, limit: Int, maxBytes: Int, now: Int64,
        filter: FeedFilter, sizes: inout [Int]?
    ) throws -> (entries: [NotifyDomain.Notification], next: Int64, caughtUp: Bool) {
        let statement = try db.cachedStatement(sql: sql)
        var entries: [NotifyDomain.Notification] = []
        entries.reserveCapacity(min(limit, 1024))
        var bytes = 0
        var passed = 0
        var next = cursor
        let rows = try Row.fetchCursor(
            statement, arguments: feedRowArguments(user: user, cursor: cursor, limit: limit, now: now, filter: filter))
        while let row = try rows.next() {
            let sequence: Int64 = row[0]
            // Expired, or not admitted by the filter.
            guard let size = feedRowSize(row, statement: statement) else {
                guard passed < FeedPage.maxPassedOver else { return (entries, next, false) }
                passed += 1
                next = sequence
                continue
            }
            guard entries.count < limit else { return (entries, next, false) }
            if !entries.isEmpty && bytes + size > maxBytes { return (entries, next, false) }
            bytes += size
            sizes?.append(size)
            entries.append(try feedNotification(row, statement: statement, user: user))
            next = sequence
        }
        return (entries, next, true)
    }

    /// Where an empty page's feed ends: its head, or no such user.
    static func feedEnd(_ db: Database, user: Int64) throws -> FeedEnd {
        let head = try Int64.fetchOne(
            db,
            sql: "SELECT COALESCE(h.last_seq, 0) FROM users u LEFT JOIN feed_heads h ON h.user = u.id WHERE u.id = ?",
            arguments: [user])
        return head.map { .head(UInt64(max(0, $0))) } ?? .noSuchUser
    }

    /// The oldest-first page's statement: rows after the cursor.
    private static let oldestFirstSQL = """
        \(feedRowSelection)
        WHERE f.user = :user AND f.seq > :cursor
        ORDER BY f.seq
        LIMIT :scan
        """

    /// The columns of a feed row as a page reads them, for a statement that
    /// adds its `WHERE` (on `f.user` and `f.seq` against `:cursor`), `ORDER BY` and `LIMIT :scan`.
    ///
    /// One selection serves both reading orders, so a page's filter, its
    /// byte count and its row decoding (``feedRowSize(_:statement:)``,
    /// ``feedNotification(_:statement:user:)``) are written once. Column 1
    /// says whether the row is admitted: an expired row, or one the filter
    /// does not admit, answers 0 and is passed over without its content
    /// being read into Swift. An absent part of the filter binds NULL
    /// (``feedRowArguments(user:cursor:limit:now:filter:)``).
    static let feedRowSelection = """
        SELECT f.seq, CASE WHEN n.expires_at <= :now
                OR (:kind IS NOT NULL AND n.kind <> :kind)
                OR (:app IS NOT NULL AND n.kind = 'graph' AND (
                    n.target_host_name IS NOT :app
                    OR instr(',' || n.platforms || ',', :platform) = 0))
            THEN 0 ELSE 1 END, n.id, n.created_at, f.read, f.action_state, \(ContentColumns.selection("n"))
        FROM feed f JOIN notifications n ON n.serial = f.notification
        """

    /// The arguments of ``feedRowSelection`` and of a page's `:user`,
    /// `:cursor` and `:scan` (one row past `limit` and ``FeedPage/maxPassedOver``).
    static func feedRowArguments(user: Int64, cursor: Int64, limit: Int, now: Int64, filter: FeedFilter) -> StatementArguments {
        let scan = limit.addingReportingOverflow(FeedPage.maxPassedOver + 1)
        let kind: String? = switch filter.source {
        case .notify?: ContentColumns.customKind
        case .graph?: ContentColumns.graphKind
        case nil: nil
        }
        return [
            // The platform as an item of the comma-separated list.
            "now": now, "kind": kind, "app": filter.endpoint?.app,
            "platform": filter.endpoint.map { ",\($0.platform.rawValue)," },
            "user": user, "cursor": cursor, "scan": scan.overflow ? Int.max : scan.partialValue,
        ]
    }

    /// What the row `statement` stands on counts against a page's byte
    /// budget (``FeedPage/size(ofContent:id:)``), measured without decoding
    /// it; nil for a row the page passes over (expired, or not admitted).
    static func feedRowSize(_ row: Row, statement: Statement) -> Int? {
        guard row[1] as Bool else { return nil }
        let id: String = row[2]
        return FeedPage.size(ofContent: ContentColumns.byteCount(statement, from: 6), id: id.utf8.count)
    }

    /// The admitted row `statement` stands on, as a notification.
    static func feedNotification(_ row: Row, statement: Statement, user: Int64) throws -> NotifyDomain.Notification {
        let sequence: Int64 = row[0]
        return NotifyDomain.Notification(
            id: row[2], sequence: UInt64(max(0, sequence)), user: user,
            createdAt: Timestamp(storedMicroseconds: row[3]),
            content: try ContentColumns.read(statement, from: 6),
            read: row[4], actionState: try actionState(row[5]))
    }

    /// How many notifications, and feed entries, the database holds (expired
    /// ones not yet swept included): tests and tools.
    public func storedRowCounts() async throws(StorageError) -> (notifications: Int, feedEntries: Int) {
        try await engine.read("counting rows") { db in
            (try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM notifications") ?? 0,
             try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM feed") ?? 0)
        }
    }

    /// Runs one sweep now, as the store's `run()` does every
    /// ``SQLiteStoreConfiguration/sweepInterval`` (docs/OPERATIONS.md, "The sweeper").
    public func sweep(now: Timestamp = .now()) async throws(StorageError) -> SweepOutcome {
        try await engine.sweep(now: now)
    }
}
