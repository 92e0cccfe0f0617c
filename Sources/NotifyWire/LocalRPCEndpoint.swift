public import NIOCore
public import NotifyCrypto

/// Something that answers RPC calls in this process, with no connection.
///
/// The RPC server is one: the REST gateway that runs inside `notifyd serve`
/// calls it through ``NotifyClient`` like a remote client would (same
/// method names, protobuf payloads, metadata, statuses and admission limits),
/// but without encrypting, framing and decrypting each call to itself.
public protocol LocalRPCEndpoint: Sendable {
    /// Starts one unary call and returns at once; the answer arrives later.
    ///
    /// The gateway starts calls from its event loops: a call whose work the
    /// server can do without waiting (a Notify whose caller is cached) then
    /// costs no task at all, and its answer is built on `eventLoop`.
    ///
    /// - Parameters:
    ///   - method: the full method name, such as `/notify.v1.Notifications/Notify`.
    ///   - deadline: when the caller stops waiting; handlers see it, but the
    ///     call is not cut short in-process: the caller keeps it (the
    ///     gateway's HTTP connection answers 504 past it).
    ///   - memo: the caller's own ``TokenMemo`` (one per HTTP connection),
    ///     which a connection's calls get from their connection; nil hashes
    ///     the token of each call.
    ///   - eventLoop: where `completion` runs.
    ///   - completion: the response, as the server would have framed it;
    ///     called exactly once, on `eventLoop`, never before `start` returns.
    func start(
        method: String, metadata: Metadata, payload: ByteBuffer, deadline: ContinuousClock.Instant?, memo: TokenMemo?,
        on eventLoop: any EventLoop, completion: @escaping @Sendable (ResponseFrame) -> Void
    )

    /// Starts one server-streaming call and returns at once.
    ///
    /// - Parameters:
    ///   - onMessage: takes each message's payload, in order, on the
    ///     handler's task; false ends the call (its reader is gone or full).
    ///     It must return quickly.
    ///   - completion: the final response; called exactly once.
    /// - Returns: ends the call early (its reader went away); idempotent.
    func startStream(
        method: String, metadata: Metadata, payload: ByteBuffer,
        onMessage: @escaping @Sendable (ByteBuffer) -> Bool,
        completion: @escaping @Sendable (ResponseFrame) -> Void
    ) -> @Sendable () -> Void
}

extension LocalRPCEndpoint {
    /// Runs one unary call to its end, for callers in a task.
    public func call(
        method: String, metadata: Metadata, payload: ByteBuffer, deadline: ContinuousClock.Instant?,
        on eventLoop: any EventLoop
    ) async -> ResponseFrame {
        await withCheckedContinuation { continuation in
            start(method: method, metadata: metadata, payload: payload, deadline: deadline, memo: nil, on: eventLoop) {
                continuation.resume(returning: $0)
            }
        }
    }
}
