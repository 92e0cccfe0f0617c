public import Logging
public import NIOCore
public import NotifyWire

/// What a handler knows about the call it serves, besides its request.
public struct ServerContext: Sendable {
    public var callID: UInt64
    public var method: String
    public var metadata: Metadata
    /// When the client stops waiting; nil when it set no deadline.
    public var deadline: ContinuousClock.Instant?
    /// The serialized request, for idempotency fingerprints.
    public var requestPayload: ByteBuffer
    /// The client's request id ("x-request-id"), or one the server made.
    public var requestID: String
    /// Carries `notify.request.id` and `notify.rpc.method`.
    public var logger: Logger

    public init(
        callID: UInt64, method: String, metadata: Metadata, deadline: ContinuousClock.Instant?,
        requestPayload: ByteBuffer, requestID: String, logger: Logger
    ) {
        self.callID = callID
        self.method = method
        self.metadata = metadata
        self.deadline = deadline
        self.requestPayload = requestPayload
        self.requestID = requestID
        self.logger = logger
    }
}
