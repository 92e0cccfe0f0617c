import Foundation
public import Logging
public import NotifyDomain
public import NotifyStorage
import PostgresNIO
import ServiceLifecycle
import Synchronization

/// What the writer has done since the store was made: how well appends
/// are grouped into transactions.
public struct PostgresStoreStatistics: Hashable, Sendable {
    public var appends = 0
    public var feedChanges = 0
    /// Batches the writer committed (or tried to), each one statement or one transaction.
    public var writerBatches = 0
    public var largestBatch = 0
    /// Batches that ran again append by append (a duplicate id, a feed at
    /// its bound, a deadlock, a key seen before when the batch held more).
    public var isolatedBatches = 0
    /// Appends run alone, apart from their batch, because their key was
    /// seen before (a retry): the rest of the batch committed together.
    public var appendsApart = 0
    /// Background fan-out jobs this instance's writer recorded, its
    /// fan-out's transactions (one batch each), the feed rows they wrote and
    /// the jobs they finished (a job may be finished by another instance).
    public var fanOutJobsCreated = 0
    public var fanOutTransactions = 0
    public var fanOutRowsWritten = 0
    public var fanOutJobsCompleted = 0
    /// Times the listener's connection was lost and LISTENed again (every
    /// live reader then read again from its cursor).
    public var listenReconnects = 0
    /// NOTIFY payloads heard from other instances.
    public var noticesHeard = 0
    /// Whether the listener LISTENs now (false while it reconnects).
    public var listening = false

    public init() {}
}

/// A ``NotificationStore`` on a PostgreSQL server, through postgres-nio, so
/// that several notifyd instances can share one database.
///
/// The same promises as the SQLite store (the conformance suite checks
/// both): an append is answered only after its transaction committed, with
/// `synchronous_commit = on` set on every connection; concurrent appends are
/// group-committed by one writer per instance, a batch per transaction with
/// multi-row statements; a feed's sequence is gapless across instances
/// because each batch advances the heads it writes with one
/// `INSERT ... ON CONFLICT ... DO UPDATE ... RETURNING` on `feed_heads`, whose
/// row locks are held until COMMIT (a second instance's batch for the same
/// user waits, then numbers after it); an idempotency key is a primary key,
/// inserted before its append, so of two racing appends on any instances one
/// writes and the other replays.
///
/// A sweeper removes expired entries and those past the retention
/// (``PostgresStoreConfiguration/retention``) in small transactions.
///
/// A connections audience larger than
/// ``PostgresStoreConfiguration/inlineFanOutLimit`` is a background fan-out
/// job: the append writes the first recipient's feed and records the job;
/// any instance's worker claims it batch by batch with `FOR UPDATE SKIP
/// LOCKED` and continues from its committed cursor, so a job survives the
/// crash of the instance running it (PostgresNotificationStore+FanOut.swift).
///
/// Instances hear each other's commits through LISTEN/NOTIFY: every
/// transaction that advances feeds, or changes what servers cache of the
/// directory, sends a NOTIFY in that transaction (``PostgresNotices``), and
/// each store LISTENs on a connection of its own, waking its readers
/// (``watchFeed(user:)``) and telling ``directoryChanges()``.
///
/// ``run()`` owns the connection pool (postgres-nio's `PostgresClient`), the
/// migrations, the writer and the sweepers: calls made before the schema is migrated wait
/// for it; nothing runs once it returns.
public final class PostgresNotificationStore: NotificationStore {
    let client: PostgresClient
    /// A pool of one connection, the listener's (``runListener()``).
    let listenClient: PostgresClient
    let configuration: PostgresStoreConfiguration
    let logger: Logger
    let queue: PostgresAppendQueue
    let readiness = PostgresReadiness()
    let reachability = PostgresReachability()
    let leases: PostgresLeases
    let feedAdvances = FeedAdvances()
    /// The directory changes other instances made, as the listener hears them.
    let heardChanges = DirectoryChanges()
    /// This store's id in its NOTIFY payloads, random: it ignores its own.
    public let instanceID = String(UInt64.random(in: 0...UInt64.max), radix: 36)
    /// The store's NOTIFY channels (``PostgresNotices/channels(schema:)``).
    let channels: (feed: String, directory: String)
    let counters = Mutex(PostgresStoreStatistics())
    /// When the writer last took a batch (`DispatchTime` nanoseconds; 0: never).
    let lastAppendBatch = Atomic<UInt64>(0)
    /// Wakes this instance's background fan-out (signals coalesce).
    let fanOutWake = AsyncStream<Void>.makeStream(bufferingPolicy: .bufferingNewest(1))
    /// The writer's batches and LISTEN's reconnects, for `/metrics`.
    let metrics: StoreMetrics
    private let lifecycle = Mutex(Lifecycle.opened)

