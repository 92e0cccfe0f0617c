import Foundation
public import NotifyClient
public import NotifyCore
public import NotifyDomain
import NotifyMessages
import NotifyServer
import NotifyStorageSQLite

/// Set-up shortcuts for end-to-end tests.
///
/// They write straight into the server's store, as `notifyd admin` does, so
/// that a test spends its calls on what it checks; what the tests assert goes
/// over the wire.
extension TestServer {
    /// How many appends the store's writer has taken once that number has
    /// stopped growing for a second (30 s at most): what the server has read
    /// and handled of a burst of calls. It reads a counter, not the feed, so
    /// polling it costs the machine nothing while the test waits.
    public func settledAppendCount() async throws -> Int {
        var count = store.statistics.appends
        var quiet = ContinuousClock.now
        let end = ContinuousClock.now + .seconds(30)
        while ContinuousClock.now < end {
            try await Task.sleep(for: .milliseconds(100))
            let now = store.statistics.appends
            if now != count {
                count = now
                quiet = .now
            } else if ContinuousClock.now - quiet >= .seconds(1) {
                return count
            }
        }
        return count
    }

    /// Creates (or renames) users.
    public func users(_ ids: Int64...) async throws {
        for id in ids { try await store.putUser(User(id: id, name: "user \(id)")) }
    }

    /// Connects two users, creating them when missing.
    public func connect(_ user: Int64, to: Int64, kind: ConnectionKind) async throws {
        for id in [user, to] where try await store.user(id: id) == nil {
            try await store.putUser(User(id: id))
        }
        try await store.putConnection(Connection(user: user, to: to, kind: kind))
    }

    /// Creates a subscription of `user` (created when missing) for `app`.
    ///
    /// - Parameters:
    ///   - lifetime: seconds until it expires; negative makes an expired one.
    public func subscription(
        user: Int64, app: String, platform: Platform = .windows, lifetime: Int64 = 24 * 3600
    ) async throws -> Subscription {
        if try await store.user(id: user) == nil { try await store.putUser(User(id: user)) }
        let subscription = Subscription(
            id: UUID().uuidString.lowercased(), user: user, app: app, platform: platform, deviceID: "device-\(user)",
            expiresAt: Timestamp.now().truncatedToMilliseconds.adding(seconds: lifetime)
        )
        try await store.createSubscription(subscription)
        return subscription
    }

    /// A token with a chosen lifetime; a negative one makes an expired token.
    public func token(for principal: Principal, roles: Set<Role>, lifetime: Int64) async throws -> String {
        if case .user(let id) = principal, try await store.user(id: id) == nil {
            try await store.putUser(User(id: id))
        }
        return try await TokenIssuer(store: store).issue(for: principal, roles: roles, lifetime: lifetime).token
    }
}

extension NotifyClient {
    /// Every entry of `user`'s feed, page after page, through `/notify.v1.FeedService/List`.
    ///
    /// - Parameters:
    ///   - metadata: carries the bearer token of an admin or of the user.
    ///   - pageSize: entries asked for per call.
    public func wholeFeed(
        of user: Int64, metadata: Metadata, pageSize: UInt32 = 1000
    ) async throws(RPCError) -> [NotifyDomain.Notification] {
        var entries: [NotifyDomain.Notification] = []
        var after: UInt64 = 0
        while true {
            let page = try await listFeed(
                ListFeedRequest(user: user, afterSequence: after, limit: pageSize), metadata: metadata
            )
            entries += page.notifications
            if page.caughtUp { return entries }
            after = page.nextAfterSequence
        }
    }
}

extension Metadata {
    /// This metadata plus one more entry, for building a call's metadata inline.
    public func adding(_ key: String, _ value: String) -> Metadata {
        var copy = self
        copy.add(key, value)
        return copy
    }
}
