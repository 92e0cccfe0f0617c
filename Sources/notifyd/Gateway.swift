import ArgumentParser
import Foundation
import Logging
import NIOCore
import NotifyClient
import NotifyGateway
import NotifyServer
import NotifyTLS
import ServiceLifecycle
import UnixSignals

/// The REST gateway's HTTP options, shared by `serve` (embedded gateway) and `gateway` (alone).
struct HTTPOptions: ParsableArguments {
    @Option(name: Setting.httpHost.name, help: Setting.httpHost.help) var httpHost: String?
    @Option(name: Setting.httpPort.name, help: Setting.httpPort.help) var httpPort: Int?
    @Option(name: Setting.httpTlsCert.name, help: Setting.httpTlsCert.help) var httpTlsCert: String?
    @Option(name: Setting.httpTlsKey.name, help: Setting.httpTlsKey.help) var httpTlsKey: String?
    @Option(name: Setting.httpMaxBody.name, help: Setting.httpMaxBody.help) var httpMaxBody: Int?
    @Option(name: Setting.httpReadTimeout.name, help: Setting.httpReadTimeout.help) var httpReadTimeout: Int?
    @Option(name: Setting.httpHeadTimeout.name, help: Setting.httpHeadTimeout.help) var httpHeadTimeout: Int?
    @Option(name: Setting.httpIdleTimeout.name, help: Setting.httpIdleTimeout.help) var httpIdleTimeout: Int?
    @Option(name: Setting.httpMaxConnections.name, help: Setting.httpMaxConnections.help) var httpMaxConnections: Int?
    @Option(name: Setting.httpMaxConnectionsPerAddress.name, help: Setting.httpMaxConnectionsPerAddress.help)
    var httpMaxConnectionsPerAddress: Int?
    @Option(name: Setting.httpRpcTimeout.name, help: Setting.httpRpcTimeout.help) var httpRpcTimeout: Int?
    @Option(name: Setting.httpEventHeartbeat.name, help: Setting.httpEventHeartbeat.help) var httpEventHeartbeat: Int?
    @Option(name: Setting.httpCorsOrigin.name, help: Setting.httpCorsOrigin.help) var httpCorsOrigin: [String] = []

    /// The options given, keyed by their settings.
    var flags: FlagValues {
        var flags = FlagValues()
        flags.set(.httpHost, httpHost)
        flags.set(.httpPort, httpPort)
        flags.set(.httpTlsCert, httpTlsCert)
        flags.set(.httpTlsKey, httpTlsKey)
        flags.set(.httpMaxBody, httpMaxBody)
        flags.set(.httpReadTimeout, httpReadTimeout)
        flags.set(.httpHeadTimeout, httpHeadTimeout)
        flags.set(.httpIdleTimeout, httpIdleTimeout)
        flags.set(.httpMaxConnections, httpMaxConnections)
        flags.set(.httpMaxConnectionsPerAddress, httpMaxConnectionsPerAddress)
        flags.set(.httpRpcTimeout, httpRpcTimeout)
        flags.set(.httpEventHeartbeat, httpEventHeartbeat)
        flags.set(.httpCorsOrigin, httpCorsOrigin.isEmpty ? nil : httpCorsOrigin.joined(separator: ","))
        return flags
    }

