import NIOCore
import NotifyCore
import NotifyTLS
import NotifyWire

/// One client connection's calls: call ids, the server's concurrency limit,
/// deadlines, keepalive and goaway.
///
/// Requests are encoded into one outbound buffer and flushed once per event
/// loop tick, so that many concurrent calls share TLS records and syscalls.
final class ClientConnectionHandler: ChannelInboundHandler {
    typealias InboundIn = Frame
    typealias OutboundOut = ByteBuffer


    private struct Queued {
        var method: String
        var metadata: Metadata
        var payload: ByteBuffer
        var deadline: NIODeadline?
        var promise: EventLoopPromise<ResponseFrame>
        var onMessage: MessageHandler?
    }

    /// Takes one message of a server stream, on the loop, in order. An error
    /// ends the call with it, and the server is told to stop.
    typealias MessageHandler = @Sendable (ByteBuffer) -> RPCError?

    /// Succeeds when the server's settings frame arrives.
    let ready: EventLoopPromise<Void>
    /// Called on the loop when the server sends goaway: the owner stops using this connection.
    private let onGoAway: @Sendable () -> Void
    private let configuration: ClientConfiguration

    private var context: ChannelHandlerContext?
    private var pending: [UInt64: EventLoopPromise<ResponseFrame>] = [:]
    /// The calls in flight that are server streams.
    private var messageHandlers: [UInt64: MessageHandler] = [:]
    private var deadlines = CallDeadlines<Void>()
    private var queue = CircularBuffer<Queued>()
    private var nextCallID: UInt64 = 1
    private var maxConcurrentCalls = 100
    private var maxMessageSize = 4 * 1024 * 1024
    private var goingAway = false
    private var outbox = FrameOutbox()
    private var keepalive: RepeatedTask?
    private var awaitingPong: UInt64?

    init(ready: EventLoopPromise<Void>, configuration: ClientConfiguration, onGoAway: @escaping @Sendable () -> Void) {
        self.ready = ready
        self.configuration = configuration
        self.onGoAway = onGoAway
    }

