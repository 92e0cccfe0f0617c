public import NIOCore
import NIOPosix
import Synchronization

/// A loopback TCP forwarder that a test can cut and restore: what a client
/// sees when its database goes away and comes back, without stopping the
/// shared test server that other tests use.
///
/// It listens on `127.0.0.1`, port 0, and forwards each connection to the
/// target. ``cut()`` closes every forwarded connection and, until
/// ``restore()``, closes each new one as soon as it is accepted (a server
/// that is down or restarting). ``freeze()`` keeps every connection open but
/// drops what goes through, both ways (a network that died without closing
/// anything); ``muteAnswers()`` drops only what the target sends (a request
/// that arrives and is carried out, its answer lost on the way).
/// ``restore()`` forwards again on the same port.
public final class TCPForwarder: Sendable {
    private struct State {
        var isCut = false
        var isFrozen = false
        var answersMuted = false
        var channels: [ObjectIdentifier: any Channel] = [:]
    }

    private let state = Mutex(State())
    private let listener: any Channel
    /// The port it listens on.
    public let port: Int

    /// Starts forwarding to `targetHost`:`targetPort`.
    public init(targetHost: String, targetPort: Int) async throws {
        let state = StateBox()
        let group = MultiThreadedEventLoopGroup.singleton
        let listener = try await ServerBootstrap(group: group)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.autoRead, value: false)
            .childChannelInitializer { inbound in
                guard let forwarder = state.forwarder, forwarder.admit(inbound) else {
                    return inbound.close()
                }
                return ClientBootstrap(group: inbound.eventLoop)
                    .connect(host: targetHost, port: targetPort)
                    .flatMap { outbound in
                        guard forwarder.admit(outbound) else {
                            outbound.close(promise: nil)
                            return inbound.eventLoop.makeFailedFuture(ChannelError.ioOnClosedChannel)
                        }
                        let (toTarget, toClient) = Glue.pair(
                            dropsToTarget: { forwarder.dropping.toTarget }, dropsToClient: { forwarder.dropping.toClient })
                        return inbound.pipeline.addHandler(toTarget).flatMap {
                            outbound.pipeline.addHandler(toClient)
                        }.flatMap {
                            // Read the client's bytes only once they have somewhere to go.
                            inbound.setOption(.autoRead, value: true)
                        }
                    }
            }
            .bind(host: "127.0.0.1", port: 0).get()
        self.listener = listener
        self.port = listener.localAddress?.port ?? 0
        state.forwarder = self
    }

    /// Closes every forwarded connection, and each new one until ``restore()``.
    public func cut() {
        let channels = state.withLock { state -> [any Channel] in
            state.isCut = true
            defer { state.channels = [:] }
            return Array(state.channels.values)
        }
        for channel in channels { channel.close(promise: nil) }
    }

    /// Keeps every connection open, and accepts new ones, but forwards
    /// nothing either way until ``restore()``.
    public func freeze() {
        state.withLock { $0.isFrozen = true }
    }

    /// Keeps forwarding what clients send, but drops what the target
    /// answers, until ``cut()`` or ``restore()``.
    public func muteAnswers() {
        state.withLock { $0.answersMuted = true }
    }

    /// Forwards new connections again. Connections open while frozen or
    /// muted are closed: what they dropped cannot be made up.
    public func restore() {
        let dropped = state.withLock { state -> [any Channel] in
            state.isCut = false
            guard state.isFrozen || state.answersMuted else { return [] }
            state.isFrozen = false
            state.answersMuted = false
            defer { state.channels = [:] }
            return Array(state.channels.values)
        }
        for channel in dropped { channel.close(promise: nil) }
    }

    /// Whether what goes each way is dropped now.
    fileprivate var dropping: (toTarget: Bool, toClient: Bool) {
        state.withLock { ($0.isFrozen, $0.isFrozen || $0.answersMuted) }
    }

    /// Stops listening and closes every connection.
    public func close() async {
        cut()
        try? await listener.close()
    }

    /// Tracks `channel` until it closes; false (and nothing tracked) while cut.
    fileprivate func admit(_ channel: any Channel) -> Bool {
        let id = ObjectIdentifier(channel)
        let admitted = state.withLock { state -> Bool in
            guard !state.isCut else { return false }
            state.channels[id] = channel
            return true
        }
        if admitted {
            channel.closeFuture.whenComplete { [weak self] _ in
                _ = self?.state.withLock { $0.channels.removeValue(forKey: id) }
            }
        }
        return admitted
    }
}

/// The forwarder, set once it is made: the listener's initializer runs only
/// for connections accepted after that.
private final class StateBox: @unchecked Sendable {
    // Written once before the first connection can be accepted; read on event loops after.
    var forwarder: TCPForwarder?
}

/// One direction's half of a forwarded connection: what it reads it writes
/// to its partner (unless dropped); closing either side closes both.
private final class Glue: ChannelDuplexHandler {
    typealias InboundIn = NIOAny
    typealias OutboundIn = NIOAny
    typealias OutboundOut = NIOAny

    private var partner: Glue?
    private var context: ChannelHandlerContext?
    /// Whether what this half reads is dropped rather than passed on.
    private let drops: @Sendable () -> Bool

    private init(drops: @escaping @Sendable () -> Bool) {
        self.drops = drops
    }

    /// The half on the client's connection (its reads go to the target),
    /// and the half on the target's.
    static func pair(
        dropsToTarget: @escaping @Sendable () -> Bool, dropsToClient: @escaping @Sendable () -> Bool
    ) -> (Glue, Glue) {
        let one = Glue(drops: dropsToTarget)
        let two = Glue(drops: dropsToClient)
        one.partner = two
        two.partner = one
        return (one, two)
    }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        self.context = nil
        partner = nil
    }

    // Both halves live on one event loop (the outbound connection is made on the inbound's).
    private func partnerWrite(_ data: NIOAny) {
        context?.writeAndFlush(data, promise: nil)
    }

    private func partnerClose() {
        context?.close(promise: nil)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard !drops() else { return }
        partner?.partnerWrite(data)
    }

    func channelInactive(context: ChannelHandlerContext) {
        partner?.partnerClose()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)
    }
}

@available(*, unavailable)
extension Glue: Sendable {}