    /// Whether this instance's writer took a batch within the last second:
    /// then the sweeper and the background fan-out rest after each of their
    /// transactions.
    var appendsFlow: Bool {
        let last = lastAppendBatch.load(ordering: .relaxed)
        return last != 0 && DispatchTime.now().uptimeNanoseconds &- last < 1_000_000_000
    }

    /// Counters since this store was made.
    public var statistics: PostgresStoreStatistics { counters.withLock { $0 } }

    /// While the listener listens: every directory change another instance
    /// or `notifyd admin` commits is a notice it hears.
    public var hearsEveryDirectoryChange: Bool { counters.withLock { $0.listening } }

    private enum Lifecycle {
        case opened
        case running
        case stopped
    }

    /// A store on the database `configuration` names. Connects nothing yet:
    /// ``run()`` connects, migrates, and starts the writer.
    /// - Throws: ``StorageError/Code/unavailable`` for a schema name that is
    ///   not a plain identifier (lower-case letters, digits, `_`).
    /// - Parameter metrics: where the writer's batches are recorded.
    public init(
        configuration: PostgresStoreConfiguration, logger: Logger, metrics: StoreMetrics = .disabled
    ) throws(StorageError) {
        self.metrics = metrics
        if let schema = configuration.schema {
            guard Self.isPlainIdentifier(schema) else {
                throw StorageError(code: .unavailable, message: "the store's schema name must be lower-case letters, digits and _")
            }
        }
        var client = PostgresClient.Configuration(
            host: configuration.host, port: configuration.port, username: configuration.username,
            password: configuration.password, database: configuration.database,
            tls: configuration.clientTLS)
        client.options.connectTimeout = configuration.connectTimeout
        client.options.maximumConnections = max(1, configuration.maximumConnections)
        // The durability promise, whatever the server's default.
        client.options.additionalStartupParameters = [("synchronous_commit", "on")]
        if let schema = configuration.schema {
            client.options.additionalStartupParameters.append(("search_path", schema))
        }
        if let name = configuration.applicationName {
            client.options.additionalStartupParameters.append(("application_name", name))
        }
        self.client = PostgresClient(configuration: client, backgroundLogger: logger)
        self.listenClient = Self.listenClient(client, logger: logger, name: "notifyd-listen-" + instanceID)
        self.configuration = configuration
        self.logger = logger
        self.leases = PostgresLeases(logger: logger)
        self.queue = PostgresAppendQueue(capacity: max(1, configuration.maxPendingAppends))
        self.channels = PostgresNotices.channels(schema: configuration.schema)
    }

    deinit {
        // Dropped without having run: fail what queued rather than leave its callers waiting.
        guard queue.close() else { return }
        for pending in queue.drain() { pending.fail(PostgresAppendQueue.closedError) }
    }

    private static func isLoopback(_ host: String) -> Bool {
        host == "localhost" || host == "::1" || host.hasPrefix("127.")
    }

