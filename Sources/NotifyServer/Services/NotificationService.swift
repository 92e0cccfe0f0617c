import Foundation
import NIOCore
import NotifyCore
import NotifyCrypto
import NotifyDomain
import NotifyMessages
import NotifyProtobuf
import NotifyStorage
import NotifyTracing

/// Notify (SelfCommunity's custom notification) and SendNotification
/// (Graph's create-and-send): check the caller, validate, address, store.
///
/// Checks run in the order the documented contracts imply: authentication
/// (401), the blocked list and the role (403), throttling, then the body
/// (400), then existence (404).
struct NotificationService: Sendable {
    let store: any NotificationLog
    let guardrail: CallerGuard
    let communityMode: CommunityMode
    /// Where notification ids get their random bits.
    let random: RandomPool

    func register(into router: inout RPCRouter) {
        router.registerStaged(NotifyMethods.notify) { (request: NotifyRequest, context, completion) in
            start(context, completion) { known in
                try notifyChecks(request, context: context, known: &known)
            } respond: { result in
                NotifyResponse(id: result.id, recipients: result.recipients)
            }
        }
        router.registerStaged(NotifyMethods.sendNotification) { (request: SendNotificationRequest, context, completion) in
            start(context, completion) { known in
                try sendChecks(request, context: context, known: &known)
            } respond: { result in
                guard let stored = result.first else {
                    throw ServiceError.appendAnsweredNothing
                }
                return SendNotificationResponse(notification: stored)
            }
        }
    }

    /// Runs a call's checks at once when every lookup they need is cached,
    /// appends, and answers through `completion` when the append commits: no
    /// task, no wait on the caller's thread. When a lookup is not cached the
    /// call goes on as a task that loads it.
    private func start<Response: WireMessage>(
        _ context: ServerContext, _ completion: CallCompletion<Response>,
        checks: @escaping @Sendable (inout KnownLookups) throws -> NewNotification,
        respond: @escaping @Sendable (AppendResult) throws -> Response
    ) -> StagedStart<Response> {
        var known = KnownLookups()
        let notification: NewNotification
        do {
            notification = try checks(&known)
        } catch is LookupMiss {
            return .needsTask { [known, guardrail, store] _ in
                var known = known
                let notification = try await guardrail.resolving(&known, checks)
                return try respond(try await context.inStoreSpan("store.append") { try await store.append(notification) })
            }
        } catch {
            completion.fail(error)
            return .started
        }
        let span = context.storeSpan("store.append")
        store.append(notification) { result in
            span?.endStore(result)
            completion.finish { try respond(try result.get()) }
        }
        return .started
    }

    /// Notify's checks, in the contract's order; the notification to append.
    private func notifyChecks(
        _ request: NotifyRequest, context: ServerContext, known: inout KnownLookups
    ) throws -> NewNotification {
        let caller = try guardrail.admit(context, for: .notify, known: &known)
        let valid = try NotifyValidation.validate(request)
        let issuer = valid.notification.issuer
        guard try guardrail.lookups.userExists(issuer, known: known) else {
            throw ServiceError.userNotFound(issuer)
        }
        var random = random.generator
        let recipients: Recipients = switch valid.recipientsType {
        case .user: .users([issuer])
        case .connections: .connections(of: issuer, mode: communityMode)
        }
        return NewNotification(
            id: UUIDText.timeOrdered(using: &random), createdAt: Timestamp.now().truncatedToMilliseconds, content: .custom(valid.notification), recipients: recipients,
            idempotencyKey: guardrail.idempotencyKey(context, caller: caller)
        )
    }

    /// SendNotification's checks, in the contract's order; the notification to append.
    private func sendChecks(
        _ request: SendNotificationRequest, context: ServerContext, known: inout KnownLookups
    ) throws -> NewNotification {
        let caller = try guardrail.authenticate(context, known: &known)
        guard let subscriptionID = context.metadata["x-uns-id"], !subscriptionID.isEmpty else {
            throw ServiceError.missingUnsID
        }
        guard let subscription = try guardrail.lookups.subscription(id: subscriptionID, known: known) else {
            throw ServiceError.subscriptionNotFound(subscriptionID)
        }
        try Authorization.authorize(caller, for: .sendNotification(to: subscription))
        let now = Timestamp.now().truncatedToMilliseconds
        guard subscription.expiresAt > now else {
            throw ServiceError.subscriptionExpired(subscriptionID)
        }
        var notification = try SendNotificationValidation.validate(request, now: now)
        if let host = notification.targetHostName, host != subscription.app {
            throw ServiceError.targetHostNameMismatch(host: host, app: subscription.app)
        }
        notification.targetHostName = subscription.app
        var random = random.generator
        return NewNotification(
            id: UUIDText.timeOrdered(now: now, using: &random), createdAt: now, content: .graph(notification),
            recipients: .users([subscription.user]), idempotencyKey: guardrail.idempotencyKey(context, caller: caller)
        )
    }
}

