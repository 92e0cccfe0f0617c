import Foundation
public import NotifyStorage

/// Where the PostgreSQL store's database is and how the store uses it.
///
/// The password is never part of the URL the service logs or shows: it comes
/// from ``password`` (set from the environment, e.g. `PGPASSWORD`, or a file
/// by the caller), so that a URL in a log or a process list holds no secret.
public struct PostgresStoreConfiguration: Sendable {
    public var host: String
    public var port: Int
    public var username: String
    /// The user's password; nil: none (trust or peer authentication, as on a
    /// loopback test server).
    public var password: String?
    public var database: String
    /// The schema the store's tables live in; nil: the user's default
    /// (`public`). Created when missing. Tests give each store its own, so
    /// that several run at once on one database.
    public var schema: String?
    /// The most connections the store opens to the server.
    public var maximumConnections: Int = 8
    /// How many transactions of appends may be under way at once, each on
    /// a connection of its own: while one waits for its COMMIT (the WAL's
    /// fsync), the next batch is sent. Feeds stay gapless and in commit
    /// order whatever the number: a batch locks the feed heads it advances
    /// until it commits, so another batch for the same feed waits and
    /// numbers after it.
    public var writers: Int = 2
    /// The most appends committed in one transaction.
    public var maxAppendsPerTransaction: Int = 256
    /// The most appends waiting for the writer; more are refused as busy.
    public var maxPendingAppends: Int = 10_000
    /// How long an idempotency key replays its first answer.
    public var idempotencyRetention: Duration = .seconds(24 * 60 * 60)
    /// The most entries one feed holds; nil: no bound. Appends skip a full
    /// feed (and fail `feedFull` when every feed they name is full).
    public var maxFeedEntries: Int64? = 100_000
    /// How long entries without an expiration are kept; nil: for ever.
    public var retention: Duration? = .seconds(30 * 24 * 60 * 60)
    /// How often the sweeper removes expired entries and those past the
    /// retention; zero: never (reads hide expired entries all the same).
    public var sweepInterval: Duration = .seconds(1)
    /// The most rows one sweep transaction removes.
    public var sweepBatchSize: Int = 1_000
    /// How often subscriptions past their renewal grace are deleted, at
    /// most ``subscriptionSweepBatchSize`` per transaction; zero: never.
    public var subscriptionSweepInterval: Duration = .seconds(60)
    public var subscriptionSweepBatchSize = 500
    /// Whether the store's commits NOTIFY the other instances (their feeds'
    /// readers, their caches). Off only for a store alone on its database
    /// that wants the last bit of write throughput (measurements): instances
    /// that do not send cannot be heard.
    public var sendsNotices = true
    /// The first wait before the listener tries again to LISTEN on a lost
    /// connection; each failure doubles it, up to ``listenBackoffMaximum``.
    public var listenBackoffInitial: Duration = .milliseconds(100)
    /// The longest wait before the listener tries again to LISTEN.
    public var listenBackoffMaximum: Duration = .seconds(5)
    /// How often the listener checks its connection with a `SELECT 1`, so
    /// that one that died without closing is noticed; zero: never.
    public var listenPingInterval: Duration = .seconds(10)

    /// - Throws: ``StorageError/Code/unavailable`` when `url` is not a
    ///   `postgres://user@host:port/database` URL.
    public init(url: String, password: String? = nil) throws(StorageError) {
        guard let components = URLComponents(string: url),
            components.scheme == "postgres" || components.scheme == "postgresql",
            let host = components.host, !host.isEmpty,
            let user = components.user, !user.isEmpty
        else {
            // The URL itself is left out: it may hold a password.
            throw StorageError(
                code: .unavailable, message: "the store URL is not postgres://user@host:port/database")
        }
        self.host = host
        self.port = components.port ?? 5432
        self.username = user
        self.password = password ?? components.password
        let path = components.path.hasPrefix("/") ? String(components.path.dropFirst()) : components.path
        self.database = path.isEmpty ? user : path
        for item in components.queryItems ?? [] where item.name == "schema" {
            schema = item.value
        }
    }

    /// Where the store is, with no password: for logs.
    public var description: String {
        "postgres://\(username)@\(host):\(port)/\(database)" + (schema.map { "?schema=\($0)" } ?? "")
    }
}
