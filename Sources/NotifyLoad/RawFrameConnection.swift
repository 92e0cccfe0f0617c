import NIOCore
import NIOPosix
import NotifyCore
import NotifyTLS
import NotifyWire
import Synchronization

/// The RPC path without ``NotifyClient``: frames written straight on one TLS
/// connection (`--rpc-client raw`).
///
/// It exists to measure what the client library costs: the same calls, with
/// no client-side queue, deadlines timer per call or lock per call. It does
/// not reconnect: a run that loses a connection counts its calls as errors.
final class RawFrameConnection: LoadConnection {
    private let configuration: LoadConfiguration
    private let workload: RPCWorkload
    let eventLoop: any EventLoop
    private let tls: Result<TLSContext, LoadConfigurationError>
    private let handler = Mutex<NIOLoopBound<RawFrameHandler>?>(nil)
    /// Calls started, so that `--users` takes its users in turn, from this
    /// connection's own first one.
    private let turns: Atomic<Int>

    init(configuration: LoadConfiguration, workload: RPCWorkload, firstTurn: Int, group: any EventLoopGroup) {
        self.turns = Atomic(firstTurn)
        self.configuration = configuration
        self.workload = workload
        self.eventLoop = group.next()
        do throws(TLSError) {
            tls = .success(try TLSContext(configuration: .client(
                trustRootsFile: configuration.caFile ?? "", serverName: configuration.host, applicationProtocols: ["notify/1"]
            )))
        } catch {
            tls = .failure(LoadConfigurationError("TLS configuration: \(error)"))
        }
    }

    func prepare() async throws(LoadConfigurationError) {
        let context = try tls.get()
        do {
            let channel = try await ClientBootstrap(group: eventLoop)
                .channelOption(.socketOption(.tcp_nodelay), value: 1)
                .connectTimeout(TimeAmount(configuration.timeoutDuration))
                .channelInitializer { channel in
                    channel.eventLoop.makeCompletedFuture {
                        try channel.pipeline.syncOperations.addHandlers([
                            TLSHandler(context: context),
                            ByteToMessageHandler(FrameDecoder(maximumMessageSize: 64 * 1024 * 1024)),
                            RawFrameHandler(ready: channel.eventLoop.makePromise()),
                        ])
                    }
                }
                .connect(host: configuration.host, port: configuration.port)
                .get()
            let ready = try await channel.eventLoop.submit {
                let handler = try channel.pipeline.syncOperations.handler(type: RawFrameHandler.self)
                return (NIOLoopBound(handler, eventLoop: channel.eventLoop), handler.ready.futureResult)
            }.get()
            try await ready.1.get()
            handler.withLock { $0 = ready.0 }
        } catch {
            throw LoadConfigurationError("cannot reach the RPC server: \(error)")
        }
    }

    func start(_ operation: LoadOperation, completion: @escaping @Sendable (Outcome) -> Void) {
        guard let call = workload.call(operation, turn: turns.add(1, ordering: .relaxed).oldValue),
            let handler = handler.withLock({ $0 })
        else {
            return completion(Outcome(status: "NOT_CONNECTED", isSuccess: false))
        }
        let promise = handler.eventLoop.makePromise(of: ResponseFrame.self)
        if handler.eventLoop.inEventLoop {
            handler.value.send(call, promise: promise)
        } else {
            handler.eventLoop.execute { handler.value.send(call, promise: promise) }
        }
        promise.futureResult.whenComplete { result in
            completion(Self.outcome(result))
        }
    }

    private static func outcome(_ result: Result<ResponseFrame, any Error>) -> Outcome {
        switch result {
        case .success(let response) where response.status == .ok:
            return .ok
        case .success(let response):
            return Outcome(status: response.reason.map { "\(response.status.name)/\($0)" } ?? response.status.name, isSuccess: false)
        case .failure:
            return Outcome(status: "UNAVAILABLE/CONNECTION_CLOSED", isSuccess: false)
        }
    }

    func close() async {
        guard let handler = handler.withLock({ $0 }) else { return }
        try? await handler.eventLoop.submit { handler.value.close() }.get()
    }
}

/// Call ids, the answers' promises, and one flush per event-loop tick.
final class RawFrameHandler: ChannelInboundHandler {
    typealias InboundIn = Frame
    typealias OutboundOut = ByteBuffer

    let ready: EventLoopPromise<Void>
    private var context: ChannelHandlerContext?
    private var pending: [UInt64: EventLoopPromise<ResponseFrame>] = [:]
    private var nextCallID: UInt64 = 1
    private var outbound: ByteBuffer?

    init(ready: EventLoopPromise<Void>) {
        self.ready = ready
    }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
    }

    func send(_ call: RPCWorkload.Call, promise: EventLoopPromise<ResponseFrame>) {
        guard let context, context.channel.isActive else {
            promise.fail(ChannelError.ioOnClosedChannel)
            return
        }
        let id = nextCallID
        nextCallID += 1
        let frame = Frame.request(RequestFrame(callID: id, method: call.method, metadata: call.metadata, payload: call.payload))
        let first = outbound == nil
        var buffer = outbound ?? context.channel.allocator.buffer(capacity: 512)
        do {
            try frame.encode(into: &buffer)
        } catch {
            promise.fail(error)
            return
        }
        outbound = buffer
        pending[id] = promise
        if first {
            let loopBound = NIOLoopBound(self, eventLoop: context.eventLoop)
            context.eventLoop.execute { loopBound.value.flush() }
        }
    }

    func close() {
        context?.close(promise: nil)
    }

    private func flush() {
        guard let context, let buffer = outbound else { return }
        outbound = nil
        context.writeAndFlush(wrapOutboundOut(buffer), promise: nil)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .settings:
            ready.succeed()
        case .response(let response):
            pending.removeValue(forKey: response.callID)?.succeed(response)
        case .ping(let opaque):
            var buffer = context.channel.allocator.buffer(capacity: 16)
            if (try? Frame.pong(opaque).encode(into: &buffer)) != nil {
                context.writeAndFlush(wrapOutboundOut(buffer), promise: nil)
            }
        case .goAway, .pong, .message, .request, .cancel:
            break
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        ready.fail(ChannelError.ioOnClosedChannel)
        for promise in pending.values { promise.fail(ChannelError.ioOnClosedChannel) }
        pending.removeAll()
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        ready.fail(error)
        context.close(promise: nil)
    }
}

@available(*, unavailable)
extension RawFrameHandler: Sendable {}
