public import Logging
public import NIOCore
public import NotifyCore
import NotifyWire
import NotifyCrypto
import NotifyMessages
import NotifyTracing
import Synchronization

/// What a handler knows about the call it serves, besides its request.
public struct ServerContext: Sendable {
    public var callID: UInt64
    public var method: String
    public var metadata: Metadata
    /// When the client stops waiting; nil when it set no deadline.
    public var deadline: ContinuousClock.Instant?
    /// The request's bytes, or how to make them for a typed in-process call.
    private var request: RequestBytes
    /// The serialized request, for idempotency fingerprints: the bytes off
    /// a connection, or the encoding of the message an in-process caller
    /// handed over, made here only when asked for (exactly the bytes a
    /// remote caller would have sent).
    public var requestPayload: ByteBuffer {
        switch request {
        case .payload(let payload): payload
        case .encode(let encode): encode()
        }
    }
    /// The client's request id ("x-request-id"), or one the server made.
    public var requestID: String
    /// The caller's last token and its hash: its connection's, or the one an
    /// in-process caller passed; nil when there is none.
    var tokenMemo: CallerMemo?
    /// The client's IP address, for the failed-authentication limit; nil for
    /// an in-process caller.
    var peer: String?
    /// Set once a stream started with a stream ticket (no `authorization`):
    /// the hash of the token that obtained it, which the stream's later
    /// checks of its caller read instead of the header.
    var streamTokenHash: [UInt8]?
    /// The call's span; nil when tracing is off (``CallTracer``). Its
    /// answer ends it (``CallJob``, ``LocalCall``).
    var trace: TraceSpan?
    /// The connection's logger, without the call's metadata.
    private var connectionLogger: Logger
    /// What records the call's end (its method's metrics and debug line);
    /// set by the ``Dispatcher`` once the call is routed.
    var observer: CallObserver?
    /// When the call was routed (`NIODeadline` uptime nanoseconds); 0 when
    /// nothing times it (metrics off and the debug line off).
    var started: UInt64 = 0
    /// Shared by every copy of this context once something records the
    /// call's end (an observer, a span): the first end recorded wins. A
    /// connection answers DEADLINE_EXCEEDED at the deadline; the handler's
    /// later answer, which the connection drops, must not count too.
    private var ending: CallEnding?

    /// The connection logger's level, read without building the call's logger.
    var loggerLevel: Logger.Level { connectionLogger.logLevel }

    /// Records the call's end, once, where its answer is made: its method's
    /// metrics and debug line (its observer, if it has one) and its span.
    func ended(status: StatusCode, reason: Reason?, message: String?) {
        guard ending?.claim() ?? true else { return }
        observer?.finished(status: status, reason: reason, started: started, context: self)
        trace?.endRPC(status: status, reason: reason, message: message)
    }

    /// ``ended(status:reason:message:)`` with an in-process call's typed answer.
    func ended<Response>(_ result: Result<Response, RPCError>) {
        switch result {
        case .success: ended(status: .ok, reason: nil, message: nil)
        case .failure(let error): ended(status: error.code, reason: error.reason, message: error.message)
        }
    }

    /// Makes the call's end recorded once, whoever records it first.
    mutating func recordsEnd() {
        if ending == nil { ending = CallEnding() }
    }

    /// Starts observing the call: its method's observer, and the clock when
    /// something reads it.
    mutating func observe(_ observer: CallObserver?) {
        guard let observer else { return }
        self.observer = observer
        recordsEnd()
        if observer.timesCall(logger: connectionLogger) { started = NIODeadline.now().uptimeNanoseconds }
    }

    /// Carries `notify.request.id` and `notify.rpc.method`.
    ///
    /// Made when something logs, not per call: setting logger metadata makes
    /// the stream handler render its metadata text each time, which cost
    /// 4 % of the server's CPU when it was done for every call.
    public var logger: Logger {
        var logger = connectionLogger
        logger[metadataKey: "notify.request.id"] = "\(requestID)"
        logger[metadataKey: "notify.rpc.method"] = "\(method)"
        return logger
    }

    /// - Parameter logger: the connection's logger; the call's metadata is added when it is used.
    public init(
        callID: UInt64, method: String, metadata: Metadata, deadline: ContinuousClock.Instant?,
        requestPayload: ByteBuffer, requestID: String, logger: Logger
    ) {
        self.init(
            callID: callID, method: method, metadata: metadata, deadline: deadline,
            request: .payload(requestPayload), requestID: requestID, logger: logger
        )
    }

    /// A typed in-process call's context: `encode` makes the request's bytes
    /// if something needs them.
    init(
        callID: UInt64, method: String, metadata: Metadata, deadline: ContinuousClock.Instant?,
        encode: @escaping @Sendable () -> ByteBuffer, requestID: String, logger: Logger
    ) {
        self.init(
            callID: callID, method: method, metadata: metadata, deadline: deadline,
            request: .encode(encode), requestID: requestID, logger: logger
        )
    }

    private init(
        callID: UInt64, method: String, metadata: Metadata, deadline: ContinuousClock.Instant?,
        request: RequestBytes, requestID: String, logger: Logger
    ) {
        self.callID = callID
        self.method = method
        self.metadata = metadata
        self.deadline = deadline
        self.request = request
        self.requestID = requestID
        self.connectionLogger = logger
    }
}

/// A request's bytes as a ``ServerContext`` holds them.
private enum RequestBytes: Sendable {
    /// Off a connection, or from an in-process caller of raw payloads.
    case payload(ByteBuffer)
    /// A typed in-process call's request, encoded when asked for.
    case encode(@Sendable () -> ByteBuffer)
}

/// Whether a call's end was recorded (``ServerContext/ended(status:reason:message:)``).
final class CallEnding: Sendable {
    private let done = Atomic<Bool>(false)

    /// True the first time only.
    func claim() -> Bool {
        !done.exchange(true, ordering: .relaxed)
    }
}
