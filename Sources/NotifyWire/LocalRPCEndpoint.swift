public import NIOCore
public import NotifyCore
public import NotifyCrypto

/// Something that answers RPC calls in this process, with no connection.
///
/// The RPC server is one: the REST gateway that runs inside `notifyd serve`
/// calls it through ``NotifyClient`` like a remote client would (same
/// method names, metadata, statuses, error mapping and admission limits),
/// but without encrypting, framing and decrypting each call to itself.
///
/// A unary request may be handed over as the message itself
/// (``LocalRequest/message(_:)``): a handler that takes that type
/// then uses it as it is and answers with its response message, so neither
/// side encodes or decodes protobuf. That round trip was the largest single
/// cost of the gateway's SendNotification, whose answer is the whole
/// notification. The bytes are made only when something needs them (an
/// idempotency fingerprint, a handler over raw payloads).
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
    ///   - completion: the answer; called exactly once, on `eventLoop`, never
    ///     before `start` returns. A request given as bytes is always answered
    ///     with a frame.
    func start(
        method: String, metadata: Metadata, request: LocalRequest, deadline: ContinuousClock.Instant?,
        memo: TokenMemo?, on eventLoop: any EventLoop, completion: @escaping @Sendable (LocalResponse) -> Void
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
            start(
                method: method, metadata: metadata, request: .payload(payload), deadline: deadline, memo: nil,
                on: eventLoop
            ) { response in
                continuation.resume(returning: response.frame)
            }
        }
    }
}

/// A unary request as an in-process caller hands it over.
public enum LocalRequest: Sendable {
    /// Its protobuf encoding.
    case payload(ByteBuffer)
    /// The request message itself (a `WireMessage`); the server encodes it
    /// only if something needs the bytes.
    case message(any Sendable)

    /// The request message, when the caller handed one over.
    public var message: (any Sendable)? {
        if case .message(let message) = self { message } else { nil }
    }
}

/// What an in-process call answers.
public enum LocalResponse: Sendable {
    /// The response as the server frames it: every failure, and every answer
    /// to a request given as bytes.
    case frame(ResponseFrame)
    /// OK, with the response message itself, unencoded: only for a request
    /// given as a message, to a handler over messages.
    case message(any Sendable)

    /// The response as a frame, for a caller that gave bytes: such a caller
    /// is never answered with a message, and would get INTERNAL if it were.
    public var frame: ResponseFrame {
        switch self {
        case .frame(let frame):
            frame
        case .message:
            ResponseFrame(
                callID: 0, status: .internalError, message: "an in-process answer came without its bytes",
                reason: .localAnswerUnencoded
            )
        }
    }
}
