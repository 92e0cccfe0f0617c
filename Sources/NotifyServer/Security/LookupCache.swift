import NotifyDomain
import NotifyStorage
import Synchronization

/// A small time-bounded cache of store lookups made on every call (the
/// token, the blocked list, the issuer's existence, SendNotification's
/// subscription).
///
/// Without it each call pays two or three database reads before its real
/// work. Entries live for `lifetime`, or `heardLifetime` when stored while
/// `hears()` (the store tells every change made elsewhere: an entry in use
/// then costs a read a minute rather than one a second); the RPCs that
/// change what is cached (RevokeToken, Block, Unblock, DeleteUser,
/// RenewSubscription, DeleteSubscription) evict at once; changes made elsewhere (another
/// instance, the `notifyd admin` CLI) evict at once while the store hears of
/// them (``CachedLookups/apply(_:)``) and wait out the lifetime while it
/// does not. The cache is bounded: when full,
/// the expired entries make room, then entries in use if they must.
///
/// An entry in use is reloaded ahead of its expiry: the first lookup past
/// half its lifetime starts one reload in the background and is answered
/// from the entry, which is still valid. When entries simply expired, every
/// call that arrived until one of them had reloaded the entry missed it and
/// loaded it again: at 1,024 calls in flight that herd of reads held calls
/// for 300–400 ms every `lifetime`. No value is served past its lifetime,
/// and an eviction during a load is never undone by it (a generation count).
///
/// A key missing from the cache is loaded once however many calls want it at
/// the same moment: the first loads it, the others wait for its answer. Each
/// loaded its own before, and a burst of calls for a user not yet cached (64
/// connections meeting the same cold user) cost 64 reads.
final class LookupCache<Key: Hashable & Sendable, Value: Sendable>: Sendable {
    private struct Entry {
        var value: Value
        var expires: ContinuousClock.Instant
        /// Half its lifetime: from here, a lookup starts its reload.
        var refresh: ContinuousClock.Instant
        /// A reload is under way.
        var reloading = false
    }

    private struct State {
        var entries: [Key: Entry] = [:]
        /// Advanced by every eviction: a load that started before one must
        /// not store what it read.
        var generation: UInt64 = 0
        /// The loads under way, each with the lookups waiting for its answer.
        var loads: [Key: [CheckedContinuation<Shared?, Never>]] = [:]

        /// Bounded: when full, the expired entries go, and when that frees
        /// less than a quarter, entries in use too (the dictionary's order,
        /// arbitrary) until a quarter is free. Starting afresh instead sent
        /// every call of a server with more busy users than the capacity to
        /// the store at once, each time the cache filled.
        mutating func store(_ value: Value, for key: Key, at now: ContinuousClock.Instant, lifetime: Duration, capacity: Int) {
            if entries[key] == nil, entries.count >= capacity {
                entries = entries.filter { $0.value.expires > now }
                let keep = capacity - max(1, capacity / 4)
                if entries.count > keep {
                    for key in Array(entries.keys.prefix(entries.count - keep)) { entries.removeValue(forKey: key) }
                }
            }
            entries[key] = Entry(value: value, expires: now.advanced(by: lifetime), refresh: now.advanced(by: lifetime / 2))
        }
    }

    /// What a lookup that missed the cache does next.
    private enum JoinStep {
        case leads
        case joined
        /// A load ended between the miss and now: its value.
        case stored(Value)
    }

    /// What a lookup that waited for another's load gets.
    private enum Shared: Sendable {
        case value(Value)
        case failure(any Error)
        /// The load was cancelled, or an eviction came while it ran: load again.
        case again
    }

    private let lifetime: Duration
    private let heardLifetime: Duration
    private let hears: @Sendable () -> Bool
    private let capacity: Int
    /// Loads a key again; nil when it is no longer found (the entry goes).
    private let reload: (@Sendable (Key) async throws -> Value?)?
    /// Where reloads run.
    private let background: BackgroundWork
    /// The time: the continuous clock's, or a test's own, so that lifetimes
    /// are checked by what the test sets rather than by how long a loaded
    /// machine takes to wake it.
    private let now: @Sendable () -> ContinuousClock.Instant
    private let state = Mutex(State())

    /// - Parameters:
    ///   - lifetime: how long an entry is trusted; zero disables the cache.
    ///   - heardLifetime: how long one stored while `hears()` is trusted.
    ///   - hears: whether every change made elsewhere evicts at once.
    ///   - capacity: the most entries kept.
    ///   - now: the time lifetimes are measured in.
    ///   - reload: how to refresh an entry ahead of its expiry; without it
    ///     entries just expire.
    ///   - background: runs the reloads; while nothing runs it, entries
    ///     expire as they would without `reload`.
    init(
        lifetime: Duration,
        heardLifetime: Duration = .zero,
        hears: @escaping @Sendable () -> Bool = { false },
        capacity: Int = 100_000,
        now: @escaping @Sendable () -> ContinuousClock.Instant = { .now },
        background: BackgroundWork = BackgroundWork(),
        reload: (@Sendable (Key) async throws -> Value?)? = nil
    ) {
        self.lifetime = lifetime
        self.heardLifetime = max(lifetime, heardLifetime)
        self.hears = hears
        self.capacity = capacity
        self.now = now
        self.background = background
        self.reload = reload
    }

