import ArgumentParser
import Foundation
import Logging
import NotifyClient
import NotifyCore
import NotifyDomain
import NotifyGateway
import NotifyServer
import NotifyStorageSQLite
import NotifyTLS
import NotifyWire
import ServiceLifecycle
import UnixSignals

/// `notifyd serve`: runs the RPC server on the embedded defaults or the given settings.
struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run the service.",
        discussion: """
            With no options it keeps its data in ./data (SQLite) and, on first run, generates a development \
            CA and a server certificate for localhost and 127.0.0.1 in ./data/tls. It prints where the CA is, \
            so that clients can trust it. SIGTERM or SIGINT stops it gracefully: it stops accepting, sends \
            goaway, drains calls in flight for up to --drain-timeout seconds, then exits 0. \
            The REST gateway (docs/GATEWAY.md) runs in the same process on --http-host:--http-port \
            (127.0.0.1:8080) and calls the RPC server in-process; --no-gateway turns it off.
            """
    )

    @Option(help: "Folder of the SQLite database and development TLS files. [NOTIFY_DATA_DIR, default ./data]")
    var dataDir: String?

    @Option(help: "Address the RPC server listens on. [NOTIFY_RPC_HOST, default 127.0.0.1]")
    var rpcHost: String?

    @Option(help: "TCP port of the RPC server; 0 picks one. [NOTIFY_RPC_PORT, default 7443]")
    var rpcPort: Int?

    @Option(help: "PEM server certificate chain; without it a development certificate is used. [NOTIFY_TLS_CERT]")
    var tlsCert: String?

    @Option(help: "PEM private key of --tls-cert. [NOTIFY_TLS_KEY]")
    var tlsKey: String?

    @Option(help: "PEM CA file: when set, clients must present a certificate it signed (mTLS). [NOTIFY_CLIENT_CA]")
    var clientCA: String?

    @Option(help: "Calls in flight per connection. [NOTIFY_MAX_CONCURRENT_CALLS, default 256]")
    var maxConcurrentCalls: Int?

    @Option(help: "Calls running at once across all connections; more are refused at once (RESOURCE_EXHAUSTED, OVERLOADED). [NOTIFY_MAX_CALLS_IN_FLIGHT, default 1024]")
    var maxCallsInFlight: Int?

    @Option(help: "Live feed streams open at once across all connections; more are refused (RESOURCE_EXHAUSTED, OVERLOADED). [NOTIFY_MAX_STREAMS, default 10000]")
    var maxStreams: Int?

    @Option(help: "Largest message in bytes. [NOTIFY_MAX_MESSAGE_SIZE, default 4194304]")
    var maxMessageSize: Int?

    @Option(help: "Seconds before an idle connection is closed; 0 never. [NOTIFY_IDLE_TIMEOUT, default 300]")
    var idleTimeout: Int?

    @Option(help: "Seconds a connection may go without its first call after its TLS handshake before it is closed; 0 leaves it to --idle-timeout. [NOTIFY_FIRST_CALL_TIMEOUT, default 30]")
    var firstCallTimeout: Int?

    @Option(help: "RPC connections open at once; one more is accepted and closed at once. Must fit under the open-file limit, which notifyd raises to its hard limit. [NOTIFY_MAX_CONNECTIONS, default 10000, lowered to fit]")
    var maxConnections: Int?

    @Option(help: "Metadata entries a frame may carry; more closes the connection (goaway RESOURCE_EXHAUSTED). [NOTIFY_MAX_METADATA_ENTRIES, default 64]")
    var maxMetadataEntries: Int?

    @Option(help: "Encoded bytes of a frame's metadata; more closes the connection (goaway RESOURCE_EXHAUSTED). [NOTIFY_MAX_METADATA_BYTES, default 16384]")
    var maxMetadataBytes: Int?

    @Option(help: "Seconds graceful shutdown waits for calls in flight. [NOTIFY_DRAIN_TIMEOUT, default 30]")
    var drainTimeout: Int?

    @Option(help: "Seconds a connection's TLS handshake may take before it is closed. [NOTIFY_TLS_HANDSHAKE_TIMEOUT, default 10]")
    var tlsHandshakeTimeout: Int?

    @Flag(help: "SelfCommunity's follow_enabled: 'connections' means followers instead of friends. [NOTIFY_FOLLOW_ENABLED]")
    var followEnabled = false

    @Option(help: "Calls per second each caller may make, whatever its role; 0 turns the limit off. Overrides the per-role defaults. [NOTIFY_RATE_LIMIT]")
    var rateLimit: Double?

    @Option(help: "Calls per second per caller whose token has the admin role; 0: no limit. [NOTIFY_RATE_LIMIT_ADMIN, default 1000]")
    var rateLimitAdmin: Double?

    @Option(help: "Calls per second per application caller (app role); 0: no limit. [NOTIFY_RATE_LIMIT_APP, default 1000]")
    var rateLimitApp: Double?

    @Option(help: "Calls per second per user caller (user role only); 0: no limit. [NOTIFY_RATE_LIMIT_USER, default 20]")
    var rateLimitUser: Double?

    @Option(help: "Burst size of every per-caller rate limit. [NOTIFY_RATE_BURST, default 2 × each role's rate]")
    var rateBurst: Double?

    @Option(help: "Failed authentications per second allowed from one peer address; past them its calls answer THROTTLED; 0: no limit. [NOTIFY_AUTH_FAILURE_LIMIT, default 10]")
    var authFailureLimit: Double?

    @Option(help: "Burst of failed authentications from one peer address. [NOTIFY_AUTH_FAILURE_BURST, default 100]")
    var authFailureBurst: Double?

    @Option(help: "Most entries one user's feed may hold; a notification skips a full feed (FEED_FULL when it has no other); 0: no bound. [NOTIFY_MAX_FEED_ENTRIES, default 100000]")
    var maxFeedEntries: Int64?

    @Option(help: "trace, debug, info, notice, warning, error or critical. [NOTIFY_LOG_LEVEL, default info]")
    var logLevel: String?

    @Flag(help: "Do not run the REST gateway. [NOTIFY_NO_GATEWAY]")
    var noGateway = false

    @OptionGroup var http: HTTPOptions

    func run() async throws {
        MallocTuning.apply()
        let env = Layered()
        let logger = bootstrapLogging(env.string(logLevel, "NOTIFY_LOG_LEVEL", default: "info"), label: "notifyd")

        let dataDir = env.string(self.dataDir, "NOTIFY_DATA_DIR", default: "./data")
        try Storage.prepareDataDirectory(dataDir)
        // One server per data folder, for the life of this process.
        let lock: DataDirectoryLock
        do {
            lock = try DataDirectoryLock(dataDirectory: dataDir)
        } catch {
            logger.critical("notifyd cannot start", metadata: ["error.message": "\(error)"])
            throw error
        }
        defer { withExtendedLifetime(lock) {} }

        let tls = try tlsConfiguration(env: env, dataDir: dataDir)
        let rateLimits = try self.rateLimits(env)
        let authFailures = RateLimit(
            perSecond: try env.value(authFailureLimit, "NOTIFY_AUTH_FAILURE_LIMIT", default: 10.0),
            burst: try env.value(authFailureBurst, "NOTIFY_AUTH_FAILURE_BURST", default: 100.0))
        guard authFailures.isValid else {
            throw ValidationError("--auth-failure-limit and --auth-failure-burst must be between 0 and 1e9")
        }
        let idle = try env.value(idleTimeout, "NOTIFY_IDLE_TIMEOUT", default: 300)
        let firstCall = try env.value(firstCallTimeout, "NOTIFY_FIRST_CALL_TIMEOUT", default: 30)
        var configuration = ServerConfiguration(
            host: env.string(rpcHost, "NOTIFY_RPC_HOST", default: "127.0.0.1"),
            port: try env.value(rpcPort, "NOTIFY_RPC_PORT", default: 7443),
            tls: tls,
            maxConcurrentCallsPerConnection: try env.value(maxConcurrentCalls, "NOTIFY_MAX_CONCURRENT_CALLS", default: 256),
            maxCallsInFlight: try env.value(maxCallsInFlight, "NOTIFY_MAX_CALLS_IN_FLIGHT", default: 1024),
            maxStreams: try env.value(maxStreams, "NOTIFY_MAX_STREAMS", default: 10_000),
            maxMessageSize: try env.value(maxMessageSize, "NOTIFY_MAX_MESSAGE_SIZE", default: 4 * 1024 * 1024),
            idleTimeout: idle > 0 ? .seconds(idle) : nil,
            firstCallTimeout: firstCall > 0 ? .seconds(firstCall) : nil,
            frameLimits: FrameLimits(
                maxMetadataEntries: try env.value(maxMetadataEntries, "NOTIFY_MAX_METADATA_ENTRIES", default: FrameLimits.defaultMaxMetadataEntries),
                maxMetadataBytes: try env.value(maxMetadataBytes, "NOTIFY_MAX_METADATA_BYTES", default: FrameLimits.defaultMaxMetadataBytes)
            ),
            drainTimeout: .seconds(try env.value(drainTimeout, "NOTIFY_DRAIN_TIMEOUT", default: 30)),
            handshakeTimeout: .seconds(try env.value(tlsHandshakeTimeout, "NOTIFY_TLS_HANDSHAKE_TIMEOUT", default: 10)),
            communityMode: try env.bool(followEnabled, "NOTIFY_FOLLOW_ENABLED") ? .follow : .friendship,
            rateLimits: rateLimits,
            authFailureLimit: authFailures
        )
        guard configuration.maxConcurrentCallsPerConnection > 0, configuration.maxCallsInFlight > 0,
            configuration.maxStreams > 0, configuration.maxMessageSize >= 1024, configuration.handshakeTimeout > .zero
        else {
            throw ValidationError(
                "--max-concurrent-calls, --max-calls-in-flight, --max-streams and --tls-handshake-timeout must be positive, --max-message-size at least 1024"
            )
        }
        guard configuration.frameLimits.maxMetadataEntries >= 8, configuration.frameLimits.maxMetadataBytes >= 1024,
            firstCall >= 0
        else {
            throw ValidationError("--max-metadata-entries must be at least 8, --max-metadata-bytes at least 1024, --first-call-timeout not negative")
        }

        // Parsed before the store opens, so that a bad HTTP flag fails at once;
        // the upstream is set to this process's server below.
        let gateway = try env.bool(noGateway, "NOTIFY_NO_GATEWAY")
            ? nil : try http.configuration(upstream: .remote(ClientConfiguration(trustRootsFile: "")), env: env)

        // Each connection is a file descriptor: past the limit, accept fails
        // for everyone, health checks included.
        let requestedConnections: Int? = try maxConnections ?? env.optionalString(nil, "NOTIFY_MAX_CONNECTIONS").map { text in
            guard let value = Int(text) else { throw ValidationError("NOTIFY_MAX_CONNECTIONS=\(text) is not a valid value") }
            return value
        }
        guard (requestedConnections ?? 1) > 0 else { throw ValidationError("--max-connections must be positive") }
        configuration.maxConnections = try FileDescriptorLimit.connectionCap(
            requested: requestedConnections, default: configuration.maxConnections,
            otherConnections: gateway?.maxConnections ?? 0, limit: FileDescriptorLimit.raise(), logger: logger
        )

        let feedLimit = try env.value(maxFeedEntries, "NOTIFY_MAX_FEED_ENTRIES", default: 100_000)
        guard feedLimit >= 0 else { throw ValidationError("--max-feed-entries must be 0 (no bound) or positive") }
        var storeConfiguration = SQLiteStoreConfiguration()
        storeConfiguration.maxFeedEntries = feedLimit > 0 ? feedLimit : nil
        let store = try SQLiteNotificationStore(
            path: Storage.databasePath(dataDir), configuration: storeConfiguration, logger: logger)
        let health = HealthState()
        let server = RPCServer(
            configuration: configuration,
            router: NotifyService.router(store: store, configuration: configuration, health: health),
            logger: logger
        )
        var services: [ServiceGroupConfiguration.ServiceConfiguration] = [
            .init(service: server),
            .init(service: HealthOnShutdown(health: health), successTerminationBehavior: .ignore),
        ]
        if var gateway {
            gateway.upstream = .local(server)
            // Last, so that on shutdown it stops taking requests before the RPC server drains.
            services.append(.init(service: EmbeddedGateway(rpcServer: server, configuration: gateway, logger: logger)))
        }
        let group = ServiceGroup(
            configuration: .init(
                services: services,
                gracefulShutdownSignals: [.sigterm, .sigint],
                logger: logger
            )
        )
        do {
            try await group.run()
        } catch {
            logger.critical("notifyd stopped on an error", metadata: ["error.message": "\(error)"])
            await store.close()
            throw error
        }
        // The server has drained: commit what is queued, then close the file.
        await store.close()
    }

    /// The per-role rate limits: each role's flag, else --rate-limit for
    /// all, else the defaults; each burst --rate-burst, else twice the rate.
    private func rateLimits(_ env: Layered) throws -> RateLimits {
        let all = try env.value(rateLimit, "NOTIFY_RATE_LIMIT", default: -1.0)
        let burst = try env.value(rateBurst, "NOTIFY_RATE_BURST", default: -1.0)
        func limit(_ flag: Double?, _ variable: String, _ fallback: RateLimit) throws -> RateLimit {
            let rate = try env.value(flag, variable, default: all >= 0 ? all : fallback.perSecond)
            return RateLimit(perSecond: rate, burst: burst >= 0 ? burst : rate * 2)
        }
        let defaults = RateLimits.defaults
        let limits = RateLimits(
            admin: try limit(rateLimitAdmin, "NOTIFY_RATE_LIMIT_ADMIN", defaults.admin),
            app: try limit(rateLimitApp, "NOTIFY_RATE_LIMIT_APP", defaults.app),
            user: try limit(rateLimitUser, "NOTIFY_RATE_LIMIT_USER", defaults.user))
        guard limits.admin.isValid, limits.app.isValid, limits.user.isValid,
            rateLimit.map({ $0 >= 0 }) ?? true, rateBurst.map({ $0 >= 0 }) ?? true
        else {
            throw ValidationError("--rate-limit* and --rate-burst must be between 0 and 1e9")
        }
        return limits
    }

    private func tlsConfiguration(env: Layered, dataDir: String) throws -> TLSConfiguration {
        let clientCA = env.optionalString(clientCA, "NOTIFY_CLIENT_CA")
        if let cert = env.optionalString(tlsCert, "NOTIFY_TLS_CERT") {
            guard let key = env.optionalString(tlsKey, "NOTIFY_TLS_KEY") else {
                throw ValidationError("--tls-cert needs --tls-key")
            }
            return .server(certificateChainFile: cert, privateKeyFile: key, clientCAFile: clientCA, applicationProtocols: ["notify/1"])
        }
        // The CA key signs the server certificate and is not kept: in the server's data folder
        // it would let whoever reads it mint certificates every client trusts.
        let files = try DevelopmentCertificates.ensure(in: dataDir + "/tls", keepingCAKey: false)
        print("notifyd: development TLS; clients trust the CA at \(files.caCertificate)")
        fflush(nil)  // Shown at once even when stdout is a pipe or a file.
        return .server(
            certificateChainFile: files.serverCertificate, privateKeyFile: files.serverKey, clientCAFile: clientCA,
            applicationProtocols: ["notify/1"]
        )
    }
}

/// Reports not-serving to health checks as soon as graceful shutdown starts.
struct HealthOnShutdown: Service {
    let health: HealthState

    func run() async throws {
        try? await gracefulShutdown()
        health.isServing = false
    }
}

enum Storage {
    static func databasePath(_ dataDir: String) -> String {
        dataDir + "/notify.sqlite"
    }

    /// Makes every file this process creates private to its user (umask
    /// 077: the database, its -wal and -shm, the lock, the TLS files), and
    /// creates the data folder 0700 when it is missing. The store also sets
    /// its own files to 0600 whatever the umask; a folder that exists is
    /// left as the operator made it.
    static func prepareDataDirectory(_ dataDir: String) throws {
        umask(0o077)
        try FileManager.default.createDirectory(
            atPath: dataDir, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
    }
}
