import NotifyDomain
import NotifyStorage
import Synchronization

/// A small time-bounded cache of store lookups made on every call (the
/// token, the blocked list, the issuer's existence, SendNotification's
/// subscription).
///
/// Without it each call pays two or three database reads before its real
/// work. Entries live for `lifetime`; the RPCs that change what is cached
/// (RevokeToken, Block, Unblock, DeleteUser, RenewSubscription,
/// DeleteSubscription) evict at once, so only changes
/// made behind the server's back (the `notifyd admin` CLI) wait out the
/// lifetime. The cache is bounded: when full it starts afresh.
final class LookupCache<Key: Hashable & Sendable, Value: Sendable>: Sendable {
    private struct Entry {
        var value: Value
        var expires: ContinuousClock.Instant
    }

    private let lifetime: Duration
    private let capacity: Int
    private let entries = Mutex<[Key: Entry]>([:])

    /// - Parameters:
    ///   - lifetime: how long an entry is trusted; zero disables the cache.
    ///   - capacity: the most entries kept.
    init(lifetime: Duration, capacity: Int = 10_000) {
        self.lifetime = lifetime
        self.capacity = capacity
    }

    /// The cached value, or the result of `load`, which is then cached.
    func value(for key: Key, load: () async throws -> Value) async throws -> Value {
        guard lifetime > .zero else { return try await load() }
        let now = ContinuousClock.now
        if let cached = entries.withLock({ $0[key] }), cached.expires > now {
            return cached.value
        }
        let value = try await load()
        entries.withLock { entries in
            if entries.count >= capacity { entries.removeAll(keepingCapacity: true) }
            entries[key] = Entry(value: value, expires: now.advanced(by: lifetime))
        }
        return value
    }

    func evict(_ key: Key) {
        _ = entries.withLock { $0.removeValue(forKey: key) }
    }

    func evictAll() {
        entries.withLock { $0.removeAll() }
    }
}

/// The per-call lookups, through ``LookupCache``s.
///
/// Only answers that are safe to reuse are cached: a token that exists, a
/// user or subscription that exists, and the blocked list. One that is not
/// found is looked up again next time, so one created a moment ago is seen at once.
final class CachedLookups: Sendable {
    private let store: any NotificationStore
    private let tokens: LookupCache<[UInt8], TokenRecord>
    private let blocked: LookupCache<Principal, Bool>
    private let users: LookupCache<Int64, Bool>
    private let subscriptions: LookupCache<String, Subscription>

    init(store: any NotificationStore, lifetime: Duration) {
        self.store = store
        self.tokens = LookupCache(lifetime: lifetime)
        self.blocked = LookupCache(lifetime: lifetime)
        self.users = LookupCache(lifetime: lifetime)
        self.subscriptions = LookupCache(lifetime: lifetime)
    }

    func token(hash: [UInt8]) async throws -> TokenRecord? {
        try await Self.ifFound(tokens, hash) { try await store.token(hash: hash) }
    }

    func isBlocked(_ principal: Principal) async throws -> Bool {
        try await blocked.value(for: principal) { try await store.isBlocked(principal) }
    }

    func userExists(_ id: Int64) async throws -> Bool {
        try await Self.ifFound(users, id) { try await store.user(id: id) != nil ? true : nil } ?? false
    }

    /// A subscription that exists; its expiry is the caller's to check.
    ///
    /// Cached because SendNotification needs it on every call: a database
    /// read each time held SendNotification to a quarter of Notify's rate.
    func subscription(id: String) async throws -> Subscription? {
        try await Self.ifFound(subscriptions, id) { try await store.subscription(id: id) }
    }

    /// `cache`'s value for `key`, loading it when missing; what `load` does
    /// not find (nil) is answered but not cached.
    private static func ifFound<Key, Value>(
        _ cache: LookupCache<Key, Value>, _ key: Key, load: () async throws -> Value?
    ) async throws -> Value? {
        do {
            return try await cache.value(for: key) {
                guard let value = try await load() else { throw NotCached() }
                return value
            }
        } catch is NotCached {
            return nil
        }
    }

    /// A token was revoked: its hash is not known here, so forget them all.
    func tokenRevoked() { tokens.evictAll() }
    func blockListChanged(_ principal: Principal) { blocked.evict(principal) }
    /// A deleted user's subscriptions go too: their ids are not known here, so forget them all.
    func userDeleted(_ id: Int64) {
        users.evict(id)
        subscriptions.evictAll()
    }
    func subscriptionChanged(_ id: String) { subscriptions.evict(id) }

    private struct NotCached: Error {}
}
