public import Logging
public import NIOCore
import NIOExtras
import NIOHTTP1
public import NIOPosix
public import ServiceLifecycle
import NotifyCore
import NotifyTLS

/// The REST gateway: an HTTP/1.1 server on SwiftNIO that turns each
/// documented request into one RPC call to the notify service.
///
/// Each connection's pipeline is, from the socket up: NotifyTLS (when HTTPS
/// is configured), ``RequestHeadWatcher`` (the head timeout's clock, an
/// HTTP/0.9 first line), NIO's HTTP/1.1 request decoder (llhttp, with the header
/// limits), and ``GatewayConnectionHandler``, which reads each request on the
/// event loop, starts its RPC call from there, and writes the answer.
///
/// It is a `Service`: run it in a `ServiceGroup`. On graceful shutdown it
/// stops accepting, closes idle connections, answers the requests in flight
/// (with `Connection: close`), closes its connections to the RPC service,
/// and returns.
public final class GatewayServer: Service, Sendable {
    private let configuration: GatewayConfiguration
    private let group: any EventLoopGroup
    private let logger: Logger
    private let bound: ListeningAddress

    /// - Parameters:
    ///   - logger: request logs carry `notify.request.id`; the gateway creates no logger itself.
    public init(
        configuration: GatewayConfiguration, group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton, logger: Logger
    ) {
        self.configuration = configuration
        self.group = group
        self.logger = logger
        self.bound = ListeningAddress(on: group.next())
    }

    /// The address the gateway listens on, once it is bound.
    ///
    /// - Throws: the error that kept the server from starting (bind, TLS files).
    public var localAddress: SocketAddress {
        get async throws { try await bound.value }
    }

    public func run() async throws {
        let upstream = UpstreamPool(configuration: configuration, group: group, logger: logger)
        let quiescing = ServerQuiescingHelper(group: group)
        let tasks = GatewayTasks()
        let listener: any Channel
        do {
            listener = try await bind(upstream: upstream, quiescing: quiescing, tasks: tasks)
        } catch {
            bound.settle(.failure(error))
            await upstream.close()
            throw error
        }
        if let address = listener.localAddress {
            logger.info("gateway listening", metadata: ["notify.http.address": "\(address)"])
            bound.settle(.success(address))
        }
        await withDiscardingTaskGroup { children in
            children.addTask { await tasks.runAll() }
            // Graceful shutdown and cancellation (another service of the group
            // failed) both stop the listener; then the connections drain.
            await withGracefulShutdownHandler {
                await withTaskCancellationHandler {
                    try? await listener.closeFuture.get()
                } onCancel: {
                    listener.close(promise: nil)
                }
            } onGracefulShutdown: {
                quiescing.initiateShutdown(promise: nil)
            }
            let drained = group.next().makePromise(of: Void.self)
            quiescing.initiateShutdown(promise: drained)
            try? await drained.futureResult.get()
            // Every connection is closed, so every feed reader is told to stop.
            tasks.finish()
        }
        bound.settle(.failure(CancellationError()))  // For a listener that had no address.
        await upstream.close()
        logger.info("gateway stopped")
    }

    private func bind(upstream: UpstreamPool, quiescing: ServerQuiescingHelper, tasks: GatewayTasks) async throws -> any Channel {
        let configuration = self.configuration
        let tlsContext = try configuration.tls.map { try TLSContext(configuration: $0) }
        let responder = GatewayResponder(configuration: configuration, upstream: upstream, tasks: tasks, logger: logger)
        let limits = {
            var limits = NIOHTTPDecoderLimitConfiguration()
            limits.maxHeaderFieldSize = configuration.maxHeaderFieldSize
            limits.maxHeaderListSize = configuration.maxHeaderListSize
            limits.maxHeaderFieldCount = configuration.maxHeaderFieldCount
            return limits
        }()
        let addressLimit = configuration.maxConnectionsPerAddress.map { AddressConnectionLimit(limit: $0) }
        var bootstrap = ServerBootstrap(group: group)
            .serverChannelOption(.backlog, value: 1024)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            // One accept per read: the connection limit holds exactly.
            .serverChannelOption(.maxMessagesPerRead, value: 1)
            .serverChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandlers([
                        quiescing.makeServerChannelHandler(channel: channel),
                        ConnectionLimitHandler(limit: configuration.maxConnections),
                    ])
                }
            }
            .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
            .childChannelOption(.maxMessagesPerRead, value: 16)
        if let size = configuration.socketSendBufferSize {
            bootstrap = bootstrap.childChannelOption(.socketOption(.so_sndbuf), value: SocketOptionValue(size))
        }
        return try await bootstrap
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    let pipeline = channel.pipeline.syncOperations
                    if let metrics = configuration.metrics {
                        metrics.connectionOpened()
                        channel.closeFuture.whenComplete { _ in metrics.connectionClosed() }
                    }
                    if let addressLimit {
                        guard let key = addressLimit.admit(channel.remoteAddress) else {
                            return try pipeline.addHandler(AddressRefusalHandler(answers: tlsContext == nil))
                        }
                        channel.closeFuture.whenComplete { _ in addressLimit.release(key) }
                    }
                    if let tlsContext { try pipeline.addHandler(TLSHandler(context: tlsContext)) }
                    try pipeline.addHandler(RequestHeadWatcher())
                    try pipeline.addHandler(ByteToMessageHandler(HTTPRequestDecoder(
                        leftOverBytesStrategy: .dropBytes, informationalResponseStrategy: .drop, limitConfiguration: limits
                    )))
                    try pipeline.addHandler(GatewayConnectionHandler(
                        responder: responder, maxBodySize: configuration.maxBodySize,
                        readTimeout: TimeAmount(configuration.readTimeout), idleTimeout: TimeAmount(configuration.idleTimeout),
                        answerTimeout: TimeAmount(configuration.rpcTimeout), headTimeout: TimeAmount(configuration.headTimeout),
                        heartbeat: TimeAmount(configuration.eventHeartbeat), peer: channel.remoteAddress?.ipAddress
                    ))
                }
            }
            .bind(host: configuration.host, port: configuration.port)
            .get()
    }
}
