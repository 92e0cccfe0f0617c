import NotifyClient
import NotifyDomain
import NotifyGateway
import NotifyMetricsServer
import NotifyServer
import NotifyStoragePostgres
import NotifyStorageSQLite
import NotifyTLS
import NotifyWire

/// The defaults of notifyd's settings, each taken from where it is written:
/// the library configurations' initializers, or here for those that belong
/// to the executable alone.
enum Defaults {
    /// `ServerConfiguration`'s defaults. Its TLS has no default; this
    /// instance's is empty and never used.
    static let server = ServerConfiguration(
        tls: .server(certificateChainFile: "", privateKeyFile: "", applicationProtocols: []))
    /// `GatewayConfiguration`'s defaults; its upstream is never used.
    static let gateway = GatewayConfiguration(upstream: ClientConfiguration(trustRootsFile: ""))
    /// `SQLiteStoreConfiguration`'s defaults.
    static let store = SQLiteStoreConfiguration()
    /// `PostgresStoreConfiguration`'s pool size (any URL gives it).
    static let storeConnections =
        (try? PostgresStoreConfiguration(url: "postgres://notify@localhost/notify"))?.maximumConnections ?? 8

    /// Where `serve` keeps its data and `admin` finds it.
    static let dataDir = "./data"
    /// swift-log's level.
    static let logLevel = "info"
    /// `gateway`'s RPC service: `serve`'s default address.
    static let upstream = "\(server.host):\(server.port)"
    /// `gateway`'s CA: the development CA `serve` writes into its default data folder.
    static let ca = dataDir + "/tls/ca.crt"
}

extension Setting {
    // MARK: serve

