import Logging
import NotifyCore
import NotifyDomain
import NotifyMessages
import NotifyProtobuf
import NotifyStorage

/// Turns any error a handler throws into the status the client sees.
///
/// This is the only place where the errors of the layers below (the services'
/// ``ServiceError``, the caller checks' ``CallerError``, the domain's
/// `ValidationError` and `AuthorizationError`, the store's `StorageError`,
/// a request's `MessageError`) become a status, a reason, a message, metadata
/// (`retry-after`) and field violations. Each of the project's own error types
/// is switched over exhaustively, with no `default:`: a case added to one of
/// them without its answer here fails to compile. Anything unrecognized becomes
/// INTERNAL with a fixed message: its details go to the log with the request id,
/// never to the client.
///
/// Outside this table, the transport's own refusals stay where their rule is,
/// since they answer a frame or a call before any handler runs, or after it:
/// the ``Dispatcher``'s UNKNOWN_METHOD, STREAMING_UNSUPPORTED and NOT_A_STREAM
/// (a payload that does not decode gets ``rpcError(for:)`` here); ``CallMetadata``'s
/// INVALID_METADATA; the executor's admission (OVERLOADED) and drain
/// (GOING_AWAY); the connection's TOO_MANY_CALLS, GOING_AWAY, DEADLINE_EXCEEDED
/// and RESPONSE_TOO_LARGE; ``ServerStream``'s RESPONSE_TOO_LARGE and
/// STREAM_ENDED. An `RPCError` thrown by a handler passes through unchanged.
enum ErrorMapping {
    /// The `retry-after` of STORE_UNAVAILABLE: a full disk is not a matter of one second.
    static let storeUnavailableRetryAfterSeconds = 30

    /// A request whose bytes do not decode as its method's message.
    static func rpcError(for error: MessageError) -> RPCError {
        RPCError(code: .invalidArgument, message: error.message, reason: .undecodableRequest)
    }

    static func rpcError(for error: any Error, logger: Logger) -> RPCError {
        switch error {
        case let error as RPCError:
            return error
        case let error as ServiceError:
            return rpcError(for: error, logger: logger)
        case let error as CallerError:
            return rpcError(for: error)
        case let error as ValidationError:
            return RPCError(
                code: .invalidArgument,
                message: error.violations.map { "\(FieldPath.rpc($0.field)): \($0.message)" }.joined(separator: "; "),
                reason: .invalidFields,
                fieldViolations: error.violations.map { FieldViolation(field: FieldPath.rpc($0.field), description: $0.message) }
            )
        case let error as AuthorizationError:
            return RPCError(code: .permissionDenied, message: error.message, reason: reason(for: error.reason))
        case let error as MessageError:
            return rpcError(for: error)
        case let error as StorageError:
            return storage(error, logger: logger)
        case is CancellationError:
            return RPCError(code: .cancelled, message: "the call was cancelled", reason: .cancelled)
        default:
            logger.error("unexpected error in handler", metadata: ["error.type": "\(type(of: error))", "error.message": "\(error)"])
            return internalError
        }
    }

    /// A service's refusal as the client sees it.
    static func rpcError(for error: ServiceError, logger: Logger) -> RPCError {
        switch error {
        case .missingField(let field):
            return invalidField(field, "This field is required.")
        case .invalidField(let field, let description):
            return invalidField(field, description)
        case .missingUnsID:
            return RPCError(
                code: .invalidArgument, message: "the X-UNS-ID header is required", reason: .missingUnsID,
                fieldViolations: [FieldViolation(field: FieldPath.rpc("X-UNS-ID"), description: "This header is required.")]
            )
        case .targetHostNameMismatch(let host, let app):
            return RPCError(
                code: .invalidArgument,
                message: "targetHostName \(host) is not the subscription's application", reason: .invalidFields,
                fieldViolations: [FieldViolation(
                    field: FieldPath.rpc("targetHostName"), description: "Must be the subscription's application, \(app)."
                )]
            )
        case .userNotFound(let id):
            return RPCError(code: .notFound, message: "user \(id) does not exist", reason: .userNotFound)
        case .connectionNotFound:
            return RPCError(code: .notFound, message: "no such connection", reason: .connectionNotFound)
        case .subscriptionNotFound(let id):
            return RPCError(code: .notFound, message: "no subscription \(id)", reason: .subscriptionNotFound)
        case .subscriptionExpired(let id):
            return RPCError(code: .notFound, message: "subscription \(id) has expired", reason: .subscriptionExpired)
        case .renewalGracePassed(let id):
            return RPCError(
                code: .notFound,
                message: "subscription \(id) expired more than \(Subscription.renewalGraceSeconds / 3600) h ago: "
                    + "past its renewal grace period; create a new subscription",
                reason: .subscriptionExpired)
        case .notBlocked:
            return RPCError(code: .notFound, message: "the caller is not blocked", reason: .notBlocked)
        case .tokenNotFound(let id):
            return RPCError(code: .notFound, message: "no token \(id)", reason: .tokenNotFound)
        case .pastEndOfFeed(let after, let head):
            return RPCError(
                code: .outOfRange,
                message: "after_sequence \(after) is past the end of the feed, whose last sequence is \(head)",
                reason: .pastEndOfFeed
            )
        case .notificationNotFound(let id):
            return RPCError(
                code: .notFound, message: "notification \(id) is not in the feed", reason: .notificationNotFound)
        case .storeClosing:
            return RPCError(
                code: .unavailable, message: "the store is closing: resume on a new connection", reason: .goingAway
            )
        case .appendAnsweredNothing:
            logger.error("a committed append answered no notification")
            return internalError
        }
    }

