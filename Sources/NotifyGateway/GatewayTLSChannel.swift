import HummingbirdCore
import Logging
import NIOCore
import NotifyTLS

/// HTTPS through the project's OpenSSL TLS module: our ``TLSHandler`` first
/// in the pipeline, then the wrapped HTTP/1.1 channel's handlers.
///
/// Modelled on HummingbirdTLS's `TLSChannel`, which does the same with
/// swift-nio-ssl; using NotifyTLS keeps one TLS stack (the system OpenSSL)
/// for the RPC service and the gateway.
struct GatewayTLSChannel<Base: ServerChildChannel>: ServerChildChannel {
    typealias Value = Base.Value

    let base: Base
    let context: TLSContext

    func setup(channel: any Channel, logger: Logger) -> EventLoopFuture<Value> {
        let context = self.context
        return channel.eventLoop.makeCompletedFuture {
            try channel.pipeline.syncOperations.addHandler(TLSHandler(context: context))
        }.flatMap {
            base.setup(channel: channel, logger: logger)
        }
    }

    func handle(value: Base.Value, logger: Logger) async {
        await base.handle(value: value, logger: logger)
    }
}

extension GatewayTLSChannel: HTTPChannelHandler where Base: HTTPChannelHandler {
    var responder: HTTPChannelHandler.Responder { base.responder }
}
