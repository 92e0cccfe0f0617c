import Foundation
public import NotifyStorage
import PostgresNIO

/// Where the PostgreSQL store's database is and how the store uses it.
///
/// The password is never part of the URL: a URL that holds one is refused,
/// so that a URL in a log, a process list or a shell history holds no
/// secret. It comes from ``password``, which the caller sets from the
/// environment (`notifyd` follows libpq: `PGPASSWORD`, else the passfile).
public struct PostgresStoreConfiguration: Sendable {
    /// How the link to the server is encrypted, named as libpq's `sslmode`.
    ///
    /// TLS on this link is postgres-nio's own (swift-nio-ssl, BoringSSL),
    /// not the system OpenSSL the RPC server and the gateway use.
    public struct TLSMode: Hashable, Sendable, CustomStringConvertible {
        private enum Mode: Hashable, Sendable {
            case disable, prefer, require, verifyFull
        }

        private let mode: Mode
        private init(_ mode: Mode) { self.mode = mode }

        /// Plain TCP.
        public static let disable = TLSMode(.disable)
        /// TLS when the server offers it, plain otherwise; the server's
        /// certificate is not verified (libpq's `prefer`): it protects from
        /// a passive listener, not from an active one.
        public static let prefer = TLSMode(.prefer)
        /// TLS or no connection; the certificate is not verified (libpq's `require`).
        public static let require = TLSMode(.require)
        /// TLS, the certificate verified against ``PostgresStoreConfiguration/rootCertificateFile``
        /// (else the system's trust store) and the host name checked (libpq's `verify-full`).
        public static let verifyFull = TLSMode(.verifyFull)

        /// The mode for its libpq name (`disable`, `prefer`, `require`, `verify-full`), or nil.
        public init?(name: String) {
            switch name {
            case "disable": self.init(.disable)
            case "prefer": self.init(.prefer)
            case "require": self.init(.require)
            case "verify-full": self.init(.verifyFull)
            default: return nil
            }
        }

        public var description: String {
            switch mode {
            case .disable: "disable"
            case .prefer: "prefer"
            case .require: "require"
            case .verifyFull: "verify-full"
            }
        }

        var isVerifying: Bool { mode == .verifyFull }
        var isRequired: Bool { mode == .require || mode == .verifyFull }
        var isDisabled: Bool { mode == .disable }
    }

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
    /// The `application_name` of the store's connections (shown in
    /// `pg_stat_activity`); nil: postgres-nio's default.
    public var applicationName: String?
    /// The URL's `sslmode`; by default ``TLSMode/disable`` on a loopback
    /// host and ``TLSMode/prefer`` elsewhere.
    public var tls: TLSMode
    /// The URL's `sslrootcert`: a PEM file of the CAs `verify-full` trusts;
    /// nil: the system's trust store.
    public var rootCertificateFile: String?
    /// The most connections the store opens to the server.
    public var maximumConnections: Int = 8
    /// How long a new connection to the server may take to open.
    public var connectTimeout: Duration = .seconds(5)
    /// How long a call waits for a pooled connection before it fails
    /// UNAVAILABLE: postgres-nio's pool queues a call for as long as a
    /// minute while it cannot connect, and a call must not hang that long.
    public var acquireTimeout: Duration = .seconds(2)
    /// The longest a call's work on a leased connection may take (a read,
    /// a transaction of appends, a sweep); past it the connection is closed
    /// and the call fails UNAVAILABLE. A connection whose network died
    /// without closing would otherwise hold its call until TCP gives up,
    /// many minutes later. nil: no bound. The migrations are not bounded.
    public var statementLimit: Duration? = .seconds(30)
    /// How often the store checks that the database answers (a `SELECT 1`
    /// on a pooled connection), so that ``PostgresNotificationStore/isWritable``
    /// follows the database with no traffic. While the database is
    /// unreachable the probe is also what finds it back.
    public var probeInterval: Duration = .seconds(1)
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
    /// The largest connections audience written inside its append's
    /// transaction; a larger one becomes a background fan-out job (as in the
    /// SQLite store).
    public var inlineFanOutLimit: Int = 1_000
    /// The most feed rows one transaction of the background fan-out writes.
    public var fanOutBatchSize: Int = 1_000
    /// How long one fan-out transaction's statements should take; zero: no
    /// budget, transactions of ``fanOutBatchSize`` rows back to back.
    ///
    /// A writer batch naming one of the feeds a fan-out transaction writes
    /// waits for that feed's head until the transaction commits. So each
    /// transaction's rows follow from how long the previous one's statements
    /// took (at least 32, at most ``fanOutBatchSize``), and while this
    /// instance's appends flow the fan-out then rests as long (as the sweep
    /// does, ``sweepTransactionBudget``).
    public var fanOutTransactionBudget: Duration = defaultFanOutTransactionBudget
    /// 5 ms: batches of 1,000 made appends to the followers' feeds 2.2–2.7×
    /// their p99 without a fan-out, 5 ms 1.3–1.8× (docs/PERFORMANCE.md,
    /// "Fan-out to 100,000 followers").
    public static let defaultFanOutTransactionBudget: Duration = .milliseconds(5)
    /// How long the background fan-out rests after each batch; zero: none.
    public var fanOutPause: Duration = .zero
    /// How often an instance looks for fan-out jobs it was not told about
    /// (recorded by another instance, or left by one that died).
    public var fanOutPollInterval: Duration = .seconds(1)
    /// Whether this instance runs the background fan-out (a short-lived
    /// admin command leaves the jobs to the servers).
    public var runsBackgroundFanOut = true
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
    /// How long one sweep transaction's statements should take; zero: no
    /// budget, transactions of ``sweepBatchSize`` rows back to back.
    ///
    /// An append that names a feed the transaction removes from waits for
    /// the lock on that feed's head until the transaction commits, and with
    /// it the whole batch of appends it came in. So each transaction's rows
    /// follow from how long the previous one's statements took (at most
    /// ``sweepBatchSize``), and while this instance's appends flow the
    /// sweep then rests for as long as that transaction took. Always, not
    /// only while appends flow as on SQLite: other instances' appends may.
    public var sweepTransactionBudget: Duration = defaultSweepTransactionBudget
    /// 5 ms: 1,000 rows at a time made appends to the swept feeds' p99
    /// 15.6× their value without a sweep, 5 ms 1.5–2.1×; at 2 ms a
    /// transaction's round trips alone took most of it, so each removed 8
    /// rows (docs/PERFORMANCE.md, "The sweeper").
    public static let defaultSweepTransactionBudget: Duration = .milliseconds(5)
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

