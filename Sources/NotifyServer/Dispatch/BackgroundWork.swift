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

    /// Runs queued work, each piece a child task, until ``finish()``; then
    /// waits for the pieces still running. Call it once: the queue has one reader.
    func run() async {
        await withDiscardingTaskGroup { group in
            for await work in stream {
                group.addTask { await work() }
            }
        }
    }

    /// Refuses further work; ``run()`` returns once what is queued has run.
    func finish() {
        continuation.finish()
    }
}
