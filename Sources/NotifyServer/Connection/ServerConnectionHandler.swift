import Logging
import NIOCore
import NotifyCore
import NotifyDomain
import NotifyTLS
import NotifyWire

/// Serves one client connection: admits calls, answers them, keeps the
/// connection's protocol state.
///
/// It sits above TLS and the frame decoder. Protocol decisions (the calls in
/// flight, back-pressure, goaways, the idle and first-call timeouts) belong to
/// ``ServerConnectionStateMachine``; this handler performs them and owns the
/// timers. Responses are
/// encoded into one outbound buffer and flushed once per read burst or event
/// loop tick, so that pipelined calls cost one TLS record and one syscall per
/// burst rather than per call. Answers finished on other threads come back
/// through an ``AnswerInbox``: one hop to the loop per batch, not per call.
///
/// A client that does not read its answers gets no more of them: while the
/// channel is not writable (its send buffer past the high watermark), the
/// frames already read wait unhandled and nothing more is read, so the
/// answers buffered for one connection stay bounded by the watermark plus the
/// calls already in flight. Reading resumes once the buffer drains.
final class ServerConnectionHandler: ChannelDuplexHandler {
    typealias InboundIn = Frame
    typealias OutboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private var state: ServerConnectionStateMachine
    private let dispatcher: Dispatcher
    private let settings: Settings
    private let idleTimeout: TimeAmount?
    private let firstCallTimeout: TimeAmount?
    private let maxMessageSize: Int
    private let logger: Logger

    private var context: ChannelHandlerContext?
    /// Where request ids get their random bits.
    private var random: RandomPool.Generator
    private var outbox = FrameOutbox()
    /// A flush is coming anyway (the end of a read burst or of an inbox drain):
    /// writes need not schedule one.
    private var flushComing = false
    private let inbox = AnswerInbox()
    private let tokenMemo = CallerMemo()
    /// The client's IP address (failed authentications are limited by it), read once.
    private var peer: String?
    /// Hands an answer to this handler's loop, from any thread; set once added.
    private var deliver: (@Sendable (AnswerInbox.Answer) -> Void)?
    /// The deadlines of the calls in flight that have one, with their request ids.
    private var deadlines = CallDeadlines<ServerContext>()
    /// The server streams in flight, by call id: ended here when their call
    /// ends for any reason, told here when the send buffer fills or drains.
    private var streams: [UInt64: (stream: StreamFlow, requestID: String)] = [:]
    private var idleCheck: Scheduled<Void>?
    /// Armed at the handshake, disarmed by the first request: a connection
    /// that never calls is closed after `firstCallTimeout`.
    private var firstCallCheck: Scheduled<Void>?

