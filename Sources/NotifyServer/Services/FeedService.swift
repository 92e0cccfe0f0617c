import NotifyDomain
import NotifyMessages
import NotifyStorage
import NotifyWire

/// Reads a user's feed: the ordered, gapless sequence of their notifications.
struct FeedService: Sendable {
    static let defaultPageSize: UInt32 = 100
    static let maximumPageSize: UInt32 = 1000

    let store: any NotificationStore
    let guardrail: CallerGuard

    func register(into router: inout RPCRouter) {
        router.register(Methods.listFeed) { (request: ListFeedRequest, context) in
            try await list(request, context: context)
        }
    }

    func list(_ request: ListFeedRequest, context: ServerContext) async throws -> ListFeedResponse {
        let caller = try await guardrail.authenticate(context)
        guard let user = request.user else {
            throw RPCError.missingField("user")
        }
        try await guardrail.authorize(caller, for: .readFeed(user: user), context: context)
        let after = request.afterSequence ?? 0
        var limit = request.limit ?? 0
        if limit == 0 { limit = Self.defaultPageSize }
        limit = min(limit, Self.maximumPageSize)
        let notifications = try await store.feed(user: user, after: after, limit: Int(limit))
        return ListFeedResponse(notifications: notifications, nextAfterSequence: notifications.last?.sequence ?? after)
    }
}

extension RPCError {
    /// INVALID_ARGUMENT for one missing field.
    static func missingField(_ field: String) -> RPCError {
        RPCError(
            code: .invalidArgument, message: "\(field): This field is required.", reason: "INVALID_FIELDS",
            fieldViolations: [FieldViolation(field: field, description: "This field is required.")]
        )
    }

    static func invalidField(_ field: String, _ description: String) -> RPCError {
        RPCError(
            code: .invalidArgument, message: "\(field): \(description)", reason: "INVALID_FIELDS",
            fieldViolations: [FieldViolation(field: field, description: description)]
        )
    }
}
