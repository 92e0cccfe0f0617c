import NotifyCore
import NotifyTracing

// The calls' spans (docs/OPERATIONS.md, "Tracing"): one per call, started
// where a transport hands the call to the dispatcher, continuing the trace of
// the caller's `traceparent` metadata, and ended by the call's answer (frames:
// ``CallJob``'s success and failure; in-process: ``LocalCall`` and
// ``LocalReplies``). The store's work is a child span, started by the service
// around its call into the store (``ServerContext/storeSpan(_:)``).
//
// Every hook is `context.trace?` or behind `tracer.isOn`: off, a call costs a
// nil check and makes nothing.

extension Dispatcher {
    /// Starts the call's span: its method, request id and caller's address.
    func startSpan(_ context: inout ServerContext) {
        context.trace = tracer.serverSpan(method: context.method, metadata: context.metadata)
        context.trace?.setCall(requestID: context.requestID, peer: context.peer)
        if context.trace != nil { context.recordsEnd() }
    }
}

extension ServerContext {
    /// A child span of the call's for the store's part of it (`store.append`,
    /// `store.read`), which the service ends when the store answers; nil when
    /// tracing is off.
    func storeSpan(_ operation: String) -> TraceSpan? {
        guard let trace else { return nil }
        let span = trace.child(operation)
        span.set("db.operation.name", operation)
        return span
    }
}

extension TraceSpan {
    /// Ends a store span with the store's outcome: failed when it threw.
    func endStore<Success>(_ result: Result<Success, some Error>) {
        if case .failure(let error) = result { fail("\(error)") }
        end()
    }
}

extension ServerContext {
    /// Runs `body`, a call into the store, inside a store span when tracing is on.
    func inStoreSpan<T>(_ operation: String, _ body: () async throws -> T) async throws -> T {
        guard let span = storeSpan(operation) else { return try await body() }
        do {
            let value = try await body()
            span.end()
            return value
        } catch {
            span.fail("\(error)")
            span.end()
            throw error
        }
    }
}
