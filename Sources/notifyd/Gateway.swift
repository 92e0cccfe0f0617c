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
    @Option(help: "Address the REST gateway listens on. [NOTIFY_HTTP_HOST, default 127.0.0.1]")
    var httpHost: String?

    @Option(help: "TCP port of the REST gateway; 0 picks one. [NOTIFY_HTTP_PORT, default 8080]")
    var httpPort: Int?

    @Option(help: "PEM certificate chain: the gateway serves HTTPS with it. [NOTIFY_HTTP_TLS_CERT]")
    var httpTlsCert: String?

    @Option(help: "PEM private key of --http-tls-cert. [NOTIFY_HTTP_TLS_KEY]")
    var httpTlsKey: String?

    @Option(help: "Largest request body in bytes, as sent and once decoded. [NOTIFY_HTTP_MAX_BODY, default 1048576]")
    var httpMaxBody: Int?

    @Option(help: "Seconds a request body may take to arrive. [NOTIFY_HTTP_READ_TIMEOUT, default 10]")
    var httpReadTimeout: Int?

    @Option(help: "Seconds a request head may take from its first byte (a new connection's first, from the accept). [NOTIFY_HTTP_HEAD_TIMEOUT, default 10]")
    var httpHeadTimeout: Int?

    @Option(help: "Seconds before an idle HTTP connection is closed. [NOTIFY_HTTP_IDLE_TIMEOUT, default 60]")
    var httpIdleTimeout: Int?

    @Option(help: "Most HTTP connections open at once. [NOTIFY_HTTP_MAX_CONNECTIONS, default 10000]")
    var httpMaxConnections: Int?

    @Option(help: "Most HTTP connections open at once from one client address (IPv6: a /64); 0 for no limit. [NOTIFY_HTTP_MAX_CONNECTIONS_PER_ADDRESS, default 1024]")
    var httpMaxConnectionsPerAddress: Int?

    @Option(help: "Deadline of each RPC the gateway makes, in seconds. [NOTIFY_HTTP_RPC_TIMEOUT, default 10]")
    var httpRpcTimeout: Int?

    @Option(help: "Seconds between heartbeat comments on an idle /feed/events stream. [NOTIFY_HTTP_EVENT_HEARTBEAT, default 15]")
    var httpEventHeartbeat: Int?

    /// The gateway configuration for an upstream client, layered over NOTIFY_* variables.
    func configuration(upstream: GatewayConfiguration.Upstream, env: Layered) throws -> GatewayConfiguration {
        var configuration = GatewayConfiguration(
            host: env.string(httpHost, "NOTIFY_HTTP_HOST", default: "127.0.0.1"),
            port: try env.value(httpPort, "NOTIFY_HTTP_PORT", default: 8080),
            upstream: upstream
        )
        if let cert = env.optionalString(httpTlsCert, "NOTIFY_HTTP_TLS_CERT") {
            guard let key = env.optionalString(httpTlsKey, "NOTIFY_HTTP_TLS_KEY") else {
                throw ValidationError("--http-tls-cert needs --http-tls-key")
            }
            configuration.tls = .server(certificateChainFile: cert, privateKeyFile: key, applicationProtocols: [])
        }
        let maxBody = try env.value(httpMaxBody, "NOTIFY_HTTP_MAX_BODY", default: 1024 * 1024)
        guard maxBody >= 1024 else { throw ValidationError("--http-max-body must be at least 1024") }
        configuration.maxBodySize = maxBody
        configuration.maxDecompressedSize = maxBody
        configuration.readTimeout = .seconds(max(1, try env.value(httpReadTimeout, "NOTIFY_HTTP_READ_TIMEOUT", default: 10)))
        configuration.headTimeout = .seconds(max(1, try env.value(httpHeadTimeout, "NOTIFY_HTTP_HEAD_TIMEOUT", default: 10)))
        configuration.idleTimeout = .seconds(max(1, try env.value(httpIdleTimeout, "NOTIFY_HTTP_IDLE_TIMEOUT", default: 60)))
        configuration.maxConnections = max(1, try env.value(httpMaxConnections, "NOTIFY_HTTP_MAX_CONNECTIONS", default: 10_000))
        let perAddress = try env.value(httpMaxConnectionsPerAddress, "NOTIFY_HTTP_MAX_CONNECTIONS_PER_ADDRESS", default: 1024)
        guard perAddress >= 0 else { throw ValidationError("--http-max-connections-per-address must be 0 (no limit) or more") }
        configuration.maxConnectionsPerAddress = perAddress == 0 ? nil : perAddress
        configuration.rpcTimeout = .seconds(max(1, try env.value(httpRpcTimeout, "NOTIFY_HTTP_RPC_TIMEOUT", default: 10)))
        configuration.eventHeartbeat = .seconds(
            max(1, try env.value(httpEventHeartbeat, "NOTIFY_HTTP_EVENT_HEARTBEAT", default: 15)))
        return configuration
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

    @Option(help: "The RPC service, HOST:PORT. [NOTIFY_UPSTREAM, default 127.0.0.1:7443]")
    var upstream: String?

    @Option(help: "PEM CA file that signed the RPC service's certificate. [NOTIFY_CA, default ./data/tls/ca.crt]")
    var ca: String?

    @Option(help: "Name the RPC service's certificate must carry. [NOTIFY_UPSTREAM_SERVER_NAME, default: the upstream host]")
    var serverName: String?

    @Option(help: "PEM client certificate for an RPC service that requires mTLS. [NOTIFY_GATEWAY_CERT]")
    var clientCert: String?

    @Option(help: "PEM key of --client-cert. [NOTIFY_GATEWAY_KEY]")
    var clientKey: String?

    @OptionGroup var http: HTTPOptions

    @Option(help: "trace, debug, info, notice, warning, error or critical. [NOTIFY_LOG_LEVEL, default info]")
    var logLevel: String?

    func run() async throws {
        MallocTuning.apply()
        let env = Layered()
        let logger = bootstrapLogging(env.string(logLevel, "NOTIFY_LOG_LEVEL", default: "info"), label: "notifyd.gateway")
        let target = env.string(upstream, "NOTIFY_UPSTREAM", default: "127.0.0.1:7443")
        guard let colon = target.lastIndex(of: ":"), let port = Int(target[target.index(after: colon)...]), port > 0 else {
            throw ValidationError("--upstream must be HOST:PORT")
        }
        let host = String(target[..<colon]).trimmingCharacters(in: CharacterSet(charactersIn: "[]"))
        let upstream = ClientConfiguration(
            host: host, port: port, trustRootsFile: env.string(ca, "NOTIFY_CA", default: "./data/tls/ca.crt"),
            serverName: env.optionalString(serverName, "NOTIFY_UPSTREAM_SERVER_NAME"),
            certificateChainFile: env.optionalString(clientCert, "NOTIFY_GATEWAY_CERT"),
            privateKeyFile: env.optionalString(clientKey, "NOTIFY_GATEWAY_KEY")
        )
        let gateway = GatewayServer(configuration: try http.configuration(upstream: .remote(upstream), env: env), logger: logger)
        let group = ServiceGroup(configuration: .init(
            services: [.init(service: gateway)], gracefulShutdownSignals: [.sigterm, .sigint], logger: logger
        ))
        try await group.run()
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
func bootstrapLogging(_ level: String, label: String) -> Logger {
    let level = Logger.Level(rawValue: level) ?? .info
    LoggingSystem.bootstrap { label in
        var handler = StreamLogHandler.standardError(label: label)
        handler.logLevel = level
        return handler
    }
    return Logger(label: label)
}
