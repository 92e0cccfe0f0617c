public import NIOCore
public import NotifyCore
public import NotifyCrypto

/// The server's side of the in-process transport: what a client in the same
/// process calls instead of a connection.
///
/// The RPC server is one: the REST gateway that runs inside `notifyd serve`
/// calls it through `NotifyClient(local:)` as a remote client would (same
/// descriptors, metadata, statuses, error mapping and admission limits, the
/// same dispatcher), without encrypting, framing and decrypting each call
/// to itself.
///
/// A typed call hands its request over as the message itself and gets the
/// response message back, so neither side encodes or decodes protobuf: that
/// round trip was the largest single cost of the gateway's
/// SendNotification, whose answer is the whole notification. The bytes are
/// made only when something needs them (an idempotency fingerprint, which
/// is then exactly the encoding a remote caller's bytes have).
public protocol InProcessEndpoint: Sendable {
    /// Starts one unary call with typed messages and returns at once.
    ///
    /// The gateway starts calls from its event loops: a call whose work the
    /// server can do without waiting (a Notify whose caller is cached) then
    /// costs no task at all, and its answer is built on `eventLoop`.
    ///
    /// - Parameters:
    ///   - method: the method; a server-stream descriptor is refused
    ///     (UNIMPLEMENTED `STREAMING_UNSUPPORTED`): streams go by
    ///     ``startStream(method:metadata:payload:onMessage:completion:)``.
    ///   - deadline: when the caller stops waiting; handlers see it, but the
    ///     call is not cut short in-process: the caller keeps it (the
    ///     gateway's HTTP connection answers 504 past it).
    ///   - memo: the caller's own ``TokenMemo`` (one per HTTP connection),
    ///     which a connection's calls get from their connection; nil hashes
    ///     the token of each call.
    ///   - eventLoop: where `completion` runs.
    ///   - completion: the response or the call's ``RPCError`` (its metadata
    ///     carries `x-request-id`, as a response frame's does); called exactly
    ///     once, on `eventLoop`, never before `start` returns.
    func start<Request: Sendable, Response: Sendable>(
        _ method: MethodDescriptor<Request, Response>, request: Request, metadata: Metadata,
        deadline: ContinuousClock.Instant?, memo: TokenMemo?, on eventLoop: any EventLoop,
        completion: @escaping @Sendable (Result<Response, RPCError>) -> Void
    )

    /// Starts one unary call given as bytes (a caller of raw payloads) and
    /// returns at once; `completion` gets the response frame, on `eventLoop`,
    /// never before `start` returns.
    func start(
        method: String, metadata: Metadata, payload: ByteBuffer, deadline: ContinuousClock.Instant?,
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

extension InProcessEndpoint {
    /// Runs one unary call given as bytes to its end, for callers in a task.
    public func call(
        method: String, metadata: Metadata, payload: ByteBuffer, deadline: ContinuousClock.Instant?,
        on eventLoop: any EventLoop
    ) async -> ResponseFrame {
        await withCheckedContinuation { continuation in
            start(method: method, metadata: metadata, payload: payload, deadline: deadline, on: eventLoop) { response in
                continuation.resume(returning: response)
            }
        }
    }
}
