import NotifyCore
import NotifyDomain
import NotifyMessages
import NotifyStorage

/// The feed's state calls: MarkRead, UnseenCount, SetActionState, Delete,
/// DeleteGroup and Get (docs/PROTOCOL.md, "Feed state").
///
/// Authorization (``Authorization/feedStateScope(_:user:wholeFeed:)``): the
/// user himself and administrators for every entry; an application only for
/// the SendNotification entries it sent, by id, which the store checks inside
/// the change's transaction, so a refused call changes nothing.
extension FeedService {
    /// The most ids one call names.
    static let maximumIDs = 1_000

    func registerState(into router: inout RPCRouter) {
        router.register(NotifyMethods.markRead) { (request: MarkReadRequest, context) in
            try await markRead(request, context: context)
        }
        router.register(NotifyMethods.unseenCount) { (request: UnseenCountRequest, context) in
            try await unseenCount(request, context: context)
        }
        router.register(NotifyMethods.setActionState) { (request: SetActionStateRequest, context) in
            try await setActionState(request, context: context)
        }
        router.register(NotifyMethods.deleteEntries) { (request: DeleteEntriesRequest, context) in
            try await delete(request, context: context)
        }
        router.register(NotifyMethods.deleteGroup) { (request: DeleteGroupRequest, context) in
            try await deleteGroup(request, context: context)
        }
        router.register(NotifyMethods.getEntry) { (request: GetEntryRequest, context) in
            try await get(request, context: context)
        }
    }

    func markRead(_ request: MarkReadRequest, context: ServerContext) async throws -> FeedChangeResponse {
        let caller = try await guardrail.authenticate(context)
        let user = try Self.feedUser(request.user, caller: caller)
        let view = try Self.view(request.source, field: "source")
        let kind: FeedChange.Kind
        switch (request.ids.isEmpty, request.upToSequence) {
        case (false, nil):
            kind = .markRead(ids: try Self.ids(request.ids))
        case (true, let upTo?):
            kind = .markReadUpTo(upTo, view: view)
        case (false, .some):
            throw ServiceError.invalidField("up_to_sequence", "Give either ids or up_to_sequence, not both.")
        case (true, nil):
            throw ServiceError.invalidField("ids", "Give either ids or up_to_sequence.")
        }
        let scope = try Authorization.feedStateScope(caller, user: user, wholeFeed: request.upToSequence != nil)
        return try await change(FeedChange(user: user, kind: kind, scope: scope, view: view, createdAt: .now()))
    }

    func unseenCount(_ request: UnseenCountRequest, context: ServerContext) async throws -> UnseenCountResponse {
        let caller = try await guardrail.authenticate(context)
        let user = try Self.feedUser(request.user, caller: caller)
        let view = try Self.view(request.source, field: "source")
        _ = try Authorization.feedStateScope(caller, user: user, wholeFeed: true)
        guard let count = try await store.unseenCount(user: user, view: view) else {
            throw ServiceError.userNotFound(user)
        }
        return UnseenCountResponse(count: count)
    }

    func setActionState(_ request: SetActionStateRequest, context: ServerContext) async throws -> FeedChangeResponse {
        let caller = try await guardrail.authenticate(context)
        let user = try Self.feedUser(request.user, caller: caller)
        let id = try Self.id(request.id, field: "id")
        guard let name = request.actionState else { throw ServiceError.missingField("action_state") }
        guard let state = ActionState(parsing: name) else {
            throw ServiceError.invalidField(
                "action_state", "Must be one of \(ActionState.allCases.map(\.rawValue).joined(separator: ", ")).")
        }
        let scope = try Authorization.feedStateScope(caller, user: user, wholeFeed: false)
        return try await change(
            FeedChange(user: user, kind: .setActionState(id: id, state), scope: scope, createdAt: .now()))
    }

    func delete(_ request: DeleteEntriesRequest, context: ServerContext) async throws -> FeedChangeResponse {
        let caller = try await guardrail.authenticate(context)
        let user = try Self.feedUser(request.user, caller: caller)
        guard !request.ids.isEmpty else { throw ServiceError.missingField("ids") }
        let ids = try Self.ids(request.ids)
        let scope = try Authorization.feedStateScope(caller, user: user, wholeFeed: false)
        return try await change(FeedChange(user: user, kind: .delete(ids: ids), scope: scope, createdAt: .now()))
    }