    /// Reads `postgres://user@host[:port][/database][?schema=S&sslmode=M&sslrootcert=F]`.
    ///
    /// - Parameters:
    ///   - url: the store URL; the database defaults to the user's name, the port to 5432.
    ///   - password: the password, from outside the URL.
    /// - Throws: ``StorageError/Code/unavailable`` when `url` is not such a
    ///   URL, holds a password, or names a parameter or `sslmode` it does not
    ///   know. The message never repeats the URL (it may hold a password).
    public init(url: String, password: String? = nil) throws(StorageError) {
        guard let components = URLComponents(string: url),
            components.scheme == "postgres" || components.scheme == "postgresql",
            let host = components.host, !host.isEmpty,
            let user = components.user, !user.isEmpty
        else {
            throw StorageError(
                code: .unavailable, message: "the store URL is not postgres://user@host:port/database")
        }
        guard components.password == nil else {
            throw StorageError(
                code: .unavailable,
                message:
                    "the store URL holds a password: remove it and give it in PGPASSWORD or a passfile (PGPASSFILE, else ~/.pgpass), which stay out of logs and process lists"
            )
        }
        self.host = host
        self.port = components.port ?? 5432
        self.username = user
        self.password = password
        let path = components.path.hasPrefix("/") ? String(components.path.dropFirst()) : components.path
        self.database = path.isEmpty ? user : path
        self.tls = Self.isLoopback(host) ? .disable : .prefer
        for item in components.queryItems ?? [] {
            switch item.name {
            case "schema":
                schema = item.value
            case "sslmode":
                guard let mode = item.value.flatMap(TLSMode.init(name:)) else {
                    throw StorageError(
                        code: .unavailable, message: "the store URL's sslmode is disable, prefer, require or verify-full")
                }
                tls = mode
            case "sslrootcert":
                rootCertificateFile = item.value
            default:
                throw StorageError(
                    code: .unavailable,
                    message: "the store URL takes schema, sslmode and sslrootcert, not \(item.name)")
            }
        }
    }

    /// Where the store is, with no password: for logs.
    public var description: String {
        "postgres://\(username)@\(host):\(port)/\(database)" + (schema.map { "?schema=\($0)" } ?? "")
    }

    /// Whether `host` names this machine: TLS is off there by default.
    static func isLoopback(_ host: String) -> Bool {
        host == "localhost" || host == "::1" || host == "[::1]" || host.hasPrefix("127.")
    }

    /// postgres-nio's TLS for ``tls``: swift-nio-ssl's client configuration,
    /// verifying nothing for `prefer` and `require` as libpq does.
    var clientTLS: PostgresClient.Configuration.TLS {
        if tls.isDisabled { return .disable }
        var configuration = TLSConfiguration.makeClientConfiguration()
        if tls.isVerifying {
            if let rootCertificateFile { configuration.trustRoots = .file(rootCertificateFile) }
        } else {
            configuration.certificateVerification = .none
        }
        return tls.isRequired ? .require(configuration) : .prefer(configuration)
    }
}