    /// Connects, migrates, then commits appends until graceful shutdown or
    /// cancellation; then stops accepting, commits every append it had
    /// accepted, ends the watches and closes the connections.
    /// - Throws: ``StorageError`` when the store has run before, or the
    ///   schema cannot be migrated.
    public func run() async throws {
        let first = lifecycle.withLock { state -> Bool in
            guard case .opened = state else { return false }
            state = .running
            return true
        }
        guard first else { throw StorageError(code: .unavailable, message: "the store has run already") }
        let client = client
        // The pool must outlive a graceful shutdown until the writer has
        // committed the last accepted append, and PostgresClient.run() ends
        // on graceful shutdown: so it runs in a task that does not inherit
        // the group's shutdown, owned here and cancelled last.
        let (started, start) = AsyncStream.makeStream(of: Void.self)
        let pool = Task.detached {
            start.finish()
            await client.run()
        }
        // So that the first lease finds the pool running (postgres-nio warns otherwise).
        for await _ in started {}
        let leases = leases
        let watch = Task { await leases.watch() }
        var failure: (any Error)?
        await withTaskCancellationOrGracefulShutdownHandler {
            do {
                try await self.migrate()
                self.readiness.open()
                self.logger.info("notification store opened", metadata: ["notify.store.url": "\(self.configuration.description)"])
            } catch {
                // Stopped before the schema was ready: a stop, not a failure.
                if !Task.isCancelled { failure = error }
                self.readiness.close(StorageError(mappingPostgres: error, during: "migrating the schema"))
                self.queue.close()
            }
            await withDiscardingTaskGroup { group in
                if !self.queue.isClosed {
                    group.addTask { await self.runSweeper() }
                    group.addTask { await self.runSubscriptionSweeper() }
                    group.addTask { await self.runReachabilityProbe() }
                    group.addTask { await self.runListener() }
                    group.addTask { await self.runFanOut() }
                    group.addTask { await self.pollFanOut() }
                }
                // They end once the queue is closed and every accepted append committed.
                await withDiscardingTaskGroup { writers in
                    for _ in 0..<max(1, self.configuration.writers) {
                        writers.addTask { await self.runWriter() }
                    }
                }
                group.cancelAll()
            }
        } onCancelOrGracefulShutdown: {
            self.queue.close()
        }
        lifecycle.withLock { $0 = .stopped }
        readiness.close(PostgresAppendQueue.closedError)
        feedAdvances.finishAll()
        heardChanges.finishAll()
        pool.cancel()
        await pool.value
        watch.cancel()
        await watch.value
        logger.info("notification store stopped")
        if let failure { throw StorageError(mappingPostgres: failure, during: "migrating the schema") }
    }

    /// Creates the schema if needed and runs the migrations it lacks, in
    /// one transaction under an advisory lock.
    private func migrate() async throws {
        let logger = logger
        let schema = configuration.schema
        try await leased("migrating the schema", checkingReachability: false, limited: false) { connection in
            try await Self.transaction(connection, logger) {
                try await connection.query(
                    "SELECT pg_advisory_xact_lock(\(PostgresSchema.migrationLock))", logger: logger)
                if let schema {
                    // Validated in init: a plain identifier.
                    try await connection.query(PostgresQuery(unsafeSQL: "CREATE SCHEMA IF NOT EXISTS \(schema)"), logger: logger)
                }
                try await connection.query(
                    "CREATE TABLE IF NOT EXISTS schema_migrations (version text PRIMARY KEY, applied_at bigint NOT NULL)",
                    logger: logger)
                var applied = Set<String>()
                for try await version in try await connection.query("SELECT version FROM schema_migrations", logger: logger)
                    .decode(String.self)
                {
                    applied.insert(version)
                }
                for migration in PostgresSchema.migrations where !applied.contains(migration.version) {
                    for statement in migration.sql {
                        try await connection.query(PostgresQuery(unsafeSQL: statement), logger: logger)
                    }
                    let now = Timestamp.now().microsecondsSince1970
                    try await connection.query(
                        "INSERT INTO schema_migrations (version, applied_at) VALUES (\(migration.version), \(now))",
                        logger: logger)
                    logger.info("store migrated", metadata: ["notify.store.migration": "\(migration.version)"])
                }
            }
        }
    }

