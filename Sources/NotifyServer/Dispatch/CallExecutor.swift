import Logging
import NIOCore
import NotifyWire
import Synchronization

/// Runs calls as child tasks of the server's task group.
///
/// Connection handlers live on event loops and must not await; they submit a
/// ``CallJob`` here and get the response back on their loop. Every call task
/// is owned by ``run()``, so shutdown cancels and awaits them all.
///
/// The queue is unbounded by itself but bounded in practice: each connection
/// admits at most `maxConcurrentCallsPerConnection` calls.
final class CallExecutor: Sendable {
    private let stream: AsyncStream<CallJob>
    private let continuation: AsyncStream<CallJob>.Continuation

    init() {
        (stream, continuation) = AsyncStream.makeStream(of: CallJob.self)
    }

    /// - Returns: false when the executor has finished; the caller answers UNAVAILABLE.
    func submit(_ job: CallJob) -> Bool {
        if case .enqueued = continuation.yield(job) { return true }
        return false
    }

    /// Runs submitted jobs until ``finish()``, then waits for the running ones.
    func run() async {
        await withDiscardingTaskGroup { group in
            for await job in stream {
                group.addTask { await job.run() }
            }
        }
    }

    func finish() {
        continuation.finish()
    }
}

/// A cancellation signal a connection handler can fire from its event loop.
final class CallCancellation: Sendable {
    private enum State {
        case waiting(CheckedContinuation<Void, Never>?)
        case fired
    }

    private let state = Mutex<State>(.waiting(nil))

    func fire() {
        let continuation: CheckedContinuation<Void, Never>? = state.withLock { state in
            switch state {
            case .waiting(let continuation):
                state = .fired
                return continuation
            case .fired:
                return nil
            }
        }
        continuation?.resume()
    }

    /// Returns when fired, or when the waiting task is cancelled.
    func wait() async {
        await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                let resumeNow: Bool = state.withLock { state in
                    switch state {
                    case .waiting:
                        state = .waiting(continuation)
                        return false
                    case .fired:
                        return true
                    }
                }
                if resumeNow { continuation.resume() }
            }
        } onCancel: {
            fire()
        }
    }
}

/// One admitted call: its handler, its deadline and where to send the answer.
struct CallJob: Sendable {
    var context: ServerContext
    var handler: RPCRouter.Handler
    var cancellation: CallCancellation
    /// Called with the final response frame; hops to the connection's loop.
    var complete: @Sendable (ResponseFrame) -> Void

    private enum Outcome: Sendable {
        case finished(ByteBuffer)
        case failed(RPCError)
        case deadlineExceeded
        case cancelled
    }

    func run() async {
        let context = self.context
        let handler = self.handler
        let cancellation = self.cancellation
        if let deadline = context.deadline, deadline <= .now {
            complete(Self.response(for: .deadlineExceeded, context: context))
            return
        }
        let outcome: Outcome = await withTaskGroup(of: Outcome.self) { group in
            group.addTask {
                do {
                    return .finished(try await handler(context))
                } catch {
                    return .failed(ErrorMapping.rpcError(for: error, logger: context.logger))
                }
            }
            if let deadline = context.deadline {
                group.addTask {
                    do {
                        try await Task.sleep(until: deadline, clock: .continuous)
                        return .deadlineExceeded
                    } catch {
                        return .cancelled
                    }
                }
            }
            group.addTask {
                await cancellation.wait()
                return .cancelled
            }
            let first = await group.next() ?? .cancelled
            group.cancelAll()
            return first
        }
        complete(Self.response(for: outcome, context: context))
    }

    private static func response(for outcome: Outcome, context: ServerContext) -> ResponseFrame {
        var metadata = Metadata()
        metadata.add("x-request-id", context.requestID)
        switch outcome {
        case .finished(let payload):
            return ResponseFrame(callID: context.callID, status: .ok, message: "", metadata: metadata, payload: payload)
        case .failed(let error):
            for (key, value) in error.metadata { metadata.add(key, value) }
            return ResponseFrame(
                callID: context.callID, status: error.code, message: error.message, metadata: metadata,
                payload: nil, reason: error.reason, fieldViolations: error.fieldViolations
            )
        case .deadlineExceeded:
            return ResponseFrame(
                callID: context.callID, status: .deadlineExceeded, message: "the call's deadline passed",
                metadata: metadata, payload: nil, reason: "DEADLINE_EXCEEDED", fieldViolations: []
            )
        case .cancelled:
            return ResponseFrame(
                callID: context.callID, status: .cancelled, message: "the call was cancelled",
                metadata: metadata, payload: nil, reason: "CANCELLED", fieldViolations: []
            )
        }
    }
}
