import Foundation
import NotifyCore
import NotifyDomain
import NotifyMessages
import NotifyStorage

/// Users, connections, subscriptions, the blocked list and tokens: what the
/// two documented calls need to exist. docs/PROTOCOL.md lists each method's
/// authorization rule; ``Authorization`` enforces it.
struct AdminService: Sendable {
    /// A subscription's lifetime when none is asked for (Graph's maximum).
    static let defaultSubscriptionLifetime: UInt64 = 30 * 24 * 3600

    let store: any Directory
    let guardrail: CallerGuard

    func register(into router: inout RPCRouter) {
        router.register(NotifyMethods.putUser) { (request: PutUserRequest, context) in
            _ = try await guardrail.admit(context, for: .manageUsers)
            guard let user = request.user else { throw ServiceError.missingField("user") }
            guard user.id > 0 else { throw ServiceError.invalidField("user.id", "Must be a positive integer.") }
            try await store.putUser(user)
            guardrail.lookups.userChanged(user.id)
            return PutUserResponse(user: user)
        }
        router.register(NotifyMethods.deleteUser) { (request: DeleteUserRequest, context) in
            _ = try await guardrail.admit(context, for: .manageUsers)
            guard let id = request.id else { throw ServiceError.missingField("id") }
            defer { guardrail.lookups.userDeleted(id) }
            guard try await store.deleteUser(id: id) else {
                throw ServiceError.userNotFound(id)
            }
            return DeleteUserResponse()
        }
        router.register(NotifyMethods.putConnection) { (request: PutConnectionRequest, context) in
            _ = try await guardrail.admit(context, for: .manageUsers)
            let connection = try Self.connection(request.connection)
            for id in [connection.user, connection.to] where try await store.user(id: id) == nil {
                throw ServiceError.userNotFound(id)
            }
            try await store.putConnection(connection)
            return PutConnectionResponse()
        }
        router.register(NotifyMethods.deleteConnection) { (request: DeleteConnectionRequest, context) in
            _ = try await guardrail.admit(context, for: .manageUsers)
            let connection = try Self.connection(request.connection)
            guard try await store.deleteConnection(connection) else {
                throw ServiceError.connectionNotFound
            }
            return DeleteConnectionResponse()
        }
        router.register(NotifyMethods.createSubscription) { (request: CreateSubscriptionRequest, context) in
            let caller = try await guardrail.authenticate(context)
            guard let user = request.user else { throw ServiceError.missingField("user") }
            guard let app = request.app, !app.isEmpty else { throw ServiceError.missingField("app") }
            guard let platformName = request.platform else { throw ServiceError.missingField("platform") }
            guard let platform = Platform(caseInsensitive: platformName) else {
                throw ServiceError.invalidField("platform", "Must be one of windows, ios, android, webPush.")
            }
            try await guardrail.authorize(caller, for: .createSubscription(user: user, app: app), context: context)
            guard try await store.user(id: user) != nil else {
                throw ServiceError.userNotFound(user)
            }
            let subscription = Subscription(
                id: UUIDText.random(), user: user, app: app, platform: platform, deviceID: request.deviceID,
                expiresAt: Timestamp.now().truncatedToMilliseconds.adding(seconds: Int64(try Self.lifetime(request.ttlSeconds)))
            )
            try await store.createSubscription(subscription)
            return CreateSubscriptionResponse(subscription: subscription)
        }
        router.register(NotifyMethods.renewSubscription) { (request: RenewSubscriptionRequest, context) in
            let caller = try await guardrail.authenticate(context)
            let subscription = try await existingSubscription(request.id)
            try await guardrail.authorize(caller, for: .manageSubscription(subscription), context: context)
            // Renewal keeps the id, and brings an expired subscription back
            // within the grace period only (docs/PROTOCOL.md, "Device endpoints").
            let now = Timestamp.now().truncatedToMilliseconds
            guard subscription.isRenewable(at: now) else {
                throw ServiceError.renewalGracePassed(subscription.id)
            }
            let expiresAt = now.adding(seconds: Int64(try Self.lifetime(request.ttlSeconds)))
            defer { guardrail.lookups.subscriptionChanged(subscription.id) }
            guard let renewed = try await store.renewSubscription(id: subscription.id, expiresAt: expiresAt) else {
                throw ServiceError.subscriptionNotFound(subscription.id)
            }
            return RenewSubscriptionResponse(subscription: renewed)
        }
        router.register(NotifyMethods.deleteSubscription) { (request: DeleteSubscriptionRequest, context) in
            let caller = try await guardrail.authenticate(context)
            let subscription = try await existingSubscription(request.id)
            try await guardrail.authorize(caller, for: .manageSubscription(subscription), context: context)
            defer { guardrail.lookups.subscriptionChanged(subscription.id) }
            _ = try await store.deleteSubscription(id: subscription.id)
            return DeleteSubscriptionResponse()
        }
        router.register(NotifyMethods.block) { (request: BlockRequest, context) in
            _ = try await guardrail.admit(context, for: .manageBlockList)
            let principal = try Self.principal(request.caller, field: "caller")
            try await store.block(principal)
            guardrail.lookups.blockListChanged(principal)
            return BlockResponse()
        }
        router.register(NotifyMethods.unblock) { (request: BlockRequest, context) in
            _ = try await guardrail.admit(context, for: .manageBlockList)
            let principal = try Self.principal(request.caller, field: "caller")
            defer { guardrail.lookups.blockListChanged(principal) }
            guard try await store.unblock(principal) else {
                throw ServiceError.notBlocked
            }
            return BlockResponse()
        }
        router.register(NotifyMethods.createToken) { (request: CreateTokenRequest, context) in
            _ = try await guardrail.admit(context, for: .manageTokens)
            let principal = try Self.principal(request.principal, field: "principal")
            var roles = Set<Role>()
            for (index, name) in request.roles.enumerated() {
                guard let role = Role(rawValue: name) else {
                    throw ServiceError.invalidField("roles[\(index)]", "Must be one of admin, app, user.")
                }
                roles.insert(role)
            }
            if roles.isEmpty { roles = TokenIssuer.defaultRoles(for: principal) }
            var lifetime = TokenIssuer.defaultLifetime
            if let seconds = request.ttlSeconds {
                guard let asked = TokenIssuer.lifetime(seconds: seconds) else {
                    throw ServiceError.invalidField(
                        "ttl_seconds", "Must be between 1 and \(TokenIssuer.maximumLifetimeSeconds) (3650 days).")
                }
                lifetime = asked
            }
            let issued = try await TokenIssuer(store: store).issue(for: principal, roles: roles, lifetime: lifetime)
            return CreateTokenResponse(
                token: issued.token, tokenID: issued.record.id,
                expirationDateTime: issued.record.expiresAt.rfc3339
            )
        }
        router.register(NotifyMethods.revokeToken) { (request: RevokeTokenRequest, context) in
            _ = try await guardrail.admit(context, for: .manageTokens)
            guard let id = request.tokenID, !id.isEmpty else { throw ServiceError.missingField("token_id") }
            defer { guardrail.lookups.tokenRevoked() }
            guard try await store.revokeToken(id: id) else {
                throw ServiceError.tokenNotFound(id)
            }
            return RevokeTokenResponse()
        }
    }

