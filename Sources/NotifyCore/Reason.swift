/// Why a call failed, beyond its ``StatusCode``: a stable upper-snake-case string on the wire, such as
/// `"CALLER_BLOCKED"`, declared once here.
///
/// A struct over a private storage, as ``StatusCode`` is, so that the set of reasons can grow without
/// breaking a user's `switch`, and so that a reason this build does not know survives decoding:
/// ``init(rawValue:)`` keeps the peer's string, ``rawValue`` gives it back unchanged, and (inside this
/// package) ``kind`` is `nil` for it. Code inside the package that must cover every reason (the REST
/// gateway's error table) switches over ``Kind`` exhaustively, so a new reason without a row there
/// fails to compile.
///
/// A known reason is one byte of payload and never allocates: creating one, comparing one and
/// reading its ``rawValue`` (a string literal) cost what an optional `String` did.
///
/// Reasons have an ``Origin``: those a server sends in a `response` frame (docs/PROTOCOL.md's wire
/// table, ``isWire``), and those only `NotifyClient`, the in-process path or the REST gateway raise
/// themselves (PROTOCOL.md's second table); a client must not expect the latter from a server.
public struct Reason: Hashable, Sendable, CustomStringConvertible {
    /// Every reason this build knows, with its wire string: the one declaration of each.
    ///
    /// `package` so that this package's tables can switch over it exhaustively, while users of the
    /// `NotifyClient` product keep a type that may gain reasons (they compare with the static
    /// members instead).
    package enum Kind: String, CaseIterable, Sendable {
        // Sent by the server.
        case adminRoleRequired = "ADMIN_ROLE_REQUIRED"
        case alreadyExists = "ALREADY_EXISTS"
        case callerBlocked = "CALLER_BLOCKED"
        case connectionNotFound = "CONNECTION_NOT_FOUND"
        case deadlineExceeded = "DEADLINE_EXCEEDED"
        case feedFull = "FEED_FULL"
        case goingAway = "GOING_AWAY"
        case idempotencyKeyReused = "IDEMPOTENCY_KEY_REUSED"
        case `internal` = "INTERNAL"
        case invalidFields = "INVALID_FIELDS"
        case invalidMetadata = "INVALID_METADATA"
        case invalidStreamTicket = "INVALID_STREAM_TICKET"
        case invalidToken = "INVALID_TOKEN"
        case missingToken = "MISSING_TOKEN"
        case missingUnsID = "MISSING_UNS_ID"
        case notAuthorizedForApp = "NOT_AUTHORIZED_FOR_APP"
        case notAuthorizedForUser = "NOT_AUTHORIZED_FOR_USER"
        case notBlocked = "NOT_BLOCKED"
        case notFound = "NOT_FOUND"
        case notificationNotFound = "NOTIFICATION_NOT_FOUND"
        case notSubscriptionOwner = "NOT_SUBSCRIPTION_OWNER"
        case overloaded = "OVERLOADED"
        case pastEndOfFeed = "PAST_END_OF_FEED"
        case responseTooLarge = "RESPONSE_TOO_LARGE"
        case storeBusy = "STORE_BUSY"
        case storeUnavailable = "STORE_UNAVAILABLE"
        case subscriptionExpired = "SUBSCRIPTION_EXPIRED"
        case subscriptionNotFound = "SUBSCRIPTION_NOT_FOUND"
        case throttled = "THROTTLED"
        case tokenExpired = "TOKEN_EXPIRED"
        case tokenNotFound = "TOKEN_NOT_FOUND"
        case tokenRevoked = "TOKEN_REVOKED"
        case tooManyCalls = "TOO_MANY_CALLS"
        case undecodableRequest = "UNDECODABLE_REQUEST"
        case unknownMethod = "UNKNOWN_METHOD"
        case userNotFound = "USER_NOT_FOUND"
        // Raised by NotifyClient itself.
        case backingOff = "BACKING_OFF"
        case cancelled = "CANCELLED"
        case clientClosed = "CLIENT_CLOSED"
        case clientQueueFull = "CLIENT_QUEUE_FULL"
        case connectionClosed = "CONNECTION_CLOSED"
        case connectionError = "CONNECTION_ERROR"
        case connectionFailed = "CONNECTION_FAILED"
        case connectTimeout = "CONNECT_TIMEOUT"
        case consumerTooSlow = "CONSUMER_TOO_SLOW"
        case requestTooLarge = "REQUEST_TOO_LARGE"
        case tlsConfiguration = "TLS_CONFIGURATION"
        case undecodableResponse = "UNDECODABLE_RESPONSE"
        // The in-process path only.
        case localAnswerUnencoded = "LOCAL_ANSWER_UNENCODED"
        case notAStream = "NOT_A_STREAM"
        case streamingUnsupported = "STREAMING_UNSUPPORTED"
        // The REST gateway's own (HTTP answers and `/feed/events` end events).
        case notServing = "NOT_SERVING"
        case probeAccepted = "PROBE_ACCEPTED"
        case streamEnded = "STREAM_ENDED"
        case streamFailed = "STREAM_FAILED"
        case wrongKind = "WRONG_KIND"

        /// Who may raise a reason of this kind; see ``Reason/Origin``.
        package var origin: Origin {
            switch self {
            case .adminRoleRequired, .alreadyExists, .callerBlocked, .connectionNotFound, .deadlineExceeded, .feedFull,
                .goingAway, .idempotencyKeyReused, .internal, .invalidFields, .invalidMetadata, .invalidStreamTicket,
                .invalidToken, .missingToken, .missingUnsID, .notAuthorizedForApp, .notAuthorizedForUser, .notBlocked, .notFound,
                .notificationNotFound, .notSubscriptionOwner, .overloaded, .pastEndOfFeed, .responseTooLarge, .storeBusy,
                .storeUnavailable, .subscriptionExpired, .subscriptionNotFound, .throttled, .tokenExpired, .tokenNotFound, .tokenRevoked,
                .tooManyCalls, .undecodableRequest, .unknownMethod, .userNotFound:
                .server
            case .backingOff, .cancelled, .clientClosed, .clientQueueFull, .connectionClosed, .connectionError,
                .connectionFailed, .connectTimeout, .consumerTooSlow, .requestTooLarge, .tlsConfiguration,
                .undecodableResponse:
                .client
            case .localAnswerUnencoded, .notAStream, .streamingUnsupported:
                .inProcess
            case .notServing, .probeAccepted, .streamEnded, .streamFailed, .wrongKind:
                .gateway
            }
        }
    }

