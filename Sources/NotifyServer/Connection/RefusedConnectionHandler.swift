import NIOCore

/// The whole pipeline of a connection past `--max-connections`: it closes the
/// socket as soon as it is active, before any TLS, and reads nothing.
///
/// Accepting and closing at once, rather than leaving the client in the listen
/// backlog, tells it at once to go elsewhere, and costs the server one file
/// descriptor for one event-loop turn.
final class RefusedConnectionHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer

    func handlerAdded(context: ChannelHandlerContext) {
        if context.channel.isActive { context.close(promise: nil) }
    }

    func channelActive(context: ChannelHandlerContext) {
        context.close(promise: nil)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {}
}

@available(*, unavailable)
extension RefusedConnectionHandler: Sendable {}
