public import Logging
public import NIOCore
public import NotifyCore
import NotifyCrypto
import NotifyMessages
public import NotifyWire

/// What a handler knows about the call it serves, besides its request.
public struct ServerContext: Sendable {
    public var callID: UInt64
    public var method: String
    public var metadata: Metadata
    /// When the client stops waiting; nil when it set no deadline.
    public var deadline: ContinuousClock.Instant?
    /// The request: bytes off a connection, or what an in-process caller
    /// handed over (perhaps the message itself).
    public var request: LocalRequest
    /// The serialized request, for idempotency fingerprints; encoded here
    /// when an in-process caller handed over the message.
    public var requestPayload: ByteBuffer {
        switch request {
        case .payload(let payload): payload
        case .message(let message): (message as? any WireMessage)?.serializedBuffer() ?? ByteBuffer()
        }
    }
    /// The client's request id ("x-request-id"), or one the server made.
    public var requestID: String
    /// The caller's last token and its hash: its connection's, or the one an
    /// in-process caller passed; nil when there is none.
    var tokenMemo: TokenMemo?
    /// The client's IP address, for the failed-authentication limit; nil for
    /// an in-process caller.
    var peer: String?
    /// The connection's logger, without the call's metadata.
    private var connectionLogger: Logger

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

    public init(
        callID: UInt64, method: String, metadata: Metadata, deadline: ContinuousClock.Instant?,
        request: LocalRequest, requestID: String, logger: Logger
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