    static let dataDir = Setting(
        "data-dir", "Folder of the SQLite database and development TLS files.", default: Defaults.dataDir)
    static let store = Setting(
        "store",
        "postgres://user@host:port/database[?schema=S&sslmode=M]: keep the data in PostgreSQL (password from PGPASSWORD or ~/.pgpass, never the URL); without it, SQLite in --data-dir.",
        default: "SQLite in --data-dir")
    static let storeConnections = Setting(
        "store-connections", "Most connections to PostgreSQL (a postgres:// --store only), 3 to 1000.",
        default: "\(Defaults.storeConnections)")
    static let rpcHost = Setting("rpc-host", "Address the RPC server listens on.", default: Defaults.server.host)
    static let rpcPort = Setting("rpc-port", "TCP port of the RPC server; 0 picks one.", default: "\(Defaults.server.port)")
    static let tlsCert = Setting(
        "tls-cert", "PEM server certificate chain; without it a development certificate is used.",
        default: "development certificate")
    static let tlsKey = Setting("tls-key", "PEM private key of --tls-cert.", default: nil, isSecret: true)
    static let clientCA = Setting(
        "client-ca", "PEM CA file: when set, clients must present a certificate it signed (mTLS).", default: nil)
    static let maxConcurrentCalls = Setting(
        "max-concurrent-calls", "Calls in flight per connection.",
        default: "\(Defaults.server.maxConcurrentCallsPerConnection)")
    static let maxCallsInFlight = Setting(
        "max-calls-in-flight",
        "Calls running at once across all connections; more are refused at once (RESOURCE_EXHAUSTED, OVERLOADED).",
        default: "\(Defaults.server.maxCallsInFlight)")
    static let maxStreams = Setting(
        "max-streams",
        "Live feed streams open at once across all connections; more are refused (RESOURCE_EXHAUSTED, OVERLOADED).",
        default: "\(Defaults.server.maxStreams)")
    static let maxMessageSize = Setting(
        "max-message-size", "Largest message in bytes.", default: "\(Defaults.server.maxMessageSize)")
    static let idleTimeout = Setting(
        "idle-timeout", "Seconds before an idle connection is closed; 0 never.",
        default: "\(seconds(Defaults.server.idleTimeout))")
    static let firstCallTimeout = Setting(
        "first-call-timeout",
        "Seconds a connection may go without its first call after its TLS handshake before it is closed; 0 leaves it to --idle-timeout.",
        default: "\(seconds(Defaults.server.firstCallTimeout))")
    static let maxConnections = Setting(
        "max-connections",
        "RPC connections open at once; one more is accepted and closed at once. Must fit under the open-file limit, which notifyd raises to its hard limit.",
        default: "\(Defaults.server.maxConnections), lowered to fit")
    static let maxMetadataEntries = Setting(
        "max-metadata-entries",
        "Metadata entries a frame may carry; more closes the connection (goaway RESOURCE_EXHAUSTED).",
        default: "\(Defaults.server.frameLimits.maxMetadataEntries)")
    static let maxMetadataBytes = Setting(
        "max-metadata-bytes", "Encoded bytes of a frame's metadata; more closes the connection (goaway RESOURCE_EXHAUSTED).",
        default: "\(Defaults.server.frameLimits.maxMetadataBytes)")
    static let drainTimeout = Setting(
        "drain-timeout", "Seconds graceful shutdown waits for calls in flight.",
        default: "\(seconds(Defaults.server.drainTimeout))")
    static let tlsHandshakeTimeout = Setting(
        "tls-handshake-timeout", "Seconds a connection's TLS handshake may take before it is closed.",
        default: "\(seconds(Defaults.server.handshakeTimeout))")
    static let followEnabled = Setting(
        "follow-enabled", "SelfCommunity's follow_enabled: 'connections' means followers instead of friends.",
        default: Defaults.server.communityMode == .follow ? "on" : "off")
    static let rateLimitAdmin = Setting(
        "rate-limit-admin", "Calls per second per caller whose token has the admin role; 0: no limit.",
        default: text(Defaults.server.rateLimits.admin.perSecond))
    static let rateLimitApp = Setting(
        "rate-limit-app", "Calls per second per application caller (app role); 0: no limit.",
        default: text(Defaults.server.rateLimits.app.perSecond))
    static let rateLimitUser = Setting(
        "rate-limit-user", "Calls per second per user caller (user role only); 0: no limit.",
        default: text(Defaults.server.rateLimits.user.perSecond))
    static let rateLimit = Setting(
        "rate-limit",
        "Calls per second each caller may make, whatever its role; 0 turns the limit off. Overrides the per-role defaults.",
        default: nil)
    static let rateBurst = Setting(
        "rate-burst", "Burst size of every per-caller rate limit.", default: "2 × each role's rate")
    static let authFailureLimit = Setting(
        "auth-failure-limit",
        "Failed authentications per second allowed from one peer address; past them its calls answer THROTTLED; 0: no limit.",
        default: text(Defaults.server.authFailureLimit.perSecond))
    static let authFailureBurst = Setting(
        "auth-failure-burst", "Burst of failed authentications from one peer address.",
        default: text(Defaults.server.authFailureLimit.burst))
    static let maxFeedEntries = Setting(
        "max-feed-entries",
        "Most entries one user's feed may hold; a notification skips a full feed (FEED_FULL when it has no other); 0: no bound.",
        default: "\(Defaults.store.maxFeedEntries ?? 0)")
    static let retention = Setting(
        "retention",
        "Seconds an entry without an expiration (Notify's) is kept before the sweeper removes it; 0: for ever.",
        default: "\(seconds(Defaults.store.retention))")
    static let sweepInterval = Setting(
        "sweep-interval", "Seconds between sweeps of expired entries and those past --retention; 0: never.",
        default: "\(seconds(Defaults.store.sweepInterval))")
    static let sweepBatch = Setting(
        "sweep-batch", "Rows the sweeper removes per transaction (an append waits behind one at most).",
        default: "\(Defaults.store.sweepBatchSize)")
    static let sweepBudget = Setting(
        "sweep-budget",
        "Microseconds of statements per sweep transaction (SQLite: while appends flow; PostgreSQL: always), each followed by as long a rest while appends flow; 0: whole batches always.",
        default: "\(microseconds(Defaults.store.sweepTransactionBudget)) (SQLite), \(microseconds(PostgresStoreConfiguration.defaultSweepTransactionBudget)) (PostgreSQL)")
    static let fanOutBudget = Setting(
        "fan-out-budget",
        "Microseconds of statements per background fan-out transaction (SQLite: while appends flow; PostgreSQL: always), each followed by as long a rest while appends flow; 0: whole batches always.",
        default: "\(microseconds(Defaults.store.fanOutTransactionBudget)) (SQLite), \(microseconds(PostgresStoreConfiguration.defaultFanOutTransactionBudget)) (PostgreSQL)")
    static let logLevel = Setting(
        "log-level", "trace, debug, info, notice, warning, error or critical.", default: Defaults.logLevel)
    static let noGateway = Setting("no-gateway", "Do not run the REST gateway.", default: "off")
    static let logFormat = Setting(
        "log-format", "text (one line, metadata as key=value) or json (one JSON object per line).", default: "text")
    static let metricsHost = Setting(
        "metrics-host", "Address /metrics and /readyz listen on.", default: MetricsConfiguration.defaultHost)
    static let metricsPort = Setting(
        "metrics-port", "TCP port of /metrics (Prometheus) and /readyz; 0 or unset: not served.", default: "off")

    // MARK: the REST gateway (serve and gateway)