    /// Where a reason comes from, which decides whether a client can get it in a `response` frame.
    package enum Origin: Hashable, Sendable {
        /// A server sends it in a `response` frame (docs/PROTOCOL.md's wire table). Some of these are
        /// also raised locally with the same meaning (`NotifyClient` raises DEADLINE_EXCEEDED,
        /// GOING_AWAY and UNDECODABLE_REQUEST itself too).
        case server
        /// `NotifyClient` raises it itself about its own connection, queue or reader; never on the wire.
        case client
        /// Only a call made in-process (no frames) can end with it.
        case inProcess
        /// The REST gateway's own, for its HTTP answers and `/feed/events` end events; never on the wire.
        case gateway
    }

    private enum Storage: Hashable, Sendable {
        case known(Kind)
        /// A reason from the wire that this build does not know, kept as it came.
        case unrecognized(String)
    }

    private let storage: Storage

    private init(_ kind: Kind) {
        self.storage = .known(kind)
    }

    /// A known reason of `kind`.
    package init(kind: Kind) {
        self.storage = .known(kind)
    }

    /// The reason whose wire string is `rawValue`.
    ///
    /// Never fails: a string this build does not know is kept, so that a newer server's reason
    /// reaches the caller (and its logs) intact; its ``kind`` is `nil`.
    public init(rawValue: String) {
        if let kind = Kind(rawValue: rawValue) {
            self.storage = .known(kind)
        } else {
            self.storage = .unrecognized(rawValue)
        }
    }

    /// The upper-snake-case string carried on the wire.
    public var rawValue: String {
        switch self.storage {
        case .known(let kind): kind.rawValue
        case .unrecognized(let raw): raw
        }
    }

    /// The reason's kind, or `nil` for a reason this build does not know (from a newer peer).
    package var kind: Kind? {
        switch self.storage {
        case .known(let kind): kind
        case .unrecognized: nil
        }
    }

