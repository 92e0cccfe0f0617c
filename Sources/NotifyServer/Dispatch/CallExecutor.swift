import Logging
import NIOCore
import NotifyCore
import NotifyMessages
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
    enum Work: Sendable {
        case call(CallJob)
        case stream(@Sendable () async -> Void)
    }

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

    /// Runs an admitted stream until it ends, then gives back its place.
    ///
    /// - Returns: false when the executor has finished; the caller releases
    ///   the place and answers UNAVAILABLE.
    func submitStream(_ body: @escaping @Sendable () async -> Void) -> Bool {
        let work = Work.stream {
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

    /// Runs an admitted job; it releases its place when it ends.
    ///
    /// - Returns: false when the executor has finished; the caller answers UNAVAILABLE.
    func submit(_ job: CallJob) -> Bool {
        if case .enqueued = continuation.yield(.call(job)) { return true }
        return false
    }

    /// Runs submitted jobs until ``finish()``, then waits for the running ones.
    func run() async {
        await withDiscardingTaskGroup { group in
            for await work in stream {
                switch work {
                case .call(let job):
                    group.addTask {
                        let response = await job.respond()
                        // The place is free before the answer leaves: a client that
                        // sends its next call the moment it reads this answer must
                        // not find the server still counting this one.
                        self.release()
                        job.complete(response)
                    }
                case .stream(let body):
                    group.addTask { await body() }
                }
            }
        }
    }

    func finish() {
        continuation.finish()
    }
}

/// One admitted call: its handler and where to send the answer.
///
/// Deadlines and cancellation are the connection's business: when either
/// comes first, the connection answers (or drops the call) at once and
/// ignores this job's later answer. The job itself runs to its end, which
/// costs one task per call instead of three racing ones; handlers are short
/// (a few store operations), so the work it may finish in vain is bounded.
struct CallJob: Sendable {
    var context: ServerContext
    var handler: RPCRouter.AsyncHandler
    /// Called with the final response frame, on the task; hands it to the connection's loop.
    var complete: @Sendable (ResponseFrame) -> Void

    /// Runs the handler; the answer, success or mapped failure.
    func respond() async -> ResponseFrame {
        await Self.respond(handler, context: context)
    }

    static func respond(_ handler: RPCRouter.AsyncHandler, context: ServerContext) async -> ResponseFrame {
        do {
            return success(try await handler(context), context: context)
        } catch {
            return failure(ErrorMapping.rpcError(for: error, logger: context.logger), context: context)
        }
    }

    /// Runs a stream's handler until it returns, or until the connection
    /// ends the stream (then the handler is cancelled); the call's final
    /// answer: OK with no payload, or the mapped failure. When the connection
    /// ended the call it has already answered, and drops this one.
    static func respond(
        _ handler: @escaping RPCRouter.StreamHandler, stream: ServerStream, context: ServerContext
    ) async -> ResponseFrame {
        await withTaskGroup(of: ResponseFrame?.self) { group in
            group.addTask {
                await stream.waitUntilEnded()
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
                    stream.end()
                } else {
                    group.cancelAll()
                }
            }
            return answer ?? failure(ServerStream.endedError, context: context)
        }
    }

    /// The response of a staged call, from the answer it completed with.
    static func respond(_ answer: CallCompletion.Answer, context: ServerContext) -> ResponseFrame {
        do {
            return success(try answer().serializedBuffer(), context: context)
        } catch {
            return failure(ErrorMapping.rpcError(for: error, logger: context.logger), context: context)
        }
    }

    /// The answer of a staged call to an in-process caller: the message as
    /// is when the caller handed over its request as one, else the frame.
    static func respondLocally(_ answer: CallCompletion.Answer, context: ServerContext) -> LocalResponse {
        guard context.request.message != nil else { return .frame(respond(answer, context: context)) }
        do {
            return .message(try answer())
        } catch {
            return .frame(failure(ErrorMapping.rpcError(for: error, logger: context.logger), context: context))
        }
    }

    /// How a call proceeds once its method is looked up.
    enum Route {
        /// Answered at once: an unknown method, or an inline handler that ran.
        case answered(ResponseFrame)
        /// Runs as a task, once the executor admits it.
        case task(RPCRouter.AsyncHandler)
        /// Starts on the caller's thread once admitted; may turn into a task.
        case staged(RPCRouter.StagedHandler)
        /// A server stream: a task of its own for as long as the call lasts.
        case stream(RPCRouter.StreamHandler)
    }

    static func route(_ handler: RPCRouter.Handler?, context: ServerContext) -> Route {
        switch handler {
        case nil:
            return .answered(failure(
                RPCError(code: .unimplemented, message: "unknown method \(context.method)", reason: .unknownMethod),
                context: context
            ))
        case .inline(let handler)?:
            do {
                return .answered(success(try handler(context), context: context))
            } catch {
                return .answered(failure(ErrorMapping.rpcError(for: error, logger: context.logger), context: context))
            }
        case .async(let handler)?:
            return .task(handler)
        case .staged(let handler)?:
            return .staged(handler)
        case .stream(let handler)?:
            return .stream(handler)
        }
    }

    /// The answer when the executor has no place for the call.
    static func overloaded(_ context: ServerContext) -> ResponseFrame {
        var overloaded = RPCError(
            code: .resourceExhausted, message: "the server is at capacity: retry later", reason: .overloaded
        )
        overloaded.metadata.add("retry-after", "1")
        return failure(overloaded, context: context)
    }

    /// The answer to a call that arrives once shutdown has begun.
    static func goingAway(_ context: ServerContext) -> ResponseFrame {
        failure(
            RPCError(code: .unavailable, message: "the server is shutting down", reason: .goingAway), context: context
        )
    }

    static func success(_ payload: ByteBuffer?, context: ServerContext) -> ResponseFrame {
        ResponseFrame(callID: context.callID, status: .ok, metadata: responseMetadata(context.requestID), payload: payload)
    }

    static func failure(_ error: RPCError, context: ServerContext) -> ResponseFrame {
        failure(error, callID: context.callID, requestID: context.requestID)
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
