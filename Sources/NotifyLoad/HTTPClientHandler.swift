import NIOCore
import NIOHTTP1

/// The client end of one HTTP/1.1 keep-alive connection.
///
/// Requests are written as they come and answers matched first in, first
/// out, as HTTP/1.1 orders them; with one request at a time (the default)
/// this is plain keep-alive, with more it is pipelining. Response bodies are
/// read and dropped, so memory stays bounded whatever the server sends.
/// A request past its deadline fails every request behind it and closes the
/// connection: HTTP/1.1 has no way to skip one answer.
final class HTTPClientHandler: ChannelInboundHandler {
    typealias InboundIn = HTTPClientResponsePart
    typealias OutboundOut = HTTPClientRequestPart

    private struct Pending {
        var promise: EventLoopPromise<HTTPResponseStatus>
        var timeout: Scheduled<Void>?
    }

    private var context: ChannelHandlerContext?
    private var pending = CircularBuffer<Pending>()
    private var status: HTTPResponseStatus?

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        self.context = nil
    }

    /// Sends one request; `promise` gets the answer's status.
    func send(head: HTTPRequestHead, body: ByteBuffer, deadline: NIODeadline, promise: EventLoopPromise<HTTPResponseStatus>) {
        guard let context, context.channel.isActive else {
            promise.fail(HTTPLoadError.connectionClosed)
            return
        }
        let loopBound = NIOLoopBound(self, eventLoop: context.eventLoop)
        let timeout = context.eventLoop.scheduleTask(deadline: deadline) {
            loopBound.value.failAll(HTTPLoadError.timedOut, close: true)
        }
        pending.append(Pending(promise: promise, timeout: timeout))
        context.write(wrapOutboundOut(.head(head)), promise: nil)
        if body.readableBytes > 0 {
            context.write(wrapOutboundOut(.body(.byteBuffer(body))), promise: nil)
        }
        context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head):
            // 1xx answers precede the real one; NIO's decoder passes them on.
            if head.status.code >= 200 { status = head.status }
        case .body:
            break
        case .end:
            guard let status else { return }
            self.status = nil
            if let first = pending.popFirst() {
                first.timeout?.cancel()
                first.promise.succeed(status)
            }
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        failAll(HTTPLoadError.connectionClosed, close: false)
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        failAll(HTTPLoadError.connectionFailed("\(error)"), close: true)
    }

    private func failAll(_ error: HTTPLoadError, close: Bool) {
        while let call = pending.popFirst() {
            call.timeout?.cancel()
            call.promise.fail(error)
        }
        if close { context?.close(promise: nil) }
    }
}

@available(*, unavailable)
extension HTTPClientHandler: Sendable {}

/// Why an HTTP call got no answer.
enum HTTPLoadError: Error, Hashable, Sendable {
    case connectionClosed
    case connectionFailed(String)
    case timedOut

    /// The label the report counts the failure under.
    var status: String {
        switch self {
        case .connectionClosed: "CONNECTION_CLOSED"
        case .connectionFailed: "CONNECTION_FAILED"
        case .timedOut: "TIMEOUT"
        }
    }
}