    /// The cached value, or the result of `load`, which is then cached; while
    /// another lookup loads the same key, its answer (value or error).
    func value(for key: Key, load: () async throws -> Value) async throws -> Value {
        while true {
            if let cached = cached(key) { return cached }
            guard lifetime > .zero else { return try await load() }
            let now = self.now()
            // Join the load under way, or start one (nil); or take what a
            // load that ended since the miss above stored.
            let joined: Shared? = await withCheckedContinuation { continuation in
                let step = state.withLock { state -> JoinStep in
                    if let entry = state.entries[key], entry.expires > now { return .stored(entry.value) }
                    if state.loads[key] != nil {
                        state.loads[key]?.append(continuation)
                        return .joined
                    }
                    state.loads[key] = []
                    return .leads
                }
                switch step {
                case .leads: continuation.resume(returning: nil)
                case .stored(let value): continuation.resume(returning: .value(value))
                case .joined: break
                }
            }
            switch joined {
            case .value(let value): return value
            case .failure(let error): throw error
            case .again: continue
            case nil: break
            }
            let generation = state.withLock { $0.generation }
            do {
                let value = try await load()
                finishLoad(key) { state in
                    guard state.generation == generation else { return .again }
                    state.store(value, for: key, at: now, lifetime: currentLifetime(), capacity: capacity)
                    return .value(value)
                }
                return value
            } catch {
                finishLoad(key) { _ in error is CancellationError ? .again : .failure(error) }
                throw error
            }
        }
    }

    /// How many lookups wait for the load of `key` under way; nil when none
    /// is under way (for tests).
    func waiting(for key: Key) -> Int? {
        state.withLock { $0.loads[key]?.count }
    }

    /// Ends the load of `key`: `outcome` (under the lock) says what its waiters get.
    private func finishLoad(_ key: Key, _ outcome: (inout State) -> Shared) {
        let (waiters, shared) = state.withLock { state in
            (state.loads.removeValue(forKey: key) ?? [], outcome(&state))
        }
        for waiter in waiters { waiter.resume(returning: shared) }
    }

    /// The value cached for `key`, if it has not expired; past half its
    /// lifetime, the first caller also starts its reload.
    func cached(_ key: Key) -> Value? {
        guard lifetime > .zero else { return nil }
        let now = self.now()
        let (value, reloadFrom) = state.withLock { state -> (Value?, UInt64?) in
            guard var entry = state.entries[key], entry.expires > now else { return (nil, nil) }
            guard reload != nil, !entry.reloading, now >= entry.refresh else { return (entry.value, nil) }
            entry.reloading = true
            state.entries[key] = entry
            return (entry.value, state.generation)
        }
        if let generation = reloadFrom { startReload(key, generation: generation) }
        return value
    }

    func evict(_ key: Key) {
        state.withLock { state in
            state.generation &+= 1
            state.entries.removeValue(forKey: key)
        }
    }

    func evictAll() {
        state.withLock { state in
            state.generation &+= 1
            state.entries.removeAll()
        }
    }

    private func store(_ value: Value, for key: Key, loadedAt: ContinuousClock.Instant, generation: UInt64) {
        guard lifetime > .zero else { return }
        let lifetime = currentLifetime()
        state.withLock { state in
            guard state.generation == generation else { return }
            state.store(value, for: key, at: loadedAt, lifetime: lifetime, capacity: capacity)
        }
    }

    /// The lifetime of an entry stored now. Whether the store hears is
    /// asked after the read: when it changed meanwhile, an eviction came with
    /// it (``DirectoryChange/everything``), and its generation refuses what
    /// the read found.
    private func currentLifetime() -> Duration {
        hears() ? heardLifetime : lifetime
    }

    /// One reload of `key` in the background; a failed one, or one that
    /// could not be queued, lets the next lookup try again, and the entry
    /// expires meanwhile as it would have.
    private func startReload(_ key: Key, generation: UInt64) {
        guard let reload else { return }
        let queued = background.submit { [self] in
            let now = self.now()
            do {
                if let value = try await reload(key) {
                    store(value, for: key, loadedAt: now, generation: generation)
                } else {
                    state.withLock { state in
                        if state.generation == generation { state.entries.removeValue(forKey: key) }
                    }
                }
            } catch {
                state.withLock { $0.entries[key]?.reloading = false }
            }
        }
        if !queued { state.withLock { $0.entries[key]?.reloading = false } }
    }
}

