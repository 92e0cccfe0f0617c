public import NIOCore

/// The server's side of the in-process transport: what a client in the same
/// process calls instead of a connection.
///
/// The RPC server is one: the REST gateway that runs inside `notifyd serve`
/// calls it through `NotifyClient(local:)` as a remote client would (same
/// descriptors, metadata, statuses, error mapping and admission limits, the
/// same dispatcher), without encrypting, framing and decrypting each call
/// to itself.
///
/// Calls hand their request over as the message itself and get response
/// messages back, so neither side encodes or decodes protobuf: that round
/// trip was the largest single cost of the gateway's SendNotification, whose
/// answer is the whole notification. The bytes are made only when something
/// needs them (an idempotency fingerprint, which is then exactly the
/// encoding a remote caller's bytes have). There is no byte-level
/// in-process call: raw payloads are for callers of a connection.
///
/// It lives in the core, beside ``MethodDescriptor``, so that the gateway
/// names it without the wire or the codecs; the one thing it needs of NIO
/// is `EventLoop`, where a unary answer is built and delivered.
public protocol InProcessEndpoint: Sendable {
    /// Starts one unary call and returns at once.
    ///
    /// The gateway starts calls from its event loops: a call whose work the
    /// server can do without waiting (a Notify whose caller is cached) then
    /// costs no task at all, and its answer is built on `eventLoop`.
    ///
    /// - Parameters:
    ///   - method: the method; a server-stream descriptor is refused
    ///     (UNIMPLEMENTED `STREAMING_UNSUPPORTED`): streams go by
    ///     ``startStream(_:request:metadata:onMessage:completion:)``.
    ///   - deadline: when the caller stops waiting; handlers see it, but the
    ///     call is not cut short in-process: the caller keeps it (the
    ///     gateway's HTTP connection answers 504 past it).
    ///   - memo: the caller's own ``CallerMemo`` (one per HTTP connection);
    ///     nil hashes the token of each call.
    ///   - eventLoop: where `completion` runs.
    ///   - completion: the response or the call's ``RPCError`` (its metadata
    ///     carries `x-request-id`, as a response frame's does); called exactly
    ///     once, on `eventLoop`, never before `start` returns.
    func start<Request: Sendable, Response: Sendable>(
        _ method: MethodDescriptor<Request, Response>, request: Request, metadata: Metadata,
        deadline: ContinuousClock.Instant?, memo: CallerMemo?, on eventLoop: any EventLoop,
        completion: @escaping @Sendable (Result<Response, RPCError>) -> Void
    )

    /// Starts one server-streaming call and returns at once.
    ///
    /// - Parameters:
    ///   - onMessage: takes each message, in order, on the handler's task;
    ///     false ends the call (its reader is gone or full). It must return
    ///     quickly: the handler's next message waits for it.
    ///   - completion: the call's end: nil for OK, else its ``RPCError``
    ///     (with `x-request-id`); called exactly once, from any thread.
    /// - Returns: ends the call early (its reader went away); idempotent.
    func startStream<Request: Sendable, Response: Sendable>(
        _ method: MethodDescriptor<Request, Response>, request: Request, metadata: Metadata,
        onMessage: @escaping @Sendable (Response) -> Bool,
        completion: @escaping @Sendable (RPCError?) -> Void
    ) -> @Sendable () -> Void
}
