import Synchronization

/// Tells the readers of a live feed that it may have advanced.
///
/// A store owns one and calls ``advanced(users:)`` or ``advancedAll()`` after
/// each commit that wrote feed rows; a watcher then reads its feed from its
/// cursor. It carries no notifications, only wake-ups, so a slow watcher costs
/// one pending flag and never a queue: what it has not read is on disk.
public final class FeedAdvances: Sendable {
    private struct Watchers {
        var nextID: UInt64 = 0
        /// Set by ``finishAll()``: a later watch ends at once.
        var finished = false
        var byUser: [Int64: [UInt64: AsyncStream<Void>.Continuation]] = [:]
    }

    private let watchers = Mutex(Watchers())
    /// How many watchers there are, read without the lock: with none, the
    /// store's writer skips the work entirely.
    private let count = Atomic<Int>(0)

    public init() {}

    /// Wake-ups for `user`'s feed, from now on: at most one is kept while
    /// the reader is busy. Ending the iteration (or cancelling its task)
    /// removes the watcher; after ``finishAll()`` the stream ends at once.
    public func watch(user: Int64) -> AsyncStream<Void> {
        let (stream, continuation) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
        let id = watchers.withLock { watchers -> UInt64? in
            guard !watchers.finished else { return nil }
            let id = watchers.nextID
            watchers.nextID += 1
            watchers.byUser[user, default: [:]][id] = continuation
            return id
        }
        guard let id else {
            continuation.finish()
            return stream
        }
        count.add(1, ordering: .relaxed)
        continuation.onTermination = { [weak self] _ in
            self?.remove(user: user, id: id)
        }
        return stream
    }

    /// True when someone watches some feed.
    public var isWatched: Bool { count.load(ordering: .relaxed) > 0 }

    /// Wakes the watchers of `users`.
    public func advanced(users: some Sequence<Int64>) {
        guard isWatched else { return }
        watchers.withLock { watchers in
            for user in users {
                guard let continuations = watchers.byUser[user] else { continue }
                for continuation in continuations.values { continuation.yield() }
            }
        }
    }

    /// Wakes every watcher: for a commit whose recipients the store chose in
    /// SQL (a user's connections) and did not hold in memory.
    public func advancedAll() {
        guard isWatched else { return }
        watchers.withLock { watchers in
            for continuations in watchers.byUser.values {
                for continuation in continuations.values { continuation.yield() }
            }
        }
    }

    /// Ends every watch, and every later one at once: the store is stopping.
    public func finishAll() {
        let all = watchers.withLock { watchers in
            watchers.finished = true
            defer { watchers.byUser = [:] }
            return watchers.byUser.values.flatMap(\.values)
        }
        count.subtract(all.count, ordering: .relaxed)
        for continuation in all { continuation.finish() }
    }

    private func remove(user: Int64, id: UInt64) {
        let removed = watchers.withLock { watchers in
            guard watchers.byUser[user]?.removeValue(forKey: id) != nil else { return false }
            if watchers.byUser[user]?.isEmpty == true { watchers.byUser[user] = nil }
            return true
        }
        if removed { count.subtract(1, ordering: .relaxed) }
    }
}