    /// Runs `body` between BEGIN and COMMIT on `connection`, rolling back
    /// when it throws. A connection lost during COMMIT throws
    /// ``StorageError/commitOutcomeUnknown(_:)``: the transaction may have committed.
    static func transaction<T>(
        _ connection: PostgresConnection, _ logger: Logger, _ body: () async throws -> T
    ) async throws -> T {
        try await connection.query("BEGIN", logger: logger)
        let value: T
        do {
            value = try await body()
        } catch {
            _ = try? await connection.query("ROLLBACK", logger: logger)
            throw error
        }
        do {
            try await connection.query("COMMIT", logger: logger)
        } catch let error as PSQLError where error.serverInfo == nil {
            throw StorageError.commitOutcomeUnknown(error)
        }
        return value
    }

    // MARK: Reads and writes outside the append path

    /// Waits for the store to be ready, then runs `body` on a pooled connection.
    func withConnection<T: Sendable>(
        _ operation: String, _ body: @escaping @Sendable (PostgresConnection) async throws -> T
    ) async throws(StorageError) -> T {
        try await readiness.wait()
        guard !queue.isClosed else { throw PostgresAppendQueue.closedError }
        do {
            return try await leased(operation, body)
        } catch {
            throw StorageError(mappingPostgres: error, during: operation)
        }
    }

    /// A write transaction; returns after it has committed.
    func write<T: Sendable>(
        _ operation: String, _ body: @escaping @Sendable (PostgresConnection) async throws -> T
    ) async throws(StorageError) -> T {
        let logger = logger
        return try await withConnection(operation) { connection in
            try await Self.transaction(connection, logger) { try await body(connection) }
        }
    }

    /// Rows of one statement, collected (small answers only).
    func rows(_ query: PostgresQuery, _ operation: String) async throws(StorageError) -> [PostgresRow] {
        let logger = logger
        return try await withConnection(operation) { connection in
            try await connection.query(query, logger: logger).collect()
        }
    }

    /// Rows of one prepared statement, collected (small answers only).
    func rows<Statement: PostgresPreparedStatement>(_ statement: Statement, _ operation: String) async throws(StorageError)
        -> [PostgresRow] where Statement.Row == PostgresRow
    {
        let logger = logger
        return try await withConnection(operation) { connection in
            var rows: [PostgresRow] = []
            for try await row in try await connection.execute(statement, logger: logger) { rows.append(row) }
            return rows
        }
    }

    /// How many rows a statement changed.
    func changed(_ query: PostgresQuery, _ operation: String) async throws(StorageError) -> Bool {
        try await !rows(query, operation).isEmpty
    }

    // MARK: Users and connections

    public func putUser(_ user: User) async throws(StorageError) {
        _ = try await rowsNotifying(
            """
            INSERT INTO users (id, name) VALUES (\(user.id), \(user.name))
            ON CONFLICT (id) DO UPDATE SET name = excluded.name RETURNING 1
            """,
            .userChanged(user.id), "putting user \(user.id)")
    }

    /// Deletes the user in one transaction: his connections and
    /// subscriptions (by cascade), his feed entries and unseen counts; his
    /// tokens are revoked. His feed's head is kept (docs/PROTOCOL.md, "Deleting a user").
    public func deleteUser(id: Int64) async throws(StorageError) -> Bool {
        let logger = logger
        let principal = Principal.user(id).description
        return try await write("deleting user \(id)") { connection in
            let deleted = try await connection.query("DELETE FROM users WHERE id = \(id) RETURNING id", logger: logger).collect()
            guard !deleted.isEmpty else { return false }
            try await connection.query("DELETE FROM feed WHERE user_id = \(id)", logger: logger)
            try await connection.query("DELETE FROM feed_events WHERE user_id = \(id)", logger: logger)
            try await connection.query(
                "UPDATE feed_heads SET unseen_notify = 0, unseen_graph = 0 WHERE user_id = \(id)", logger: logger)
            try await connection.query(
                "UPDATE tokens SET revoked = true WHERE principal = \(principal) AND NOT revoked", logger: logger)
            try await self.sendDirectoryNotice(.userDeleted(id), connection)
            return true
        }
    }