    /// A refused caller as the client sees it.
    static func rpcError(for error: CallerError) -> RPCError {
        let reason = reason(for: error)
        switch error {
        case .missingToken:
            return RPCError(code: .unauthenticated, message: "a bearer token is required", reason: reason)
        case .malformedAuthorization:
            return RPCError(
                code: .unauthenticated, message: "the authorization must be \"Bearer <token>\"", reason: reason
            )
        case .invalidToken:
            return RPCError(code: .unauthenticated, message: "the token is not valid", reason: reason)
        case .tokenRevoked:
            return RPCError(code: .unauthenticated, message: "the token was revoked", reason: reason)
        case .invalidStreamTicket:
            return RPCError(
                code: .unauthenticated, message: "the stream ticket is unknown, already used or expired", reason: reason)
        case .tokenExpired:
            return RPCError(code: .unauthenticated, message: "the token has expired", reason: reason)
        case .blocked:
            return RPCError(code: .permissionDenied, message: "the caller is on the blocked list", reason: reason)
        case .throttled(let seconds):
            return RPCError(
                code: .resourceExhausted, message: "too many calls: slow down", reason: reason,
                metadata: ["retry-after": "\(seconds)"]
            )
        case .addressThrottled(let seconds):
            return RPCError(
                code: .resourceExhausted, message: "too many failed authentications from this address", reason: reason,
                metadata: ["retry-after": "\(seconds)"]
            )
        }
    }

    /// The wire reason of a refused caller; also what the failed-authentication log names.
    static func reason(for error: CallerError) -> Reason {
        switch error {
        case .missingToken: .missingToken
        case .malformedAuthorization, .invalidToken: .invalidToken
        case .tokenRevoked: .tokenRevoked
        case .invalidStreamTicket: .invalidStreamTicket
        case .tokenExpired: .tokenExpired
        case .blocked: .callerBlocked
        case .throttled, .addressThrottled: .throttled
        }
    }

    /// The wire reason of a refusal. The domain's reasons are a type of its own (it knows no RPC), so
    /// each is named here.
    static func reason(for reason: AuthorizationError.Reason) -> Reason {
        switch reason.kind {
        case .adminRoleRequired: .adminRoleRequired
        case .notAuthorizedForUser: .notAuthorizedForUser
        case .notAuthorizedForApp: .notAuthorizedForApp
        case .notSubscriptionOwner: .notSubscriptionOwner
        }
    }

    /// INVALID_ARGUMENT `INVALID_FIELDS` for one field, named by its proto field path as given.
    private static func invalidField(_ field: String, _ description: String) -> RPCError {
        RPCError(
            code: .invalidArgument, message: "\(field): \(description)", reason: .invalidFields,
            fieldViolations: [FieldViolation(field: field, description: description)]
        )
    }

    /// The one INTERNAL a client sees: the detail stays in the log.
    private static let internalError = RPCError(code: .internalError, message: "internal error", reason: .`internal`)

    private static func storage(_ error: StorageError, logger: Logger) -> RPCError {
        switch error.code.wrapped {
        case .notFound:
            return RPCError(code: .notFound, message: error.message, reason: .notFound)
        case .alreadyExists:
            return RPCError(code: .alreadyExists, message: error.message, reason: .alreadyExists)
        case .idempotencyKeyReused:
            return RPCError(code: .failedPrecondition, message: error.message, reason: .idempotencyKeyReused)
        case .busy:
            return RPCError(
                code: .resourceExhausted, message: "the store is busy: retry later", reason: .storeBusy,
                metadata: ["retry-after": "1"]
            )
        case .feedFull:
            // No retry-after: retrying does not make room.
            return RPCError(code: .resourceExhausted, message: error.message, reason: .feedFull)
        case .unavailable:
            // Not throttling: the store cannot write (disk full, database
            // lost) until an operator frees it. Nothing of the call was
            // stored; the store logs the outage once and readiness reports it.
            return RPCError(
                code: .unavailable,
                message: "the store cannot take writes (disk full or database unavailable); nothing was stored",
                reason: .storeUnavailable, metadata: ["retry-after": "\(storeUnavailableRetryAfterSeconds)"]
            )
        case .corrupt, .internalError:
            logger.error("storage failure", metadata: ["error.type": "\(error.code)", "error.message": "\(error)"])
            return internalError
        }
    }
}
