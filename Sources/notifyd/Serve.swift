import ArgumentParser
import Foundation
import Logging
import NotifyClient
import NotifyDomain
import NotifyGateway
import NotifyServer
import NotifyStorageSQLite
import NotifyTLS
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

    @Option(help: "Seconds graceful shutdown waits for calls in flight. [NOTIFY_DRAIN_TIMEOUT, default 30]")
    var drainTimeout: Int?

    @Option(help: "Seconds a connection's TLS handshake may take before it is closed. [NOTIFY_TLS_HANDSHAKE_TIMEOUT, default 10]")
    var tlsHandshakeTimeout: Int?

    @Flag(help: "SelfCommunity's follow_enabled: 'connections' means followers instead of friends. [NOTIFY_FOLLOW_ENABLED]")
    var followEnabled = false

    @Option(help: "Calls per second each caller may make; 0 disables the limit. [NOTIFY_RATE_LIMIT, default 0]")
    var rateLimit: Double?

    @Option(help: "Burst size of the per-caller rate limit. [NOTIFY_RATE_BURST, default 2 × rate]")
    var rateBurst: Double?

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
        let rate = try env.value(rateLimit, "NOTIFY_RATE_LIMIT", default: 0.0)
        let idle = try env.value(idleTimeout, "NOTIFY_IDLE_TIMEOUT", default: 300)
        let configuration = ServerConfiguration(
            host: env.string(rpcHost, "NOTIFY_RPC_HOST", default: "127.0.0.1"),
            port: try env.value(rpcPort, "NOTIFY_RPC_PORT", default: 7443),
            tls: tls,
            maxConcurrentCallsPerConnection: try env.value(maxConcurrentCalls, "NOTIFY_MAX_CONCURRENT_CALLS", default: 256),
            maxCallsInFlight: try env.value(maxCallsInFlight, "NOTIFY_MAX_CALLS_IN_FLIGHT", default: 1024),
            maxStreams: try env.value(maxStreams, "NOTIFY_MAX_STREAMS", default: 10_000),
            maxMessageSize: try env.value(maxMessageSize, "NOTIFY_MAX_MESSAGE_SIZE", default: 4 * 1024 * 1024),
            idleTimeout: idle > 0 ? .seconds(idle) : nil,
            drainTimeout: .seconds(try env.value(drainTimeout, "NOTIFY_DRAIN_TIMEOUT", default: 30)),
            handshakeTimeout: .seconds(try env.value(tlsHandshakeTimeout, "NOTIFY_TLS_HANDSHAKE_TIMEOUT", default: 10)),
            communityMode: try env.bool(followEnabled, "NOTIFY_FOLLOW_ENABLED") ? .follow : .friendship,
            rateLimitPerSecond: rate,
            rateLimitBurst: try env.value(rateBurst, "NOTIFY_RATE_BURST", default: rate * 2)
        )
        guard configuration.maxConcurrentCallsPerConnection > 0, configuration.maxCallsInFlight > 0,
            configuration.maxStreams > 0, configuration.maxMessageSize >= 1024, configuration.handshakeTimeout > .zero
        else {
            throw ValidationError(
                "--max-concurrent-calls, --max-calls-in-flight, --max-streams and --tls-handshake-timeout must be positive, --max-message-size at least 1024"
            )
        }

        // Parsed before the store opens, so that a bad HTTP flag fails at once;
        // the upstream is set to this process's server below.
        let gateway = try env.bool(noGateway, "NOTIFY_NO_GATEWAY")
            ? nil : try http.configuration(upstream: .remote(ClientConfiguration(trustRootsFile: "")), env: env)

        let store = try SQLiteNotificationStore(path: Storage.databasePath(dataDir), logger: logger)
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
