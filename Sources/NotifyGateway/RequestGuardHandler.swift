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
            timer?.cancel()
            let loopBound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
            timer = context.eventLoop.scheduleTask(in: readTimeout) {
                let (handler, context) = loopBound.value
                handler.timedOut(context: context)
            }
        case .body:
            break
        case .end:
            timer?.cancel()
            timer = nil
        }
        context.fireChannelRead(data)
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
        timer = nil
        guard !closed else { return }
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
