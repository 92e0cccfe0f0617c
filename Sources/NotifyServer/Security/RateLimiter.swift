import Foundation
import NotifyCore
import NotifyDomain
import Synchronization

/// A per-second rate and its burst: a token bucket's refill and size.
public struct RateLimit: Sendable, Hashable {
    /// Tokens per second; 0 turns the limit off.
    public var perSecond: Double
    /// The bucket's size: calls a quiet caller may make at once; never less
    /// than one second's worth, nor than one call.
    public var burst: Double

    public init(perSecond: Double, burst: Double) {
        self.perSecond = perSecond
        self.burst = burst
    }

    /// No limit.
    public static let off = RateLimit(perSecond: 0, burst: 0)

    /// Whether the values are usable: finite, not negative, and a burst of
    /// at least one call when the limit is on.
    public var isValid: Bool {
        perSecond.isFinite && burst.isFinite && perSecond >= 0 && burst >= 0 && perSecond <= 1e9 && burst <= 1e9
    }
}

/// The per-caller rate limits, by the caller's strongest role.
///
/// A token with the admin role is counted as an admin, else one with the app
/// role as an application, else as a user. docs/OPERATIONS.md lists the
/// defaults and their flags.
public struct RateLimits: Sendable, Hashable {
    public var admin: RateLimit
    public var app: RateLimit
    public var user: RateLimit

    public init(admin: RateLimit, app: RateLimit, user: RateLimit) {
        self.admin = admin
        self.app = app
        self.user = user
    }

    /// The same limit for every role.
    public init(all limit: RateLimit) {
        self.init(admin: limit, app: limit, user: limit)
    }

    /// `notifyd serve`'s defaults: generous for admins and applications
    /// (1,000 calls/s, bursts of 2,000), tighter for users (20 calls/s,
    /// bursts of 40): a user's own calls are a person's or a device's, and a
    /// user may write into his own feed.
    public static let defaults = RateLimits(
        admin: RateLimit(perSecond: 1000, burst: 2000),
        app: RateLimit(perSecond: 1000, burst: 2000),
        user: RateLimit(perSecond: 20, burst: 40)
    )

    /// No limit for anyone.
    public static let off = RateLimits(all: .off)

    /// The limit of a caller holding `roles`.
    func limit(for roles: Set<Role>) -> (RateLimit, RoleTier) {
        if roles.contains(.admin) { return (admin, .admin) }
        if roles.contains(.app) { return (app, .app) }
        return (user, .user)
    }
}

/// Which of ``RateLimits``' rows a bucket counts against.
enum RoleTier: UInt8, Hashable, Sendable {
    case admin, app, user
}

/// Token buckets, shared by all connections, keyed by an arbitrary key.
///
/// Its memory stays bounded: a bucket that has refilled to its burst is the
/// same as no bucket, so buckets untouched for longer than their refill time
/// are pruned, at most once a second, in one pass; and past `capacity`
/// buckets (more callers active within one refill time than that) the
/// fullest half is dropped at once, which lets those callers start afresh
/// with a full burst rather than growing without bound.
final class TokenBuckets<Key: Hashable & Sendable>: Sendable {
    private struct Bucket {
        var tokens: Double
        var updated: ContinuousClock.Instant
        /// When the bucket will be full again: past it, the bucket can go.
        var fullAt: ContinuousClock.Instant
    }

    private struct State {
        var buckets: [Key: Bucket] = [:]
        var lastPrune: ContinuousClock.Instant?
    }

    private let capacity: Int
    private let state = Mutex(State())
    /// The number of buckets as of the last change: lets
    /// ``peek(_:limit:now:)`` skip the lock while no key has a bucket, the
    /// usual case of the failed-authentication limit, which every call peeks.
    private let held = Atomic<Int>(0)

    /// - Parameter capacity: the most buckets kept.
    init(capacity: Int = 100_000) {
        self.capacity = max(2, capacity)
    }

    /// Buckets held now (tests check that it stays bounded).
    var count: Int { state.withLock { $0.buckets.count } }

