import NIOCore
import NIOHTTP1
import NotifyCore

/// One HTTP/1.1 connection: reads each request on the event loop, hands it
/// to the responder, and writes the answer as one buffer.
///
/// The responder starts the request's RPC call from this event loop and the
/// answer comes back to it: a request costs no Swift task, the same as a
/// call on the RPC port (docs/ARCHITECTURE.md). Below it is only NIO's
/// request decoder (llhttp); answers are written as bytes, with no response
/// encoder or pipelining handler in between. The request sequence, the body
/// limit and the head, read, idle and answer timeouts are
/// ``GatewayConnectionStateMachine``'s; this handler carries out its actions.
/// ``RequestHeadWatcher``, before the decoder, tells it when bytes arrive.
final class GatewayConnectionHandler: ChannelDuplexHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private let responder: GatewayResponder
    private var state: GatewayConnectionStateMachine
    /// Request parts that arrived while an answer was being made, or while
    /// the channel could not write (a client that does not read its answers):
    /// pipelined requests. While any wait, or the channel is full, no more is
    /// read from the socket, so a client that stops reading makes no more
    /// answers pile up here. (Reading is not stopped for every answer:
    /// turning read interest off and on costs two `epoll_ctl` calls, and a
    /// client that sends one request at a time never needs it.)
    private var waiting = CircularBuffer<Waiting>()
    private var readHeldBack = false
    /// Set while ``process(context:)`` takes waiting parts: answers made
    /// meanwhile are written and flushed together when it ends.
    private var processing = false
    private var flushPending = false
    private var date = HTTPDate()
    /// At most one timer per connection. It is not cancelled when a request
    /// ends in time: when it fires it asks the state machine, which either
    /// acts or names the deadline to wait for next.
    private var timer: Scheduled<Void>?
    private var timerDeadline = NIODeadline.distantFuture
    /// While server-sent events are written: the reader's side of the stream,
    /// and the heartbeat that writes a comment when nothing else was.
    private var events: EventStreamLink?
    private var heartbeat: RepeatedTask?
    private let heartbeatInterval: TimeAmount
    /// Shared by this connection's calls, like an RPC connection's; it
    /// carries the client's address to in-process calls.
    private let tokenMemo: CallerMemo

    init(
        responder: GatewayResponder, maxBodySize: Int, readTimeout: TimeAmount, idleTimeout: TimeAmount, answerTimeout: TimeAmount,
        headTimeout: TimeAmount, heartbeat: TimeAmount, peer: String?
    ) {
        self.responder = responder
        self.tokenMemo = CallerMemo(peer: peer)
        self.heartbeatInterval = heartbeat
        self.state = GatewayConnectionStateMachine(
            now: .now(), maxBodySize: maxBodySize, readTimeout: readTimeout, idleTimeout: idleTimeout,
            answerTimeout: answerTimeout, headTimeout: headTimeout
        )
    }

    func channelActive(context: ChannelHandlerContext) {
        armTimer(context: context)
        context.fireChannelActive()
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        timer?.cancel()
        timer = nil
        stopEvents()
    }

    func channelInactive(context: ChannelHandlerContext) {
        state.closed()
        waiting.removeAll()
        timer?.cancel()
        timer = nil
        stopEvents()
        context.fireChannelInactive()
    }

    /// The client read enough of its answers: the requests that waited go on.
    func channelWritabilityChanged(context: ChannelHandlerContext) {
        if context.channel.isWritable, !state.isStreaming { process(context: context) }
        context.fireChannelWritabilityChanged()
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if event is RequestBytesArrived {
            // The first byte of a head starts its clock.
            if state.awaitsHeadStart {
                state.receivedBytes(now: .now())
                armTimer(context: context)
            }
            return
        }
        guard event is ChannelShouldQuiesceEvent else { return context.fireUserInboundEventTriggered(event) }
        // Graceful shutdown: an idle connection closes now, a busy one after
        // its answer, a stream at once (its reader reconnects elsewhere).
        waiting.removeAll()
        if state.isStreaming {
            return endEvents(FeedEvents.goingAway, context: context)
        }
        if state.finishUp() { context.close(promise: nil) }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        // Bytes after a malformed request: it was dealt with below; closing
        // now would lose the answer still being made for the request before it.
        if case ByteToMessageDecoderError.dataReceivedInErrorState = error { return }
        guard error is HTTPParserError else {
            // TLS and socket errors leave nothing to answer.
            return context.close(promise: nil)
        }
        // A malformed request (or one past the header limits): 400 with no
        // body, then close. Behind requests still to be answered it takes its
        // turn, so that those answers come first.
        if state.isAnswering || processing || !waiting.isEmpty || !context.channel.isWritable {
            waiting.append(.malformed)
        } else {
            refuseMalformed(context: context)
        }
    }

    private func refuseMalformed(context: ChannelHandlerContext) {
        guard state.malformed() else { return }
        let response = GatewayResponse(status: .badRequest, headers: ResponseHeaders(), closesConnection: true)
        write(response, closes: true, omitBody: false, context: context)
    }

    func read(context: ChannelHandlerContext) {
        if !waiting.isEmpty || !context.channel.isWritable {
            readHeldBack = true
        } else {
            context.read()
        }
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let part = unwrapInboundIn(data)
        guard state.isOpen else { return }
        if state.isAnswering || processing || !waiting.isEmpty || !context.channel.isWritable {
            waiting.append(.part(part))
        } else {
            handle(part, context: context)
        }
    }

    private func handle(_ part: HTTPServerRequestPart, context: ChannelHandlerContext) {
        let action: GatewayConnectionStateMachine.ReadAction
        switch part {
        case .head(let head):
            action = state.receivedHead(
                .init(
                    method: head.method, uri: head.uri, headers: RequestHeaders(head.headers), keepAlive: head.isKeepAlive,
                    version: head.version
                ),
                now: .now()
            )
        case .body(let chunk):
            action = state.receivedBody(chunk)
        case .end:
            action = state.receivedEnd(now: .now())
        }
        switch action {
        case .none:
            armTimer(context: context)
        case .sendContinue:
            armTimer(context: context)
            context.writeAndFlush(wrapOutboundOut(ByteBuffer(staticString: "HTTP/1.1 100 Continue\r\n\r\n")), promise: nil)
        case .refuse(let refusal, let path, let origin):
            write(responder.refusal(refusal, path: path, origin: origin), closes: true, omitBody: false, context: context)
        case .reject(let error):
            write(Self.rejection(error), closes: true, omitBody: false, context: context)
        case .answer(var request, let number):
            armTimer(context: context)
            request.memo = tokenMemo
            let loopBound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
            responder.respond(to: request, on: context.eventLoop) { response in
                // Endpoints answer on this loop, except for a body large
                // enough to be parsed off it.
                if loopBound.eventLoop.inEventLoop {
                    let (handler, context) = loopBound.value
                    handler.answer(response, number: number, context: context)
                } else {
                    loopBound.eventLoop.execute {
                        let (handler, context) = loopBound.value
                        handler.answer(response, number: number, context: context)
                    }
                }
            }
        }
    }

    private func answer(_ response: GatewayResponse, number: UInt64, context: ChannelHandlerContext) {
        if let link = response.events {
            switch state.answeredWithStream(number: number) {
            case .drop:
                return link.detach()
            case .start:
                return startEvents(response, link: link, context: context)
            case .startAndEnd:
                startEvents(response, link: link, context: context)
                return endEvents(FeedEvents.goingAway, context: context)
            }
        }
        let action = state.answered(number: number, closes: response.closesConnection, now: .now())
        write(response, as: action, context: context)
    }

    private func write(_ response: GatewayResponse, as action: GatewayConnectionStateMachine.AnswerAction, context: ChannelHandlerContext) {
        guard case .write(let closes, let omitBody) = action else { return }
        write(response, closes: closes, omitBody: omitBody, context: context)
        if !closes { process(context: context) }
    }

    /// Takes the request parts that waited for the answer just written, then
    /// reads again. A loop, not recursion: an answer made at once (a health
    /// check) comes back here through ``answer(_:context:)`` while it runs.
    private func process(context: ChannelHandlerContext) {
        guard !processing else { return }
        processing = true
        while !state.isAnswering, state.isOpen, context.channel.isWritable, let next = waiting.popFirst() {
            switch next {
            case .part(let part): handle(part, context: context)
            case .malformed: refuseMalformed(context: context)
            }
        }
        processing = false
        if flushPending {
            flushPending = false
            context.flush()
        }
        if readHeldBack && !state.isAnswering && waiting.isEmpty && state.isOpen && context.channel.isWritable {
            readHeldBack = false
            context.read()
        }
    }

    /// Writes a whole answer; closes after it when `closes`.
    private func write(_ response: GatewayResponse, closes: Bool, omitBody: Bool, context: ChannelHandlerContext) {
        let bytes = response.rendered(closes: closes, date: date.now(), omitBody: omitBody, allocator: context.channel.allocator)
        guard closes else {
            if processing {
                context.write(wrapOutboundOut(bytes), promise: nil)
                flushPending = true
            } else {
                context.writeAndFlush(wrapOutboundOut(bytes), promise: nil)
            }
            armTimer(context: context)
            return
        }
        let loopBound = NIOLoopBound(context, eventLoop: context.eventLoop)
        context.writeAndFlush(wrapOutboundOut(bytes)).whenComplete { _ in
            loopBound.value.close(promise: nil)
        }
    }

    // MARK: Server-sent events

    /// Writes the head and first events of an endless answer, then hands the
    /// connection to the stream's reader.
    private func startEvents(_ response: GatewayResponse, link: EventStreamLink, context: ChannelHandlerContext) {
        events = link
        timer?.cancel()
        timer = nil
        context.writeAndFlush(
            wrapOutboundOut(response.renderedStreamHead(date: date.now(), allocator: context.channel.allocator)), promise: nil
        )
        let loopBound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        heartbeat = context.eventLoop.scheduleRepeatedTask(initialDelay: heartbeatInterval, delay: heartbeatInterval) { _ in
            let (handler, context) = loopBound.value
            _ = handler.writeEvents(ServerSentEvent.heartbeat, context: context)
        }
        link.attach(ConnectionEventSink(target: loopBound))
    }

    /// One chunk of events; the future completes once it is on the socket.
    fileprivate func writeEvents(_ bytes: [UInt8], context: ChannelHandlerContext) -> EventLoopFuture<Void> {
        guard state.isStreaming, context.channel.isActive else {
            return context.eventLoop.makeFailedFuture(ChannelError.ioOnClosedChannel)
        }
        return context.writeAndFlush(wrapOutboundOut(ServerSentEvent.chunk(bytes, allocator: context.channel.allocator)))
    }

    /// Writes the last events and the end of the body, then closes.
    fileprivate func endEvents(_ bytes: [UInt8], context: ChannelHandlerContext) {
        guard state.isStreaming else { return }
        state.closed()
        stopEvents()
        let loopBound = NIOLoopBound(context, eventLoop: context.eventLoop)
        context.writeAndFlush(wrapOutboundOut(ServerSentEvent.chunk(bytes, allocator: context.channel.allocator, last: true)))
            .whenComplete { _ in loopBound.value.close(promise: nil) }
    }

    private func stopEvents() {
        heartbeat?.cancel()
        heartbeat = nil
        events?.detach()
        events = nil
    }

    /// Makes sure the timer fires by the state's deadline. A timer already set
    /// for that time or earlier stays: it re-arms itself when it fires.
    private func armTimer(context: ChannelHandlerContext) {
        guard context.channel.isActive, let deadline = state.deadline else { return }
        if let timer {
            guard deadline < timerDeadline else { return }
            timer.cancel()
        }
        schedule(at: deadline, context: context)
    }

    private func schedule(at deadline: NIODeadline, context: ChannelHandlerContext) {
        timerDeadline = deadline
        let loopBound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        timer = context.eventLoop.scheduleTask(deadline: deadline) {
            let (handler, context) = loopBound.value
            handler.timerFired(context: context)
        }
    }

    private func timerFired(context: ChannelHandlerContext) {
        timer = nil
        switch state.timerFired(now: .now()) {
        case .none:
            break
        case .wait(let deadline):
            schedule(at: deadline, context: context)
        case .close:
            context.close(promise: nil)
        case .headTimeout:
            let response = GatewayResponse(status: .requestTimeout, headers: ResponseHeaders(), closesConnection: true)
            write(response, closes: true, omitBody: false, context: context)
        case .refuse(let refusal, let path, let origin):
            write(responder.refusal(refusal, path: path, origin: origin), closes: true, omitBody: false, context: context)
        case .answerTimedOut(let path, let clientRequestID, let origin, let action):
            write(responder.answerTimeout(path: path, clientRequestID: clientRequestID, origin: origin), as: action, context: context)
        }
    }
}

