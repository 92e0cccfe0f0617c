import NIOCore
import Synchronization

/// The server's open connections, so that shutdown can reach each of them.
final class ConnectionRegistry: Sendable {
    private struct Entry: Sendable {
        var channel: any Channel
        var handler: NIOLoopBound<ServerConnectionHandler>
    }

    private struct State {
        var entries: [ObjectIdentifier: Entry] = [:]
        var emptyWaiters: [CheckedContinuation<Void, Never>] = []
    }

    private let state = Mutex(State())

    var count: Int { state.withLock { $0.entries.count } }

    /// Adds a connection, unless `limit` connections are open already.
    ///
    /// - Returns: false, adding nothing, at the limit: the caller refuses the connection.
    func add(_ channel: any Channel, handler: NIOLoopBound<ServerConnectionHandler>, limit: Int) -> Bool {
        let id = ObjectIdentifier(channel)
        let added = state.withLock { state in
            guard state.entries.count < limit else { return false }
            state.entries[id] = Entry(channel: channel, handler: handler)
            return true
        }
        guard added else { return false }
        channel.closeFuture.whenComplete { _ in
            let waiters: [CheckedContinuation<Void, Never>] = self.state.withLock { state in
                state.entries.removeValue(forKey: id)
                guard state.entries.isEmpty else { return [] }
                defer { state.emptyWaiters.removeAll() }
                return state.emptyWaiters
            }
            for waiter in waiters { waiter.resume() }
        }
        return true
    }

    /// Sends every connection a goaway; each closes once its calls are answered.
    func beginGracefulShutdown() {
        for entry in state.withLock({ Array($0.entries.values) }) {
            let handler = entry.handler
            entry.channel.eventLoop.execute { handler.value.beginGracefulShutdown() }
        }
    }

    func forceCloseAll() {
        for entry in state.withLock({ Array($0.entries.values) }) {
            entry.channel.close(promise: nil)
        }
    }

    /// Returns when no connection is open.
    func waitUntilEmpty() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let done: Bool = state.withLock { state in
                if state.entries.isEmpty { return true }
                state.emptyWaiters.append(continuation)
                return false
            }
            if done { continuation.resume() }
        }
    }
}
