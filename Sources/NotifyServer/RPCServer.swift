public import Logging
public import NIOCore
public import NIOPosix
public import NotifyCore
public import NotifyCrypto
import NotifyDomain
import NotifyTLS
public import NotifyWire
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
    private let group: any EventLoopGroup
    private let logger: Logger
    private let bound: EventLoopPromise<SocketAddress>
    /// Runs the calls of every connection and of in-process callers; its
    /// limit is the server's admission control for both.
    private let executor: CallExecutor
    /// False once graceful shutdown has begun: in-process calls are then
    /// refused like calls on a connection that got a goaway.
    private let acceptsLocalCalls = Atomic<Bool>(true)
    /// Where request ids get their random bits.
    private let random = SecureRandom.Source()
    /// The in-process callers' streams, which no connection's drain ends.
    private let localStreams = LocalStreams()
    /// True while connections are being refused at `maxConnections`: the
    /// log says so once per stretch, not once per connection.
    private let refusing = Atomic<Bool>(false)

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
        self.bound = group.next().makePromise()
        self.executor = CallExecutor(limit: configuration.maxCallsInFlight, streamLimit: configuration.maxStreams)
    }

    /// The address the server listens on, once it is bound.
    public var localAddress: SocketAddress {
        get async throws { try await bound.futureResult.get() }
    }

    /// Server streams (live feeds) open now, across all connections.
    public var openStreams: Int { executor.openStreams }

    public func run() async throws {
        let tlsContext: TLSContext
        let listener: any Channel
        let executor = self.executor
        let registry = ConnectionRegistry()
        do {
            tlsContext = try TLSContext(configuration: configuration.tls)
            listener = try await bind(tlsContext: tlsContext, executor: executor, registry: registry)
        } catch {
            bound.fail(error)
            throw error
        }
        if let address = listener.localAddress {
            bound.succeed(address)
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
                self.acceptsLocalCalls.store(false, ordering: .relaxed)
                listener.close(promise: nil)
            }
            acceptsLocalCalls.store(false, ordering: .relaxed)
            localStreams.endAll()
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
        let router = self.router
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
                        configuration: configuration, router: router, executor: executor, random: random,
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

extension RPCServer: LocalRPCEndpoint {
    /// Starts a call from an in-process caller, through the same router,
    /// admission limit and error mapping as a call on a connection.
    ///
    /// The embedded REST gateway uses it: calling itself over loopback TLS
    /// (encrypting, framing, decrypting and the event-loop hops, both ways)
    /// was its largest avoidable cost. A staged handler starts right here on
    /// the caller's thread (the gateway's event loop) and its answer is built
    /// on `eventLoop`, as on a connection. mTLS does not apply; the HTTP
    /// caller's bearer token does, as in every call.
    public func start(
        method: String, metadata: Metadata, request: LocalRequest, deadline: ContinuousClock.Instant?,
        memo: TokenMemo?, on eventLoop: any EventLoop, completion: @escaping @Sendable (LocalResponse) -> Void
    ) {
        var random = random.generator
        var call = ServerContext(
            callID: 0, method: method, metadata: metadata, deadline: deadline, request: request,
            requestID: metadata["x-request-id"] ?? UUIDText.random(using: &random), logger: logger
        )
        call.tokenMemo = memo
        call.peer = memo?.peer
        let context = call
        let executor = self.executor
        guard acceptsLocalCalls.load(ordering: .relaxed) else {
            return eventLoop.execute { completion(.frame(CallJob.goingAway(context))) }
        }
        if let error = CallMetadata.violation(in: metadata) {
            return eventLoop.execute { completion(.frame(CallJob.failure(error, context: context))) }
        }
        let handler: RPCRouter.AsyncHandler
        switch CallJob.route(router.handler(for: method), context: context) {
        case .answered(let answer):
            return eventLoop.execute { completion(.frame(answer)) }
        case .task(let async):
            guard executor.admit() else { return eventLoop.execute { completion(.frame(CallJob.overloaded(context))) } }
            handler = async
        case .stream:
            return eventLoop.execute {
                completion(.frame(CallJob.failure(
                    RPCError(
                        code: .unimplemented, message: "server streams are served on connections only",
                        reason: .streamingUnsupported
                    ),
                    context: context
                )))
            }
        case .staged(let start):
            guard executor.admit() else { return eventLoop.execute { completion(.frame(CallJob.overloaded(context))) } }
            let staged = CallCompletion { answer in
                executor.release()
                eventLoop.execute { completion(CallJob.respondLocally(answer, context: context)) }
            }
            guard case .needsTask(let async) = start(context, staged) else { return }
            handler = async
        }
        // A child task of the server's, like a connection's call: the drain awaits it.
        let job = CallJob(context: context, handler: handler) { answer in
            eventLoop.execute { completion(.frame(answer)) }
        }
        if !executor.submit(job) {
            executor.release()
            eventLoop.execute { completion(.frame(CallJob.goingAway(context))) }
        }
    }

    /// Starts a server stream for an in-process caller (the gateway's SSE),
    /// through the same router and stream limit as on a connection. Its
    /// reader paces it: ``ServerStream/send(_:)`` hands each message over
    /// at once, and the reader ends the call when it can take no more.
    public func startStream(
        method: String, metadata: Metadata, payload: ByteBuffer,
        onMessage: @escaping @Sendable (ByteBuffer) -> Bool,
        completion: @escaping @Sendable (ResponseFrame) -> Void
    ) -> @Sendable () -> Void {
        var random = random.generator
        let context = ServerContext(
            callID: 0, method: method, metadata: metadata, deadline: nil, requestPayload: payload,
            requestID: metadata["x-request-id"] ?? UUIDText.random(using: &random), logger: logger
        )
        guard acceptsLocalCalls.load(ordering: .relaxed) else {
            completion(CallJob.goingAway(context))
            return {}
        }
        if let error = CallMetadata.violation(in: metadata) {
            completion(CallJob.failure(error, context: context))
            return {}
        }
        let handler: RPCRouter.StreamHandler
        switch CallJob.route(router.handler(for: method), context: context) {
        case .answered(let answer):
            completion(answer)
            return {}
        case .task, .staged:
            completion(CallJob.failure(
                RPCError(code: .unimplemented, message: "\(method) is not a server stream", reason: .notAStream),
                context: context
            ))
            return {}
        case .stream(let stream):
            handler = stream
        }
        guard executor.admitStream() else {
            completion(CallJob.overloaded(context))
            return {}
        }
        let stream = ServerStream(maxMessageSize: configuration.maxMessageSize, writable: true, emit: onMessage)
        guard let id = localStreams.add(stream) else {
            executor.releaseStream()
            completion(CallJob.goingAway(context))
            return {}
        }
        let submitted = executor.submitStream { [self] in
            let answer = await CallJob.respond(handler, stream: stream, context: context)
            localStreams.remove(id)
            // Ended by the drain: the reader resumes elsewhere.
            completion(acceptsLocalCalls.load(ordering: .relaxed) ? answer : CallJob.goingAway(context))
        }
        guard submitted else {
            localStreams.remove(id)
            executor.releaseStream()
            completion(CallJob.goingAway(context))
            return {}
        }
        return { stream.end() }
    }
}

/// The streams of in-process callers, so that shutdown can end them: the
/// executor's group waits for every stream before the server returns.
private final class LocalStreams: Sendable {
    private struct State {
        var next: UInt64 = 0
        var open: [UInt64: ServerStream] = [:]
        var closed = false
    }

    private let state = Mutex(State())

    /// - Returns: the stream's id; nil once shutdown has ended them all.
    func add(_ stream: ServerStream) -> UInt64? {
        state.withLock { state in
            guard !state.closed else { return nil }
            state.next += 1
            state.open[state.next] = stream
            return state.next
        }
    }

    func remove(_ id: UInt64) {
        _ = state.withLock { $0.open.removeValue(forKey: id) }
    }

    /// Ends every stream and admits no more.
    func endAll() {
        let open = state.withLock { state in
            state.closed = true
            return Array(state.open.values)
        }
        for stream in open { stream.end() }
    }
}
