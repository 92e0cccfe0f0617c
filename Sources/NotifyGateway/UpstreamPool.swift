import Logging
import NIOCore
import NotifyClient
import Synchronization

/// A few ``NotifyClient``s to the RPC service, used in turn; one in-process
/// client when the service runs in the same process.
///
/// One client multiplexes many calls over one TLS connection; several spread
/// the TLS work over event loops and keep serving when one connection is being
/// re-established. Each client reconnects on its own and, while backing off,
/// fails calls at once with UNAVAILABLE, so a service that is down answers
/// 503 immediately instead of hanging.
final class UpstreamPool: Sendable {
    private let clients: [NotifyClient]
    private let next = Atomic<Int>(0)

    init(configuration: GatewayConfiguration, group: any EventLoopGroup, logger: Logger) {
        switch configuration.upstream {
        case .remote(var upstream):
            upstream.defaultTimeout = configuration.rpcTimeout
            self.clients = (0..<max(1, configuration.upstreamConnections)).map { _ in
                NotifyClient(configuration: upstream, group: group, logger: logger)
            }
        case .local(let endpoint):
            self.clients = [NotifyClient(local: endpoint, defaultTimeout: configuration.rpcTimeout)]
        }
    }

    /// The client for the next call.
    var client: NotifyClient {
        let index = next.wrappingAdd(1, ordering: .relaxed).oldValue
        return clients[Int(UInt(bitPattern: index) % UInt(clients.count))]
    }

    func close() async {
        for client in clients { await client.close() }
    }
}
