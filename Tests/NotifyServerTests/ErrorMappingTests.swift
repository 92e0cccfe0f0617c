import Logging
import NotifyCore
import NotifyDomain
@testable import NotifyServer
import NotifyStorage
import Testing

/// Each error of the server's own layers against the whole answer a client
/// gets for it: status, reason, message, metadata and field violations.
@Suite("ErrorMapping: every service and caller error maps to its answer")
struct ErrorMappingTests {
    private static let logger = Logger(label: "test.error-mapping")

    static let serviceErrors: [(ServiceError, RPCError)] = [
        (.missingField("connection.user"), RPCError(
            code: .invalidArgument, message: "connection.user: This field is required.", reason: .invalidFields,
            fieldViolations: [FieldViolation(field: "connection.user", description: "This field is required.")])),
        (.invalidField("ttl_seconds", "Must be between 1 and 2592000."), RPCError(
            code: .invalidArgument, message: "ttl_seconds: Must be between 1 and 2592000.", reason: .invalidFields,
            fieldViolations: [FieldViolation(field: "ttl_seconds", description: "Must be between 1 and 2592000.")])),
        (.missingUnsID, RPCError(
            code: .invalidArgument, message: "the X-UNS-ID header is required", reason: .missingUnsID,
            fieldViolations: [FieldViolation(field: "metadata[x-uns-id]", description: "This header is required.")])),
        (.targetHostNameMismatch(host: "other.example.com", app: "app.example.com"), RPCError(
            code: .invalidArgument, message: "targetHostName other.example.com is not the subscription's application",
            reason: .invalidFields,
            fieldViolations: [FieldViolation(
                field: "target_host_name", description: "Must be the subscription's application, app.example.com.")])),
        (.userNotFound(42), RPCError(code: .notFound, message: "user 42 does not exist", reason: .userNotFound)),
        (.connectionNotFound, RPCError(code: .notFound, message: "no such connection", reason: .connectionNotFound)),
        (.subscriptionNotFound("s-1"), RPCError(code: .notFound, message: "no subscription s-1", reason: .subscriptionNotFound)),
        (.subscriptionExpired("s-1"), RPCError(
            code: .notFound, message: "subscription s-1 has expired", reason: .subscriptionExpired)),
        (.notBlocked, RPCError(code: .notFound, message: "the caller is not blocked", reason: .notBlocked)),
        (.tokenNotFound("t-1"), RPCError(code: .notFound, message: "no token t-1", reason: .tokenNotFound)),
        (.pastEndOfFeed(after: 9, head: 3), RPCError(
            code: .outOfRange, message: "after_sequence 9 is past the end of the feed, whose last sequence is 3",
            reason: .pastEndOfFeed)),
        (.storeClosing, RPCError(
            code: .unavailable, message: "the store is closing: resume on a new connection", reason: .goingAway)),
        (.appendAnsweredNothing, RPCError(code: .internalError, message: "internal error", reason: .internal)),
    ]

    @Test("a service error", arguments: serviceErrors)
    func service(error: ServiceError, expected: RPCError) {
        #expect(ErrorMapping.rpcError(for: error, logger: Self.logger) == expected)
    }

    static let callerErrors: [(CallerError, RPCError)] = [
        (.missingToken, RPCError(code: .unauthenticated, message: "a bearer token is required", reason: .missingToken)),
        (.malformedAuthorization, RPCError(
            code: .unauthenticated, message: "the authorization must be \"Bearer <token>\"", reason: .invalidToken)),
        (.invalidToken, RPCError(code: .unauthenticated, message: "the token is not valid", reason: .invalidToken)),
        (.tokenRevoked, RPCError(code: .unauthenticated, message: "the token was revoked", reason: .tokenRevoked)),
        (.tokenExpired, RPCError(code: .unauthenticated, message: "the token has expired", reason: .tokenExpired)),
        (.blocked, RPCError(code: .permissionDenied, message: "the caller is on the blocked list", reason: .callerBlocked)),
        (.throttled(retryAfterSeconds: 7), RPCError(
            code: .resourceExhausted, message: "too many calls: slow down", reason: .throttled,
            metadata: ["retry-after": "7"])),
        (.addressThrottled(retryAfterSeconds: 86_400), RPCError(
            code: .resourceExhausted, message: "too many failed authentications from this address", reason: .throttled,
            metadata: ["retry-after": "86400"])),
    ]

    @Test("a caller error, also through the any-error entry", arguments: callerErrors)
    func caller(error: CallerError, expected: RPCError) {
        #expect(ErrorMapping.rpcError(for: error) == expected)
        #expect(ErrorMapping.rpcError(for: error as any Error, logger: Self.logger) == expected)
    }

    @Test(
        "an authorization refusal keeps the domain's reason and message",
        arguments: AuthorizationError.Reason.Kind.allCases
    )
    func authorization(kind: AuthorizationError.Reason.Kind) {
        let reasons: [AuthorizationError.Reason] = [
            .adminRoleRequired, .notAuthorizedForUser, .notAuthorizedForApp, .notSubscriptionOwner,
        ]
        let domain = reasons.first { $0.kind == kind }
        #expect(domain != nil, "every kind has its static member")
        guard let domain else { return }
        let mapped = ErrorMapping.rpcError(for: AuthorizationError(reason: domain, message: "no."), logger: Self.logger)
        #expect(mapped == RPCError(code: .permissionDenied, message: "no.", reason: Reason(rawValue: kind.rawValue)))
        #expect(mapped.reason?.kind != nil, "a reason the core declares, not a string of its own")
    }

    @Test("the retry-after of a token bucket's wait: whole seconds, at least 1, at most a day")
    func retryAfter() {
        #expect(CallerError.retryAfterSeconds(0.001) == 1)
        #expect(CallerError.retryAfterSeconds(1.2) == 2)
        #expect(CallerError.retryAfterSeconds(1e300) == 86_400)
        #expect(CallerError.retryAfterSeconds(.infinity) == 86_400)
        #expect(CallerError.retryAfterSeconds(.nan) == 86_400)
    }
}
