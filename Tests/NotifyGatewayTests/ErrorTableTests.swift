import NIOHTTP1
import NotifyCore
@testable import NotifyGateway
import Testing

@Suite("The gateway's error table covers every reason")
struct ErrorTableTests {
    /// The status each reason comes with, and the HTTP status it must answer. A new reason must be
    /// added here too: the first test fails until it is.
    static let expected: [Reason.Kind: (StatusCode, HTTPResponseStatus)] = [
        .adminRoleRequired: (.permissionDenied, .forbidden),
        .alreadyExists: (.alreadyExists, .internalServerError),
        .callerBlocked: (.permissionDenied, .forbidden),
        .connectionNotFound: (.notFound, .internalServerError),
        .deadlineExceeded: (.deadlineExceeded, .gatewayTimeout),
        .feedFull: (.resourceExhausted, .insufficientStorage),
        .goingAway: (.unavailable, .serviceUnavailable),
        .idempotencyKeyReused: (.failedPrecondition, .conflict),
        .internal: (.internalError, .internalServerError),
        .invalidFields: (.invalidArgument, .badRequest),
        .invalidMetadata: (.invalidArgument, .badRequest),
        .invalidToken: (.unauthenticated, .unauthorized),
        .invalidStreamTicket: (.unauthenticated, .unauthorized),
        .missingToken: (.unauthenticated, .unauthorized),
        .missingUnsID: (.invalidArgument, .badRequest),
        .notAuthorizedForApp: (.permissionDenied, .forbidden),
        .notAuthorizedForUser: (.permissionDenied, .forbidden),
        .notBlocked: (.notFound, .internalServerError),
        .notFound: (.notFound, .internalServerError),
        .notSubscriptionOwner: (.permissionDenied, .forbidden),
        .overloaded: (.resourceExhausted, .tooManyRequests),
        .responseTooLarge: (.resourceExhausted, .internalServerError),
        .storeBusy: (.resourceExhausted, .tooManyRequests),
        .storeUnavailable: (.unavailable, .serviceUnavailable),
        .subscriptionExpired: (.notFound, .notFound),
        .notificationNotFound: (.notFound, .notFound),
        .subscriptionNotFound: (.notFound, .notFound),
        .throttled: (.resourceExhausted, .tooManyRequests),
        .tokenExpired: (.unauthenticated, .unauthorized),
        .tokenNotFound: (.notFound, .internalServerError),
        .tokenRevoked: (.unauthenticated, .unauthorized),
        .tooManyCalls: (.resourceExhausted, .tooManyRequests),
        .undecodableRequest: (.invalidArgument, .badRequest),
        .unknownMethod: (.unimplemented, .internalServerError),
        .userNotFound: (.notFound, .badRequest),
        .pastEndOfFeed: (.outOfRange, .badRequest),
        .backingOff: (.unavailable, .serviceUnavailable),
        .cancelled: (.cancelled, .internalServerError),
        .clientClosed: (.unavailable, .serviceUnavailable),
        .clientQueueFull: (.resourceExhausted, .tooManyRequests),
        .connectionClosed: (.unavailable, .serviceUnavailable),
        .connectionError: (.invalidArgument, .internalServerError),
        .connectionFailed: (.unavailable, .serviceUnavailable),
        .connectTimeout: (.unavailable, .serviceUnavailable),
        .consumerTooSlow: (.resourceExhausted, .internalServerError),
        .requestTooLarge: (.resourceExhausted, .payloadTooLarge),
        .tlsConfiguration: (.unavailable, .serviceUnavailable),
        .undecodableResponse: (.internalError, .internalServerError),
        .localAnswerUnencoded: (.internalError, .internalServerError),
        .notAStream: (.unimplemented, .internalServerError),
        .streamingUnsupported: (.unimplemented, .internalServerError),
        .notServing: (.unavailable, .serviceUnavailable),
        .probeAccepted: (.internalError, .internalServerError),
        .streamEnded: (.unavailable, .serviceUnavailable),
        .streamFailed: (.unavailable, .serviceUnavailable),
        .wrongKind: (.internalError, .internalServerError),
    ]

    static func status(_ error: RPCError, _ contract: Contract) -> HTTPResponseStatus {
        (ErrorTable.problem(for: .rpc(error), contract: contract) ?? ErrorTable.internalError(contract)).status
    }

    @Test("every Reason.Kind has a deliberate HTTP status, in both contracts")
    func everyReason() {
        #expect(Set(Self.expected.keys) == Set(Reason.Kind.allCases))
        for kind in Reason.Kind.allCases {
            guard let (code, http) = Self.expected[kind] else { continue }
            let error = RPCError(code: code, message: "m", reason: Reason(kind: kind))
            // Graph answers throttling 406 where SelfCommunity answers 429; everything else agrees.
            let graphHTTP: HTTPResponseStatus = http == .tooManyRequests ? .notAcceptable : http
            #expect(Self.status(error, .selfCommunity) == http, "\(kind)")
            #expect(Self.status(error, .graph) == graphHTTP, "\(kind)")
        }
    }

    @Test("an unknown reason (from a newer server) falls back to its status; an unknown status to 500",
          arguments: [
              (StatusCode.unauthenticated, HTTPResponseStatus.unauthorized), (.permissionDenied, .forbidden),
              (.invalidArgument, .badRequest), (.unavailable, .serviceUnavailable), (.deadlineExceeded, .gatewayTimeout),
              (.resourceExhausted, .internalServerError), (.notFound, .internalServerError), (.dataLoss, .internalServerError),
          ])
    func unknownReason(code: StatusCode, http: HTTPResponseStatus) {
        let unknown = RPCError(code: code, message: "m", reason: Reason(rawValue: "SOMETHING_NEW"))
        #expect(Self.status(unknown, .selfCommunity) == http)
        let none = RPCError(code: code, message: "m")
        #expect(Self.status(none, .graph) == http)
    }
}