    private func existingSubscription(_ id: String?) async throws -> Subscription {
        guard let id, !id.isEmpty else { throw ServiceError.missingField("id") }
        guard let subscription = try await store.subscription(id: id) else {
            throw ServiceError.subscriptionNotFound(id)
        }
        return subscription
    }

    private static func lifetime(_ seconds: UInt64?) throws -> UInt64 {
        let seconds = seconds ?? defaultSubscriptionLifetime
        guard seconds > 0, seconds <= defaultSubscriptionLifetime else {
            throw ServiceError.invalidField("ttl_seconds", "Must be between 1 and \(defaultSubscriptionLifetime).")
        }
        return seconds
    }

    private static func connection(_ input: ConnectionInput?) throws -> Connection {
        guard let input else { throw ServiceError.missingField("connection") }
        guard let user = input.user else { throw ServiceError.missingField("connection.user") }
        guard let to = input.to else { throw ServiceError.missingField("connection.to") }
        guard user != to else { throw ServiceError.invalidField("connection.to", "A user cannot connect to himself.") }
        let kind: ConnectionKind
        if let name = input.kind {
            guard let parsed = ConnectionKind(rawValue: name) else {
                throw ServiceError.invalidField("connection.kind", "Must be friend or follow.")
            }
            kind = parsed
        } else {
            kind = .friend
        }
        return Connection(user: user, to: to, kind: kind)
    }

    private static func principal(_ input: PrincipalInput?, field: String) throws -> Principal {
        switch (input?.app, input?.user) {
        case (let app?, nil) where !app.isEmpty: return .app(app)
        case (nil, let user?): return .user(user)
        default: throw ServiceError.invalidField(field, "Set exactly one of app and user.")
        }
    }
}
