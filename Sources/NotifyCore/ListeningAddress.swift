public import NIOCore
import Synchronization

/// Where a server listens, once `run()` has bound it: what a caller awaits
/// (a test, a process that prints its ports) before or after the bind.
///
/// Settled once, with the bound address or the error that kept the server
/// from binding; a later settle (a server stopped before it had an address)
/// is ignored, so no path completes the promise twice.
public final class ListeningAddress: Sendable {
    private let promise: EventLoopPromise<SocketAddress>
    private let settled = Mutex(false)

    public init(on eventLoop: any EventLoop) {
        promise = eventLoop.makePromise()
    }

    /// The first call settles it; later ones do nothing.
    public func settle(_ result: Result<SocketAddress, any Error>) {
        let first = settled.withLock { settled in
            defer { settled = true }
            return !settled
        }
        if first { promise.completeWith(result) }
    }

    /// The address, once bound.
    /// - Throws: the error that kept the server from binding.
    public var value: SocketAddress {
        get async throws { try await promise.futureResult.get() }
    }
}
