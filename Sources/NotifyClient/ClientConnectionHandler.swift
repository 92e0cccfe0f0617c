import NIOCore
import NotifyCore
import NotifyTLS
import NotifyWire

/// One client connection's calls: the frames, deadlines and keepalive timers
/// of ``ClientConnectionStateMachine``, which holds the calls and the
/// protocol's rules (settings, goaway, the concurrency limit); this handler
/// carries out its actions.
///
/// Requests are encoded into one outbound buffer and flushed once per event
/// loop tick, so that many concurrent calls share TLS records and syscalls.
final class ClientConnectionHandler: ChannelInboundHandler {
    typealias InboundIn = Frame
    typealias OutboundOut = ByteBuffer

    /// What the handler keeps of a call to complete it.
    struct Call {
        var promise: EventLoopPromise<ResponseFrame>
        /// Set for a server stream: its messages' handler.
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
    private var state: ClientConnectionStateMachine<Call>
    private var deadlines = CallDeadlines<Void>()
    private var outbox = FrameOutbox()
    private var keepalive: RepeatedTask?

    init(ready: EventLoopPromise<Void>, configuration: ClientConfiguration, onGoAway: @escaping @Sendable () -> Void) {
        self.ready = ready
        self.configuration = configuration
        self.onGoAway = onGoAway
        self.state = ClientConnectionStateMachine(maximumQueuedCalls: configuration.maximumQueuedCalls)
    }

    var isUsable: Bool { state.isAcceptingCalls && context?.channel.isActive == true }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .settings(let settings):
            switch state.settingsReceived(
                maxConcurrentCalls: settings.maxConcurrentCalls, maxMessageSize: settings.maxMessageSize
            ) {
            case .ready:
                startKeepalive(context: context)
                ready.succeed()
                sendWaiting()
            case .limitsChanged:
                sendWaiting()
            case .none:
                break
            }
        case .response(let response):
            switch state.responseReceived(callID: response.callID) {
            case .succeed(let call):
                deadlines.remove(callID: response.callID)
                call.promise.succeed(response)
                sendWaiting()
            case .drop:
                break
            }
        case .ping(let opaque):
            write(.pong(opaque))
        case .pong(let opaque):
            state.pongReceived(opaque: opaque)
        case .goAway(let goAway):
            switch state.goAwayReceived(lastCallID: goAway.lastCallID, status: goAway.status, message: goAway.message) {
            case .goingAway(let failures):
                onGoAway()
                fail(failures)
            case .fail(let failures):
                fail(failures)
            }
        case .message(let message):
            switch state.messageReceived(callID: message.callID) {
            case .deliver(let call):
                guard let onMessage = call.onMessage, let error = onMessage(message.payload) else { return }
                giveUp(state.messageRefused(callID: message.callID, error: error))
            case .drop:
                break
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
        let failures = state.closed()
        ready.fail(ClientConnectionStateMachine<Call>.closedError)
        fail(failures)
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        let failure = RPCError(code: .unavailable, message: "connection failed: \(error)", reason: .connectionFailed)
        ready.fail(failure)
        fail(state.errorCaught())
        context.close(promise: nil)
    }

    // MARK: Calls (on the event loop)

    /// - Parameter onMessage: set for a server stream: its messages' handler.
    func startCall(
        method: String, metadata: Metadata, payload: ByteBuffer, deadline: NIODeadline?,
        promise: EventLoopPromise<ResponseFrame>, onMessage: MessageHandler? = nil
    ) {
        guard context?.channel.isActive == true else {
            promise.fail(ClientConnectionStateMachine<Call>.closingError)
            return
        }
        let request = ClientConnectionStateMachine<Call>.Request(
            method: method, metadata: metadata, payload: payload, deadline: deadline
        )
        switch state.startCall(Call(promise: promise, onMessage: onMessage), request: request, now: .now()) {
        case .send(let send):
            self.send(send)
        case .enqueued:
            break
        case .fail(let call, let error):
            call.promise.fail(error)
        }
    }

    /// Gives up on a call whose task was cancelled, and tells the server.
    func cancel(_ promise: EventLoopPromise<ResponseFrame>) {
        giveUp(state.cancel(where: { $0.promise.futureResult === promise.futureResult }))
    }

    private func send(_ send: ClientConnectionStateMachine<Call>.Send) {
        if let deadline = send.request.deadline {
            deadlines.add(callID: send.callID, deadline: deadline, context: ()) { deadlineTimer(at: $0) }
        }
        write(.request(RequestFrame(
            callID: send.callID, method: send.request.method, metadata: send.request.metadata,
            timeoutMilliseconds: send.timeoutMilliseconds, payload: send.request.payload
        )))
    }

    /// Sends the calls that waited for a slot, while slots are free.
    private func sendWaiting() {
        while true {
            switch state.sendNext(now: .now()) {
            case .send(let send):
                self.send(send)
            case .fail(let call, let error):
                call.promise.fail(error)
            case .none:
                return
            }
        }
    }

    private func giveUp(_ action: ClientConnectionStateMachine<Call>.GiveUpAction) {
        switch action {
        case .failAndCancel(let call, let callID, let error):
            deadlines.remove(callID: callID)
            call.promise.fail(error)
            write(.cancel(callID: callID))
            sendWaiting()
        case .fail(let call, let error):
            call.promise.fail(error)
        case .none:
            break
        }
    }

    private func fail(_ failures: ClientConnectionStateMachine<Call>.Failures) {
        for (callID, call) in failures.pending {
            deadlines.remove(callID: callID)
            call.promise.fail(failures.error)
        }
        for call in failures.waiting { call.promise.fail(failures.error) }
    }

    private func deadlineTimer(at deadline: NIODeadline) -> Scheduled<Void>? {
        guard let context else { return nil }
        let loopBound = NIOLoopBound(self, eventLoop: context.eventLoop)
        return context.eventLoop.scheduleTask(deadline: deadline) { loopBound.value.deadlineTimerFired() }
    }

    /// Fails every call whose deadline passed and tells the server to drop it.
    private func deadlineTimerFired() {
        for call in deadlines.fire(now: .now(), schedule: { deadlineTimer(at: $0) }) {
            giveUp(state.deadlinePassed(callID: call.callID))
        }
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
        switch state.keepaliveTimerFired(opaque: UInt64.random(in: 1...UInt64.max)) {
        case .ping(let opaque):
            write(.ping(opaque))
        case .close:
            context?.close(promise: nil)
        case .none:
            break
        }
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