    /// Where the reason comes from; `nil` for one this build does not know (it came from a server,
    /// since nothing else hands reasons over as strings).
    package var origin: Origin? {
        self.kind?.origin
    }

    /// Whether a server sends this reason in a `response` frame. A reason this build does not know
    /// came from the wire, so it counts as a wire reason.
    public var isWire: Bool {
        (self.origin ?? .server) == .server
    }

    public var description: String {
        self.rawValue
    }

    // MARK: Sent by the server

    /// PERMISSION_DENIED: only an administrator may do this.
    public static let adminRoleRequired = Reason(.adminRoleRequired)
    /// ALREADY_EXISTS: the entity to create exists.
    public static let alreadyExists = Reason(.alreadyExists)
    /// PERMISSION_DENIED: the caller is on the blocked list.
    public static let callerBlocked = Reason(.callerBlocked)
    /// NOT_FOUND: no such connection (admin calls).
    public static let connectionNotFound = Reason(.connectionNotFound)
    /// DEADLINE_EXCEEDED: the call's `timeout_ms` passed (the server's answer, or the client's own).
    public static let deadlineExceeded = Reason(.deadlineExceeded)
    /// RESOURCE_EXHAUSTED: every feed the notification was for is full; nothing was stored.
    public static let feedFull = Reason(.feedFull)
    /// UNAVAILABLE: the server (or the gateway) is shutting down; retry on a new connection.
    public static let goingAway = Reason(.goingAway)
    /// FAILED_PRECONDITION: the idempotency key came back with another request.
    public static let idempotencyKeyReused = Reason(.idempotencyKeyReused)
    /// INTERNAL: a bug; the details are in the server's log under the request id.
    public static let `internal` = Reason(.internal)
    /// INVALID_ARGUMENT: one or more fields are invalid, one field violation each.
    public static let invalidFields = Reason(.invalidFields)
    /// INVALID_ARGUMENT: a metadata value breaks its limit.
    public static let invalidMetadata = Reason(.invalidMetadata)
    /// UNAUTHENTICATED: the stream ticket is unknown, already redeemed or expired.
    public static let invalidStreamTicket = Reason(.invalidStreamTicket)
    /// UNAUTHENTICATED: the token is not one the server issued.
    public static let invalidToken = Reason(.invalidToken)
    /// UNAUTHENTICATED: no `authorization` metadata.
    public static let missingToken = Reason(.missingToken)
    /// INVALID_ARGUMENT: SendNotification without `x-uns-id`.
    public static let missingUnsID = Reason(.missingUnsID)
    /// PERMISSION_DENIED: the caller is neither the application concerned nor an administrator.
    public static let notAuthorizedForApp = Reason(.notAuthorizedForApp)
    /// PERMISSION_DENIED: the caller is neither the user concerned nor an administrator.
    public static let notAuthorizedForUser = Reason(.notAuthorizedForUser)
    /// NOT_FOUND: the address to unblock is not blocked.
    public static let notBlocked = Reason(.notBlocked)
    /// NOT_FOUND: the entity does not exist (the store's generic answer).
    public static let notFound = Reason(.notFound)
    /// NOT_FOUND: a notification id is not in the user's feed (unknown, another user's, deleted or expired).
    public static let notificationNotFound = Reason(.notificationNotFound)
    /// PERMISSION_DENIED: the caller is neither the subscription's application, its user, nor an administrator.
    public static let notSubscriptionOwner = Reason(.notSubscriptionOwner)
    /// RESOURCE_EXHAUSTED: the server runs its maximum of calls, or of streams, at once.
    public static let overloaded = Reason(.overloaded)
    /// OUT_OF_RANGE: List's or Watch's `after_sequence` is past the feed's last sequence.
    public static let pastEndOfFeed = Reason(.pastEndOfFeed)
    /// RESOURCE_EXHAUSTED: a response or stream message is past `max_message_size`.
    public static let responseTooLarge = Reason(.responseTooLarge)
    /// RESOURCE_EXHAUSTED: the store is busy; passing, with `retry-after`.
    public static let storeBusy = Reason(.storeBusy)
    /// UNAVAILABLE: the store cannot write until an operator frees it; nothing was stored.
    public static let storeUnavailable = Reason(.storeUnavailable)
    /// NOT_FOUND: the subscription named by `x-uns-id` has expired.
    public static let subscriptionExpired = Reason(.subscriptionExpired)
    /// NOT_FOUND: no such subscription.
    public static let subscriptionNotFound = Reason(.subscriptionNotFound)
    /// RESOURCE_EXHAUSTED: the caller's rate limit, or too many failed authentications from its address.
    public static let throttled = Reason(.throttled)
    /// UNAUTHENTICATED: the token has expired.
    public static let tokenExpired = Reason(.tokenExpired)
    /// NOT_FOUND: no such token (admin calls).
    public static let tokenNotFound = Reason(.tokenNotFound)
    /// UNAUTHENTICATED: the token was revoked.
    public static let tokenRevoked = Reason(.tokenRevoked)
    /// RESOURCE_EXHAUSTED: the connection has `max_concurrent_calls` calls in flight.
    public static let tooManyCalls = Reason(.tooManyCalls)
    /// INVALID_ARGUMENT: the request is not protobuf, or a string is not valid UTF-8 or holds a NUL.
    public static let undecodableRequest = Reason(.undecodableRequest)
    /// UNIMPLEMENTED: no such method.
    public static let unknownMethod = Reason(.unknownMethod)
    /// NOT_FOUND: no such user.
    public static let userNotFound = Reason(.userNotFound)

