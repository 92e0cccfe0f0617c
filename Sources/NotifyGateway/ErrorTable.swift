import NIOHTTP1
import NotifyCore
import NotifyDomain

/// Which documented contract a route follows; it decides the error body.
enum Contract: Sendable {
    /// SelfCommunity's `{"errors": [...]}`.
    case selfCommunity
    /// Microsoft Graph's `{"error": {...}}`.
    case graph
    /// The gateway's own routes (health, spec, unknown paths): Graph's shape.
    case gateway
}

/// Everything that can make a request fail, from the RPC service or from the
/// gateway's own checks, before it becomes an HTTP answer.
enum Failure: Error, Sendable {
    /// The RPC service answered a non-OK status (or the client could not reach it).
    case rpc(RPCError)
    case methodNotAllowed(method: String, allow: String)
    case notFound(path: String)
    /// No Authorization header: answered without calling the service.
    case missingToken
    /// Graph refuses If-Modified-Since and If-Range.
    case unsupportedHeader(String)
    case unsupportedContentEncoding(String)
    case unsupportedMediaType(String?)
    case bodyTooLarge(limit: Int)
    case decompressedTooLarge(limit: Int)
    case undecodableContent(encoding: String)
    case readTimeout
    /// Graph: multiple notifications in one body are not supported.
    case bodyIsArray
    /// The body is not JSON at all (or not an object); SelfCommunity's parse error.
    case unparsableBody(String)
    /// Type and validation errors, merged: one entry per field.
    case invalidFields([Violation])
    /// A query parameter (or Last-Event-ID) of `/feed/events` is missing or malformed.
    case invalidQuery([Violation])
    /// A CORS preflight from an origin the gateway is not configured to serve.
    case originNotAllowed(String)
    /// A `/me` feed route called with a token that has no feed of its own
    /// (an application's, or an administrator's without the user role).
    case noOwnFeed
}

/// What an HTTP error answer carries, whatever the contract.
struct Problem: Sendable {
    var status: HTTPResponseStatus
    /// The machine-readable code of the contract in force.
    var code: String
    var message: String
    /// Per-field errors: SelfCommunity's field form, Graph's details.
    var fields: [Violation] = []
    var retryAfter: String?
    var allow: String?
    /// 401s name the scheme the client must use.
    var challenge = false
    /// Oversized or slow bodies: the connection is closed after the answer,
    /// so that the rest of the body is not read.
    var closeConnection = false
}

/// The one mapping from failures to HTTP answers, for both contracts.
///
/// It is the gateway's only place where an RPC status and reason become an
/// HTTP status and error code; docs/GATEWAY.md lists the same table. Anything
/// it does not recognize becomes 500 with a fixed message: the detail goes to
/// the log with the request id, never to the client.
enum ErrorTable {
    /// - Returns: nil for what the table does not know: the caller answers
    ///   ``internalError(_:)`` and logs the detail.
    static func problem(for failure: Failure, contract: Contract) -> Problem? {
        let graph = contract != .selfCommunity
        switch failure {
        case .rpc(let error):
            return problem(for: error, graph: graph)
        case .methodNotAllowed(let method, let allow):
            return Problem(
                status: .methodNotAllowed, code: graph ? "methodNotAllowed" : "method_not_allowed",
                message: "Method \"\(method)\" not allowed.", allow: allow
            )
        case .notFound(let path):
            return Problem(status: .notFound, code: graph ? "notFound" : "not_found", message: "No route for \(path).")
        case .missingToken:
            return Problem(
                status: .unauthorized, code: graph ? "InvalidAuthenticationToken" : "not_authenticated",
                message: graph ? "Access token is empty." : "Authentication credentials were not provided.", challenge: true
            )
        case .originNotAllowed(let origin):
            return Problem(
                status: .forbidden, code: graph ? "originNotAllowed" : "origin_not_allowed",
                message: "Cross-origin requests from \(origin) are not allowed."
            )
        case .unsupportedHeader(let name):
            return Problem(
                status: .badRequest, code: graph ? "invalidRequest" : "unsupported_header",
                message: "The \(name) header is not supported."
            )
        case .unsupportedContentEncoding(let encoding):
            return Problem(
                status: .unsupportedMediaType, code: graph ? "unsupportedMediaType" : "unsupported_media_type",
                message: "Content-Encoding \"\(encoding)\" is not supported: use gzip or deflate."
            )
        case .unsupportedMediaType(let type):
            return Problem(
                status: .unsupportedMediaType, code: graph ? "unsupportedMediaType" : "unsupported_media_type",
                message: "Unsupported media type \"\(type ?? "")\" in request."
            )
        case .bodyTooLarge(let limit):
            return Problem(
                status: .payloadTooLarge, code: graph ? "payloadTooLarge" : "payload_too_large",
                message: "The request body exceeds \(limit) bytes.", closeConnection: true
            )
        case .decompressedTooLarge(let limit):
            return Problem(
                status: .payloadTooLarge, code: graph ? "payloadTooLarge" : "payload_too_large",
                message: "The decoded request body exceeds \(limit) bytes."
            )
        case .undecodableContent(let encoding):
            return Problem(
                status: .badRequest, code: graph ? "invalidRequest" : "parse_error",
                message: "The body is not valid \(encoding) data."
            )
        case .readTimeout:
            return Problem(
                status: .requestTimeout, code: graph ? "requestTimeout" : "request_timeout",
                message: "The request body did not arrive in time.", closeConnection: true
            )
        case .bodyIsArray:
            return Problem(
                status: .badRequest, code: graph ? "invalidRequest" : "parse_error",
                message: "The body is an array: multiple notifications are not supported."
            )
        case .unparsableBody(let detail):
            return Problem(
                status: .badRequest, code: graph ? "invalidRequest" : "parse_error",
                message: graph ? "The body doesn't match the contract for the API: \(detail)" : "JSON parse error - \(detail)"
            )
        case .noOwnFeed:
            return Problem(
                status: .forbidden, code: graph ? "Forbidden" : "permission_denied",
                message: "This token has no notification feed of its own: /me is a user's, and an application or administrator token names no user."
            )
        case .invalidFields(let violations):
            return invalidFields(violations, graph: graph)
        case .invalidQuery(let violations):
            var problem = invalidFields(violations, graph: graph)
            problem.message = "The query doesn't match the contract for the API."
            return problem
        }
    }

