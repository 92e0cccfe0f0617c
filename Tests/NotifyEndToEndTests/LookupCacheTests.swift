import Synchronization
import Testing

@testable import NotifyServer

/// The cache's lifetimes run on a clock the test moves, so that a machine
/// slow to wake the test cannot expire an entry the test expects to be served.
@Suite("The lookup cache reloads entries in use ahead of their expiry")
struct LookupCacheTests {
    /// Time that passes only when ``advance(by:)`` says so.
    private final class ManualClock: Sendable {
        private let instant = Mutex(ContinuousClock.now)
        var now: @Sendable () -> ContinuousClock.Instant { { self.instant.withLock { $0 } } }
        func advance(by duration: Duration) { instant.withLock { $0 = $0.advanced(by: duration) } }
    }

    /// Waits until `condition` holds: the background reload is a task of its
    /// own, and time stands still on the manual clock meanwhile.
    private func eventually(_ condition: () -> Bool) async throws {
        for _ in 0..<1_000 where !condition() { try await Task.sleep(for: .milliseconds(10)) }
    }

    /// Runs `body` with a ``BackgroundWork`` that runs meanwhile, as the
    /// server runs its router's; returns once the reloads queued have ended.
    private func withBackground(_ body: (BackgroundWork) async throws -> Void) async throws {
        let background = BackgroundWork()
        try await withThrowingDiscardingTaskGroup { group in
            group.addTask { await background.run() }
            defer { background.finish() }
            try await body(background)
        }
    }

    @Test("past half its lifetime an entry is still served, and many lookups start one reload")
    func oneReloadAhead() async throws {
        try await withBackground { background in
            let clock = ManualClock()
            let reloads = Atomic<Int>(0)
            let cache = LookupCache<String, String>(lifetime: .seconds(2), now: clock.now, background: background, reload: { _ in
                reloads.add(1, ordering: .relaxed)
                return "new"
            })
            #expect(try await cache.value(for: "k") { "old" } == "old")
            clock.advance(by: .milliseconds(900))
            #expect(cache.cached("k") == "old")
            #expect(reloads.load(ordering: .relaxed) == 0)
            clock.advance(by: .milliseconds(200))
            for _ in 0..<100 { #expect(cache.cached("k") != nil) }
            try await eventually { cache.cached("k") == "new" }
            #expect(cache.cached("k") == "new")
            #expect(reloads.load(ordering: .relaxed) == 1)
            // The reloaded entry lives a whole lifetime from its reload.
            clock.advance(by: .milliseconds(1_500))
            #expect(cache.cached("k") == "new")
        }
    }

    @Test("a reload that no longer finds the key removes the entry")
    func reloadFindsNothing() async throws {
        try await withBackground { background in
            let clock = ManualClock()
            let cache = LookupCache<String, String>(
                lifetime: .seconds(2), now: clock.now, background: background, reload: { _ in nil })
            _ = try await cache.value(for: "k") { "old" }
            clock.advance(by: .milliseconds(1_100))
            #expect(cache.cached("k") == "old")
            try await eventually { cache.cached("k") == nil }
            #expect(cache.cached("k") == nil)
        }
    }

    @Test("an eviction while a reload is under way is not undone by the reload")
    func evictionWins() async throws {
        try await withBackground { background in
            let clock = ManualClock()
            let (gate, open) = AsyncStream.makeStream(of: Void.self)
            let started = Atomic<Bool>(false)
            let cache = LookupCache<String, String>(lifetime: .seconds(2), now: clock.now, background: background, reload: { _ in
                started.store(true, ordering: .relaxed)
                for await _ in gate { break }
                return "read before the eviction"
            })
            _ = try await cache.value(for: "k") { "old" }
            clock.advance(by: .milliseconds(1_100))
            #expect(cache.cached("k") == "old")
            try await eventually { started.load(ordering: .relaxed) }
            cache.evict("k")
            open.yield()
            try await Task.sleep(for: .milliseconds(50))
            #expect(cache.cached("k") == nil)
            // A load that began before an eviction is not stored either.
            let (loadStarted, markStarted) = AsyncStream.makeStream(of: Void.self)
            let (release, releaseLoad) = AsyncStream.makeStream(of: Void.self)
            let slow = Task {
                try await cache.value(for: "j") {
                    markStarted.yield()
                    for await _ in release { break }
                    return "stale"
                }
            }
            for await _ in loadStarted { break }
            cache.evictAll()
            releaseLoad.yield()
            #expect(try await slow.value == "stale")
            #expect(cache.cached("j") == nil)
        }
    }

    @Test("while nothing runs the reloads, an entry past half its lifetime is served and then expires")
    func noBackground() async throws {
        let clock = ManualClock()
        let background = BackgroundWork(limit: 1)
        background.finish()
        let cache = LookupCache<String, String>(lifetime: .seconds(2), now: clock.now, background: background, reload: { _ in
            Issue.record("a reload ran with nothing to run it")
            return "new"
        })
        _ = try await cache.value(for: "k") { "old" }
        clock.advance(by: .milliseconds(1_100))
        for _ in 0..<3 { #expect(cache.cached("k") == "old") }
        clock.advance(by: .milliseconds(1_000))
        #expect(cache.cached("k") == nil)
        #expect(try await cache.value(for: "k") { "loaded" } == "loaded")
    }

    @Test("an entry is never served past its lifetime, reloaded or not")
    func expiry() async throws {
        let clock = ManualClock()
        let cache = LookupCache<String, String>(lifetime: .milliseconds(100), now: clock.now)
        _ = try await cache.value(for: "k") { "v" }
        #expect(cache.cached("k") == "v")
        clock.advance(by: .milliseconds(150))
        #expect(cache.cached("k") == nil)
    }
}