    // MARK: Raised by NotifyClient itself

    /// UNAVAILABLE: the last connection attempt failed and the client waits before the next.
    public static let backingOff = Reason(.backingOff)
    /// CANCELLED: the caller cancelled the call (a server never answers a cancelled call).
    public static let cancelled = Reason(.cancelled)
    /// UNAVAILABLE: the client was shut down.
    public static let clientClosed = Reason(.clientClosed)
    /// RESOURCE_EXHAUSTED: too many calls wait for a connection on the client.
    public static let clientQueueFull = Reason(.clientQueueFull)
    /// UNAVAILABLE: the connection closed before the answer came.
    public static let connectionClosed = Reason(.connectionClosed)
    /// The server ended the connection for a protocol error (its goaway status and message).
    public static let connectionError = Reason(.connectionError)
    /// UNAVAILABLE: the connection could not be made or failed.
    public static let connectionFailed = Reason(.connectionFailed)
    /// UNAVAILABLE: connecting took longer than the client's connect timeout.
    public static let connectTimeout = Reason(.connectTimeout)
    /// RESOURCE_EXHAUSTED: a stream's reader left too many bytes of messages unread.
    public static let consumerTooSlow = Reason(.consumerTooSlow)
    /// RESOURCE_EXHAUSTED: the request is larger than the server accepts; it was not sent.
    public static let requestTooLarge = Reason(.requestTooLarge)
    /// UNAVAILABLE: the client's TLS configuration could not be loaded.
    public static let tlsConfiguration = Reason(.tlsConfiguration)
    /// INTERNAL: the server's answer did not decode as the method's response.
    public static let undecodableResponse = Reason(.undecodableResponse)

    // MARK: The in-process path only

    /// INTERNAL: an in-process answer carried no message to hand over.
    public static let localAnswerUnencoded = Reason(.localAnswerUnencoded)
    /// UNIMPLEMENTED: a unary method was called as a stream.
    public static let notAStream = Reason(.notAStream)
    /// UNIMPLEMENTED: a stream method was called as unary.
    public static let streamingUnsupported = Reason(.streamingUnsupported)

    // MARK: The REST gateway's own

    /// UNAVAILABLE: the service's health check says it is not serving.
    public static let notServing = Reason(.notServing)
    /// INTERNAL: the service accepted a request the gateway sent only to probe its checks.
    public static let probeAccepted = Reason(.probeAccepted)
    /// A feed stream ended (before its first page at the gateway, or on the server once nobody waits).
    public static let streamEnded = Reason(.streamEnded)
    /// UNAVAILABLE: a feed stream failed with an error that was not an RPC answer.
    public static let streamFailed = Reason(.streamFailed)
    /// INTERNAL: the service answered a notification of the other contract.
    public static let wrongKind = Reason(.wrongKind)
}