    /// The answer for anything unrecognized.
    static func internalError(_ contract: Contract) -> Problem {
        Problem(
            status: .internalServerError, code: contract == .selfCommunity ? "internal_error" : "generalException",
            message: "An internal error occurred."
        )
    }

    // MARK: RPC statuses

    /// The answer to a failed call: by its reason, every reason this build knows named once, so
    /// that a new ``Reason`` without a row here fails to compile. A reason from a newer server, or
    /// none, falls back to the status (``problem(forStatus:graph:)``).
    ///
    /// - Returns: nil for the reasons the gateway never expects from its calls (admin-only
    ///   statuses, a bug in the service or in this gateway): the caller answers 500 and logs them.
    static func problem(for error: RPCError, graph: Bool) -> Problem? {
        guard let kind = error.reason?.kind else { return problem(forStatus: error, graph: graph) }
        switch kind {
        case .missingToken:
            return Problem(
                status: .unauthorized, code: graph ? "InvalidAuthenticationToken" : "not_authenticated",
                message: graph ? "Access token is empty." : "Authentication credentials were not provided.", challenge: true
            )
        case .tokenExpired:
            return unauthorized(graph ? "Lifetime validation failed, the token is expired." : "Token has expired.", graph: graph)
        case .tokenRevoked:
            return unauthorized(graph ? "Access token has been revoked." : "Token has been revoked.", graph: graph)
        case .invalidToken:
            return unauthorized(graph ? "Access token validation failure." : "Invalid token.", graph: graph)
        case .invalidStreamTicket:
            return Problem(
                status: .unauthorized, code: graph ? "invalidStreamTicket" : "invalid_stream_ticket",
                message: "The stream ticket is unknown, already used or expired: get a new one.", challenge: true
            )

        case .callerBlocked:
            return Problem(
                status: .forbidden, code: graph ? "callerBlocked" : "caller_blocked",
                message: graph ? "The caller is on the blocked list." : "You are on the blocked list."
            )
        case .adminRoleRequired:
            return Problem(
                status: .forbidden, code: graph ? "accessDenied" : "permission_denied",
                message: "You do not have permission to perform this action."
            )
        case .notAuthorizedForApp, .notAuthorizedForUser, .notSubscriptionOwner:
            return forbidden(graph: graph)

        case .invalidFields, .missingUnsID:
            return invalidFields(
                error.fieldViolations.map { Violation(field: FieldPath.contract($0.field, graph: graph), message: $0.description) },
                graph: graph)
        case .invalidMetadata:
            // A header the service refused (an Idempotency-Key past 255 bytes): its message names it.
            return Problem(status: .badRequest, code: graph ? "invalidRequest" : "invalid", message: error.message)
        case .undecodableRequest:
            return invalidRequest(graph: graph)
        case .pastEndOfFeed:
            // A cursor past the feed's end: its message names the feed's last sequence.
            return Problem(status: .badRequest, code: graph ? "invalidRequest" : "invalid", message: error.message)

        case .userNotFound:
            // SelfCommunity validates `user` as a primary key: an unknown one
            // is a field error of the body, as its serializer reports it.
            // NOT_FOUND carries no field violations: the row names the field.
            return invalidFields([Violation(field: "user", message: "No such user.")], graph: graph)
        case .notificationNotFound:
            return Problem(
                status: .notFound, code: graph ? "itemNotFound" : "not_found",
                message: "No such notification in the feed.")
        case .subscriptionNotFound:
            return Problem(
                status: .notFound, code: graph ? "itemNotFound" : "not_found",
                message: "No subscription matches the X-UNS-ID header."
            )
        case .subscriptionExpired:
            return Problem(
                status: .notFound, code: graph ? "itemNotFound" : "not_found",
                message: "The subscription named by the X-UNS-ID header has expired."
            )

        case .requestTooLarge:
            return Problem(
                status: .payloadTooLarge, code: graph ? "payloadTooLarge" : "payload_too_large",
                message: "The request is too large for the service."
            )
        case .feedFull:
            return Problem(
                status: .insufficientStorage, code: graph ? "quotaLimitReached" : "feed_full",
                message: "The recipient's feed holds the most entries it may; nothing was stored."
            )
        case .throttled, .storeBusy, .tooManyCalls, .clientQueueFull, .overloaded:
            let seconds = error.metadata["retry-after"].flatMap { Int($0) }.map { max(1, $0) } ?? 1
            if graph {
                return Problem(
                    status: .notAcceptable, code: "activityLimitReached",
                    message: "The request has been throttled or the server is busy.", retryAfter: String(seconds)
                )
            }
            return Problem(
                status: .tooManyRequests, code: "throttled",
                message: "Request was throttled. Expected available in \(seconds) second\(seconds == 1 ? "" : "s").",
                retryAfter: String(seconds)
            )

        case .idempotencyKeyReused:
            return Problem(
                status: .conflict, code: graph ? "conflict" : "idempotency_key_reused",
                message: "The Idempotency-Key was already used with another request."
            )

        case .storeUnavailable:
            // Not throttling (429/406): the store cannot write (disk full,
            // database lost) until an operator frees it; /readyz says so too.
            let seconds = error.metadata["retry-after"].flatMap { Int($0) }.map { max(1, $0) } ?? 30
            return Problem(
                status: .serviceUnavailable, code: graph ? "storeUnavailable" : "store_unavailable",
                message: "The notification store cannot take writes (disk full or database unavailable); nothing was stored.",
                retryAfter: String(seconds)
            )
        case .goingAway, .backingOff, .clientClosed, .connectionClosed, .connectionFailed, .connectTimeout,
            .tlsConfiguration, .notServing, .streamEnded, .streamFailed:
            return serviceUnavailable(graph: graph)
        case .deadlineExceeded:
            return gatewayTimeout(graph: graph)

        // Never expected from the gateway's calls: statuses of admin methods, the gateway's own
        // misuse of the protocol (CONNECTION_ERROR is the server refusing our frames), in-process
        // misuse, and bugs on either side.
        case .alreadyExists, .connectionNotFound, .notBlocked, .notFound, .tokenNotFound, .internal,
            .responseTooLarge, .unknownMethod, .cancelled, .connectionError, .consumerTooSlow,
            .undecodableResponse, .localAnswerUnencoded, .notAStream, .streamingUnsupported, .probeAccepted,
            .wrongKind:
            return nil
        }
    }