/// The per-call lookups, through ``LookupCache``s.
///
/// Only answers that are safe to reuse are cached: a token that exists, a
/// user or subscription that exists, and the blocked list. One that is not
/// found is looked up again next time, so one created a moment ago is seen at once.
final class CachedLookups: Sendable {
    private let store: any Directory
    /// Woken when a caller may no longer read (``tokenRevoked()``, ...).
    private let log: any NotificationLog
    private let tokens: LookupCache<[UInt8], TokenRecord>
    private let blocked: LookupCache<Principal, Bool>
    private let users: LookupCache<Int64, User>
    private let subscriptions: LookupCache<String, Subscription>

    /// - Parameters:
    ///   - lifetime: how long a lookup is trusted.
    ///   - heardLifetime: how long while the store hears every change made
    ///     elsewhere (``Directory/hearsEveryDirectoryChange``).
    ///   - background: runs the caches' reloads ahead of expiry.
    init(
        store: any Directory, log: any NotificationLog, lifetime: Duration, heardLifetime: Duration, background: BackgroundWork
    ) {
        self.store = store
        self.log = log
        func cache<Key, Value>(_ reload: @escaping @Sendable (Key) async throws -> Value?) -> LookupCache<Key, Value> {
            LookupCache(
                lifetime: lifetime, heardLifetime: heardLifetime, hears: { store.hearsEveryDirectoryChange },
                background: background, reload: reload)
        }
        self.tokens = cache { try await store.token(hash: $0) }
        self.blocked = cache { try await store.isBlocked($0) }
        self.users = cache { try await store.user(id: $0) }
        self.subscriptions = cache { try await store.subscription(id: $0) }
    }

    func token(hash: [UInt8]) async throws -> TokenRecord? {
        try await Self.ifFound(tokens, hash) { try await store.token(hash: hash) }
    }

    func isBlocked(_ principal: Principal) async throws -> Bool {
        try await blocked.value(for: principal) { try await store.isBlocked(principal) }
    }

    func userExists(_ id: Int64) async throws -> Bool {
        try await user(id: id) != nil
    }

    /// The user, with his name: existence for the calls that need it, names
    /// for a List that shows its issuers (a rename shows at once on this
    /// instance, ``userChanged(_:)``, and on those whose store hears it;
    /// within the cache's lifetime elsewhere).
    func user(id: Int64) async throws -> User? {
        try await Self.ifFound(users, id) { try await store.user(id: id) }
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
        if users.cached(id) != nil { return true }
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

    /// A user was put (created or renamed here).
    func userChanged(_ id: Int64) {
        users.evict(id)
    }

    /// A token was revoked: its hash is not known here, so forget them all.
    /// Live feed readers check their caller again, and a revoked one ends.
    func tokenRevoked() {
        tokens.evictAll()
        log.wakeFeedWatchers()
    }
    func blockListChanged(_ principal: Principal) {
        blocked.evict(principal)
        log.wakeFeedWatchers()
    }
    /// A deleted user's subscriptions go too and his tokens are revoked:
    /// neither's keys are known here, so forget them all. Live feed readers
    /// check their caller again, and his end (TOKEN_REVOKED).
    func userDeleted(_ id: Int64) {
        users.evict(id)
        subscriptions.evictAll()
        tokens.evictAll()
        log.wakeFeedWatchers()
    }
    /// A subscription was renewed or deleted: live readers of device
    /// endpoints check theirs again (a deleted one ends its Watch).
    func subscriptionChanged(_ id: String) {
        subscriptions.evict(id)
        log.wakeFeedWatchers()
    }

    /// A change another instance or process made (the store heard it, see
    /// ``Directory/directoryChanges()``): forget what it names, as the RPC
    /// that made it here would have, and wake the live feed readers so that
    /// each checks its caller again (a revoked token or a blocked caller
    /// ends its watch at once, on every instance).
    func apply(_ change: DirectoryChange) {
        switch change {
        case .tokenRevoked: tokenRevoked()
        case .blockListChanged(let principal): blockListChanged(principal)
        case .userDeleted(let id): userDeleted(id)
        case .userChanged(let id): userChanged(id)
        case .subscriptionChanged(let id): subscriptionChanged(id)
        case .everything:
            tokens.evictAll()
            blocked.evictAll()
            users.evictAll()
            subscriptions.evictAll()
            log.wakeFeedWatchers()
        }
    }

    /// Applies the store's ``Directory/directoryChanges()`` until the stream
    /// ends or the task is cancelled: the server runs it for as long as it
    /// serves (``BackgroundWork/whileRunning(_:)``).
    func followDirectoryChanges() async {
        for await change in store.directoryChanges() { apply(change) }
    }

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
