public import Logging
public import NIOCore
public import NIOPosix
import Hummingbird
import HummingbirdCore
public import ServiceLifecycle
import NotifyTLS
import Synchronization

/// The REST gateway: an HTTP/1.1 server (Hummingbird 2) that turns each
/// documented request into one RPC call to the notify service.
///
/// It is a `Service`: run it in a `ServiceGroup`. On graceful shutdown it
/// stops accepting, finishes the requests in flight, closes its connections
/// to the RPC service, and returns.
public final class GatewayServer: Service, Sendable {
    private let configuration: GatewayConfiguration
    private let group: any EventLoopGroup
    private let logger: Logger
    private let bound: EventLoopPromise<SocketAddress>
    private let boundSettled = Mutex(false)

    /// - Parameters:
    ///   - logger: request logs carry `notify.request.id`; the gateway creates no logger itself.
    public init(
        configuration: GatewayConfiguration, group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton, logger: Logger
    ) {
        self.configuration = configuration
        self.group = group
        self.logger = logger
        self.bound = group.next().makePromise()
    }

    /// The address the gateway listens on, once it is bound.
    ///
    /// - Throws: the error that kept the server from starting (bind, TLS files).
    public var localAddress: SocketAddress {
        get async throws { try await bound.futureResult.get() }
    }

    public func run() async throws {
        let upstream = UpstreamPool(configuration: configuration, group: group, logger: logger)
        do {
            let application = try makeApplication(upstream: upstream)
            try await application.run()
        } catch {
            settle(.failure(error))
            await upstream.close()
            throw error
        }
        settle(.failure(CancellationError()))
        await upstream.close()
    }

    private func settle(_ result: Result<SocketAddress, any Error>) {
        let first = boundSettled.withLock { settled in
            defer { settled = true }
            return !settled
        }
        guard first else { return }
        bound.completeWith(result)
    }

    private func makeApplication(upstream: UpstreamPool) throws -> some ApplicationProtocol {
        let configuration = self.configuration
        let tlsContext = try configuration.tls.map { try TLSContext(configuration: $0) }
        let http1 = HTTP1Channel.Configuration(
            additionalChannelHandlers: [RequestGuardHandler(readTimeout: TimeAmount(configuration.readTimeout))],
            idleTimeout: TimeAmount(configuration.idleTimeout),
            httpDecoderConfiguration: .init(
                maxHeaderFieldSize: configuration.maxHeaderFieldSize, maxHeaderListSize: configuration.maxHeaderListSize,
                maxHeaderFieldCount: configuration.maxHeaderFieldCount
            )
        )
        let server = HTTPServerBuilder { responder in
            let base = HTTP1Channel(responder: responder, configuration: http1)
            if let tlsContext {
                return GatewayTLSChannel(base: base, context: tlsContext)
            }
            return base
        }
        let responder = GatewayResponder(configuration: configuration, upstream: upstream, logger: logger)
        return Application(
            responder: responder,
            server: server,
            configuration: ApplicationConfiguration(
                address: .hostname(configuration.host, port: configuration.port),
                availableConnectionsDelegate: MaximumAvailableConnections(configuration.maxConnections, logger: logger)
            ),
            onServerRunning: { [weak self] channel in
                guard let self, let address = channel.localAddress else { return }
                self.logger.info("gateway listening", metadata: ["notify.http.address": "\(address)"])
                self.settle(.success(address))
            },
            eventLoopGroupProvider: .shared(group),
            logger: logger
        )
    }
}
