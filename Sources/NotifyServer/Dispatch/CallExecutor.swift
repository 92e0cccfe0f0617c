import Logging
import NIOCore
import NotifyCore
import NotifyMessages
import NotifyTracing
import NotifyWire
import Synchronization

/// Runs calls as child tasks of the server's task group.
///
/// Connection handlers live on event loops and must not await; they submit a
/// ``CallJob`` here and get the response back on their loop. Every call task
/// is owned by ``run()``, so shutdown awaits them all.
///
/// It is also the server's admission control: at most `limit` calls run at
/// once across all connections. Past that a call is refused at once
/// (RESOURCE_EXHAUSTED, OVERLOADED) instead of queueing, so that under
/// overload the calls that are accepted keep a bounded latency and memory
/// stays bounded.
final class CallExecutor: Sendable {
    /// What runs as a child task: a call, or a server stream's whole life.
    typealias Work = @Sendable () async -> Void

    private let stream: AsyncStream<Work>
    private let continuation: AsyncStream<Work>.Continuation
    private let limit: Int
    private let running = Atomic<Int>(0)
    private let streamLimit: Int
    private let streams = Atomic<Int>(0)

    init(limit: Int, streamLimit: Int) {
        self.limit = limit
        self.streamLimit = streamLimit
        (stream, continuation) = AsyncStream.makeStream(of: Work.self)
    }

    /// Reserves a place for one server stream, counted apart from calls.
    func admitStream() -> Bool {
        if streams.add(1, ordering: .relaxed).newValue > streamLimit {
            streams.subtract(1, ordering: .relaxed)
            return false
        }
        return true
    }

    /// Server streams open now.
    var openStreams: Int { streams.load(ordering: .relaxed) }

    /// Calls admitted and not yet answered, now.
    var callsInFlight: Int { running.load(ordering: .relaxed) }

    /// Runs an admitted stream until it ends, then gives back its place.
    ///
    /// - Returns: false when the executor has finished; the caller releases
    ///   the place and answers UNAVAILABLE.
    func submitStream(_ body: @escaping @Sendable () async -> Void) -> Bool {
        let work: Work = {
            await body()
            self.streams.subtract(1, ordering: .relaxed)
        }
        if case .enqueued = continuation.yield(work) { return true }
        return false
    }

    func releaseStream() {
        streams.subtract(1, ordering: .relaxed)
    }

    /// Reserves a place for one call; false when `limit` calls are running.
    func admit() -> Bool {
        if running.add(1, ordering: .relaxed).newValue > limit {
            running.subtract(1, ordering: .relaxed)
            return false
        }
        return true
    }

    /// Gives back the place of a call that ended (or was never submitted).
    func release() {
        running.subtract(1, ordering: .relaxed)
    }

    /// Runs an admitted call; it releases its place (``release()``) when it
    /// has its answer, before it hands the answer over.
    ///
    /// - Returns: false when the executor has finished; the caller releases
    ///   the place and answers UNAVAILABLE.
    func submit(_ call: @escaping Work) -> Bool {
        if case .enqueued = continuation.yield(call) { return true }
        return false
    }

    /// Runs submitted jobs until ``finish()``, then waits for the running ones.
    func run() async {
        await withDiscardingTaskGroup { group in
            for await work in stream {
                group.addTask { await work() }
            }
        }
    }

    func finish() {
        continuation.finish()
    }
}

/// The answers a call can get, as response frames and errors, the same on
/// every transport.
enum CallJob {
    /// Runs a stream's handler until it returns, or until the connection
    /// ends the stream (then the handler is cancelled); the call's final
    /// answer: OK with no payload, or the mapped failure. When the connection
    /// ended the call it has already answered, and drops this one.
    static func respond<Message: Sendable>(
        _ handler: @escaping @Sendable (ServerContext, ServerStream<Message>) async throws -> Void,
        stream: ServerStream<Message>, context: ServerContext
    ) async -> ResponseFrame {
        await withTaskGroup(of: ResponseFrame?.self) { group in
            group.addTask {
                await stream.flow.waitUntilEnded()
                return nil
            }
            group.addTask {
                do {
                    try await handler(context, stream)
                    return success(nil, context: context)
                } catch {
                    return failure(ErrorMapping.rpcError(for: error, logger: context.logger), context: context)
                }
            }
            var answer: ResponseFrame?
            while let next = await group.next() {
                if let next {
                    answer = next
                    stream.flow.end()
                } else {
                    group.cancelAll()
                }
            }
            return answer ?? failure(StreamFlow.endedError, context: context)
        }
    }

    /// The response of a staged call, from the answer it completed with
    /// (its encoding, made on the connection's loop).
    static func respond(_ answer: @Sendable () throws -> ByteBuffer, context: ServerContext) -> ResponseFrame {
        do {
            return success(try answer(), context: context)
        } catch {
            return failure(ErrorMapping.rpcError(for: error, logger: context.logger), context: context)
        }
    }

    /// The answer when the executor has no place for the call.
    static func overloaded(_ context: ServerContext) -> ResponseFrame {
        failure(overloadedError, context: context)
    }

    static let overloadedError = RPCError(
        code: .resourceExhausted, message: "the server is at capacity: retry later", reason: .overloaded,
        metadata: ["retry-after": "1"]
    )

    /// The answer to a call that arrives once shutdown has begun.
    static func goingAway(_ context: ServerContext) -> ResponseFrame {
        failure(goingAwayError, context: context)
    }

    static let goingAwayError = RPCError(
        code: .unavailable, message: "the server is shutting down", reason: .goingAway
    )

    /// `error` as a caller gets it: its metadata led by the call's
    /// `x-request-id`, as in a response frame.
    static func withRequestID(_ error: RPCError, _ requestID: String) -> RPCError {
        var error = error
        var metadata = responseMetadata(requestID)
        for entry in error.metadata { metadata.add(entry.key, entry.value) }
        error.metadata = metadata
        return error
    }

    static func success(_ payload: ByteBuffer?, context: ServerContext) -> ResponseFrame {
        context.ended(status: .ok, reason: nil, message: nil)
        return ResponseFrame(callID: context.callID, status: .ok, metadata: responseMetadata(context.requestID), payload: payload)
    }

    static func failure(_ error: RPCError, context: ServerContext) -> ResponseFrame {
        context.ended(status: error.code, reason: error.reason, message: error.message)
        return failure(error, callID: context.callID, requestID: context.requestID)
    }

    static func failure(_ error: RPCError, callID: UInt64, requestID: String) -> ResponseFrame {
        var metadata = responseMetadata(requestID)
        for entry in error.metadata { metadata.add(entry.key, entry.value) }
        return ResponseFrame(
            callID: callID, status: error.code, message: error.message, metadata: metadata,
            payload: nil, reason: error.reason, fieldViolations: error.fieldViolations
        )
    }

    private static func responseMetadata(_ requestID: String) -> Metadata {
        var metadata = Metadata()
        metadata.add("x-request-id", requestID)
        return metadata
    }
}