    public func user(id: Int64) async throws(StorageError) -> User? {
        let found = try await rows(UserRead(key: id), "reading user \(id)")
        guard let row = found.first else { return nil }
        return try decoding("reading user \(id)") {
            let (id, name) = try row.decode((Int64, String?).self)
            return User(id: id, name: name)
        }
    }

    /// A friendship is stored once, lower id first; a follow as it is.
    private static func stored(_ connection: Connection) -> (user: Int64, kind: String, to: Int64) {
        switch connection.kind {
        case .friend: (min(connection.user, connection.to), connection.kind.rawValue, max(connection.user, connection.to))
        case .follow: (connection.user, connection.kind.rawValue, connection.to)
        }
    }

    public func putConnection(_ connection: Connection) async throws(StorageError) {
        let row = Self.stored(connection)
        _ = try await rows(
            """
            INSERT INTO connections (user_id, kind, to_user) VALUES (\(row.user), \(row.kind), \(row.to))
            ON CONFLICT DO NOTHING
            """,
            "putting a connection")
    }

    public func deleteConnection(_ connection: Connection) async throws(StorageError) -> Bool {
        let row = Self.stored(connection)
        return try await changed(
            """
            DELETE FROM connections WHERE user_id = \(row.user) AND kind = \(row.kind) AND to_user = \(row.to)
            RETURNING 1
            """,
            "deleting a connection")
    }

    // MARK: Subscriptions

    public func createSubscription(_ subscription: Subscription) async throws(StorageError) {
        let s = subscription
        _ = try await rows(
            """
            INSERT INTO subscriptions (id, user_id, app, platform, device_id, expires_at)
            VALUES (\(s.id), \(s.user), \(s.app), \(s.platform.rawValue), \(s.deviceID), \(s.expiresAt.microsecondsSince1970))
            """,
            "creating a subscription")
    }

    static let subscriptionColumns = "id, user_id, app, platform, device_id, expires_at"

    private func subscription(_ row: PostgresRow) throws(StorageError) -> Subscription {
        let (id, user, app, platform, device, expires) = try decoding("reading a subscription") {
            try row.decode((String, Int64, String, String, String?, Int64).self)
        }
        guard let platform = Platform(rawValue: platform) else {
            throw StorageError(code: .corrupt, message: "subscription \(id) has an unknown platform")
        }
        return Subscription(
            id: id, user: user, app: app, platform: platform, deviceID: device,
            expiresAt: Timestamp(microsecondsSince1970: expires))
    }

    public func subscription(id: String) async throws(StorageError) -> Subscription? {
        let found = try await rows(SubscriptionRead(key: id), "reading a subscription")
        return try found.first.map { row throws(StorageError) in try subscription(row) }
    }

    public func renewSubscription(id: String, expiresAt: Timestamp) async throws(StorageError) -> Subscription? {
        var bindings = PostgresBindings()
        bindings.append(expiresAt.microsecondsSince1970)
        bindings.append(id)
        let found = try await rowsNotifying(
            PostgresQuery(
                unsafeSQL: "UPDATE subscriptions SET expires_at = $1 WHERE id = $2 RETURNING \(Self.subscriptionColumns)",
                binds: bindings),
            .subscriptionChanged(id), "renewing a subscription")
        return try found.first.map { row throws(StorageError) in try subscription(row) }
    }

    public func deleteSubscription(id: String) async throws(StorageError) -> Bool {
        try await changedNotifying(
            "DELETE FROM subscriptions WHERE id = \(id) RETURNING 1", .subscriptionChanged(id), "deleting a subscription")
    }