    init(
        configuration: ServerConfiguration,
        dispatcher: Dispatcher,
        random: RandomPool,
        logger: Logger
    ) {
        self.random = random.generator
        let idleTimeout = configuration.idleTimeout.map { TimeAmount($0) }
        self.state = ServerConnectionStateMachine(
            maxConcurrentCalls: configuration.maxConcurrentCallsPerConnection, idleTimeout: idleTimeout
        )
        self.dispatcher = dispatcher
        self.maxMessageSize = configuration.maxMessageSize
        self.idleTimeout = idleTimeout
        self.firstCallTimeout = configuration.firstCallTimeout.map { TimeAmount($0) }
        self.settings = Settings(
            maxConcurrentCalls: UInt32(clamping: configuration.maxConcurrentCallsPerConnection),
            maxMessageSize: UInt32(clamping: configuration.maxMessageSize),
            idleTimeoutMilliseconds: UInt32(clamping: configuration.idleTimeout.map(Self.milliseconds) ?? 0),
            server: "notifyd"
        )
        self.logger = logger
    }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        _ = state.writabilityChanged(writable: context.channel.isWritable)
        let (inbox, eventLoop) = (self.inbox, context.eventLoop)
        let loopBound = NIOLoopBound(self, eventLoop: eventLoop)
        deliver = { answer in
            if inbox.push(answer) {
                eventLoop.execute { loopBound.value.drainInbox() }
            }
        }
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        self.context = nil
        // `deliver` holds this handler (through its NIOLoopBound): a cycle
        // that kept every connection's handler, inbox and logger alive after
        // it closed. Calls still running hold their own copy and let go when
        // they answer.
        deliver = nil
        idleCheck?.cancel()
        idleCheck = nil
        firstCallCheck?.cancel()
        firstCallCheck = nil
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if let event = event as? TLSEvent, case .handshakeCompleted = event,
           case .sendSettings = state.handshakeCompleted(now: context.eventLoop.now) {
            write(.settings(settings))
            flushNow()
            if let idleTimeout { scheduleIdleCheck(at: context.eventLoop.now + idleTimeout) }
            scheduleFirstCallCheck()
        }
        context.fireUserInboundEventTriggered(event)
    }

    func read(context: ChannelHandlerContext) {
        switch state.readRequested() {
        case .read: context.read()
        case .holdBack: break
        }
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        flushComing = true
        let frame = unwrapInboundIn(data)
        switch state.frameRead(frame, now: context.eventLoop.now) {
        case .handle: handle(frame)
        case .none: break
        }
    }

    private func handle(_ frame: Frame) {
        switch frame {
        case .request(let request):
            receive(request)
        case .ping(let opaque):
            write(.pong(opaque))
        case .pong(let opaque):
            perform(state.receivedPong(opaque: opaque), status: .ok, message: "")
        case .cancel(let callID):
            // The call's answer will be dropped; work already started ends on its own.
            if case .cancel = state.receivedCancel(callID: callID) {
                deadlines.remove(callID: callID)
                streams.removeValue(forKey: callID)?.stream.end()
            }
        case .goAway:
            // The client starts no new calls: the server says which it admitted, answers them, then closes.
            perform(
                state.receivedGoAway(), status: .ok,
                message: "goaway received: the calls up to last_call_id are answered, then the connection closes"
            )
        case .settings, .response, .message:
            connectionError(code: .invalidArgument, "a client may not send this frame type")
        }
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        flushComing = false
        flushNow()
        context.fireChannelReadComplete()
    }

    func channelInactive(context: ChannelHandlerContext) {
        state.closed()
        idleCheck?.cancel()
        firstCallCheck?.cancel()
        // The client is gone: nobody will read the answers of the calls in
        // flight. What they commit stays committed.
        deadlines.cancelAll()
        endStreams()
        context.fireChannelInactive()
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        let writable = context.channel.isWritable
        for open in streams.values { open.stream.setWritable(writable) }
        if case .resumeHeld = state.writabilityChanged(writable: writable) { handleHeld(context: context) }
        context.fireChannelWritabilityChanged()
    }

    /// The client read enough of its answers: handles the frames that waited,
    /// until the channel fills again, then reads again if none is left.
    private func handleHeld(context: ChannelHandlerContext) {
        flushComing = true
        var next = state.nextHeldFrame()
        while case .handle(let frame) = next {
            handle(frame)
            next = state.nextHeldFrame()
        }
        flushComing = false
        flushNow()
        if case .read = next { context.read() }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        switch error {
        case let error as WireError:
            logger.debug("draining the connection after a framing error", metadata: ["error.message": "\(error)"])
            let code: StatusCode = error.code == .messageTooLarge || error.code == .metadataTooLarge
                ? .resourceExhausted : .invalidArgument
            connectionError(code: code, error.message)
        case is ByteToMessageDecoderError where state.stoppedReadingAfterError:
            // The bytes behind a frame that broke the protocol, read in the same burst: already answered.
            break
        case let error as TLSError:
            logger.debug("TLS failure", metadata: ["error.message": "\(error)"])
            context.close(promise: nil)
        default:
            logger.debug("connection error", metadata: ["error.message": "\(error)"])
            context.close(promise: nil)
        }
    }

    // MARK: Calls

    private func receive(_ request: RequestFrame) {
        if let firstCallCheck {
            firstCallCheck.cancel()
            self.firstCallCheck = nil
        }
        switch state.receivedRequest(callID: request.callID) {
        case .dispatch:
            dispatch(request)
        case .rejectTooManyCalls:
            (dispatcher.router.entry(for: request.method)?.observer ?? dispatcher.router.unrouted)
                .counted(status: .resourceExhausted, reason: .tooManyCalls)
            // Retry once one of this connection's calls has answered: a second is a generous bound.
            reject(request, RPCError(
                code: .resourceExhausted,
                message: "more than \(settings.maxConcurrentCalls) calls in flight on this connection",
                reason: .tooManyCalls, metadata: ["retry-after": "1"]
            ))
        case .rejectGoingAway:
            reject(request, RPCError(
                code: .unavailable, message: "the server is shutting down: retry on a new connection",
                reason: .goingAway
            ))
        case .rejectDuplicateCallID:
            connectionError(code: .invalidArgument, "call id \(request.callID) is already in flight")
        case .ignore:
            break
        }
    }

    /// Hands an admitted call to the ``Dispatcher``, which answers it
    /// through this connection's ``FrameTransport`` conformance.
    private func dispatch(_ request: RequestFrame) {
        guard deliver != nil else { return }
        let requestID = request.metadata["x-request-id"] ?? UUIDText.random(using: &random)
        var callContext = ServerContext(
            callID: request.callID, method: request.method, metadata: request.metadata, deadline: nil,
            requestPayload: request.payload, requestID: requestID, logger: logger
        )
        callContext.tokenMemo = tokenMemo
        if peer == nil { peer = context?.remoteAddress?.ipAddress ?? "?" }
        callContext.peer = peer
        dispatcher.dispatch(&callContext, timeoutMilliseconds: request.timeoutMilliseconds, transport: self)
    }

    /// One message of a stream still in flight; dropped when its call has ended.
    private func writeStreamMessage(callID: UInt64, payload: ByteBuffer) {
        guard let open = streams[callID] else { return }
        // Each message carries the call's request id, as its response will.
        var metadata = Metadata()
        metadata.add("x-request-id", open.requestID)
        write(.message(StreamMessageFrame(callID: callID, payload: payload, metadata: metadata)))
        // Flushed now, so that the channel's writability counts it, and
        // confirmed to the stream, whose next message waits for this.
        flushNow()
        open.stream.setWritable(context?.channel.isWritable ?? false)
    }

    /// Ends every stream: the connection is gone.
    private func endStreams() {
        for open in streams.values { open.stream.end() }
        streams = [:]
    }

    /// Answers a call the connection refuses before dispatching it; like every
    /// answer it carries the call's request id.
    private func reject(_ request: RequestFrame, _ error: RPCError) {
        let requestID = request.metadata["x-request-id"] ?? UUIDText.random(using: &random)
        write(.response(CallJob.failure(error, callID: request.callID, requestID: requestID)))
    }

    /// Completes the answers that other threads finished, then flushes once.
    private func drainInbox() {
        flushComing = true
        for answer in inbox.take() {
            switch answer {
            case .ready(let response):
                complete(response)
            case .build(let callContext, let build):
                complete(CallJob.respond(build, context: callContext))
            }
        }
        flushComing = false
        flushNow()
    }

    private func deadlineTimer(at deadline: NIODeadline) -> Scheduled<Void>? {
        guard let context else { return nil }
        let loopBound = NIOLoopBound(self, eventLoop: context.eventLoop)
        return context.eventLoop.scheduleTask(deadline: deadline) { loopBound.value.deadlineTimerFired() }
    }

    /// Answers DEADLINE_EXCEEDED for every call whose deadline passed, and
    /// records it as the call's end; their handlers' later answers are
    /// dropped, and not recorded.
    private func deadlineTimerFired() {
        for call in deadlines.fire(now: .now(), schedule: { deadlineTimer(at: $0) }) {
            complete(CallJob.failure(
                RPCError(code: .deadlineExceeded, message: "the call's deadline passed", reason: .deadlineExceeded),
                context: call.context
            ))
        }
    }

    func complete(_ response: ResponseFrame) {
        deadlines.remove(callID: response.callID)
        streams.removeValue(forKey: response.callID)?.stream.end()
        switch state.callCompleted(callID: response.callID) {
        case .send:
            writeResponse(response)
        case .sendAndClose:
            writeResponse(response)
            flushNow()
            close()
        case .drop:
            break
        case .dropAndClose:
            flushNow()
            close()
        }
    }

    /// Writes a response, or RESOURCE_EXHAUSTED in its place when it would
    /// exceed the negotiated maximum message size.
    private func writeResponse(_ response: ResponseFrame) {
        if let payload = response.payload, payload.readableBytes > maxMessageSize - 1024 {
            write(.response(CallJob.failure(
                RPCError(
                    code: .resourceExhausted, message: "the response exceeds the maximum message size",
                    reason: .responseTooLarge
                ),
                callID: response.callID,
                requestID: response.metadata["x-request-id"] ?? UUIDText.random(using: &random)
            )))
        } else {
            write(.response(response))
        }
    }

    // MARK: Lifecycle

    /// Stops admitting calls and tells the client with a goaway frame and a
    /// ping behind it; closes once the calls in flight are answered and the
    /// ping is (requests that crossed the goaway get `GOING_AWAY` meanwhile).
    func beginGracefulShutdown() {
        perform(state.beginGracefulShutdown(), status: .unavailable, message: "server shutting down")
    }

    /// Closes at once: the drain timeout passed.
    func forceClose() {
        close()
    }

    /// A frame broke the protocol: a goaway with `code` and the highest call
    /// id admitted; nothing more is read, the calls admitted are answered,
    /// then the connection closes.
    private func connectionError(code: StatusCode, _ message: String) {
        perform(state.connectionError(), status: code, message: message)
    }

    /// Does what the state machine decided about a goaway: `status` and
    /// `message` are those of the goaway it may send.
    private func perform(_ action: ServerConnectionStateMachine.GoAwayAction, status: StatusCode, message: String) {
        switch action {
        case .sendGoAwayAndClose(let lastCallID):
            write(.goAway(GoAwayFrame(lastCallID: lastCallID, status: status, message: message)))
            flushNow()
            close()
        case .sendGoAwayAndPing(let lastCallID):
            write(.goAway(GoAwayFrame(lastCallID: lastCallID, status: status, message: message)))
            write(.ping(ServerConnectionStateMachine.goAwayPingOpaque))
            endStreams(status: status, message: message)
            flushNow()
        case .sendGoAway(let lastCallID):
            write(.goAway(GoAwayFrame(lastCallID: lastCallID, status: status, message: message)))
            endStreams(status: status, message: message)
            flushNow()
        case .close:
            flushNow()
            close()
        case .none:
            break
        }
    }

    /// Answers every server stream at once, as the connection drains: a
    /// stream would hold the drain open for as long as its reader stays, and
    /// the reader resumes on another connection from the last sequence it saw.
    private func endStreams(status: StatusCode, message: String) {
        for (callID, open) in streams {
            let error = status == .unavailable
                ? RPCError(code: .unavailable, message: "the server is shutting down: resume on a new connection", reason: .goingAway)
                : RPCError(code: .unavailable, message: "the connection is closing: \(message)", reason: .goingAway)
            complete(CallJob.failure(error, callID: callID, requestID: open.requestID))
        }
    }

    private func close() {
        guard let context, context.channel.isActive else { return }
        context.close(promise: nil)
    }

    private func scheduleIdleCheck(at deadline: NIODeadline) {
        guard let context else { return }
        let loopBound = NIOLoopBound(self, eventLoop: context.eventLoop)
        idleCheck = context.eventLoop.scheduleTask(deadline: deadline) {
            loopBound.value.checkIdle()
        }
    }

    private func scheduleFirstCallCheck() {
        guard let firstCallTimeout, let context else { return }
        let loopBound = NIOLoopBound(self, eventLoop: context.eventLoop)
        firstCallCheck = context.eventLoop.scheduleTask(in: firstCallTimeout) {
            loopBound.value.firstCallTimedOut()
        }
    }

    /// No request came within `firstCallTimeout` of the handshake: a client
    /// that holds a connection it does not use gives it back.
    private func firstCallTimedOut() {
        firstCallCheck = nil
        performTimer(state.firstCallTimerFired(), message: "no call within the first-call timeout")
    }

    private func checkIdle() {
        idleCheck = nil
        guard let context else { return }
        performTimer(state.idleTimerFired(now: context.eventLoop.now), message: "idle timeout")
    }

    private func performTimer(_ action: ServerConnectionStateMachine.TimerAction, message: String) {
        switch action {
        case .sendGoAwayAndClose(let lastCallID):
            write(.goAway(GoAwayFrame(lastCallID: lastCallID, status: .ok, message: message)))
            flushNow()
            close()
        case .recheck(let deadline):
            scheduleIdleCheck(at: deadline)
        case .none:
            break
        }
    }

    // MARK: Output

    private func write(_ frame: Frame) {
        guard let context else { return }
        let first: Bool
        do {
            first = try outbox.append(frame, allocator: context.channel.allocator)
        } catch {
            logger.error("could not encode a frame", metadata: ["error.message": "\(error)"])
            return
        }
        // In a read burst the flush comes with channelReadComplete, in a drain
        // at its end; otherwise once per loop tick, after every completion of that tick.
        if first && !flushComing {
            let loopBound = NIOLoopBound(self, eventLoop: context.eventLoop)
            context.eventLoop.execute { loopBound.value.flushNow() }
        }
    }

    private func flushNow() {
        guard let context, let buffer = outbox.take() else { return }
        context.writeAndFlush(wrapOutboundOut(buffer), promise: nil)
    }

    private static func milliseconds(_ duration: Duration) -> Int64 {
        let (seconds, attoseconds) = duration.components
        return seconds * 1000 + attoseconds / 1_000_000_000_000_000
    }
}