    func deleteGroup(_ request: DeleteGroupRequest, context: ServerContext) async throws -> FeedChangeResponse {
        let caller = try await guardrail.authenticate(context)
        let user = try Self.feedUser(request.user, caller: caller)
        guard let group = request.groupName, !group.isEmpty else { throw ServiceError.missingField("group_name") }
        guard group.utf8.count <= 1_024 else {
            throw ServiceError.invalidField("group_name", "Must be at most 1024 bytes.")
        }
        let scope = try Authorization.feedStateScope(caller, user: user, wholeFeed: false)
        return try await change(FeedChange(user: user, kind: .deleteGroup(group), scope: scope, createdAt: .now()))
    }

    func get(_ request: GetEntryRequest, context: ServerContext) async throws -> GetEntryResponse {
        let caller = try await guardrail.authenticate(context)
        let user = try Self.feedUser(request.user, caller: caller)
        let id = try Self.id(request.id, field: "id")
        let scope = try Authorization.feedStateScope(caller, user: user, wholeFeed: false)
        guard let entry = try await store.feedEntry(user: user, id: id, now: .now()) else {
            throw ServiceError.notificationNotFound(id)
        }
        if case .application(let app) = scope {
            // Only the entries it sent: another's answers as it would to anyone.
            guard case .graph(let graph) = entry.content, graph.targetHostName == app else {
                throw AuthorizationError(
                    reason: .notAuthorizedForApp, message: "Application \(app) did not send notification \(id).")
            }
        }
        return GetEntryResponse(notification: entry)
    }

    /// Runs a change in the store and answers it.
    private func change(_ change: FeedChange) async throws -> FeedChangeResponse {
        switch try await store.changeFeed(change) {
        case .changed(let sequence, let unseen):
            return FeedChangeResponse(sequence: sequence, unseenCount: unseen)
        case .unchanged(let unseen):
            return FeedChangeResponse(sequence: 0, unseenCount: unseen)
        case .notFound(let id):
            throw ServiceError.notificationNotFound(id)
        case .notPermitted(let id):
            guard case .application(let app) = change.scope else { throw ServiceError.notificationNotFound(id) }
            throw AuthorizationError(
                reason: .notAuthorizedForApp, message: "Application \(app) did not send notification \(id).")
        case .noSuchUser:
            throw ServiceError.userNotFound(change.user)
        }
    }

    private static func view(_ source: String?, field: String) throws -> FeedView {
        guard let view = FeedView(source: source) else {
            throw ServiceError.invalidField(field, "Must be \"notify\", \"graph\" or absent.")
        }
        return view
    }

    private static func id(_ id: String?, field: String) throws -> String {
        guard let id else { throw ServiceError.missingField(field) }
        guard isUUID(id) else { throw ServiceError.invalidField(field, "Must be a notification id (a UUID).") }
        return id
    }

    /// At most ``maximumIDs``, each a UUID (the first bad one is named by its index).
    private static func ids(_ ids: [String]) throws -> [String] {
        guard ids.count <= maximumIDs else {
            throw ServiceError.invalidField("ids", "At most \(maximumIDs) ids per call.")
        }
        for (index, id) in ids.enumerated() where !isUUID(id) {
            throw ServiceError.invalidField("ids[\(index)]", "Must be a notification id (a UUID).")
        }
        return ids
    }

    /// The 8-4-4-4-12 hexadecimal form, either case (notification ids are lower case).
    static func isUUID(_ text: String) -> Bool {
        let utf8 = text.utf8
        guard utf8.count == 36 else { return false }
        for (index, byte) in utf8.enumerated() {
            switch index {
            case 8, 13, 18, 23:
                guard byte == UInt8(ascii: "-") else { return false }
            default:
                switch byte {
                case UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "a")...UInt8(ascii: "f"),
                    UInt8(ascii: "A")...UInt8(ascii: "F"):
                    continue
                default:
                    return false
                }
            }
        }
        return true
    }
}