extension GatewayConnectionHandler {
    /// The plain answer to a head that breaks HTTP/1.1's rules: no endpoint
    /// ran, so it has neither contract's shape, only a line saying why.
    static func rejection(_ error: GatewayConnectionStateMachine.ProtocolError) -> GatewayResponse {
        let status: HTTPResponseStatus
        let reason: String
        switch error {
        case .badHost:
            (status, reason) = (.badRequest, "an HTTP/1.1 request needs exactly one Host header")
        case .unsupportedTransferCoding:
            (status, reason) = (.notImplemented, "no transfer coding other than chunked is implemented")
        case .unsupportedVersion:
            (status, reason) = (.badRequest, "the request line needs an HTTP/1.x version")
        }
        var headers = ResponseHeaders()
        headers.add("Content-Type", "text/plain; charset=utf-8")
        return GatewayResponse(status: status, headers: headers, body: Array((reason + "\n").utf8), closesConnection: true)
    }

    /// What arrived while an answer was being made, in order.
    private enum Waiting {
        case part(HTTPServerRequestPart)
        /// The parser rejected what came after the parts before it.
        case malformed
    }
}

/// The connection as the stream's reader sees it, from its task.
private struct ConnectionEventSink: EventSink {
    let target: NIOLoopBound<(GatewayConnectionHandler, ChannelHandlerContext)>

    func write(_ bytes: [UInt8]) async throws {
        try await target.eventLoop.flatSubmit {
            let (handler, context) = target.value
            return handler.writeEvents(bytes, context: context)
        }.get()
    }

    func finish(_ bytes: [UInt8]) {
        target.eventLoop.execute {
            let (handler, context) = target.value
            handler.endEvents(bytes, context: context)
        }
    }
}

@available(*, unavailable)
extension GatewayConnectionHandler: Sendable {}