@available(*, unavailable)
extension ServerConnectionHandler: Sendable {}

/// The connection as the ``Dispatcher``'s frame transport: it answers on
/// its loop, times the calls' deadlines, and carries server streams.
extension ServerConnectionHandler: FrameTransport {

    var answers: (@Sendable (AnswerInbox.Answer) -> Void)? { deliver }

    /// Starts the call's deadline, when the client set one.
    func admitted(_ callContext: inout ServerContext, timeoutMilliseconds: UInt64?) {
        if let milliseconds = timeoutMilliseconds, milliseconds > 0 {
            let timeout = Int64(clamping: milliseconds)
            callContext.deadline = .now.advanced(by: .milliseconds(timeout))
            let deadline = NIODeadline.now() + .milliseconds(timeout)
            deadlines.add(callID: callContext.callID, deadline: deadline, context: callContext) {
                deadlineTimer(at: $0)
            }
        }
    }

    /// A stream whose messages go out on this connection, written on its
    /// loop and paced by its writability; its final answer comes back
    /// through the inbox.
    func openStream(_ callContext: ServerContext) -> OpenStream? {
        guard let context, let deliver else { return nil }
        let loopBound = NIOLoopBound(self, eventLoop: context.eventLoop)
        let (eventLoop, callID) = (context.eventLoop, callContext.callID)
        let flow = StreamFlow(writable: context.channel.isWritable, confirmsWrites: true)
        streams[callID] = (flow, callContext.requestID)
        return OpenStream(flow: flow, emit: { payload in
            eventLoop.execute { loopBound.value.writeStreamMessage(callID: callID, payload: payload) }
            return true
        }, finish: { deliver(.ready($0)) })
    }
}
