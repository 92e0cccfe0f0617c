public import NIOCore
public import NotifyCore

/// One unit of the notify wire protocol, as carried by a `notify.v1.Frame`.
///
/// These are plain values: ``encode(into:)`` and ``decode(payload:)`` are the only places that touch
/// the protobuf-c structs, so nothing here owns C memory.
public enum Frame: Hashable, Sendable {
    /// The server's first frame on every connection.
    case settings(Settings)
    /// A call from the client.
    case request(RequestFrame)
    /// The final answer to a call.
    case response(ResponseFrame)
    /// One message of a server stream, before the call's ``response(_:)``.
    case message(StreamMessageFrame)
    /// Keepalive; the receiver answers with a ``pong(_:)`` carrying the same opaque value.
    case ping(UInt64)
    case pong(UInt64)
    /// The sender will start (client) or accept (server) no new calls.
    case goAway(GoAwayFrame)
    /// The client gives up on a call.
    case cancel(callID: UInt64)

    /// The call this frame belongs to, or `nil` for connection-level frames (settings, ping, pong,
    /// goaway), so a handler can route without switching on every case.
    public var callID: UInt64? {
        switch self {
        case .request(let request): request.callID
        case .response(let response): response.callID
        case .message(let message): message.callID
        case .cancel(let callID): callID
        case .settings, .ping, .pong, .goAway: nil
        }
    }
}

/// What the server tells a client about the connection, once, as its first frame.
///
/// The proto fields are optional; an absent one decodes as zero (or empty), as proto2 does.
public struct Settings: Hashable, Sendable {
    /// Calls the client may have in flight at once on this connection.
    public var maxConcurrentCalls: UInt32
    /// The largest frame body, in bytes, either side accepts.
    public var maxMessageSize: UInt32
    /// The server closes a connection with no call in flight and no frame received for this long;
    /// 0 means never.
    public var idleTimeoutMilliseconds: UInt32
    /// Names the server software, for logs only.
    public var server: String

    public init(
        maxConcurrentCalls: UInt32,
        maxMessageSize: UInt32 = UInt32(Limits.defaultMaxMessageSize),
        idleTimeoutMilliseconds: UInt32 = 0,
        server: String = ""
    ) {
        self.maxConcurrentCalls = maxConcurrentCalls
        self.maxMessageSize = maxMessageSize
        self.idleTimeoutMilliseconds = idleTimeoutMilliseconds
        self.server = server
    }
}

/// A call from the client.
public struct RequestFrame: Hashable, Sendable {
    /// Chosen by the client, unique among its calls in flight, echoed in the response.
    public var callID: UInt64
    /// Such as `"/notify.v1.NotificationService/Notify"`.
    public var method: String
    public var metadata: Metadata
    /// Time the call had left when it was sent. `nil` and `0` both mean no deadline; decoding turns
    /// `0` into `nil` so callers have one case to check.
    public var timeoutMilliseconds: UInt64?
    /// The serialized request message of ``method``.
    public var payload: ByteBuffer

    public init(
        callID: UInt64,
        method: String,
        metadata: Metadata = [:],
        timeoutMilliseconds: UInt64? = nil,
        payload: ByteBuffer = ByteBuffer()
    ) {
        self.callID = callID
        self.method = method
        self.metadata = metadata
        self.timeoutMilliseconds = timeoutMilliseconds
        self.payload = payload
    }
}

/// The final answer to a call.
public struct ResponseFrame: Hashable, Sendable {
    public var callID: UInt64
    public var status: StatusCode
    /// Human-readable detail for a failure; empty when there is nothing to say.
    public var message: String
    public var metadata: Metadata
    /// The serialized response message of a successful unary call; `nil` otherwise. Presence is kept
    /// on the wire, so an empty message and no message stay distinct.
    public var payload: ByteBuffer?
    /// Why the call failed, beyond its status, such as ``Reason/callerBlocked``; carried on the wire
    /// as its upper-snake-case string, and kept as that string when this build does not know it.
    public var reason: Reason?
    public var fieldViolations: [FieldViolation]

    public init(
        callID: UInt64,
        status: StatusCode = .ok,
        message: String = "",
        metadata: Metadata = [:],
        payload: ByteBuffer? = nil,
        reason: Reason? = nil,
        fieldViolations: [FieldViolation] = []
    ) {
        self.callID = callID
        self.status = status
        self.message = message
        self.metadata = metadata
        self.payload = payload
        self.reason = reason
        self.fieldViolations = fieldViolations
    }
}

/// One message of a server stream.
public struct StreamMessageFrame: Hashable, Sendable {
    public var callID: UInt64
    public var payload: ByteBuffer
    /// The call's `x-request-id`, as its response carries it, so that a long stream can be
    /// told apart in logs before it ends. Empty from a server older than the field.
    public var metadata: Metadata

    public init(callID: UInt64, payload: ByteBuffer, metadata: Metadata = Metadata()) {
        self.callID = callID
        self.payload = payload
        self.metadata = metadata
    }
}

/// Announces that the sender starts or accepts no new calls; calls above ``lastCallID`` were not
/// processed and may be retried elsewhere.
public struct GoAwayFrame: Hashable, Sendable {
    public var lastCallID: UInt64
    public var status: StatusCode
    public var message: String

    public init(lastCallID: UInt64, status: StatusCode = .unavailable, message: String = "") {
        self.lastCallID = lastCallID
        self.status = status
        self.message = message
    }
}
