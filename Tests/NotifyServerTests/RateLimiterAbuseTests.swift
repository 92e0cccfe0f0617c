import NotifyDomain
@testable import NotifyServer
import NotifyCore
import Testing

@Suite("The rate limiter's memory stays bounded with many callers")
struct RateLimiterAbuseTests {
    @Test("50,000 callers one after the other: the limiter never holds more than its capacity, and forgets refilled callers")
    func manyCallers() throws {
        let capacity = 1_000
        let limiter = RateLimiter(limits: RateLimits(all: RateLimit(perSecond: 10, burst: 20)), capacity: capacity)
        let start = ContinuousClock.now
        var largest = 0
        for id in 1...50_000 {
            // All within one second: nothing has refilled, so only the cap bounds it.
            let now = start.advanced(by: .microseconds(id * 10))
            try limiter.acquire(.user(Int64(id)), roles: [.user], now: now)
            largest = max(largest, limiter.trackedCallers)
        }
        print("50,000 callers, capacity \(capacity): at most \(largest) buckets held")
        #expect(largest <= capacity)
        // Three seconds on, every bucket has refilled (20 tokens at 10 a second):
        // the next call prunes them all but its own.
        try limiter.acquire(.user(1), roles: [.user], now: start.advanced(by: .seconds(3)))
        #expect(limiter.trackedCallers == 1)
    }

    @Test("each role has its own rate: a user is throttled where an admin and an app are not")
    func perRole() throws {
        let limiter = RateLimiter(limits: .defaults)
        let now = ContinuousClock.now
        var userThrottled = 0
        for _ in 0..<100 {
            do { try limiter.acquire(.user(5), roles: [.user], now: now) } catch { userThrottled += 1 }
        }
        #expect(userThrottled == 60)  // a burst of 40
        for _ in 0..<1_000 {
            try limiter.acquire(.user(6), roles: [.admin], now: now)
            try limiter.acquire(.app("app.example.com"), roles: [.app], now: now)
        }
        #expect(throws: CallerError.throttled(retryAfterSeconds: 1)) {
            try limiter.acquire(.user(5), roles: [.user], now: now)
        }
    }

    @Test("a rate near zero gives a bounded retry-after instead of trapping")
    func tinyRate() throws {
        let limiter = RateLimiter(limits: RateLimits(all: RateLimit(perSecond: 1e-300, burst: 1)))
        let now = ContinuousClock.now
        try limiter.acquire(.user(1), roles: [.user], now: now)
        #expect(throws: CallerError.throttled(retryAfterSeconds: 86_400)) {
            try limiter.acquire(.user(1), roles: [.user], now: now)
        }
    }

    @Test("failed authentications from many addresses: the tracker stays bounded")
    func manyPeers() {
        let limiter = AuthFailureLimiter(limit: RateLimit(perSecond: 1, burst: 2), capacity: 500)
        let start = ContinuousClock.now
        var largest = 0
        for index in 0..<20_000 {
            let now = start.advanced(by: .microseconds(index))
            limiter.failed("peer-\(index)", reason: .invalidToken, logger: nil, now: now)
            largest = max(largest, limiter.trackedPeers)
        }
        print("20,000 failing addresses, capacity 500: at most \(largest) tracked")
        #expect(largest <= 500)
        #expect(limiter.failures == 20_000)
    }
}