/// The checks every authenticated call shares: token, blocked list, role,
/// throttling.
///
/// They never wait: what the lookup cache does not hold they throw as a
/// ``LookupMiss``, and ``resolving(_:_:)`` loads it and runs them again. So a
/// call whose lookups are cached can run its checks on the event loop.
struct CallerGuard: Sendable {
    let lookups: CachedLookups
    let authenticator: Authenticator
    let rateLimiter: RateLimiter
    let authFailures: AuthFailureLimiter

    /// Runs `checks` until no lookup is missing, loading each miss from the store.
    func resolving<T>(
        _ known: inout KnownLookups, _ checks: (inout KnownLookups) throws -> T
    ) async throws -> T {
        while true {
            do {
                return try checks(&known)
            } catch let miss as LookupMiss {
                try await lookups.load(miss, into: &known)
            }
        }
    }

    /// Authenticates, then authorizes `action`.
    func admit(_ context: ServerContext, for action: Action) async throws -> Caller {
        var known = KnownLookups()
        return try await resolving(&known) { known in try admit(context, for: action, known: &known) }
    }

    /// Authentication, the blocked list and throttling: what needs no target.
    func authenticate(_ context: ServerContext) async throws -> Caller {
        var known = KnownLookups()
        return try await resolving(&known) { known in try authenticate(context, known: &known) }
    }

    /// Authentication and the blocked list again, for a call that is still
    /// running (a live stream): the rate limit was paid when it started.
    func reauthenticate(_ context: ServerContext) async throws -> Caller {
        var known = KnownLookups()
        known.rateLimitPassed = true
        return try await resolving(&known) { known in try authenticate(context, known: &known) }
    }

    func admit(_ context: ServerContext, for action: Action, known: inout KnownLookups) throws -> Caller {
        let caller = try authenticate(context, known: &known)
        try Authorization.authorize(caller, for: action)
        return caller
    }

    func authenticate(_ context: ServerContext, known: inout KnownLookups) throws -> Caller {
        // A running stream checking its caller again (or a call whose
        // caller already passed) is neither limited nor counted here.
        let admitted = known.rateLimitPassed
        if !admitted { try authFailures.check(context.peer) }
        let caller: Caller
        do {
            if let hash = context.streamTokenHash {
                caller = try authenticator.authenticate(tokenHash: hash, known: known)
            } else {
                caller = try authenticator.authenticate(context.metadata, memo: context.tokenMemo, known: known)
            }
        } catch let error as CallerError {
            if !admitted { authFailures.failed(context.peer, reason: ErrorMapping.reason(for: error), logger: context.logger) }
            throw error
        }
        if try lookups.isBlocked(caller.principal, known: known) {
            throw CallerError.blocked
        }
        if !known.rateLimitPassed {
            try rateLimiter.acquire(caller)
            known.rateLimitPassed = true
        }
        return caller
    }

    /// Authenticates a stream start: by its bearer token, or, without one,
    /// by the `x-stream-ticket` it carries, which this redeems (it is gone
    /// whatever follows). A redeemed ticket's stream then runs as the token
    /// that obtained it: `context` is set to check that token again at
    /// every later wake-up, so its revocation or expiry ends the stream.
    /// - Throws: ``CallerError`` (``CallerError/invalidStreamTicket`` for an
    ///   unknown, redeemed or expired ticket; the token's own refusals).
    func authenticateStream(_ context: inout ServerContext, tickets: any Directory) async throws -> Caller {
        guard context.metadata["authorization"] == nil, let ticket = context.metadata[StreamTickets.metadataKey] else {
            return try await authenticate(context)
        }
        try authFailures.check(context.peer)
        let record: TokenRecord
        do {
            guard let redeemed = try await tickets.redeemStreamTicket(hash: StreamTickets.hash(ticket), now: .now()) else {
                throw CallerError.invalidStreamTicket
            }
            _ = try Authenticator.caller(redeemed)
            record = redeemed
        } catch let error as CallerError {
            authFailures.failed(context.peer, reason: ErrorMapping.reason(for: error), logger: context.logger)
            throw error
        }
        context.streamTokenHash = record.hash
        // The blocked list and the rate limit, as for a token.
        return try await authenticate(context)
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
