public import NotifyDomain
import Synchronization

/// A change to what a server caches of the ``Directory`` for its per-call
/// lookups (tokens, the blocked list, users, subscriptions), made by another
/// process or instance on the same database.
///
/// It names what to forget, never the new value: the server evicts its
/// cached entry and loads it again from the store on the next call, and wakes
/// its live readers so that each checks its caller again.
public enum DirectoryChange: Hashable, Sendable {
    /// A token was revoked (its hash is not known: forget every token).
    case tokenRevoked
    /// The principal was blocked or unblocked.
    case blockListChanged(Principal)
    /// The user was deleted, with his subscriptions, and his tokens revoked.
    case userDeleted(Int64)
    /// The user was created or renamed.
    case userChanged(Int64)
    /// The subscription was renewed or deleted.
    case subscriptionChanged(String)
    /// Anything may have changed (changes were missed: the store's link to
    /// them was lost, or a reader fell too far behind): forget every cached
    /// lookup.
    case everything
}

extension DirectoryChange {
    /// The change as a line of text, what a store writes where the other
    /// processes on its database read it (PostgreSQL's NOTIFY payloads,
    /// SQLite's `directory_changes` table): `t` (a token revoked),
    /// `b:<principal>`, `u:<user id>` (deleted), `n:<user id>` (created or
    /// renamed), `s:<subscription id>`, `*`.
    public var text: String {
        switch self {
        case .tokenRevoked: "t"
        case .blockListChanged(let principal): "b:" + principal.description
        case .userDeleted(let id): "u:\(id)"
        case .userChanged(let id): "n:\(id)"
        case .subscriptionChanged(let id): "s:" + id
        case .everything: "*"
        }
    }

    /// Reads ``text``; text it cannot read (another version's) is
    /// ``everything``: a format change costs spare reads, never a missed change.
    public init(text: some StringProtocol) {
        let parts = text.split(separator: ":", maxSplits: 1, omittingEmptySubsequences: false)
        let argument = parts.count == 2 ? String(parts[1]) : nil
        switch (parts.first ?? "", argument) {
        case ("t", nil): self = .tokenRevoked
        case ("u", let id?): self = Int64(id).map(DirectoryChange.userDeleted) ?? .everything
        case ("n", let id?): self = Int64(id).map(DirectoryChange.userChanged) ?? .everything
        case ("s", let id?): self = .subscriptionChanged(id)
        case ("b", let principal?):
            if principal.hasPrefix("app:") {
                self = .blockListChanged(.app(String(principal.dropFirst(4))))
            } else if principal.hasPrefix("user:"), let id = Int64(principal.dropFirst(5)) {
                self = .blockListChanged(.user(id))
            } else {
                self = .everything
            }
        default: self = .everything
        }
    }
}

/// What a store tells about changes to its ``Directory`` made elsewhere: a
/// fan-out to the streams of ``subscribe()``.
///
/// Bounded: each subscriber holds at most `capacity` changes it has not
/// read; past that they collapse into one ``DirectoryChange/everything``, so
/// a slow reader forgets too much rather than too little.
public final class DirectoryChanges: Sendable {
    fileprivate final class Subscriber: Sendable {
        struct Pending {
            var changes: [DirectoryChange] = []
            var overflowed = false
        }

        let pending = Mutex(Pending())
        let wake: AsyncStream<Void>.Continuation
        let capacity: Int

        init(wake: AsyncStream<Void>.Continuation, capacity: Int) {
            self.wake = wake
            self.capacity = capacity
        }

        func add(_ change: DirectoryChange) {
            pending.withLock { pending in
                if pending.overflowed { return }
                if change == .everything || pending.changes.count >= capacity {
                    pending.overflowed = true
                    pending.changes = []
                } else {
                    pending.changes.append(change)
                }
            }
            wake.yield()
        }

        /// The oldest change not yet read, or ``DirectoryChange/everything``
        /// in place of all of them after an overflow.
        func take() -> DirectoryChange? {
            pending.withLock { pending in
                if pending.overflowed {
                    pending.overflowed = false
                    return .everything
                }
                return pending.changes.isEmpty ? nil : pending.changes.removeFirst()
            }
        }
    }

    private struct State {
        var nextID: UInt64 = 0
        var finished = false
        var subscribers: [UInt64: Subscriber] = [:]
    }

    private let state = Mutex(State())
    private let capacity: Int

    /// - Parameter capacity: the most unread changes a subscriber holds.
    public init(capacity: Int = 256) {
        self.capacity = max(1, capacity)
    }

    /// Tells every subscriber of `change`.
    public func changed(_ change: DirectoryChange) {
        let subscribers = state.withLock { Array($0.subscribers.values) }
        for subscriber in subscribers { subscriber.add(change) }
    }

    /// The changes from now on, until the store stops (``finishAll()``) or
    /// the reader stops iterating (or its task is cancelled).
    public func subscribe() -> DirectoryChangeStream {
        let (wakes, continuation) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
        let subscriber = Subscriber(wake: continuation, capacity: capacity)
        let id = state.withLock { state -> UInt64? in
            guard !state.finished else { return nil }
            let id = state.nextID
            state.nextID += 1
            state.subscribers[id] = subscriber
            return id
        }
        guard let id else {
            continuation.finish()
            return DirectoryChangeStream(subscriber: subscriber, wakes: wakes)
        }
        continuation.onTermination = { [weak self] _ in
            _ = self?.state.withLock { $0.subscribers.removeValue(forKey: id) }
        }
        return DirectoryChangeStream(subscriber: subscriber, wakes: wakes)
    }

    /// Ends every stream, and every later one at once: the store is stopping.
    public func finishAll() {
        let subscribers = state.withLock { state in
            state.finished = true
            defer { state.subscribers = [:] }
            return Array(state.subscribers.values)
        }
        for subscriber in subscribers { subscriber.wake.finish() }
    }
}

/// The changes a ``DirectoryChanges`` subscriber reads, oldest first; it
/// ends when the store stops or the iterating task is cancelled.
public struct DirectoryChangeStream: AsyncSequence, Sendable {
    public typealias Element = DirectoryChange
    public typealias Failure = Never

    private let subscriber: DirectoryChanges.Subscriber?
    private let wakes: AsyncStream<Void>

    fileprivate init(subscriber: DirectoryChanges.Subscriber?, wakes: AsyncStream<Void>) {
        self.subscriber = subscriber
        self.wakes = wakes
    }

    /// A stream that has ended: a store that tells of no change.
    public static var none: DirectoryChangeStream {
        let (wakes, continuation) = AsyncStream.makeStream(of: Void.self)
        continuation.finish()
        return DirectoryChangeStream(subscriber: nil, wakes: wakes)
    }

    public func makeAsyncIterator() -> AsyncIterator {
        AsyncIterator(subscriber: subscriber, wakes: wakes.makeAsyncIterator())
    }

    public struct AsyncIterator: AsyncIteratorProtocol {
        fileprivate let subscriber: DirectoryChanges.Subscriber?
        fileprivate var wakes: AsyncStream<Void>.AsyncIterator

        public mutating func next() async -> DirectoryChange? {
            while true {
                if let change = subscriber?.take() { return change }
                guard await wakes.next() != nil else { return nil }
            }
        }

        public mutating func next(isolation actor: isolated (any Actor)?) async -> DirectoryChange? {
            while true {
                if let change = subscriber?.take() { return change }
                guard await wakes.next(isolation: actor) != nil else { return nil }
            }
        }
    }
}

@available(*, unavailable)
extension DirectoryChangeStream.AsyncIterator: Sendable {}
