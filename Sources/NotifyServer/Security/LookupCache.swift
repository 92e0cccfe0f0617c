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
        if let cached = cached(key) { return cached }
        let now = ContinuousClock.now
        let value = try await load()
        guard lifetime > .zero else { return value }
        entries.withLock { entries in
            if entries.count >= capacity { entries.removeAll(keepingCapacity: true) }
            entries[key] = Entry(value: value, expires: now.advanced(by: lifetime))
        }
        return value
    }

    /// The value cached for `key`, if it has not expired.
    func cached(_ key: Key) -> Value? {
        guard lifetime > .zero else { return nil }
        guard let entry = entries.withLock({ $0[key] }), entry.expires > ContinuousClock.now else { return nil }
        return entry.value
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

    // MARK: Without waiting

    /// The token record, from what this call already learned or the cache.
    /// - Throws: ``LookupMiss`` when neither knows it: load it, then ask again.
    func token(hash: [UInt8], known: KnownLookups) throws(LookupMiss) -> TokenRecord? {
        if let (knownHash, record) = known.token, knownHash == hash { return record }
        if let record = tokens.cached(hash) { return record }
        throw .token(hash: hash)
    }

    func isBlocked(_ principal: Principal, known: KnownLookups) throws(LookupMiss) -> Bool {
        if let (knownPrincipal, blocked) = known.blocked, knownPrincipal == principal { return blocked }
        if let blocked = blocked.cached(principal) { return blocked }
        throw .blocked(principal)
    }

    func userExists(_ id: Int64, known: KnownLookups) throws(LookupMiss) -> Bool {
        if let (knownID, exists) = known.user, knownID == id { return exists }
        if let exists = users.cached(id) { return exists }
        throw .user(id)
    }

    func subscription(id: String, known: KnownLookups) throws(LookupMiss) -> Subscription? {
        if let (knownID, subscription) = known.subscription, knownID == id { return subscription }
        if let subscription = subscriptions.cached(id) { return subscription }
        throw .subscription(id)
    }

    /// Loads what `miss` names from the store (caching what is safe to) into `known`.
    func load(_ miss: LookupMiss, into known: inout KnownLookups) async throws {
        switch miss {
        case .token(let hash): known.token = (hash, try await token(hash: hash))
        case .blocked(let principal): known.blocked = (principal, try await isBlocked(principal))
        case .user(let id): known.user = (id, try await userExists(id))
        case .subscription(let id): known.subscription = (id, try await subscription(id: id))
        }
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

/// What one call has loaded from the store itself, because the cache did not
/// have it (or the cache is off).
///
/// A call's checks run without waiting, against the cache and this record.
/// When an answer is in neither they throw ``LookupMiss``; the caller loads
/// it into this record (``CallerGuard/resolving(_:_:)``) and runs the checks
/// again. Nearly every call finds all it needs in the cache, so its checks
/// finish on the connection's event loop, with no task.
struct KnownLookups: Sendable {
    var token: (hash: [UInt8], record: TokenRecord?)?
    var blocked: (principal: Principal, blocked: Bool)?
    var user: (id: Int64, exists: Bool)?
    var subscription: (id: String, subscription: Subscription?)?
    /// The caller's rate-limit token is taken: running the checks again must
    /// not take a second one.
    var rateLimitPassed = false

    init() {}
}

/// A lookup the cache could not answer without waiting for the store.
enum LookupMiss: Error, Sendable {
    case token(hash: [UInt8])
    case blocked(Principal)
    case user(Int64)
    case subscription(String)
}
