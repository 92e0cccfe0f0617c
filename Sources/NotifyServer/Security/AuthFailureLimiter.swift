import Logging
import NotifyCore
import Synchronization

/// Limits and counts failed authentications (a missing, malformed, unknown,
/// revoked or expired token), per peer address.
///
/// Each failure takes a token of its peer address's bucket. While that
/// bucket is empty, every call from the address that needs a token is
/// refused RESOURCE_EXHAUSTED THROTTLED (with retry-after) before its token
/// is even looked at: an address guessing tokens learns nothing more until
/// the bucket refills, at the limit's rate. Calls made in-process by the
/// embedded gateway carry their HTTP client's address (``CallerMemo/peer``);
/// other in-process calls have none and are counted but not limited.
///
/// Failures are counted in total, and logged at info at most once per
/// `logInterval` with the count since the last line, so that a flood of
/// guesses neither goes unseen nor floods the log.
final class AuthFailureLimiter: Sendable {
    private struct LogState {
        var lastLog: ContinuousClock.Instant?
        var sinceLastLog = 0
    }

    let limit: RateLimit
    private let buckets: TokenBuckets<String>
    private let total = Atomic<Int>(0)
    private let throttled = Atomic<Int>(0)
    private let logState = Mutex(LogState())
    private let logInterval: Duration

    init(limit: RateLimit, capacity: Int = 100_000, logInterval: Duration = .seconds(10)) {
        self.limit = limit
        self.buckets = TokenBuckets(capacity: capacity)
        self.logInterval = logInterval
    }

    /// Failed authentications since the server started.
    var failures: Int { total.load(ordering: .relaxed) }
    /// Calls refused because their address had failed too often.
    var refusals: Int { throttled.load(ordering: .relaxed) }
    /// Peer addresses tracked now.
    var trackedPeers: Int { buckets.count }

    /// - Throws: ``CallerError/addressThrottled(retryAfterSeconds:)`` when `peer`'s failures have emptied its bucket.
    func check(_ peer: String?, now: ContinuousClock.Instant = .now) throws(CallerError) {
        guard let peer, limit.perSecond > 0 else { return }
        if let wait = buckets.peek(peer, limit: limit, now: now) {
            throttled.add(1, ordering: .relaxed)
            throw .addressThrottled(retryAfterSeconds: CallerError.retryAfterSeconds(wait))
        }
    }

    /// Counts a failed authentication of `peer`, and logs now and then.
    /// - Parameter logger: where the now-and-then line goes; nil: nowhere.
    func failed(_ peer: String?, reason: Reason?, logger: Logger?, now: ContinuousClock.Instant = .now) {
        let total = self.total.add(1, ordering: .relaxed).newValue
        if let peer, limit.perSecond > 0 { _ = buckets.take(peer, limit: limit, now: now) }
        let recent: Int? = logState.withLock { state in
            state.sinceLastLog += 1
            guard state.lastLog.map({ now - $0 >= logInterval }) ?? true else { return nil }
            state.lastLog = now
            defer { state.sinceLastLog = 0 }
            return state.sinceLastLog
        }
        if let recent, let logger {
            logger.info(
                "failed authentications",
                metadata: [
                    "notify.auth.failures.recent": "\(recent)", "notify.auth.failures.total": "\(total)",
                    "notify.auth.refusals.total": "\(refusals)", "notify.auth.reason": "\(reason?.rawValue ?? "?")",
                ])
        }
    }
}
