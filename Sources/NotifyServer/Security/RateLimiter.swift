import Foundation
import NotifyDomain
import NotifyWire
import Synchronization

/// A token bucket per caller, shared by all connections.
///
/// A throttled call is answered RESOURCE_EXHAUSTED with reason THROTTLED and
/// a retry-after (seconds) in the response metadata; the gateway turns that
/// into 406 (Graph) or 429 (SelfCommunity).
final class RateLimiter: Sendable {
    private struct Bucket {
        var tokens: Double
        var updated: ContinuousClock.Instant
    }

    private let rate: Double
    private let burst: Double
    private let buckets = Mutex<[Principal: Bucket]>([:])

    /// - Parameters:
    ///   - rate: tokens per second; 0 disables limiting.
    ///   - burst: the bucket's size.
    init(rate: Double, burst: Double) {
        self.rate = rate
        self.burst = max(burst, rate, 1)
    }

    func acquire(_ principal: Principal, now: ContinuousClock.Instant = .now) throws(RPCError) {
        guard rate > 0 else { return }
        let (rate, burst) = (self.rate, self.burst)
        let waitSeconds: Double? = buckets.withLock { buckets in
            var bucket = buckets[principal] ?? Bucket(tokens: burst, updated: now)
            let elapsed = now - bucket.updated
            let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
            bucket.tokens = min(burst, bucket.tokens + seconds * rate)
            bucket.updated = now
            defer { buckets[principal] = bucket }
            if bucket.tokens >= 1 {
                bucket.tokens -= 1
                return nil
            }
            return (1 - bucket.tokens) / rate
        }
        if let waitSeconds {
            throw RPCError(
                code: .resourceExhausted, message: "too many calls: slow down", reason: "THROTTLED",
                metadata: ["retry-after": "\(max(1, Int(waitSeconds.rounded(.up))))"]
            )
        }
    }
}