    var isUsable: Bool { !goingAway && context?.channel.isActive == true }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .settings(let settings):
            maxConcurrentCalls = max(1, Int(settings.maxConcurrentCalls))
            if settings.maxMessageSize > 0 { maxMessageSize = Int(settings.maxMessageSize) }
            startKeepalive(context: context)
            ready.succeed()
            drainQueue()
        case .response(let response):
            if let promise = pending.removeValue(forKey: response.callID) {
                deadlines.remove(callID: response.callID)
                messageHandlers[response.callID] = nil
                promise.succeed(response)
                drainQueue()
            }
        case .ping(let opaque):
            write(.pong(opaque))
        case .pong(let opaque):
            if awaitingPong == opaque { awaitingPong = nil }
        case .goAway(let goAway):
            goingAway = true
            onGoAway()
            // Calls the server never saw are safe to retry elsewhere.
            let unseen = pending.keys.filter { $0 > goAway.lastCallID && goAway.lastCallID > 0 }
            for id in unseen {
                fail(id, RPCError(code: .unavailable, message: "the server is going away: \(goAway.message)", reason: .goingAway))
            }
            failQueue(RPCError(code: .unavailable, message: "the server is going away: \(goAway.message)", reason: .goingAway))
            if goAway.status != .unavailable && goAway.status != .ok {
                // A protocol error: the server closes; say why to every caller.
                for id in Array(pending.keys) {
                    fail(id, RPCError(code: goAway.status, message: goAway.message, reason: .connectionError))
                }
            }
        case .message(let message):
            if let onMessage = messageHandlers[message.callID], let error = onMessage(message.payload) {
                fail(message.callID, error)
                write(.cancel(callID: message.callID))
            }
        case .cancel, .request:
            break
        }
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        flushNow()
        context.fireChannelReadComplete()
    }

    func channelInactive(context: ChannelHandlerContext) {
        keepalive?.cancel()
        deadlines.cancelAll()
        let error = RPCError(code: .unavailable, message: "the connection to the server closed", reason: .connectionClosed)
        ready.fail(error)
        for id in Array(pending.keys) { fail(id, error) }
        failQueue(error)
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        let failure = RPCError(code: .unavailable, message: "connection failed: \(error)", reason: .connectionFailed)
        ready.fail(failure)
        context.close(promise: nil)
    }

    // MARK: Calls (on the event loop)

    /// - Parameter onMessage: set for a server stream: its messages' handler.
    func startCall(
        method: String, metadata: Metadata, payload: ByteBuffer, deadline: NIODeadline?,
        promise: EventLoopPromise<ResponseFrame>, onMessage: MessageHandler? = nil
    ) {
        guard isUsable else {
            promise.fail(RPCError(code: .unavailable, message: "the connection is closing", reason: .connectionClosed))
            return
        }
        if payload.readableBytes > maxMessageSize - 1024 {
            promise.fail(RPCError(
                code: .resourceExhausted, message: "the request exceeds the server's maximum message size of \(maxMessageSize) bytes",
                reason: .requestTooLarge
            ))
            return
        }
        let call = Queued(
            method: method, metadata: metadata, payload: payload, deadline: deadline, promise: promise, onMessage: onMessage
        )
        if pending.count < maxConcurrentCalls && queue.isEmpty {
            send(call)
        } else if queue.count < configuration.maximumQueuedCalls {
            queue.append(call)
        } else {
            promise.fail(RPCError(code: .resourceExhausted, message: "too many calls queued on the client", reason: .clientQueueFull))
        }
    }

    /// Gives up on a call whose task was cancelled, and tells the server.
    func cancel(_ promise: EventLoopPromise<ResponseFrame>) {
        if let index = queue.firstIndex(where: { $0.promise.futureResult === promise.futureResult }) {
            queue.remove(at: index)
            promise.fail(RPCError(code: .cancelled, message: "the call was cancelled", reason: .cancelled))
            return
        }
        guard let id = pending.first(where: { $0.value.futureResult === promise.futureResult })?.key else { return }
        fail(id, RPCError(code: .cancelled, message: "the call was cancelled", reason: .cancelled))
        write(.cancel(callID: id))
    }

    private func send(_ call: Queued) {
        let id = nextCallID
        nextCallID += 1
        var timeoutMilliseconds: UInt64?
        if let deadline = call.deadline {
            let remaining = deadline - .now()
            guard remaining > .zero else {
                call.promise.fail(RPCError(code: .deadlineExceeded, message: "the call's deadline passed", reason: .deadlineExceeded))
                return
            }
            timeoutMilliseconds = UInt64(max(1, remaining.nanoseconds / 1_000_000))
            deadlines.add(callID: id, deadline: deadline, context: ()) { deadlineTimer(at: $0) }
        }
        pending[id] = call.promise
        if let onMessage = call.onMessage { messageHandlers[id] = onMessage }
        write(.request(RequestFrame(
            callID: id, method: call.method, metadata: call.metadata, timeoutMilliseconds: timeoutMilliseconds,
            payload: call.payload
        )))
    }

    private func deadlineTimer(at deadline: NIODeadline) -> Scheduled<Void>? {
        guard let context else { return nil }
        let loopBound = NIOLoopBound(self, eventLoop: context.eventLoop)
        return context.eventLoop.scheduleTask(deadline: deadline) { loopBound.value.deadlineTimerFired() }
    }

    /// Fails every call whose deadline passed and tells the server to drop it.
    private func deadlineTimerFired() {
        for call in deadlines.fire(now: .now(), schedule: { deadlineTimer(at: $0) }) {
            fail(call.callID, RPCError(code: .deadlineExceeded, message: "the call's deadline passed", reason: .deadlineExceeded))
            write(.cancel(callID: call.callID))
        }
    }

    private func fail(_ id: UInt64, _ error: RPCError) {
        guard let promise = pending.removeValue(forKey: id) else { return }
        deadlines.remove(callID: id)
        messageHandlers[id] = nil
        promise.fail(error)
        drainQueue()
    }

    private func drainQueue() {
        while pending.count < maxConcurrentCalls, !goingAway, let call = queue.popFirst() {
            send(call)
        }
    }

    private func failQueue(_ error: RPCError) {
        while let call = queue.popFirst() { call.promise.fail(error) }
    }

    // MARK: Keepalive

    private func startKeepalive(context: ChannelHandlerContext) {
        guard let interval = configuration.keepaliveInterval, keepalive == nil else { return }
        let loopBound = NIOLoopBound(self, eventLoop: context.eventLoop)
        let amount = TimeAmount(interval)
        keepalive = context.eventLoop.scheduleRepeatedTask(initialDelay: amount, delay: amount) { _ in
            loopBound.value.sendPing()
        }
    }

    private func sendPing() {
        if awaitingPong != nil {
            // The last ping went unanswered for a whole interval: the peer is gone.
            context?.close(promise: nil)
            return
        }
        let opaque = UInt64.random(in: 1...UInt64.max)
        awaitingPong = opaque
        write(.ping(opaque))
    }

    // MARK: Output

    private func write(_ frame: Frame) {
        guard let context else { return }
        guard let first = try? outbox.append(frame, allocator: context.channel.allocator) else { return }
        if first {
            let loopBound = NIOLoopBound(self, eventLoop: context.eventLoop)
            context.eventLoop.execute { loopBound.value.flushNow() }
        }
    }

    private func flushNow() {
        guard let context, let buffer = outbox.take() else { return }
        context.writeAndFlush(wrapOutboundOut(buffer), promise: nil)
    }
}

@available(*, unavailable)
extension ClientConnectionHandler: Sendable {}
