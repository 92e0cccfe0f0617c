import Logging
import NotifyCore
import NotifyDomain
import NotifyMessages
import NotifyProtobuf
import NotifyStorage

/// Turns any error a handler throws into the status the client sees.
///
/// This is the only place where domain, storage and decoding errors become
/// wire statuses. Anything unrecognized becomes INTERNAL with a fixed message:
/// its details go to the log with the request id, never to the client.
enum ErrorMapping {
    /// The `retry-after` of STORE_UNAVAILABLE: a full disk is not a matter of one second.
    static let storeUnavailableRetryAfterSeconds = 30

    static func rpcError(for error: any Error, logger: Logger) -> RPCError {
        switch error {
        case let error as RPCError:
            return error
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
            return RPCError(code: .invalidArgument, message: error.message, reason: .undecodableRequest)
        case let error as StorageError:
            return storage(error, logger: logger)
        case is CancellationError:
            return RPCError(code: .cancelled, message: "the call was cancelled", reason: .cancelled)
        default:
            logger.error("unexpected error in handler", metadata: ["error.type": "\(type(of: error))", "error.message": "\(error)"])
            return RPCError(code: .internalError, message: "internal error", reason: .`internal`)
        }
    }

    /// The wire reason of a refusal. The domain's reasons are a type of its own (it knows no RPC), so
    /// each is named here; one added there without a line here keeps its own string on the wire.
    private static func reason(for reason: AuthorizationError.Reason) -> Reason {
        switch reason {
        case .adminRoleRequired: .adminRoleRequired
        case .notAuthorizedForUser: .notAuthorizedForUser
        case .notAuthorizedForApp: .notAuthorizedForApp
        case .notSubscriptionOwner: .notSubscriptionOwner
        default: Reason(rawValue: reason.rawValue)
        }
    }

    private static func storage(_ error: StorageError, logger: Logger) -> RPCError {
        switch error.code {
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
        default:
            logger.error("storage failure", metadata: ["error.type": "\(error.code)", "error.message": "\(error)"])
            return RPCError(code: .internalError, message: "internal error", reason: .`internal`)
        }
    }
}