    /// The gateway's configuration for `upstream`: each setting's flag, else
    /// its variable, else `GatewayConfiguration`'s default.
    static func configuration(_ settings: Settings, upstream: GatewayConfiguration.Upstream) throws -> GatewayConfiguration {
        let defaults = Defaults.gateway
        var configuration = GatewayConfiguration(
            host: try settings.string(.httpHost, default: defaults.host),
            port: try settings.int(.httpPort, default: defaults.port),
            upstream: upstream
        )
        if let cert = try settings.string(.httpTlsCert) {
            guard let key = try settings.string(.httpTlsKey) else {
                throw ValidationError("--http-tls-cert needs --http-tls-key")
            }
            configuration.tls = .server(certificateChainFile: cert, privateKeyFile: key, applicationProtocols: [])
        }
        let maxBody = try settings.int(.httpMaxBody, default: defaults.maxBodySize)
        guard maxBody >= 1024 else { throw ValidationError("--http-max-body must be at least 1024") }
        configuration.maxBodySize = maxBody
        configuration.maxDecompressedSize = maxBody
        func duration(_ setting: Setting, _ fallback: Duration) throws -> Duration {
            .seconds(max(1, try settings.int(setting, default: seconds(fallback))))
        }
        configuration.readTimeout = try duration(.httpReadTimeout, defaults.readTimeout)
        configuration.headTimeout = try duration(.httpHeadTimeout, defaults.headTimeout)
        configuration.idleTimeout = try duration(.httpIdleTimeout, defaults.idleTimeout)
        configuration.maxConnections = max(1, try settings.int(.httpMaxConnections, default: defaults.maxConnections))
        let perAddress = try settings.int(.httpMaxConnectionsPerAddress, default: defaults.maxConnectionsPerAddress ?? 0)
        guard perAddress >= 0 else { throw ValidationError("--http-max-connections-per-address must be 0 (no limit) or more") }
        configuration.maxConnectionsPerAddress = perAddress == 0 ? nil : perAddress
        configuration.rpcTimeout = try duration(.httpRpcTimeout, defaults.rpcTimeout)
        configuration.eventHeartbeat = try duration(.httpEventHeartbeat, defaults.eventHeartbeat)
        configuration.corsOrigins = try corsOrigins(try settings.string(.httpCorsOrigin))
        return configuration
    }

    /// The origins of `--http-cors-origin`, comma-separated, each as a
    /// browser sends it: `http` or `https`, a host, a port if any, nothing
    /// after. A browser's Origin is compared with them as text, so a path,
    /// a trailing slash or `*` (never allowed: credentials are headers)
    /// would only ever fail to match; they are refused at start instead.
    static func corsOrigins(_ text: String?) throws -> [String] {
        guard let text else { return [] }
        var origins: [String] = []
        for item in text.split(separator: ",") {
            let origin = item.trimmingCharacters(in: .whitespaces)
            guard !origin.isEmpty else { continue }
            let rest = origin.hasPrefix("https://") ? origin.dropFirst(8) : origin.hasPrefix("http://") ? origin.dropFirst(7) : nil
            guard let rest, !rest.isEmpty, !rest.contains("/"), !rest.contains("*"), !rest.contains("?"), !rest.contains("#"),
                origin == origin.lowercased()
            else {
                throw ValidationError(
                    "--http-cors-origin: \"\(origin)\" is not an origin (scheme://host[:port] in lower case, no path, no *)")
            }
            if !origins.contains(origin) { origins.append(origin) }
        }
        return origins
    }
}

