import Foundation
import NIOCore
import NotifyCrypto
import NotifyDomain
import NotifyMessages
import NotifyStorage
import NotifyWire

/// Notify (SelfCommunity's custom notification) and SendNotification
/// (Graph's create-and-send): check the caller, validate, address, store.
///
/// Checks run in the order the documented contracts imply: authentication
/// (401), the blocked list and the role (403), throttling, then the body
/// (400), then existence (404).
struct NotificationService: Sendable {
    let store: any NotificationStore
    let guardrail: CallerGuard
    let communityMode: CommunityMode

    func register(into router: inout RPCRouter) {
        router.register(Methods.notify) { (request: NotifyRequest, context) in
            try await notify(request, context: context)
        }
        router.register(Methods.sendNotification) { (request: SendNotificationRequest, context) in
            try await send(request, context: context)
        }
    }

    func notify(_ request: NotifyRequest, context: ServerContext) async throws -> NotifyResponse {
        let caller = try await guardrail.admit(context, for: .notify)
        let valid = try NotifyValidation.validate(request)
        let issuer = valid.notification.issuer
        guard try await guardrail.lookups.userExists(issuer) else {
            throw RPCError(
                code: .notFound, message: "user \(issuer) does not exist", reason: "USER_NOT_FOUND",
                fieldViolations: [FieldViolation(field: "user", description: "No user with id \(issuer).")]
            )
        }
        let recipients: Recipients = switch valid.recipientsType {
        case .user: .users([issuer])
        case .connections: .connections(of: issuer, mode: communityMode)
        }
        let result = try await store.append(NewNotification(
            id: UUIDText.timeOrdered(), createdAt: Date(), content: .custom(valid.notification), recipients: recipients,
            idempotencyKey: guardrail.idempotencyKey(context, caller: caller)
        ))
        return NotifyResponse(id: result.id, recipients: result.recipients)
    }

    func send(_ request: SendNotificationRequest, context: ServerContext) async throws -> SendNotificationResponse {
        let caller = try await guardrail.authenticate(context)
        guard let subscriptionID = context.metadata["x-uns-id"], !subscriptionID.isEmpty else {
            throw RPCError(
                code: .invalidArgument, message: "the X-UNS-ID header is required", reason: "MISSING_UNS_ID",
                fieldViolations: [FieldViolation(field: "X-UNS-ID", description: "This header is required.")]
            )
        }
        guard let subscription = try await guardrail.lookups.subscription(id: subscriptionID) else {
            throw RPCError(
                code: .notFound, message: "no subscription \(subscriptionID)", reason: "SUBSCRIPTION_NOT_FOUND"
            )
        }
        try await guardrail.authorize(caller, for: .sendNotification(to: subscription), context: context)
        let now = Date()
        guard subscription.expiresAt > now else {
            throw RPCError(
                code: .notFound, message: "subscription \(subscriptionID) has expired", reason: "SUBSCRIPTION_EXPIRED"
            )
        }
        var notification = try SendNotificationValidation.validate(request, now: now)
        if let host = notification.targetHostName, host != subscription.app {
            throw RPCError(
                code: .invalidArgument,
                message: "targetHostName \(host) is not the subscription's application", reason: "INVALID_FIELDS",
                fieldViolations: [FieldViolation(
                    field: "targetHostName", description: "Must be the subscription's application, \(subscription.app)."
                )]
            )
        }
        notification.targetHostName = subscription.app
        let result = try await store.append(NewNotification(
            id: UUIDText.timeOrdered(now: now), createdAt: now, content: .graph(notification), recipients: .users([subscription.user]),
            idempotencyKey: guardrail.idempotencyKey(context, caller: caller)
        ))
        guard let stored = result.first else {
            throw RPCError(code: .internalError, message: "internal error", reason: "INTERNAL")
        }
        return SendNotificationResponse(notification: stored)
    }
}

/// The checks every authenticated call shares: token, blocked list, role,
/// throttling.
struct CallerGuard: Sendable {
    let lookups: CachedLookups
    let authenticator: Authenticator
    let rateLimiter: RateLimiter

    /// Authenticates, then authorizes `action`.
    func admit(_ context: ServerContext, for action: Action) async throws -> Caller {
        let caller = try await authenticate(context)
        try await authorize(caller, for: action, context: context)
        return caller
    }

    /// Authentication, the blocked list and throttling: what needs no target.
    func authenticate(_ context: ServerContext) async throws -> Caller {
        let caller = try await authenticator.authenticate(context.metadata)
        if try await lookups.isBlocked(caller.principal) {
            throw RPCError(code: .permissionDenied, message: "the caller is on the blocked list", reason: "CALLER_BLOCKED")
        }
        try rateLimiter.acquire(caller.principal)
        return caller
    }

    func authorize(_ caller: Caller, for action: Action, context: ServerContext) async throws {
        try Authorization.authorize(caller, for: action)
    }

    /// The call's idempotency key, scoped to the caller and the method.
    func idempotencyKey(_ context: ServerContext, caller: Caller) -> IdempotencyKey? {
        guard let key = context.metadata["idempotency-key"], !key.isEmpty else { return nil }
        // The target subscription travels in metadata: it is part of what
        // makes two requests the same.
        var material = Array(context.requestPayload.readableBytesView)
        material.append(0)
        material.append(contentsOf: (context.metadata["x-uns-id"] ?? "").utf8)
        let fingerprint = SHA256.hash(material)
        return IdempotencyKey(scope: caller.principal.description, method: context.method, key: key, fingerprint: fingerprint)
    }
}
