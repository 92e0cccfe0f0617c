import HTTPTypes
import NIOCore
import NIOHTTPTypes

/// One HTTP/1.1 connection: reads each request on the event loop, hands it
/// to the responder, and writes the answer.
///
/// The responder starts the request's RPC call from this event loop and the
/// answer comes back to it: a request costs no Swift task, the same as a
/// call on the RPC port (docs/ARCHITECTURE.md). The request/answer sequence,
/// the body limit and the read and idle timeouts are
/// ``GatewayConnectionStateMachine``'s; this handler carries out its actions.
final class GatewayConnectionHandler: ChannelInboundHandler {
    typealias InboundIn = HTTPRequestPart
    typealias OutboundOut = HTTPResponsePart

    private let responder: GatewayResponder
    private var state: GatewayConnectionStateMachine
    /// At most one timer per connection. It is not cancelled when a request
    /// ends in time: when it fires it asks the state machine, which either
    /// acts or names the deadline to wait for next.
    private var timer: Scheduled<Void>?
    private var timerDeadline = NIODeadline.distantFuture

    init(responder: GatewayResponder, maxBodySize: Int, readTimeout: TimeAmount, idleTimeout: TimeAmount) {
        self.responder = responder
        self.state = GatewayConnectionStateMachine(
            now: .now(), maxBodySize: maxBodySize, readTimeout: readTimeout, idleTimeout: idleTimeout
        )
    }

    func channelActive(context: ChannelHandlerContext) {
        armTimer(context: context)
        context.fireChannelActive()
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        timer?.cancel()
        timer = nil
    }

    func channelInactive(context: ChannelHandlerContext) {
        state.closed()
        timer?.cancel()
        timer = nil
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        // A malformed request was answered 400 below (NIO's protocol error
        // handler); TLS and socket errors leave nothing to answer.
        context.close(promise: nil)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let action: GatewayConnectionStateMachine.ReadAction
        switch unwrapInboundIn(data) {
        case .head(let head):
            action = state.receivedHead(head, now: .now())
        case .body(let chunk):
            action = state.receivedBody(chunk)
        case .end:
            action = state.receivedEnd()
        }
        switch action {
        case .none:
            armTimer(context: context)
        case .refuse(let refusal, let path):
            write(responder.refusal(refusal, path: path), context: context)
        case .answer(let request):
            let loopBound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
            responder.respond(to: request, on: context.eventLoop) { response in
                // Endpoints answer on this loop, except for a body large
                // enough to be parsed off it.
                if loopBound.eventLoop.inEventLoop {
                    let (handler, context) = loopBound.value
                    handler.answer(response, context: context)
                } else {
                    loopBound.eventLoop.execute {
                        let (handler, context) = loopBound.value
                        handler.answer(response, context: context)
                    }
                }
            }
        }
    }

    private func answer(_ response: GatewayResponse, context: ChannelHandlerContext) {
        var response = response
        switch state.answered(closes: response.closesConnection, now: .now()) {
        case .drop:
            return
        case .write:
            write(response, context: context)
        case .writeAndClose:
            response.headers[.connection] = "close"
            write(response, context: context)
        }
    }

    /// Writes a whole answer with one flush; closes after it when it says so.
    ///
    /// The state has already moved on: writing the end lets NIO deliver the
    /// next pipelined request, which may arrive before this returns.
    private func write(_ response: GatewayResponse, context: ChannelHandlerContext) {
        context.write(wrapOutboundOut(.head(HTTPResponse(status: response.status, headerFields: response.headers))), promise: nil)
        if let body = response.body, body.readableBytes > 0 {
            context.write(wrapOutboundOut(.body(body)), promise: nil)
        }
        guard response.closesConnection else {
            context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
            armTimer(context: context)
            return
        }
        let loopBound = NIOLoopBound(context, eventLoop: context.eventLoop)
        context.writeAndFlush(wrapOutboundOut(.end(nil))).whenComplete { _ in
            loopBound.value.close(promise: nil)
        }
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
        case .refuse(let refusal, let path):
            write(responder.refusal(refusal, path: path), context: context)
        }
    }
}

@available(*, unavailable)
extension GatewayConnectionHandler: Sendable {}