    static let httpHost = Setting(
        "http-host", "Address the REST gateway listens on.", default: Defaults.gateway.host)
    static let httpPort = Setting(
        "http-port", "TCP port of the REST gateway; 0 picks one.", default: "\(Defaults.gateway.port)")
    static let httpTlsCert = Setting(
        "http-tls-cert", "PEM certificate chain: the gateway serves HTTPS with it.", default: nil)
    static let httpTlsKey = Setting("http-tls-key", "PEM private key of --http-tls-cert.", default: nil, isSecret: true)
    static let httpMaxBody = Setting(
        "http-max-body", "Largest request body in bytes, as sent and once decoded.",
        default: "\(Defaults.gateway.maxBodySize)")
    static let httpReadTimeout = Setting(
        "http-read-timeout", "Seconds a request body may take to arrive.",
        default: "\(seconds(Defaults.gateway.readTimeout))")
    static let httpHeadTimeout = Setting(
        "http-head-timeout",
        "Seconds a request head may take from its first byte (a new connection's first, from the accept).",
        default: "\(seconds(Defaults.gateway.headTimeout))")
    static let httpIdleTimeout = Setting(
        "http-idle-timeout", "Seconds before an idle HTTP connection is closed.",
        default: "\(seconds(Defaults.gateway.idleTimeout))")
    static let httpMaxConnections = Setting(
        "http-max-connections", "Most HTTP connections open at once.", default: "\(Defaults.gateway.maxConnections)")
    static let httpMaxConnectionsPerAddress = Setting(
        "http-max-connections-per-address",
        "Most HTTP connections open at once from one client address (IPv6: a /64); 0 for no limit.",
        default: "\(Defaults.gateway.maxConnectionsPerAddress ?? 0)")
    static let httpRpcTimeout = Setting(
        "http-rpc-timeout", "Deadline of each RPC the gateway makes, in seconds.",
        default: "\(seconds(Defaults.gateway.rpcTimeout))")
    static let httpEventHeartbeat = Setting(
        "http-event-heartbeat", "Seconds between heartbeat comments on an idle /feed/events stream.",
        default: "\(seconds(Defaults.gateway.eventHeartbeat))")
    static let httpCorsOrigin = Setting(
        "http-cors-origin",
        "Origins (scheme://host[:port]) whose browser pages may call the gateway (CORS); repeat the flag or separate with commas.",
        default: Defaults.gateway.corsOrigins.isEmpty ? "none" : Defaults.gateway.corsOrigins.joined(separator: ","))

    // MARK: gateway

    static let upstream = Setting("upstream", "The RPC service, HOST:PORT.", default: Defaults.upstream)
    static let ca = Setting("ca", "PEM CA file that signed the RPC service's certificate.", default: Defaults.ca)
    static let serverName = Setting(
        "server-name", variable: "UPSTREAM_SERVER_NAME", "Name the RPC service's certificate must carry.",
        default: "the upstream host")
    static let clientCert = Setting(
        "client-cert", variable: "GATEWAY_CERT", "PEM client certificate for an RPC service that requires mTLS.",
        default: nil)
    static let clientKey = Setting(
        "client-key", variable: "GATEWAY_KEY", "PEM key of --client-cert.", default: nil, isSecret: true)

    // MARK: lists

    /// The REST gateway's settings, in the order of docs/OPERATIONS.md.
    static let http: [Setting] = [
        httpHost, httpPort, httpTlsCert, httpTlsKey, httpMaxBody, httpReadTimeout, httpHeadTimeout, httpIdleTimeout,
        httpMaxConnections, httpMaxConnectionsPerAddress, httpRpcTimeout, httpEventHeartbeat, httpCorsOrigin,
    ]

    /// `notifyd serve`'s settings, in the order of docs/OPERATIONS.md.
    static let serve: [Setting] =
        [
            dataDir, store, storeConnections, rpcHost, rpcPort, tlsCert, tlsKey, clientCA, maxConcurrentCalls, maxCallsInFlight, maxStreams,
            maxMessageSize, idleTimeout, firstCallTimeout, maxConnections, maxMetadataEntries, maxMetadataBytes,
            drainTimeout, tlsHandshakeTimeout, followEnabled, rateLimitAdmin, rateLimitApp, rateLimitUser, rateLimit,
            rateBurst, authFailureLimit, authFailureBurst, maxFeedEntries, retention, sweepInterval, sweepBatch,
            sweepBudget, fanOutBudget, logLevel,
            logFormat, metricsHost, metricsPort,
            noGateway,
        ] + http + tracing

    /// `notifyd gateway`'s settings, in the order of docs/OPERATIONS.md.
    static let gateway: [Setting] =
        [upstream, ca, serverName, clientCert, clientKey, logLevel, logFormat, metricsHost, metricsPort] + http + tracing

    /// The variables whose values are redacted.
    static var secretVariables: [String] {
        (serve + gateway).filter(\.isSecret).map(\.variable)
    }

    /// Whole seconds, as the flags take them; nil (never) is 0.
    private static func seconds(_ duration: Duration?) -> Int64 {
        duration?.components.seconds ?? 0
    }

    /// A rate as the flags take it: `1000`, not `1000.0`.
    private static func text(_ value: Double) -> String {
        value == value.rounded() && abs(value) < 1e15 ? String(Int64(value)) : String(value)
    }
}
