import HTTPTypes
import NIOCore
import NIOHTTPTypes

/// Guards a connection against slow and oversized requests.
///
/// Two jobs Hummingbird's pipeline leaves open:
/// - A request's body must arrive within the read timeout of its head. A
///   client that trickles bytes would otherwise keep a connection (and an
///   endpoint task) forever, since each byte resets the idle timer. When the
///   timeout fires and every earlier request has been answered, it answers
///   408 itself; otherwise it just closes.
/// - A response carrying `Connection: close` (a 413 or 408) closes the
///   connection once written, so that the rest of an oversized body is never
///   read.
final class RequestGuardHandler: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPRequestPart
    typealias InboundOut = HTTPRequestPart
    typealias OutboundIn = HTTPResponsePart
    typealias OutboundOut = HTTPResponsePart

    private let readTimeout: TimeAmount
    /// When the request being read must be complete; nil between requests.
    private var readDeadline: NIODeadline?
    /// At most one timer per connection. It is not cancelled when a request
    /// ends in time: scheduling and cancelling one per request showed as 3 %
    /// of the gateway's CPU. When it fires it checks ``readDeadline``, and
    /// sets itself again for the request then being read, if any.
    private var timer: Scheduled<Void>?
    private var requestsStarted = 0
    private var responsesFinished = 0
    private var responseStarted = false
    private var closeAfterResponse = false
    private var currentPath: String?
    private var closed = false

    init(readTimeout: TimeAmount) {
        self.readTimeout = readTimeout
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        timer?.cancel()
        timer = nil
    }

    func channelInactive(context: ChannelHandlerContext) {
        timer?.cancel()
        timer = nil
        closed = true
        context.fireChannelInactive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head):
            requestsStarted += 1
            currentPath = head.path
            let deadline = NIODeadline.now() + readTimeout
            readDeadline = deadline
            if timer == nil { scheduleTimer(at: deadline, context: context) }
        case .body:
            break
        case .end:
            readDeadline = nil
        }
        context.fireChannelRead(data)
    }

    private func scheduleTimer(at deadline: NIODeadline, context: ChannelHandlerContext) {
        let loopBound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        timer = context.eventLoop.scheduleTask(deadline: deadline) {
            let (handler, context) = loopBound.value
            handler.timerFired(context: context)
        }
    }

    private func timerFired(context: ChannelHandlerContext) {
        timer = nil
        guard !closed, let readDeadline else { return }
        if readDeadline > .now() {
            // A later request is being read: wait for its own deadline.
            scheduleTimer(at: readDeadline, context: context)
        } else {
            timedOut(context: context)
        }
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        switch unwrapOutboundIn(data) {
        case .head(let head):
            // 1xx heads are not the response itself.
            if head.status.kind != .informational {
                responseStarted = true
                if head.headerFields[.connection]?.lowercased() == "close" { closeAfterResponse = true }
            }
            context.write(data, promise: promise)
        case .body:
            context.write(data, promise: promise)
        case .end:
            responsesFinished += 1
            responseStarted = false
            if closeAfterResponse {
                closeAfterWriting(data, context: context, promise: promise)
            } else {
                context.write(data, promise: promise)
            }
        }
    }

    private func timedOut(context: ChannelHandlerContext) {
        readDeadline = nil
        guard responsesFinished == requestsStarted - 1, !responseStarted else {
            context.close(promise: nil)
            return
        }
        let contract: Contract = if currentPath?.hasPrefix("/api/") == true { .selfCommunity } else { .graph }
        guard let problem = ErrorTable.problem(for: .readTimeout, contract: contract) else {
            context.close(promise: nil)
            return
        }
        let (head, body) = problem.rendered(contract: contract, identity: RequestIdentity(clientValue: nil))
        responseStarted = true
        responsesFinished += 1
        context.write(wrapOutboundOut(.head(head)), promise: nil)
        context.write(wrapOutboundOut(.body(body)), promise: nil)
        closeAfterWriting(wrapOutboundOut(.end(nil)), context: context, promise: nil)
    }

    private func closeAfterWriting(_ data: NIOAny, context: ChannelHandlerContext, promise: EventLoopPromise<Void>?) {
        let written = promise ?? context.eventLoop.makePromise()
        context.writeAndFlush(data, promise: written)
        let loopBound = NIOLoopBound(context, eventLoop: context.eventLoop)
        written.futureResult.whenComplete { _ in
            loopBound.value.close(promise: nil)
        }
    }
}

@available(*, unavailable)
extension RequestGuardHandler: Sendable {}