    /// The answer to a failure with no reason, or one this build does not know: by its status alone.
    ///
    /// - Returns: nil for a status the gateway has no answer for (then 500).
    static func problem(forStatus error: RPCError, graph: Bool) -> Problem? {
        switch error.code {
        case .unauthenticated: unauthorized(graph ? "Access token validation failure." : "Invalid token.", graph: graph)
        case .permissionDenied: forbidden(graph: graph)
        case .invalidArgument: invalidRequest(graph: graph)
        case .unavailable: serviceUnavailable(graph: graph)
        case .deadlineExceeded: gatewayTimeout(graph: graph)
        default: nil
        }
    }

    private static func unauthorized(_ message: String, graph: Bool) -> Problem {
        Problem(
            status: .unauthorized, code: graph ? "InvalidAuthenticationToken" : "authentication_failed",
            message: message, challenge: true
        )
    }

    private static func forbidden(graph: Bool) -> Problem {
        Problem(
            status: .forbidden, code: graph ? "accessDenied" : "permission_denied",
            message: graph
                ? "The caller is not authorized to act on behalf of the user or send notifications to the user."
                : "You do not have permission to perform this action."
        )
    }

    private static func invalidRequest(graph: Bool) -> Problem {
        Problem(status: .badRequest, code: graph ? "invalidRequest" : "invalid", message: "The request is invalid.")
    }

    private static func serviceUnavailable(graph: Bool) -> Problem {
        Problem(
            status: .serviceUnavailable, code: graph ? "serviceNotAvailable" : "service_unavailable",
            message: "The notification service is unavailable; retry later.", retryAfter: "1"
        )
    }

    private static func gatewayTimeout(graph: Bool) -> Problem {
        Problem(
            status: .gatewayTimeout, code: graph ? "gatewayTimeout" : "gateway_timeout",
            message: "The notification service did not answer in time."
        )
    }

    private static func invalidFields(_ violations: [Violation], graph: Bool) -> Problem {
        let message: String
        if violations.contains(where: { $0.field == "X-UNS-ID" }) {
            message = "The X-UNS-ID header is required."
        } else if violations.contains(where: { $0.field.hasPrefix("payload") }) {
            message = "Invalid payload."
        } else {
            message = "The body doesn't match the contract for the API."
        }
        return Problem(status: .badRequest, code: graph ? "invalidRequest" : "invalid", message: message, fields: violations)
    }
}
