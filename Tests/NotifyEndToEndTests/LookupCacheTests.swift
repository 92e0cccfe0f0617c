import Synchronization
import Testing

@testable import NotifyServer

/// The cache's lifetimes run on a clock the test moves, so that a machine
/// slow to wake the test cannot expire an entry the test expects to be served.
@Suite("The lookup cache loads a missing key once, and reloads entries in use ahead of their expiry")
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

    @Test("an entry stored while the store hears every change lives the longer lifetime; one stored while it does not, the short one")
    func heardLifetime() async throws {
        let clock = ManualClock()
        let hears = Atomic<Bool>(true)
        let cache = LookupCache<String, String>(
            lifetime: .seconds(2), heardLifetime: .seconds(60), hears: { hears.load(ordering: .relaxed) }, now: clock.now)
        _ = try await cache.value(for: "heard") { "v" }
        hears.store(false, ordering: .relaxed)
        // The store stops hearing: it tells "everything", which evicts.
        cache.evictAll()
        _ = try await cache.value(for: "heard") { "v" }
        _ = try await cache.value(for: "unheard") { "v" }
        clock.advance(by: .seconds(3))
        #expect(cache.cached("heard") == nil)
        #expect(cache.cached("unheard") == nil)
        hears.store(true, ordering: .relaxed)
        cache.evictAll()
        _ = try await cache.value(for: "heard") { "v" }
        clock.advance(by: .seconds(59))
        #expect(cache.cached("heard") == "v")
        clock.advance(by: .seconds(2))
        #expect(cache.cached("heard") == nil)
    }

    @Test("a load that began before the store stopped hearing does not store what it read")
    func heardLoadAcrossEviction() async throws {
        let clock = ManualClock()
        let hears = Atomic<Bool>(true)
        let cache = LookupCache<String, String>(
            lifetime: .seconds(2), heardLifetime: .seconds(60), hears: { hears.load(ordering: .relaxed) }, now: clock.now)
        _ = try await cache.value(for: "k") {
            // Meanwhile the link is lost: "everything" is told.
            hears.store(false, ordering: .relaxed)
            cache.evictAll()
            return "read before"
        }
        #expect(cache.cached("k") == nil)
    }

    @Test("a full cache makes room with its expired entries first, then with a quarter of the rest, never all")
    func fullCache() async throws {
        let clock = ManualClock()
        let cache = LookupCache<String, String>(lifetime: .seconds(2), capacity: 4, now: clock.now)
        for key in ["a", "b"] { _ = try await cache.value(for: key) { key } }
        clock.advance(by: .milliseconds(1_500))
        for key in ["c", "d"] { _ = try await cache.value(for: key) { key } }
        clock.advance(by: .seconds(1))
        // a and b expired: they make the room.
        _ = try await cache.value(for: "e") { "e" }
        #expect(["c", "d", "e"].allSatisfy { cache.cached($0) != nil })

        let live = LookupCache<String, String>(lifetime: .seconds(2), capacity: 4, now: clock.now)
        for key in ["a", "b", "c", "d"] { _ = try await live.value(for: key) { key } }
        _ = try await live.value(for: "e") { "e" }
        #expect(live.cached("e") == "e")
        #expect(["a", "b", "c", "d"].filter { live.cached($0) != nil }.count == 3)
    }

    /// A load held until the test opens it, counting the loads begun.
    private final class HeldLoad: Sendable {
        let loads = Atomic<Int>(0)
        private let gate: AsyncStream<Void>
        private let open: AsyncStream<Void>.Continuation

        init() { (gate, open) = AsyncStream.makeStream(of: Void.self) }

        /// Counts a load and waits for ``release()``.
        func begin() async {
            loads.add(1, ordering: .relaxed)
            for await _ in gate { break }
        }

        func release() { open.yield() }
    }

    /// Starts `count` lookups of `key` behind one held load and returns once
    /// all but the first wait for it.
    private func herd(
        _ count: Int, of key: String, in cache: LookupCache<String, String>, group: inout ThrowingTaskGroup<String, any Error>,
        load: @escaping @Sendable () async throws -> String
    ) async throws {
        for _ in 0..<count { group.addTask { try await cache.value(for: key, load: load) } }
        try await eventually { cache.waiting(for: key) == count - 1 }
        try #require(cache.waiting(for: key) == count - 1)
    }

    @Test("lookups of a missing key at the same moment load it once and share its value")
    func oneLoadForAHerd() async throws {
        let cache = LookupCache<String, String>(lifetime: .seconds(2))
        let held = HeldLoad()
        let values = try await withThrowingTaskGroup(of: String.self) { group in
            try await herd(64, of: "k", in: cache, group: &group) {
                await held.begin()
                return "v"
            }
            held.release()
            return try await group.reduce(into: []) { $0.append($1) }
        }
        #expect(values == Array(repeating: "v", count: 64))
        #expect(held.loads.load(ordering: .relaxed) == 1)
        #expect(cache.cached("k") == "v")
        #expect(cache.waiting(for: "k") == nil)
    }

    @Test("a failed load fails the lookups waiting for it, and the next lookup loads again")
    func sharedFailure() async throws {
        struct Unreachable: Error {}
        let cache = LookupCache<String, String>(lifetime: .seconds(2))
        let held = HeldLoad()
        let failures = try await withThrowingTaskGroup(of: String.self) { group in
            try await herd(8, of: "k", in: cache, group: &group) {
                await held.begin()
                throw Unreachable()
            }
            held.release()
            var failures = 0
            while let result = await group.nextResult() {
                if case .failure(let error) = result, error is Unreachable { failures += 1 }
            }
            return failures
        }
        #expect(failures == 8)
        #expect(held.loads.load(ordering: .relaxed) == 1)
        #expect(cache.cached("k") == nil)
        #expect(try await cache.value(for: "k") { "v" } == "v")
    }

    @Test("an eviction during a load sends the lookups waiting for it to load again; none gets what was read before it")
    func evictionDuringSharedLoad() async throws {
        let cache = LookupCache<String, String>(lifetime: .seconds(2))
        let held = HeldLoad()
        let loads = Atomic<Int>(0)
        let values = try await withThrowingTaskGroup(of: String.self) { group in
            try await herd(8, of: "k", in: cache, group: &group) {
                if loads.add(1, ordering: .relaxed).oldValue == 0 {
                    await held.begin()
                    return "read before the eviction"
                }
                return "read after"
            }
            cache.evict("k")
            held.release()
            return try await group.reduce(into: []) { $0.append($1) }
        }
        // The lookup that loaded first gets its own read; the seven waiting get the one after.
        #expect(values.filter { $0 == "read before the eviction" }.count == 1)
        #expect(values.filter { $0 == "read after" }.count == 7)
        #expect(loads.load(ordering: .relaxed) == 2)
        #expect(cache.cached("k") == "read after")
    }

    @Test("a cancelled load sends the lookups waiting for it to load again")
    func cancelledLoad() async throws {
        let cache = LookupCache<String, String>(lifetime: .seconds(2))
        let first = Task {
            try await cache.value(for: "k") {
                try await Task.sleep(for: .seconds(60))
                return "never"
            }
        }
        try await eventually { cache.waiting(for: "k") == 0 }
        let waiter = Task { try await cache.value(for: "k") { "loaded again" } }
        try await eventually { cache.waiting(for: "k") == 1 }
        first.cancel()
        await #expect(throws: CancellationError.self) { try await first.value }
        #expect(try await waiter.value == "loaded again")
    }
}
