public import Logging
public import NIOCore
public import NIOPosix
public import NotifyCore
import NotifyDomain
import NotifyTLS
import NotifyWire
public import ServiceLifecycle
import Synchronization

/// The RPC server: TLS on TCP, length-prefixed protobuf frames, many calls in
/// flight per connection.
///
/// It is a `Service`: on graceful shutdown it stops accepting, sends every
/// connection a goaway frame, waits up to the drain timeout for calls in
/// flight, then closes what is left and returns.
public final class RPCServer: Service, Sendable {
    private let configuration: ServerConfiguration
    private let router: RPCRouter
    /// Runs the calls of every connection and of in-process callers.
    private let dispatcher: Dispatcher
    private let group: any EventLoopGroup
    private let logger: Logger
    private let bound: ListeningAddress
    /// Runs the calls the dispatcher admits, of every connection and of
    /// in-process callers; its limit is the server's admission control for both.
    private let executor: CallExecutor
    /// Where request ids get their random bits.
    private let random = RandomPool()
    /// True while connections are being refused at `maxConnections`: the
    /// log says so once per stretch, not once per connection.
    private let refusing = Atomic<Bool>(false)
    /// Connections admitted and not yet closed, for the metrics.
    private let connections = Atomic<Int>(0)

    public init(
        configuration: ServerConfiguration,
        router: RPCRouter,
        group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton,
        logger: Logger
    ) {
        self.configuration = configuration
        self.router = router
        self.group = group
        self.logger = logger
        self.bound = ListeningAddress(on: group.next())
        let executor = CallExecutor(limit: configuration.maxCallsInFlight, streamLimit: configuration.maxStreams)
        self.executor = executor
        self.dispatcher = Dispatcher(
            router: router, executor: executor, maxMessageSize: configuration.maxMessageSize, logger: logger,
            tracer: configuration.tracer
        )
    }

    /// The address the server listens on, once it is bound.
    public var localAddress: SocketAddress {
        get async throws { try await bound.value }
    }

    /// Server streams (live feeds) open now, across all connections.
    public var openStreams: Int { executor.openStreams }

    /// Connections open now (admitted, handshakes included).
    public var openConnections: Int { connections.load(ordering: .relaxed) }

    /// Calls admitted and not yet answered, now, across all connections and in-process callers.
    public var callsInFlight: Int { executor.callsInFlight }

    public func run() async throws {
        let tlsContext: TLSContext
        let listener: any Channel
        let executor = self.executor
        let registry = ConnectionRegistry()
        do {
            tlsContext = try TLSContext(configuration: configuration.tls)
            listener = try await bind(tlsContext: tlsContext, executor: executor, registry: registry)
        } catch {
            bound.settle(.failure(error))
            throw error
        }
        if let address = listener.localAddress {
            bound.settle(.success(address))
        }
        logger.info("RPC server listening", metadata: ["notify.rpc.address": "\(listener.localAddress.map { "\($0)" } ?? "?")"])

        let background = router.background
        await withDiscardingTaskGroup { group in
            group.addTask { await executor.run() }
            group.addTask { await background.run() }
            // Graceful shutdown and cancellation (another service of the
            // group failed) both stop the listener; then the drain runs.
            await withGracefulShutdownHandler {
                await withTaskCancellationHandler {
                    try? await listener.closeFuture.get()
                } onCancel: {
                    listener.close(promise: nil)
                }
            } onGracefulShutdown: {
                self.dispatcher.stopLocalCalls()
                listener.close(promise: nil)
            }
            dispatcher.stopLocalCalls()
            dispatcher.localStreams.endAll()
            await drain(registry)
            executor.finish()
            background.finish()
        }
        logger.info("RPC server stopped")
    }

    private func drain(_ registry: ConnectionRegistry) async {
        logger.info("draining connections", metadata: ["notify.connections": "\(registry.count)"])
        registry.beginGracefulShutdown()
        let drainTimeout = configuration.drainTimeout
        await withTaskGroup(of: Void.self) { group in
            group.addTask { await registry.waitUntilEmpty() }
            group.addTask {
                try? await Task.sleep(for: drainTimeout)
            }
            await group.next()
            group.cancelAll()
            registry.forceCloseAll()
        }
        await registry.waitUntilEmpty()
    }

