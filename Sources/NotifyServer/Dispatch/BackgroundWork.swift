import Synchronization

/// Work that handlers start beside their calls and nobody waits for (a
/// lookup cache's reload ahead of expiry), run as child tasks of whoever runs
/// ``run()``: the ``RPCServer`` serving the router, for as long as it serves.
///
/// A `Task {}` per piece would belong to nothing: shutdown could not wait
/// for it, and it could outlive the store it reads. Here the server's task
/// group owns every piece, and ``finish()`` lets the pieces already queued
/// end before ``run()`` returns.
final class BackgroundWork: Sendable {
    private let stream: AsyncStream<@Sendable () async -> Void>
    private let continuation: AsyncStream<@Sendable () async -> Void>.Continuation
    /// Work that runs for as long as ``run()`` does (``whileRunning(_:)``).
    private let standing = Mutex<[@Sendable () async -> Void]>([])

    /// - Parameter limit: the most pieces waiting to start; past it, and
    ///   before anything runs them, ``submit(_:)`` refuses.
    init(limit: Int = 64) {
        (stream, continuation) = AsyncStream.makeStream(bufferingPolicy: .bufferingOldest(limit))
    }

    /// Queues `work`.
    ///
    /// - Returns: false when it will not run (the queue is full, or
    ///   ``finish()`` was called): the caller undoes what it prepared for it.
    func submit(_ work: @escaping @Sendable () async -> Void) -> Bool {
        if case .enqueued = continuation.yield(work) { return true }
        return false
    }

    /// Adds `work` that starts when ``run()`` starts and is cancelled when
    /// it ends (a subscription that lives as long as the server serves).
    /// Call it before ``run()``.
    func whileRunning(_ work: @escaping @Sendable () async -> Void) {
        standing.withLock { $0.append(work) }
    }

    /// Runs queued work, each piece a child task, until ``finish()``; then
    /// waits for the pieces still running, and cancels and waits for the
    /// standing ones. Call it once: the queue has one reader.
    func run() async {
        let standing = standing.withLock { $0 }
        await withDiscardingTaskGroup { standingGroup in
            for work in standing {
                standingGroup.addTask { await work() }
            }
            await withDiscardingTaskGroup { group in
                for await work in stream {
                    group.addTask { await work() }
                }
            }
            standingGroup.cancelAll()
        }
    }

    /// Refuses further work; ``run()`` returns once what is queued has run.
    func finish() {
        continuation.finish()
    }
}