    /// Takes one token of `key`'s bucket.
    /// - Returns: nil when taken, else the seconds until one is available.
    func take(_ key: Key, limit: RateLimit, now: ContinuousClock.Instant) -> Double? {
        guard limit.perSecond > 0 else { return nil }
        let rate = limit.perSecond
        let burst = max(limit.burst, limit.perSecond, 1)
        return state.withLock { state -> Double? in
            if state.lastPrune.map({ now - $0 >= .seconds(1) }) ?? true {
                state.lastPrune = now
                Self.prune(&state.buckets, now: now)
            }
            var bucket = state.buckets[key] ?? Bucket(tokens: burst, updated: now, fullAt: now)
            let elapsed = max(0, Self.seconds(now - bucket.updated))
            bucket.tokens = min(burst, bucket.tokens + elapsed * rate)
            bucket.updated = now
            let wait: Double?
            if bucket.tokens >= 1 {
                bucket.tokens -= 1
                wait = nil
            } else {
                wait = (1 - bucket.tokens) / rate
            }
            // Bounded: the refill time of at most 1e9 tokens at a positive rate
            // can still be huge for a tiny rate; cap it at a day.
            bucket.fullAt = now.advanced(by: .seconds(min((burst - bucket.tokens) / rate, 86_400)))
            if state.buckets[key] == nil, state.buckets.count >= capacity {
                Self.prune(&state.buckets, now: now)
                if state.buckets.count >= capacity { Self.dropFullest(&state.buckets) }
            }
            state.buckets[key] = bucket
            held.store(state.buckets.count, ordering: .relaxed)
            return wait
        }
    }

    /// The seconds until `key`'s bucket holds a token again, or nil when it
    /// holds one now; takes nothing and creates no bucket.
    func peek(_ key: Key, limit: RateLimit, now: ContinuousClock.Instant) -> Double? {
        guard limit.perSecond > 0 else { return nil }
        guard held.load(ordering: .relaxed) > 0 else { return nil }
        let burst = max(limit.burst, limit.perSecond, 1)
        return state.withLock { state -> Double? in
            // Refilled buckets go here too, so that the lock-free path comes
            // back once the failures stop.
            if state.lastPrune.map({ now - $0 >= .seconds(1) }) ?? true {
                state.lastPrune = now
                Self.prune(&state.buckets, now: now)
                held.store(state.buckets.count, ordering: .relaxed)
            }
            guard let bucket = state.buckets[key] else { return nil }
            let tokens = min(burst, bucket.tokens + max(0, Self.seconds(now - bucket.updated)) * limit.perSecond)
            return tokens >= 1 ? nil : (1 - tokens) / limit.perSecond
        }
    }

    private static func prune(_ buckets: inout [Key: Bucket], now: ContinuousClock.Instant) {
        buckets = buckets.filter { $0.value.fullAt > now }
    }

    /// Drops the half of the buckets with the most tokens: the callers
    /// least held back lose the least.
    private static func dropFullest(_ buckets: inout [Key: Bucket]) {
        let sorted = buckets.sorted { $0.value.tokens < $1.value.tokens }
        buckets = Dictionary(uniqueKeysWithValues: sorted.prefix(sorted.count / 2).map { ($0.key, $0.value) })
    }

    private static func seconds(_ duration: Duration) -> Double {
        Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
    }
}

/// The per-caller rate limit, by role, shared by all connections.
///
/// A throttled call gets ``CallerError/throttled(retryAfterSeconds:)``, which the client sees as
/// RESOURCE_EXHAUSTED THROTTLED with a retry-after (seconds) in the metadata; the gateway turns that
/// into 406 (Graph) or 429 (SelfCommunity).
final class RateLimiter: Sendable {
    private struct Key: Hashable, Sendable {
        var principal: Principal
        var tier: RoleTier
    }

    let limits: RateLimits
    private let buckets: TokenBuckets<Key>

    /// - Parameters:
    ///   - limits: the limit of each role; ``RateLimits/off`` turns limiting off.
    ///   - capacity: the most callers tracked at once (see ``TokenBuckets``).
    init(limits: RateLimits, capacity: Int = 100_000) {
        self.limits = limits
        self.buckets = TokenBuckets(capacity: capacity)
    }

    /// Callers tracked now.
    var trackedCallers: Int { buckets.count }

    func acquire(_ caller: Caller, now: ContinuousClock.Instant = .now) throws(CallerError) {
        try acquire(caller.principal, roles: caller.roles, now: now)
    }

    func acquire(_ principal: Principal, roles: Set<Role>, now: ContinuousClock.Instant = .now) throws(CallerError) {
        let (limit, tier) = limits.limit(for: roles)
        if let wait = buckets.take(Key(principal: principal, tier: tier), limit: limit, now: now) {
            throw .throttled(retryAfterSeconds: CallerError.retryAfterSeconds(wait))
        }
    }
}