    private func bind(tlsContext: TLSContext, executor: CallExecutor, registry: ConnectionRegistry) async throws -> any Channel {
        let configuration = self.configuration
        let dispatcher = self.dispatcher
        let logger = self.logger
        let random = self.random
        let server = self
        var bootstrap = ServerBootstrap(group: group)
            .serverChannelOption(.backlog, value: 1024)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
            .childChannelOption(.maxMessagesPerRead, value: 16)
        if let size = configuration.socketSendBufferSize {
            bootstrap = bootstrap.childChannelOption(.socketOption(.so_sndbuf), value: SocketOptionValue(size))
        }
        return try await bootstrap
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    var connectionLogger = logger
                    connectionLogger[metadataKey: "notify.peer"] = "\(channel.remoteAddress.map { "\($0)" } ?? "?")"
                    let handler = ServerConnectionHandler(
                        configuration: configuration, dispatcher: dispatcher, random: random,
                        logger: connectionLogger
                    )
                    let admitted = registry.add(
                        channel, handler: NIOLoopBound(handler, eventLoop: channel.eventLoop),
                        limit: configuration.maxConnections
                    )
                    server.noteAdmission(admitted, open: registry.count)
                    guard admitted else {
                        try channel.pipeline.syncOperations.addHandler(RefusedConnectionHandler())
                        return
                    }
                    server.connections.add(1, ordering: .relaxed)
                    channel.closeFuture.whenComplete { _ in server.connections.subtract(1, ordering: .relaxed) }
                    try channel.pipeline.syncOperations.addHandlers([
                        TLSHandler(context: tlsContext, handshakeTimeout: TimeAmount(configuration.handshakeTimeout)),
                        ByteToMessageHandler(FrameDecoder(
                            maximumMessageSize: configuration.maxMessageSize, limits: configuration.frameLimits
                        )),
                        handler,
                    ])
                }
            }
            .bind(host: configuration.host, port: configuration.port)
            .get()
    }

    /// Logs when the server starts refusing connections at `maxConnections`,
    /// and when it takes them again.
    private func noteAdmission(_ admitted: Bool, open: Int) {
        guard refusing.exchange(!admitted, ordering: .relaxed) != !admitted else { return }
        if admitted {
            logger.info("accepting connections again", metadata: ["notify.connections": "\(open)"])
        } else {
            logger.info(
                "connection limit reached: new connections are closed at once",
                metadata: ["notify.connections.limit": "\(configuration.maxConnections)"]
            )
        }
    }
}

extension RPCServer: InProcessEndpoint {
    /// Starts a typed call from an in-process caller, through the same
    /// dispatcher (router, admission limit, error mapping) as a call on a
    /// connection.
    ///
    /// The embedded REST gateway uses it: calling itself over loopback TLS
    /// (encrypting, framing, decrypting and the event-loop hops, both ways)
    /// was its largest avoidable cost. A staged handler starts right here on
    /// the caller's thread (the gateway's event loop) and its answer is built
    /// on `eventLoop`, as on a connection. mTLS does not apply; the HTTP
    /// caller's bearer token does, as in every call.
    public func start<Request: Sendable, Response: Sendable>(
        _ method: MethodDescriptor<Request, Response>, request: Request, metadata: Metadata,
        deadline: ContinuousClock.Instant?, memo: CallerMemo?, on eventLoop: any EventLoop,
        completion: @escaping @Sendable (Result<Response, RPCError>) -> Void
    ) {
        dispatcher.start(
            method, request: request, metadata: metadata, deadline: deadline, memo: memo, on: eventLoop,
            completion: completion
        )
    }

    /// Starts a server stream for an in-process caller (the gateway's SSE),
    /// through the same dispatcher and stream limit as on a connection. Its
    /// messages go over as they are; its reader paces it:
    /// ``ServerStream/send(_:)`` hands each message over at once, and the
    /// reader ends the call when it can take no more.
    public func startStream<Request: Sendable, Response: Sendable>(
        _ method: MethodDescriptor<Request, Response>, request: Request, metadata: Metadata,
        onMessage: @escaping @Sendable (Response) -> Bool,
        completion: @escaping @Sendable (RPCError?) -> Void
    ) -> @Sendable () -> Void {
        dispatcher.startStream(method, request: request, metadata: metadata, onMessage: onMessage, completion: completion)
    }
}
