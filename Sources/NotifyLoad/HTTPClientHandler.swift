import NIOCore
import NIOHTTP1

/// The client end of one HTTP/1.1 keep-alive connection.
///
/// Requests are written as they come (already encoded) and answers matched
/// first in, first out, as HTTP/1.1 orders them; with one request at a time
/// (the default) this is plain keep-alive, with more it is pipelining.
/// Answers are read by ``HTTPStatusDecoder``, which keeps only their
/// status, so memory stays bounded whatever the server sends. A request past its deadline fails every request behind
/// it and closes the connection: HTTP/1.1 has no way to skip one answer.
final class HTTPClientHandler: ChannelInboundHandler {
    typealias InboundIn = HTTPResponseStatus
    typealias OutboundOut = ByteBuffer

    /// What an answer (or the failure standing for it) is handed to, on
    /// this handler's event loop. A plain closure, not a promise: a promise
    /// and its future's callback list were two allocations per request.
    typealias Completion = (Result<HTTPResponseStatus, HTTPLoadError>) -> Void

    private struct Pending {
        var completion: Completion
        var deadline: NIODeadline
    }

    private var context: ChannelHandlerContext?
    private var pending = CircularBuffer<Pending>()
    /// One timer for the connection, due at the oldest request's deadline:
    /// answers come in order, so only the oldest can be the first late one.
    /// A timer per request (scheduled, then cancelled by its answer) cost
    /// the generator more than the request's own bytes.
    private var timer: Scheduled<Void>?

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        self.context = nil
        timer?.cancel()
    }

    /// Sends one encoded request; `completion` gets the answer's status.
    func send(_ request: ByteBuffer, deadline: NIODeadline, completion: @escaping Completion) {
        guard let context, context.channel.isActive else {
            return completion(.failure(.connectionClosed))
        }
        pending.append(Pending(completion: completion, deadline: deadline))
        if timer == nil { arm(at: deadline, context: context) }
        context.writeAndFlush(wrapOutboundOut(request), promise: nil)
    }

    private func arm(at deadline: NIODeadline, context: ChannelHandlerContext) {
        let loopBound = NIOLoopBound(self, eventLoop: context.eventLoop)
        timer = context.eventLoop.scheduleTask(deadline: deadline) {
            loopBound.value.timerFired()
        }
    }

    private func timerFired() {
        timer = nil
        guard let oldest = pending.first, let context else { return }
        if oldest.deadline <= .now() {
            failAll(HTTPLoadError.timedOut, close: true)
        } else {
            arm(at: oldest.deadline, context: context)
        }
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        pending.popFirst()?.completion(.success(unwrapInboundIn(data)))
    }

    func channelInactive(context: ChannelHandlerContext) {
        failAll(HTTPLoadError.connectionClosed, close: false)
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        failAll(HTTPLoadError.connectionFailed("\(error)"), close: true)
    }

    private func failAll(_ error: HTTPLoadError, close: Bool) {
        timer?.cancel()
        timer = nil
        while let call = pending.popFirst() {
            call.completion(.failure(error))
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
