/// The gateway's work that cannot run on an event loop (a feed's reader, a
/// readiness probe, a large body's parsing), run as child tasks of
/// ``GatewayServer/run()``'s task group: none outlives the gateway, and its
/// shutdown waits for them.
final class GatewayTasks: Sendable {
    private let stream: AsyncStream<@Sendable () async -> Void>
    private let continuation: AsyncStream<@Sendable () async -> Void>.Continuation

    init() {
        (stream, continuation) = AsyncStream.makeStream(of: (@Sendable () async -> Void).self)
    }

    /// Starts `body` as a child task of the gateway.
    ///
    /// - Returns: false once the gateway has stopped; `body` will not run.
    func run(_ body: @escaping @Sendable () async -> Void) -> Bool {
        if case .enqueued = continuation.yield(body) { return true }
        return false
    }

    /// Runs what ``run(_:)`` is given until ``finish()``, then waits for it all.
    func runAll() async {
        await withDiscardingTaskGroup { group in
            for await body in stream {
                group.addTask { await body() }
            }
        }
    }

    /// No more work is taken; ``runAll()`` returns once the running work ends.
    func finish() {
        continuation.finish()
    }
}