    public func sweepSubscriptions(expiredBefore: Timestamp, limit: Int) async throws(StorageError) -> Int {
        guard limit > 0 else { return 0 }
        let cutoff = expiredBefore.microsecondsSince1970
        let limit = Int64(limit)
        return try await rows(
            """
            DELETE FROM subscriptions WHERE id IN (
                SELECT id FROM subscriptions WHERE expires_at < \(cutoff) ORDER BY expires_at LIMIT \(limit))
            RETURNING 1
            """,
            "sweeping subscriptions"
        ).count
    }

    // MARK: The blocked list

    public func block(_ principal: Principal) async throws(StorageError) {
        _ = try await changedNotifying(
            "INSERT INTO blocked (principal) VALUES (\(principal.description)) ON CONFLICT DO NOTHING RETURNING 1",
            .blockListChanged(principal), "blocking")
    }

    public func unblock(_ principal: Principal) async throws(StorageError) -> Bool {
        try await changedNotifying(
            "DELETE FROM blocked WHERE principal = \(principal.description) RETURNING 1", .blockListChanged(principal),
            "unblocking")
    }

    public func isBlocked(_ principal: Principal) async throws(StorageError) -> Bool {
        try await !rows(BlockedRead(key: principal.description), "reading the blocked list").isEmpty
    }

    // MARK: Tokens

    public func insertToken(_ token: TokenRecord) async throws(StorageError) {
        let roles = token.roles.map(\.rawValue).sorted().joined(separator: ",")
        _ = try await rows(
            """
            INSERT INTO tokens (id, hash, principal, roles, expires_at, revoked)
            VALUES (\(token.id), \(ByteBuffer(bytes: token.hash)), \(token.principal.description), \(roles),
                \(token.expiresAt.microsecondsSince1970), \(token.revoked))
            """,
            "inserting a token")
    }

    static let tokenColumns = "t.id, t.hash, t.principal, t.roles, t.expires_at, t.revoked"

    private func token(_ row: PostgresRow) throws(StorageError) -> TokenRecord {
        let (id, hash, principal, roles, expires, revoked) = try decoding("reading a token") {
            try row.decode((String, ByteBuffer, String, String, Int64, Bool).self)
        }
        var parsed = Set<Role>()
        for name in roles.split(separator: ",") {
            guard let role = Role(rawValue: String(name)) else {
                throw StorageError(code: .corrupt, message: "token \(id) has an unknown role")
            }
            parsed.insert(role)
        }
        return TokenRecord(
            id: id, hash: Array(hash.readableBytesView), principal: try Self.principal(principal), roles: parsed,
            expiresAt: Timestamp(microsecondsSince1970: expires), revoked: revoked)
    }

    /// "app:<name>" or "user:<id>", as ``Principal``'s description writes it.
    private static func principal(_ stored: String) throws(StorageError) -> Principal {
        if stored.hasPrefix("app:") { return .app(String(stored.dropFirst(4))) }
        if stored.hasPrefix("user:"), let id = Int64(stored.dropFirst(5)) { return .user(id) }
        throw StorageError(code: .corrupt, message: "unreadable principal in the database")
    }

    public func token(hash: [UInt8]) async throws(StorageError) -> TokenRecord? {
        let found = try await rows(TokenRead(key: ByteBuffer(bytes: hash)), "reading a token")
        return try found.first.map { row throws(StorageError) in try token(row) }
    }

    public func revokeToken(id: String) async throws(StorageError) -> Bool {
        try await changedNotifying(
            "UPDATE tokens SET revoked = true WHERE id = \(id) RETURNING 1", .tokenRevoked, "revoking a token")
    }

    // MARK: Stream tickets

    public func insertStreamTicket(_ ticket: StreamTicketRecord) async throws(StorageError) {
        let now = Timestamp.now().microsecondsSince1970
        let batch = Int64(Self.streamTicketSweepBatch)
        let hash = ByteBuffer(bytes: ticket.hash)
        let (token, expires) = (ticket.tokenID, ticket.expiresAt.microsecondsSince1970)
        let logger = logger
        try await write("inserting a stream ticket") { connection in
            try await connection.query(
                """
                DELETE FROM stream_tickets WHERE hash IN
                    (SELECT hash FROM stream_tickets WHERE expires_at <= \(now) ORDER BY expires_at LIMIT \(batch))
                """,
                logger: logger)
            try await connection.query(
                "INSERT INTO stream_tickets (hash, token, expires_at) VALUES (\(hash), \(token), \(expires))",
                logger: logger)
        }
    }

