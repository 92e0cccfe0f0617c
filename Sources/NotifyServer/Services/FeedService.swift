import Foundation
import NotifyCore
import NotifyDomain
import NotifyMessages
import NotifyStorage

/// Reads a user's feed: the ordered, gapless sequence of their notifications.
struct FeedService: Sendable {
    static let defaultPageSize: UInt32 = 100
    static let maximumPageSize: UInt32 = 1000
    /// The most bytes of entries one page carries (by ``FeedPage/size(ofContent:id:)``),
    /// whatever its `limit`; a page always holds at least one entry when one
    /// follows its cursor. Far below the 4 MiB maximum message size, so that
    /// every feed stays readable with any limit, and small enough that a
    /// stream's one page in flight is a small, fixed amount of memory.
    static let pageByteBudget = 256 * 1024

    let store: any NotificationLog
    /// Where stream tickets are stored and redeemed.
    let tickets: any Directory
    let guardrail: CallerGuard
    /// Where a live stream's delivery lag goes; nil: not measured.
    var metrics: ServerMetrics? = nil

    func register(into router: inout RPCRouter) {
        router.register(NotifyMethods.listFeed) { (request: ListFeedRequest, context) in
            try await list(request, context: context)
        }
        router.registerStream(NotifyMethods.watchFeed) { (request: ListFeedRequest, context, stream) in
            try await watch(request, context: context, stream: stream)
        }
        router.register(NotifyMethods.createStreamTicket) { (_: CreateStreamTicketRequest, context) in
            try await createStreamTicket(context: context)
        }
        registerState(into: &router)
    }

    /// A ticket for one stream start as the caller's token
    /// (``StreamTickets``). Any authenticated caller may have one: the
    /// stream it starts is authorized as the token would be. Only a bearer
    /// token obtains one; a ticket cannot obtain another.
    func createStreamTicket(context: ServerContext) async throws -> CreateStreamTicketResponse {
        let caller = try await guardrail.authenticate(context)
        let (ticket, expiresAt) = try await StreamTickets.issue(for: caller, store: tickets)
        return CreateStreamTicketResponse(ticket: ticket, expiresDateTime: expiresAt.rfc3339)
    }

    func list(_ request: ListFeedRequest, context: ServerContext) async throws -> ListFeedResponse {
        let caller = try await guardrail.authenticate(context)
        let read = try await checkedRead(request, caller: caller, context: context)
        let (user, after) = (read.user, read.after)
        if let before = request.beforeSequence {
            return try await listNewestFirst(
                read, before: before, afterSequence: request.afterSequence, withIssuers: request.withIssuers)
        }
        let page = try await context.inStoreSpan("store.read") {
            try await store.feedPage(
                user: user, after: after, limit: read.limit, maxBytes: Self.pageByteBudget, filter: read.filter)
        }
        try Self.checkEnd(of: page, user: user, after: after)
        return ListFeedResponse(
            notifications: page.entries, nextAfterSequence: page.nextAfter, caughtUp: page.caughtUp,
            sweptThrough: page.sweptThrough, events: page.events.map(FeedEventMessage.init),
            issuers: request.withIssuers ? try await issuers(of: page.entries) : [])
    }

    /// The users who issued `entries`' Notify entries, each once, as the
    /// directory holds them (through the lookup cache); those no longer in
    /// it are left out.
    private func issuers(of entries: [NotifyDomain.Notification]) async throws -> [User] {
        var seen = Set<Int64>()
        var issuers: [User] = []
        for entry in entries {
            guard case .custom(let custom) = entry.content, seen.insert(custom.issuer).inserted else { continue }
            if let user = try await guardrail.lookups.user(id: custom.issuer) { issuers.append(user) }
        }
        return issuers
    }

