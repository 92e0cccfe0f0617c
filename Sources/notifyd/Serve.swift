import ArgumentParser
import Foundation
import Logging
import NotifyClient
import NotifyCore
import NotifyDomain
import NotifyGateway
import NotifyMetricsServer
import NotifyServer
import NotifyStorage
import NotifyStoragePostgres
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
            (127.0.0.1:8080) and calls the RPC server in-process; --no-gateway turns it off. \
            With --store postgres://... the data lives in PostgreSQL, which several instances may share \
            (docs/OPERATIONS.md, "PostgreSQL").
            """
    )

    @Option(name: Setting.dataDir.name, help: Setting.dataDir.help) var dataDir: String?
    @Option(name: Setting.store.name, help: Setting.store.help) var store: String?
    @Option(name: Setting.storeConnections.name, help: Setting.storeConnections.help) var storeConnections: Int?
    @Option(name: Setting.rpcHost.name, help: Setting.rpcHost.help) var rpcHost: String?
    @Option(name: Setting.rpcPort.name, help: Setting.rpcPort.help) var rpcPort: Int?
    @Option(name: Setting.tlsCert.name, help: Setting.tlsCert.help) var tlsCert: String?
    @Option(name: Setting.tlsKey.name, help: Setting.tlsKey.help) var tlsKey: String?
    @Option(name: Setting.clientCA.name, help: Setting.clientCA.help) var clientCA: String?
    @Option(name: Setting.maxConcurrentCalls.name, help: Setting.maxConcurrentCalls.help) var maxConcurrentCalls: Int?
    @Option(name: Setting.maxCallsInFlight.name, help: Setting.maxCallsInFlight.help) var maxCallsInFlight: Int?
    @Option(name: Setting.maxStreams.name, help: Setting.maxStreams.help) var maxStreams: Int?
    @Option(name: Setting.maxMessageSize.name, help: Setting.maxMessageSize.help) var maxMessageSize: Int?
    @Option(name: Setting.idleTimeout.name, help: Setting.idleTimeout.help) var idleTimeout: Int?
    @Option(name: Setting.firstCallTimeout.name, help: Setting.firstCallTimeout.help) var firstCallTimeout: Int?
    @Option(name: Setting.maxConnections.name, help: Setting.maxConnections.help) var maxConnections: Int?
    @Option(name: Setting.maxMetadataEntries.name, help: Setting.maxMetadataEntries.help) var maxMetadataEntries: Int?
    @Option(name: Setting.maxMetadataBytes.name, help: Setting.maxMetadataBytes.help) var maxMetadataBytes: Int?
    @Option(name: Setting.drainTimeout.name, help: Setting.drainTimeout.help) var drainTimeout: Int?
    @Option(name: Setting.tlsHandshakeTimeout.name, help: Setting.tlsHandshakeTimeout.help) var tlsHandshakeTimeout: Int?
    @Flag(name: Setting.followEnabled.name, help: Setting.followEnabled.help) var followEnabled = false
    @Option(name: Setting.rateLimit.name, help: Setting.rateLimit.help) var rateLimit: Double?
    @Option(name: Setting.rateLimitAdmin.name, help: Setting.rateLimitAdmin.help) var rateLimitAdmin: Double?
    @Option(name: Setting.rateLimitApp.name, help: Setting.rateLimitApp.help) var rateLimitApp: Double?
    @Option(name: Setting.rateLimitUser.name, help: Setting.rateLimitUser.help) var rateLimitUser: Double?
    @Option(name: Setting.rateBurst.name, help: Setting.rateBurst.help) var rateBurst: Double?
    @Option(name: Setting.authFailureLimit.name, help: Setting.authFailureLimit.help) var authFailureLimit: Double?
    @Option(name: Setting.authFailureBurst.name, help: Setting.authFailureBurst.help) var authFailureBurst: Double?
    @Option(name: Setting.maxFeedEntries.name, help: Setting.maxFeedEntries.help) var maxFeedEntries: Int64?
    @Option(name: Setting.retention.name, help: Setting.retention.help) var retention: Int?
    @Option(name: Setting.sweepInterval.name, help: Setting.sweepInterval.help) var sweepInterval: Int?
    @Option(name: Setting.sweepBatch.name, help: Setting.sweepBatch.help) var sweepBatch: Int?
    @Option(name: Setting.sweepBudget.name, help: Setting.sweepBudget.help) var sweepBudget: Int?
    @Option(name: Setting.fanOutBudget.name, help: Setting.fanOutBudget.help) var fanOutBudget: Int?
    @Option(name: Setting.logLevel.name, help: Setting.logLevel.help) var logLevel: String?
    @Flag(name: Setting.noGateway.name, help: Setting.noGateway.help) var noGateway = false
    @Option(name: Setting.logFormat.name, help: Setting.logFormat.help) var logFormat: String?
    @Option(name: Setting.metricsHost.name, help: Setting.metricsHost.help) var metricsHost: String?
    @Option(name: Setting.metricsPort.name, help: Setting.metricsPort.help) var metricsPort: Int?

    @OptionGroup var http: HTTPOptions
    @OptionGroup var tracing: TracingOptions

    /// The options given, keyed by their settings (swift-configuration's first provider).
    var flags: FlagValues {
        var flags = http.flags
        flags.set(.dataDir, dataDir)
        flags.set(.store, store)
        flags.set(.storeConnections, storeConnections)
        flags.set(.rpcHost, rpcHost)
        flags.set(.rpcPort, rpcPort)
        flags.set(.tlsCert, tlsCert)
        flags.set(.tlsKey, tlsKey)
        flags.set(.clientCA, clientCA)
        flags.set(.maxConcurrentCalls, maxConcurrentCalls)
        flags.set(.maxCallsInFlight, maxCallsInFlight)
        flags.set(.maxStreams, maxStreams)
        flags.set(.maxMessageSize, maxMessageSize)
        flags.set(.idleTimeout, idleTimeout)
        flags.set(.firstCallTimeout, firstCallTimeout)
        flags.set(.maxConnections, maxConnections)
        flags.set(.maxMetadataEntries, maxMetadataEntries)
        flags.set(.maxMetadataBytes, maxMetadataBytes)
        flags.set(.drainTimeout, drainTimeout)
        flags.set(.tlsHandshakeTimeout, tlsHandshakeTimeout)
        flags.set(.followEnabled, followEnabled)
        flags.set(.rateLimit, rateLimit)
        flags.set(.rateLimitAdmin, rateLimitAdmin)
        flags.set(.rateLimitApp, rateLimitApp)
        flags.set(.rateLimitUser, rateLimitUser)
        flags.set(.rateBurst, rateBurst)
        flags.set(.authFailureLimit, authFailureLimit)
        flags.set(.authFailureBurst, authFailureBurst)
        flags.set(.maxFeedEntries, maxFeedEntries)
        flags.set(.retention, retention)
        flags.set(.sweepInterval, sweepInterval)
        flags.set(.sweepBatch, sweepBatch)
        flags.set(.sweepBudget, sweepBudget)
        flags.set(.fanOutBudget, fanOutBudget)
        flags.set(.logLevel, logLevel)
        flags.set(.noGateway, noGateway)
        flags.set(.logFormat, logFormat)
        flags.set(.metricsHost, metricsHost)
        flags.set(.metricsPort, metricsPort)
        tracing.add(to: &flags)
        return flags
    }

    func run() async throws {
        MallocTuning.apply()
        let settings = Settings(flags: flags)
        let logger = try bootstrapLogging(
            try settings.string(.logLevel, default: Defaults.logLevel),
            format: try settings.string(.logFormat, default: "text"), label: "notifyd")

        let dataDir = try settings.string(.dataDir, default: Defaults.dataDir)
        try Storage.prepareDataDirectory(dataDir)
        let location = try StoreLocation.read(settings, dataDir: dataDir) { logger.warning("\($0)") }
        // One server per SQLite data folder, for the life of this process.
        // Instances on one PostgreSQL share it by design: no lock; the data
        // folder then only holds the development TLS files.
        var lock: DataDirectoryLock?
        if case .sqlite = location {
            do {
                lock = try DataDirectoryLock(dataDirectory: dataDir)
            } catch {
                logger.critical("notifyd cannot start", metadata: ["error.message": "\(error)"])
                throw error
            }
        }
        defer { withExtendedLifetime(lock) {} }

        var configuration = try Self.serverConfiguration(
            settings, tls: try tlsConfiguration(settings, dataDir: dataDir))

        // Parsed before the store opens, so that a bad HTTP flag fails at once;
        // the upstream is set to this process's server below.
        var gateway = try settings.bool(.noGateway)
            ? nil : try HTTPOptions.configuration(settings, upstream: .remote(ClientConfiguration(trustRootsFile: "")))
        let tracing = try ProcessTracing.make(settings, serviceName: "notifyd", logger: logger)
        configuration.tracer = tracing.tracer
        gateway?.tracer = tracing.tracer

        // Each connection is a file descriptor: past the limit, accept fails
        // for everyone, health checks included.
        let requestedConnections = try settings.int(.maxConnections)
        guard (requestedConnections ?? 1) > 0 else { throw ValidationError("--max-connections must be positive") }
        configuration.maxConnections = try FileDescriptorLimit.connectionCap(
            requested: requestedConnections, default: configuration.maxConnections,
            otherConnections: gateway?.maxConnections ?? 0, limit: FileDescriptorLimit.raise(), logger: logger
        )

        // Metrics: recorded only when /metrics is served.
        let metrics = try ProcessMetrics(settings, rpc: true)
        configuration.metrics = metrics?.server
        gateway?.metrics = metrics?.gateway
        let storeConfiguration = try Self.storeConfiguration(settings)
        switch location {
        case .sqlite(let path):
            let store = try SQLiteNotificationStore(
                path: path, configuration: storeConfiguration, logger: logger,
                metrics: metrics?.store(label: "sqlite") ?? .disabled)
            try await Self.serve(
                store: store, configuration: configuration, gateway: gateway, metrics: metrics, exporter: tracing.service,
                logger: logger)
        case .postgres(var postgres):
            postgres.apply(
                storeConfiguration, sweepBudget: try settings.int(.sweepBudget), fanOutBudget: try settings.int(.fanOutBudget))
            let store = try PostgresNotificationStore(
                configuration: postgres, logger: logger, metrics: metrics?.store(label: "postgres") ?? .disabled)
            try await Self.serve(
                store: store, configuration: configuration, gateway: gateway, metrics: metrics, exporter: tracing.service,
                logger: logger)
        }
    }

    /// Runs the store, the RPC server and the gateway in one service group
    /// until a signal stops them. Generic, so that each store's calls are
    /// specialised: no existential on the calls' path.
    static func serve<Store: NotificationStore>(
        store: Store, configuration: ServerConfiguration, gateway: GatewayConfiguration?, metrics: ProcessMetrics?,
        exporter: (any Service)? = nil,
        logger: Logger
    ) async throws {
        let health = HealthState()
        let server = RPCServer(
            configuration: configuration,
            router: NotifyService.router(store: store, configuration: configuration, health: health),
            logger: logger
        )
        var services: [ServiceGroupConfiguration.ServiceConfiguration] = [
            // First: it shuts down last, after the server has drained, and
            // commits every append the server handed it.
            .init(service: store)
        ]
        if let exporter {
            // Before the store: it shuts down last and exports every span the others ended.
            services.insert(.init(service: exporter), at: 0)
        }
        if let metrics {
            // Next: /readyz answers 503 while the server and the gateway drain.
            services.append(.init(service: metrics.listener(server: server, readiness: {
                guard health.isServing else { return "draining" }
                return store.isWritable ? nil : "the store cannot write"
            }, logger: logger)))
        }
        services.append(.init(service: server))
        if var gateway {
            gateway.upstream = .local(server)
            // Late, so that on shutdown it stops taking requests before the RPC server drains.
            services.append(.init(service: EmbeddedGateway(rpcServer: server, configuration: gateway, logger: logger)))
        }
        // Last, so that it is told first: readiness turns off as graceful shutdown begins.
        services.append(.init(service: HealthOnShutdown(health: health), successTerminationBehavior: .ignore))
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
            throw error
        }
    }

    /// The RPC server's configuration: each setting's flag, else its
    /// variable, else `ServerConfiguration`'s default.
    static func serverConfiguration(_ settings: Settings, tls: TLSConfiguration) throws -> ServerConfiguration {
        let defaults = Defaults.server
        let authFailures = RateLimit(
            perSecond: try settings.double(.authFailureLimit, default: defaults.authFailureLimit.perSecond),
            burst: try settings.double(.authFailureBurst, default: defaults.authFailureLimit.burst))
        guard authFailures.isValid else {
            throw ValidationError("--auth-failure-limit and --auth-failure-burst must be between 0 and 1e9")
        }
        let idle = try settings.int(.idleTimeout, default: seconds(defaults.idleTimeout))
        let firstCall = try settings.int(.firstCallTimeout, default: seconds(defaults.firstCallTimeout))
        let configuration = ServerConfiguration(
            host: try settings.string(.rpcHost, default: defaults.host),
            port: try settings.int(.rpcPort, default: defaults.port),
            tls: tls,
            maxConcurrentCallsPerConnection: try settings.int(
                .maxConcurrentCalls, default: defaults.maxConcurrentCallsPerConnection),
            maxCallsInFlight: try settings.int(.maxCallsInFlight, default: defaults.maxCallsInFlight),
            maxStreams: try settings.int(.maxStreams, default: defaults.maxStreams),
            maxMessageSize: try settings.int(.maxMessageSize, default: defaults.maxMessageSize),
            idleTimeout: idle > 0 ? .seconds(idle) : nil,
            firstCallTimeout: firstCall > 0 ? .seconds(firstCall) : nil,
            maxConnections: defaults.maxConnections,
            frameLimits: FrameLimits(
                maxMetadataEntries: try settings.int(.maxMetadataEntries, default: defaults.frameLimits.maxMetadataEntries),
                maxMetadataBytes: try settings.int(.maxMetadataBytes, default: defaults.frameLimits.maxMetadataBytes)
            ),
            drainTimeout: .seconds(try settings.int(.drainTimeout, default: seconds(defaults.drainTimeout))),
            handshakeTimeout: .seconds(try settings.int(.tlsHandshakeTimeout, default: seconds(defaults.handshakeTimeout))),
            communityMode: try settings.bool(.followEnabled) ? .follow : defaults.communityMode,
            rateLimits: try rateLimits(settings),
            authFailureLimit: authFailures,
            lookupCacheLifetime: defaults.lookupCacheLifetime
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
        return configuration
    }

    /// The store's configuration: `SQLiteStoreConfiguration`'s defaults with
    /// `--max-feed-entries` (0: no bound), `--retention` (0: for ever),
    /// `--sweep-interval` (0: never), `--sweep-batch`, `--sweep-budget` and
    /// `--fan-out-budget` (microseconds).
    static func storeConfiguration(_ settings: Settings) throws -> SQLiteStoreConfiguration {
        var configuration = Defaults.store
        let feedLimit = try settings.int(.maxFeedEntries, default: Int(configuration.maxFeedEntries ?? 0))
        guard feedLimit >= 0 else { throw ValidationError("--max-feed-entries must be 0 (no bound) or positive") }
        configuration.maxFeedEntries = feedLimit > 0 ? Int64(feedLimit) : nil
        let retention = try settings.int(.retention, default: seconds(configuration.retention))
        let sweepInterval = try settings.int(.sweepInterval, default: seconds(configuration.sweepInterval))
        let sweepBatch = try settings.int(.sweepBatch, default: configuration.sweepBatchSize)
        let sweepBudget = try settings.int(.sweepBudget, default: microseconds(configuration.sweepTransactionBudget))
        let fanOutBudget = try settings.int(.fanOutBudget, default: microseconds(configuration.fanOutTransactionBudget))
        guard retention >= 0, sweepInterval >= 0, sweepBatch > 0, sweepBudget >= 0, fanOutBudget >= 0 else {
            throw ValidationError(
                "--retention, --sweep-interval, --sweep-budget and --fan-out-budget must not be negative, --sweep-batch must be positive")
        }
        configuration.sweepTransactionBudget = .microseconds(sweepBudget)
        configuration.fanOutTransactionBudget = .microseconds(fanOutBudget)
        configuration.retention = retention > 0 ? .seconds(retention) : nil
        configuration.sweepInterval = .seconds(sweepInterval)
        configuration.sweepBatchSize = sweepBatch
        return configuration
    }

    /// The per-role rate limits: each role's setting, else --rate-limit for
    /// all, else `ServerConfiguration`'s defaults; each burst --rate-burst,
    /// else twice the rate.
    static func rateLimits(_ settings: Settings) throws -> RateLimits {
        let all = try settings.double(.rateLimit)
        let burst = try settings.double(.rateBurst)
        func limit(_ setting: Setting, _ fallback: RateLimit) throws -> RateLimit {
            let rate = try settings.double(setting, default: all ?? fallback.perSecond)
            return RateLimit(perSecond: rate, burst: burst ?? rate * 2)
        }
        let defaults = Defaults.server.rateLimits
        let limits = RateLimits(
            admin: try limit(.rateLimitAdmin, defaults.admin),
            app: try limit(.rateLimitApp, defaults.app),
            user: try limit(.rateLimitUser, defaults.user))
        guard limits.admin.isValid, limits.app.isValid, limits.user.isValid,
            (all ?? 0) >= 0, (burst ?? 0) >= 0
        else {
            throw ValidationError("--rate-limit* and --rate-burst must be between 0 and 1e9")
        }
        return limits
    }

    private func tlsConfiguration(_ settings: Settings, dataDir: String) throws -> TLSConfiguration {
        let clientCA = try settings.string(.clientCA)
        if let cert = try settings.string(.tlsCert) {
            guard let key = try settings.string(.tlsKey) else {
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

/// Whole seconds of `duration`, as the flags take them; nil (never) is 0.
func seconds(_ duration: Duration?) -> Int {
    Int(duration?.components.seconds ?? 0)
}

/// Whole microseconds, as `--sweep-budget` and `--fan-out-budget` take them.
func microseconds(_ duration: Duration) -> Int {
    let parts = duration.components
    return Int(parts.seconds) * 1_000_000 + Int(parts.attoseconds / 1_000_000_000_000)
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