/// `notifyd gateway`: the REST gateway alone, in front of a remote RPC service.
struct Gateway: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run the REST gateway alone, against a remote RPC service.",
        discussion: """
            Serves SelfCommunity's POST /api/v2/notification/notify/ and Graph's POST /me/notifications/ \
            (docs/GATEWAY.md), turning each request into one RPC call to --upstream over TLS, trusting --ca.
            """
    )

    @Option(name: Setting.upstream.name, help: Setting.upstream.help) var upstream: String?
    @Option(name: Setting.ca.name, help: Setting.ca.help) var ca: String?
    @Option(name: Setting.serverName.name, help: Setting.serverName.help) var serverName: String?
    @Option(name: Setting.clientCert.name, help: Setting.clientCert.help) var clientCert: String?
    @Option(name: Setting.clientKey.name, help: Setting.clientKey.help) var clientKey: String?

    @OptionGroup var http: HTTPOptions

    @Option(name: Setting.logLevel.name, help: Setting.logLevel.help) var logLevel: String?
    @Option(name: Setting.logFormat.name, help: Setting.logFormat.help) var logFormat: String?
    @Option(name: Setting.metricsHost.name, help: Setting.metricsHost.help) var metricsHost: String?
    @Option(name: Setting.metricsPort.name, help: Setting.metricsPort.help) var metricsPort: Int?
    @OptionGroup var tracing: TracingOptions

    /// The options given, keyed by their settings.
    var flags: FlagValues {
        var flags = http.flags
        tracing.add(to: &flags)
        flags.set(.upstream, upstream)
        flags.set(.ca, ca)
        flags.set(.serverName, serverName)
        flags.set(.clientCert, clientCert)
        flags.set(.clientKey, clientKey)
        flags.set(.logLevel, logLevel)
        flags.set(.logFormat, logFormat)
        flags.set(.metricsHost, metricsHost)
        flags.set(.metricsPort, metricsPort)
        return flags
    }

    func run() async throws {
        MallocTuning.apply()
        let settings = Settings(flags: flags)
        let logger = try bootstrapLogging(
            try settings.string(.logLevel, default: Defaults.logLevel),
            format: try settings.string(.logFormat, default: "text"), label: "notifyd.gateway")
        var configuration = try HTTPOptions.configuration(settings, upstream: .remote(try Self.upstream(settings)))
        let tracing = try ProcessTracing.make(settings, serviceName: "notifyd-gateway", logger: logger)
        configuration.tracer = tracing.tracer
        let metrics = try ProcessMetrics(settings, rpc: false)
        configuration.metrics = metrics?.gateway
        let gateway = GatewayServer(configuration: configuration, logger: logger)
        // The exporter first: it shuts down last, after the gateway's last span.
        var services: [ServiceGroupConfiguration.ServiceConfiguration] = tracing.service.map { [.init(service: $0)] } ?? []
        let health = HealthState()
        if let metrics {
            // Before the gateway: /readyz answers 503 while it drains.
            services.append(.init(service: metrics.listener(server: nil, readiness: {
                health.isServing ? nil : "draining"
            }, logger: logger)))
        }
        services.append(.init(service: gateway))
        // Last, so that it is told first: readiness turns off as graceful shutdown begins.
        services.append(.init(service: HealthOnShutdown(health: health), successTerminationBehavior: .ignore))
        let group = ServiceGroup(configuration: .init(
            services: services, gracefulShutdownSignals: [.sigterm, .sigint], logger: logger
        ))
        try await group.run()
    }

    /// The RPC service to call, and how to trust it.
    static func upstream(_ settings: Settings) throws -> ClientConfiguration {
        let target = try settings.string(.upstream, default: Defaults.upstream)
        guard let colon = target.lastIndex(of: ":"), let port = Int(target[target.index(after: colon)...]), port > 0 else {
            throw ValidationError("--upstream must be HOST:PORT")
        }
        let host = String(target[..<colon]).trimmingCharacters(in: CharacterSet(charactersIn: "[]"))
        return ClientConfiguration(
            host: host, port: port, trustRootsFile: try settings.string(.ca, default: Defaults.ca),
            serverName: try settings.string(.serverName),
            certificateChainFile: try settings.string(.clientCert),
            privateKeyFile: try settings.string(.clientKey)
        )
    }
}

/// Runs the REST gateway in the `serve` process, calling the RPC server in-process.
///
/// It starts once the RPC server is bound, and it is a service of the same
/// group: on SIGTERM it stops before the RPC server drains.
struct EmbeddedGateway: Service {
    let rpcServer: RPCServer
    let configuration: GatewayConfiguration
    let logger: Logger

    func run() async throws {
        _ = try await rpcServer.localAddress
        try await GatewayServer(configuration: configuration, logger: logger).run()
    }
}

/// Sets up swift-log once for the process, at `level`.
/// Bootstraps swift-log once for the process: `format` is `text`
/// (swift-log's stream handler) or `json` (``JSONLogHandler``).
/// - Throws: `ValidationError` for another format.
func bootstrapLogging(_ level: String, format: String = "text", label: String) throws -> Logger {
    let level = Logger.Level(rawValue: level) ?? .info
    switch format {
    case "text":
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
    case "json":
        LoggingSystem.bootstrap { label in
            var handler = JSONLogHandler(label: label)
            handler.logLevel = level
            return handler
        }
    default:
        throw ValidationError("--log-format must be text or json")
    }
    return Logger(label: label)
}