    /// A List with `before_sequence`: the notifications below it, newest
    /// first, no events (docs/PROTOCOL.md, "Newest first"). Its
    /// `next_after_sequence` is the next page's `before_sequence`.
    /// - Throws: INVALID_FIELDS naming `before_sequence` when `after_sequence` is set too.
    private func listNewestFirst(
        _ read: CheckedRead, before: UInt64, afterSequence: UInt64?, withIssuers: Bool
    ) async throws -> ListFeedResponse {
        guard afterSequence == nil else {
            throw ServiceError.invalidField("before_sequence", "Give either after_sequence or before_sequence, not both.")
        }
        let page = try await store.feedPageNewestFirst(
            user: read.user, before: before, limit: read.limit, maxBytes: Self.pageByteBudget, now: .now(),
            filter: read.filter)
        if page.end == .noSuchUser { throw ServiceError.userNotFound(read.user) }
        return ListFeedResponse(
            notifications: page.entries, nextAfterSequence: page.nextAfter, caughtUp: page.caughtUp,
            issuers: withIssuers ? try await issuers(of: page.entries) : [])
    }

    /// The feed after the request's cursor, page by page, then live: each
    /// page the store's commits make readable, until the call ends.
    ///
    /// The stream is a cursor over the durable feed, not a queue: it watches
    /// before its first read, so no commit falls between the backlog and the
    /// live pages, and it reads only when the connection can take more (one
    /// page of at most ``pageByteBudget`` at a time). The first page that
    /// leaves the reader caught up is sent even when empty, with `caughtUp`
    /// set, so a client knows that what follows is live.
    ///
    /// The caller is checked again at every wake-up, before anything more is
    /// read: a token revoked or expired, or a caller blocked, ends the stream
    /// with that error instead of reading on. Revoking, blocking and deleting
    /// a user wake every watcher for that check, and so does the token's
    /// expiry: a quiet feed does not keep an expired token reading.
    ///
    /// A Watch by subscription (a device endpoint) also checks its
    /// subscription at every wake-up and at its expiry: deleted, it ends
    /// with SUBSCRIPTION_NOT_FOUND; expired and not renewed, with
    /// SUBSCRIPTION_EXPIRED (renewing and deleting wake the watchers).
    func watch(_ request: ListFeedRequest, context: ServerContext, stream: ServerStream<ListFeedResponse>) async throws {
        // A browser's stream may start with a ticket instead of a token.
        var started = context
        let caller = try await guardrail.authenticateStream(&started, tickets: tickets)
        let context = started
        if request.beforeSequence != nil {
            throw ServiceError.invalidField("before_sequence", "Only List reads newest first; a Watch follows the feed forward.")
        }
        let read = try await checkedRead(request, caller: caller, context: context)
        // Watched before the first read, so that no commit falls in between.
        let advances = store.watchFeed(user: read.user)
        guard read.caller.expiresAt != nil || read.subscription != nil else {
            return try await serve(read, advances: advances, context: context, stream: stream)
        }
        // Every child ends only by throwing: the first error ends the call.
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await serve(read, advances: advances, context: context, stream: stream) }
            if let expiry = read.caller.expiresAt {
                group.addTask { try await endAtExpiry(expiry, context: context) }
            }
            if let subscription = read.subscription {
                group.addTask { try await endAtExpiry(of: subscription) }
            }
            defer { group.cancelAll() }
            try await group.next()
        }
    }

    /// Waits until just past the subscription's expiry, then reads it again:
    /// renewed since, it waits for the new expiry; still expired, the watch
    /// ends with SUBSCRIPTION_EXPIRED; gone, with SUBSCRIPTION_NOT_FOUND.
    private func endAtExpiry(of subscription: Subscription) async throws {
        var expiry = subscription.expiresAt
        while true {
            try await Self.sleep(until: expiry)
            if expiry <= .now() {
                expiry = try await currentSubscription(subscription.id).expiresAt
            }
        }
    }

    /// The subscription as it stands (the cache's: RenewSubscription and
    /// DeleteSubscription evict it), refused when gone or expired.
    /// - Throws: ``ServiceError/subscriptionNotFound(_:)``, ``ServiceError/subscriptionExpired(_:)``.
    private func currentSubscription(_ id: String) async throws -> Subscription {
        guard let subscription = try await guardrail.lookups.subscription(id: id) else {
            throw ServiceError.subscriptionNotFound(id)
        }
        guard !subscription.isExpired(at: .now()) else {
            throw ServiceError.subscriptionExpired(id)
        }
        return subscription
    }

    /// Sleeps until just past `expiry`, a day at a time at most (a token
    /// or a subscription may outlive what one sleep can wait).
    private static func sleep(until expiry: Timestamp) async throws {
        let left = expiry.microseconds(since: .now())
        try await Task.sleep(for: .microseconds(min(max(0, left), 86_400_000_000)) + Self.expiryMargin)
    }

    /// How long after its token's expiry a watch checks its caller to end.
    static let expiryMargin = Duration.milliseconds(100)

    /// Waits until just past `expiry`, then checks the caller again: the
    /// check's error (TOKEN_EXPIRED) ends the watch. A day at a time, as a
    /// token may outlive what one sleep can wait.
    private func endAtExpiry(_ expiry: Timestamp, context: ServerContext) async throws {
        while true {
            try await Self.sleep(until: expiry)
            if expiry <= .now() { _ = try await guardrail.reauthenticate(context) }
        }
    }

    /// The pages of ``watch(_:context:stream:)``: the backlog, then one read per wake-up.
    private func serve(
        _ read: CheckedRead, advances: AsyncStream<Void>, context: ServerContext, stream: ServerStream<ListFeedResponse>
    ) async throws {
        let (user, limit, filter) = (read.user, read.limit, read.filter)
        var advances = advances.makeAsyncIterator()
        var cursor = read.after
        var caughtUp = false
        var woken = false
        repeat {
            if woken {
                let caller = try await guardrail.reauthenticate(context)
                if let subscription = read.subscription {
                    let current = try await currentSubscription(subscription.id)
                    try await guardrail.authorize(caller, for: .readSubscription(current), context: context)
                } else {
                    try await guardrail.authorize(caller, for: .readFeed(user: user), context: context)
                }
            }
            woken = true
            while true {
                // Nothing is read while the reader is not reading.
                await stream.waitUntilWritable()
                let page: FeedPage
                do {
                    page = try await store.feedPage(
                        user: user, after: cursor, limit: limit, maxBytes: Self.pageByteBudget, filter: filter)
                } catch {
                    // A read cut short because the call ended is no storage failure.
                    if Task.isCancelled { throw CancellationError() }
                    throw error
                }
                // Only an empty page can hide a cursor past the end or a
                // user who is not there (or was deleted while watched).
                try Self.checkEnd(of: page, user: user, after: cursor)
                // Expired entries passed over move the cursor without a page:
                // once caught up, only entries, events and the swept signal are sent.
                let passedOverOnly = page.entries.isEmpty && page.events.isEmpty && page.sweptThrough == nil
                cursor = page.nextAfter
                if passedOverOnly && caughtUp { break }
                try await stream.send(ListFeedResponse(
                    notifications: page.entries, nextAfterSequence: cursor, caughtUp: page.caughtUp,
                    sweptThrough: page.sweptThrough, events: page.events.map(FeedEventMessage.init)))
                if caughtUp, let metrics { Self.recordLag(of: page, into: metrics) }
                if page.caughtUp {
                    caughtUp = true
                    break
                }
            }
        } while await advances.next() != nil
        // The store closed its watches: it is shutting down.
        if Task.isCancelled { throw CancellationError() }
        throw ServiceError.storeClosing
    }

    /// The live part's lag: from each entry's commit (its `createdAt`) to
    /// its send. The backlog's entries are not counted: their age is the
    /// reader's absence, not the service's delay.
    private static func recordLag(of page: FeedPage, into metrics: ServerMetrics) {
        guard !page.entries.isEmpty else { return }
        let now = Timestamp.now().microsecondsSince1970
        for entry in page.entries {
            metrics.recordDeliveryLag(microseconds: now &- entry.createdAt.microsecondsSince1970)
        }
    }

    /// Refuses a read that found nothing because there is nothing to find:
    /// a user who does not exist, or a cursor past the feed's last entry.
    ///
    /// Answering such a read with an empty page would be a lie a client
    /// cannot see: a Watch past the end would move its cursor over entries
    /// not yet written and skip them when they come, and a Watch of a user
    /// who does not exist would wait forever. A cursor past the end only
    /// comes from another store (one restored from a backup, another
    /// server's), whose sequence numbers name other entries: clamping it to
    /// the head would hand the client new entries under numbers it has
    /// seen. The store reads the feed's end with an empty page, in the same
    /// transaction, so this costs no read of its own.
    /// - Throws: ``ServiceError/userNotFound(_:)`` (NOT_FOUND `USER_NOT_FOUND`);
    ///   ``ServiceError/pastEndOfFeed(after:head:)`` (OUT_OF_RANGE
    ///   `PAST_END_OF_FEED`, whose message names the feed's last sequence).
    private static func checkEnd(of page: FeedPage, user: Int64, after: UInt64) throws {
        guard let end = page.end else { return }
        guard case .head(let head) = end else {
            throw ServiceError.userNotFound(user)
        }
        guard after <= head else {
            throw ServiceError.pastEndOfFeed(after: after, head: head)
        }
    }

    /// The feed a request names: its `user`, or, absent, the caller's own
    /// when the caller is a user's token with the user role (the gateway's
    /// `/me` routes send none). Any other caller (an application, an
    /// administrator's token) has no feed of its own and must name one.
    /// - Throws: INVALID_FIELDS naming `user` when it is absent and the caller has no feed.
    static func feedUser(_ user: Int64?, caller: Caller) throws -> Int64 {
        if let user { return user }
        if case .user(let id) = caller.principal, caller.roles.contains(.user) { return id }
        throw ServiceError.missingField("user")
    }

    /// A read that passed its checks: who reads what, from where.
    struct CheckedRead: Sendable {
        var caller: Caller
        var user: Int64
        var after: UInt64
        var limit: Int
        var filter: FeedFilter
        /// The device endpoint read, when the request named one.
        var subscription: Subscription?
    }

    /// Authenticates and authorizes a read of a feed, or of one device
    /// endpoint's part of it (docs/PROTOCOL.md, "Device endpoints").
    ///
    /// By subscription, the checks run in SendNotification's order: the
    /// subscription must exist (NOT_FOUND SUBSCRIPTION_NOT_FOUND), the
    /// caller must be its user, its application or an administrator
    /// (PERMISSION_DENIED NOT_SUBSCRIPTION_OWNER), and it must not have
    /// expired (NOT_FOUND SUBSCRIPTION_EXPIRED). `user`, when set, must be
    /// the subscription's.
    /// - Parameter caller: authenticated by the call (a Watch: by its token or its stream ticket).
    private func checkedRead(
        _ request: ListFeedRequest, caller: Caller, context: ServerContext
    ) async throws -> CheckedRead {
        var filter = FeedFilter()
        switch request.source ?? "" {
        case "": break
        case "notify": filter.source = .notify
        case "graph": filter.source = .graph
        default: throw ServiceError.invalidField("source", "Must be notify or graph, or absent for every entry.")
        }
        let user: Int64
        var subscription: Subscription?
        if let id = request.subscription, !id.isEmpty {
            guard let found = try await guardrail.lookups.subscription(id: id) else {
                throw ServiceError.subscriptionNotFound(id)
            }
            try await guardrail.authorize(caller, for: .readSubscription(found), context: context)
            if let asked = request.user, asked != found.user {
                throw ServiceError.invalidField("user", "Must be the subscription's user, \(found.user), or absent.")
            }
            guard !found.isExpired(at: .now()) else {
                throw ServiceError.subscriptionExpired(id)
            }
            user = found.user
            filter.endpoint = FeedFilter.Endpoint(app: found.app, platform: found.platform)
            subscription = found
        } else {
            let asked = try Self.feedUser(request.user, caller: caller)
            try await guardrail.authorize(caller, for: .readFeed(user: asked), context: context)
            user = asked
        }
        var limit = request.limit ?? 0
        if limit == 0 { limit = Self.defaultPageSize }
        limit = min(limit, Self.maximumPageSize)
        return CheckedRead(
            caller: caller, user: user, after: request.afterSequence ?? 0, limit: Int(limit), filter: filter,
            subscription: subscription)
    }
}
