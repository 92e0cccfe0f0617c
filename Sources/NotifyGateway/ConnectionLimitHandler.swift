import NIOCore

/// Stops accepting while `limit` client connections are open.
///
/// It sits on the listening channel and holds back its `read` (the accept)
/// at the limit, so further clients wait in the listen backlog, where the
/// kernel keeps them for free, instead of each costing a channel. A
/// connection closing lets the next one in.
final class ConnectionLimitHandler: ChannelDuplexHandler {
    typealias InboundIn = any Channel
    typealias InboundOut = any Channel
    typealias OutboundIn = Never

    private let limit: Int
    private var open = 0
    /// A read asked for while at the limit, to be passed on when a place frees.
    private var readHeldBack = false
    /// Set once the listener has closed: connections that close later have nothing to let in.
    private var removed = false

    init(limit: Int) {
        self.limit = max(1, limit)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let connection = unwrapInboundIn(data)
        open += 1
        let loopBound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        connection.closeFuture.whenComplete { _ in
            loopBound.eventLoop.execute {
                let (handler, context) = loopBound.value
                handler.connectionClosed(context: context)
            }
        }
        context.fireChannelRead(data)
    }

    func read(context: ChannelHandlerContext) {
        if open >= limit {
            readHeldBack = true
        } else {
            context.read()
        }
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        removed = true
    }

    private func connectionClosed(context: ChannelHandlerContext) {
        open -= 1
        if !removed && readHeldBack && open < limit {
            readHeldBack = false
            context.read()
        }
    }
}

@available(*, unavailable)
extension ConnectionLimitHandler: Sendable {}
