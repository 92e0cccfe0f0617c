import Synchronization
import Testing

@testable import NotifyServer

@Suite("The lookup cache reloads entries in use ahead of their expiry")
struct LookupCacheTests {
    /// Waits until `condition` holds, for at most two seconds.
    private func eventually(_ condition: () -> Bool) async throws {
        for _ in 0..<200 where !condition() { try await Task.sleep(for: .milliseconds(10)) }
    }

    @Test("past half its lifetime an entry is still served, and many lookups start one reload")
    func oneReloadAhead() async throws {
        let reloads = Atomic<Int>(0)
        let cache = LookupCache<String, String>(lifetime: .seconds(2)) { _ in
            reloads.add(1, ordering: .relaxed)
            return "new"
        }
        #expect(try await cache.value(for: "k") { "old" } == "old")
        #expect(cache.cached("k") == "old")
        #expect(reloads.load(ordering: .relaxed) == 0)
        try await Task.sleep(for: .milliseconds(1_100))
        for _ in 0..<100 { #expect(cache.cached("k") != nil) }
        try await eventually { cache.cached("k") == "new" }
        #expect(cache.cached("k") == "new")
        #expect(reloads.load(ordering: .relaxed) == 1)
    }

    @Test("a reload that no longer finds the key removes the entry")
    func reloadFindsNothing() async throws {
        let cache = LookupCache<String, String>(lifetime: .seconds(2)) { _ in nil }
        _ = try await cache.value(for: "k") { "old" }
        try await Task.sleep(for: .milliseconds(1_100))
        #expect(cache.cached("k") == "old")
        try await eventually { cache.cached("k") == nil }
        #expect(cache.cached("k") == nil)
    }

    @Test("an eviction while a reload is under way is not undone by the reload")
    func evictionWins() async throws {
        let (gate, open) = AsyncStream.makeStream(of: Void.self)
        let started = Atomic<Bool>(false)
        let cache = LookupCache<String, String>(lifetime: .seconds(2)) { _ in
            started.store(true, ordering: .relaxed)
            for await _ in gate { break }
            return "read before the eviction"
        }
        _ = try await cache.value(for: "k") { "old" }
        try await Task.sleep(for: .milliseconds(1_100))
        #expect(cache.cached("k") == "old")
        try await eventually { started.load(ordering: .relaxed) }
        cache.evict("k")
        open.yield()
        try await Task.sleep(for: .milliseconds(50))
        #expect(cache.cached("k") == nil)
        // A load that began before an eviction is not stored either.
        let slow = Task { try await cache.value(for: "j") { try await Task.sleep(for: .milliseconds(100)); return "stale" } }
        try await Task.sleep(for: .milliseconds(20))
        cache.evictAll()
        #expect(try await slow.value == "stale")
        #expect(cache.cached("j") == nil)
    }

    @Test("an entry is never served past its lifetime, reloaded or not")
    func expiry() async throws {
        let cache = LookupCache<String, String>(lifetime: .milliseconds(100))
        _ = try await cache.value(for: "k") { "v" }
        #expect(cache.cached("k") == "v")
        try await Task.sleep(for: .milliseconds(150))
        #expect(cache.cached("k") == nil)
    }
}