    /// One statement deletes the ticket and returns its token: of two racing
    /// redemptions (on any instance) only one deletes the row.
    public func redeemStreamTicket(hash: [UInt8], now: Timestamp) async throws(StorageError) -> TokenRecord? {
        var bindings = PostgresBindings()
        bindings.append(ByteBuffer(bytes: hash))
        bindings.append(now.microsecondsSince1970)
        let found = try await rows(
            PostgresQuery(
                unsafeSQL: """
                    WITH redeemed AS (DELETE FROM stream_tickets WHERE hash = $1 RETURNING token, expires_at)
                    SELECT \(Self.tokenColumns) FROM redeemed r JOIN tokens t ON t.id = r.token WHERE r.expires_at > $2
                    """,
                binds: bindings),
            "redeeming a stream ticket")
        return try found.first.map { row throws(StorageError) in try token(row) }
    }

    // MARK: Watches

    public func watchFeed(user: Int64) -> AsyncStream<Void> {
        feedAdvances.watch(user: user)
    }

    public func wakeFeedWatchers() {
        feedAdvances.advancedAll()
    }

    // MARK: Tests and tools

    /// How many notifications, and feed entries, the database holds (expired
    /// ones included): tests and tools.
    public func storedRowCounts() async throws(StorageError) -> (notifications: Int, feedEntries: Int) {
        let found = try await rows(
            "SELECT (SELECT count(*) FROM notifications), (SELECT count(*) FROM feed)", "counting rows")
        guard let row = found.first else { return (0, 0) }
        let (notifications, feed) = try decoding("counting rows") { try row.decode((Int64, Int64).self) }
        return (Int(notifications), Int(feed))
    }

    /// Drops `schema` and everything in it, on its own connection: tests
    /// and tools (a test store lives in a schema of its own).
    public static func dropSchema(url: String, schema: String) async throws {
        guard isPlainIdentifier(schema) else { return }
        try await withOwnConnection(url: url) { connection, logger in
            try await connection.query(PostgresQuery(unsafeSQL: "DROP SCHEMA IF EXISTS \(schema) CASCADE"), logger: logger)
        }
    }

    /// Runs `body` on a connection of its own to the database `url` names,
    /// outside any store's pool, and closes it: tests and tools.
    static func withOwnConnection<T>(
        url: String, _ body: (PostgresConnection, Logger) async throws -> T
    ) async throws -> T {
        let configuration = try PostgresStoreConfiguration(url: url)
        let logger = Logger(label: "notify.store.postgres", factory: { _ in SwiftLogNoOpLogHandler() })
        let connection = try await PostgresConnection.connect(
            configuration: .init(
                host: configuration.host, port: configuration.port, username: configuration.username,
                password: configuration.password, database: configuration.database, tls: .disable),
            id: 0, logger: logger)
        let result: T
        do {
            result = try await body(connection, logger)
        } catch {
            try? await connection.close()
            throw error
        }
        try await connection.close()
        return result
    }

    /// Lower-case letters, digits and `_`, at most 63 bytes: a name that can
    /// be spliced into SQL as it is (a schema).
    static func isPlainIdentifier(_ name: String) -> Bool {
        !name.isEmpty && name.utf8.count <= 63
            && name.utf8.allSatisfy { ($0 >= 0x61 && $0 <= 0x7A) || ($0 >= 0x30 && $0 <= 0x39) || $0 == 0x5F }
    }

    // MARK: Helpers

    func decoding<T>(_ operation: String, _ body: () throws -> T) throws(StorageError) -> T {
        do {
            return try body()
        } catch {
            throw StorageError(mappingPostgres: error, during: operation)
        }
    }
}
