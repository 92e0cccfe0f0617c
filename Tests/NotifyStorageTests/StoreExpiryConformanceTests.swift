import Foundation
import NotifyDomain
import NotifyStorage
import Testing

/// The store's promises about expiry, sweeping and retention
/// (``NotificationLog``, "Expiry" and "Retention and sweeping"), checked
/// against each implementation in ``StoreBackend/all``.
@Suite("Store conformance: expiry and retention")
struct StoreExpiryConformanceTests {
    /// SendNotification content expiring at `expiration`.
    static func graph(expiring expiration: Timestamp) -> NotificationContent {
        guard case .graph(var graph) = Sample.graph else { return Sample.graph }
        graph.expiration = expiration
        return .graph(graph)
    }

    static let expired = graph(expiring: Timestamp.now().adding(seconds: -60))
    static let later = graph(expiring: Timestamp.now().adding(seconds: 3600))

    /// Polls `condition` until it holds or a generous deadline passes.
    static func eventually(
        timeout: Duration = .seconds(60), _ condition: () async throws -> Bool
    ) async throws -> Bool {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if try await condition() { return true }
            try await Task.sleep(for: .milliseconds(50))
        }
        return try await condition()
    }

    @Test("an expired entry is never listed; the page's cursor passes over it, so a resume neither skips nor repeats", arguments: StoreBackend.all)
    func expiredNotListed(backend: StoreBackend) async throws {
        try await backend.withStore { store in
            try await store.putUser(User(id: 1, name: nil))
            // 1 kept, 2 expired, 3 kept, 4-6 expired, 7 kept (expiring later), 8 expired.
            let contents: [NotificationContent] = [
                Sample.custom(), Self.expired, Sample.custom(), Self.expired, Self.expired, Self.expired, Self.later,
                Self.expired,
            ]
            for (index, content) in contents.enumerated() {
                _ = try await store.append(Sample.notification(id: "e\(index + 1)", content: content, to: .users([1])))
            }
            #expect(try await store.feed(user: 1, after: 0, limit: 100).map(\.sequence) == [1, 3, 7])

            let first = try await store.feedPage(user: 1, after: 0, limit: 1, maxBytes: .max)
            #expect(first.entries.map(\.sequence) == [1])
            // Full, it still passes over the expired 2 that follows.
            #expect(first.nextAfter == 2)
            #expect(!first.caughtUp)
            let second = try await store.feedPage(user: 1, after: first.nextAfter, limit: 1, maxBytes: .max)
            #expect(second.entries.map(\.sequence) == [3])
            #expect(second.nextAfter == 6)
            // The expired 4-6 are passed over; the expired 8 after the last entry too.
            let third = try await store.feedPage(user: 1, after: 3, limit: 5, maxBytes: .max)
            #expect(third.entries.map(\.sequence) == [7])
            #expect(third.nextAfter == 8)
            #expect(third.caughtUp)
            #expect(third.sweptThrough == nil)
            // Only expired entries after the cursor: an empty page that moves the cursor.
            let onlyExpired = try await store.feedPage(user: 1, after: 3, limit: 5, maxBytes: 1)
            #expect(onlyExpired.entries.map(\.sequence) == [7])
            let tail = try await store.feedPage(user: 1, after: 7, limit: 5, maxBytes: .max)
            #expect(tail.entries.isEmpty)
            #expect(tail.caughtUp)
            #expect(tail.nextAfter == 8)
            #expect(tail.end == .head(8))
            // At the end: nothing, the cursor stays.
            let end = try await store.feedPage(user: 1, after: 8, limit: 5, maxBytes: .max)
            #expect(end.entries.isEmpty && end.caughtUp && end.nextAfter == 8)
            // Read at an earlier time, the entries were there.
            let before = try await store.feedPage(
                user: 1, after: 0, limit: 100, maxBytes: .max, now: Timestamp.now().adding(seconds: -3600))
            #expect(before.entries.count == 8)
            // And after the later one expires, only the Notify entries are.
            let after = try await store.feedPage(
                user: 1, after: 0, limit: 100, maxBytes: .max, now: Timestamp.now().adding(seconds: 7200))
            #expect(after.entries.map(\.sequence) == [1, 3])
            #expect(after.nextAfter == 8)
        }
    }

    @Test("a long run of expired entries is crossed a bounded step at a time", arguments: StoreBackend.all)
    func boundedPassOver(backend: StoreBackend) async throws {
        try await backend.withStore { store in
            let run = FeedPage.maxPassedOver + 100
            try await withThrowingTaskGroup(of: Void.self) { group in
                for index in 0..<run {
                    group.addTask {
                        _ = try await store.append(Sample.notification(id: "x\(index)", content: Self.expired, to: .users([1])))
                    }
                }
                try await group.waitForAll()
            }
            _ = try await store.append(Sample.notification(id: "kept", to: .users([1])))
            let first = try await store.feedPage(user: 1, after: 0, limit: 10, maxBytes: .max)
            #expect(first.entries.isEmpty)
            #expect(!first.caughtUp)
            #expect(first.nextAfter == UInt64(FeedPage.maxPassedOver))
            let second = try await store.feedPage(user: 1, after: first.nextAfter, limit: 10, maxBytes: .max)
            #expect(second.entries.map(\.id) == ["kept"])
            #expect(second.entries.first?.sequence == UInt64(run + 1))
            #expect(second.caughtUp)
        }
    }

    @Test("an entry expiring in 2 s is listed before and never after", arguments: StoreBackend.all)
    func expiresWhileStored(backend: StoreBackend) async throws {
        try await backend.withStore { store in
            let expiration = Timestamp.now().adding(seconds: 2)
            _ = try await store.append(Sample.notification(id: "soon", content: Self.graph(expiring: expiration), to: .users([1])))
            _ = try await store.append(Sample.notification(id: "stays", to: .users([1])))
            // Generous: on a busy machine the 2 s may be nearly gone already.
            if Timestamp.now() < expiration {
                let listed = try await store.feedPage(user: 1, after: 0, limit: 10, maxBytes: .max)
                if Timestamp.now() < expiration.adding(microseconds: -100_000) {
                    #expect(listed.entries.map(\.id) == ["soon", "stays"])
                }
            }
            while Timestamp.now() <= expiration { try await Task.sleep(for: .milliseconds(100)) }
            for _ in 0..<3 {
                let page = try await store.feedPage(user: 1, after: 0, limit: 10, maxBytes: .max)
                #expect(page.entries.map(\.id) == ["stays"])
                #expect(page.nextAfter == 2)
            }
        }
    }

    @Test("the sweeper removes expired rows, and keeps a notification an idempotency key names so a replay answers", arguments: StoreBackend.all)
    func sweeperRemoves(backend: StoreBackend) async throws {
        try await backend.withStore(ConformanceOptions(sweeps: true)) { store, location in
            try await store.putUser(User(id: 2, name: nil))
            let key = IdempotencyKey(scope: "app:x", method: "Send", key: "k1", fingerprint: [1, 2, 3])
            _ = try await store.append(Sample.notification(id: "keyed", content: Self.expired, to: .users([1, 2]), key: key))
            for index in 0..<7 {
                _ = try await store.append(Sample.notification(id: "gone\(index)", content: Self.expired, to: .users([1, 2])))
            }
            _ = try await store.append(Sample.notification(id: "kept", content: Self.later, to: .users([1])))
            // Batches of 3 rows: the 16 expired entries take several transactions.
            let swept = try await Self.eventually {
                let rows = try await location.storedRows(store)
                return rows.feedEntries == 1 && rows.notifications == 2
            }
            #expect(swept)
            #expect(try await store.feed(user: 1, after: 0, limit: 10).map(\.id) == ["kept"])
            // The sequence goes on after the swept entries, whose removal
            // events follow them; no signal is raised for them.
            let page = try await store.feedPage(user: 2, after: 0, limit: 10, maxBytes: .max)
            #expect(page.entries.isEmpty && page.sweptThrough == nil)
            // (The sweeper may have run between the appends: its events may come between them.)
            #expect(page.events.allSatisfy { $0.change == .removed(.expired) })
            #expect(Set(page.events.flatMap(\.ids)) == Set(["keyed"] + (0..<7).map { "gone\($0)" }))
            #expect(page.caughtUp && page.nextAfter == UInt64(8 + page.events.count))
            let replay = try await store.append(Sample.notification(id: "other", content: Self.expired, to: .users([1, 2]), key: key))
            #expect(replay.replayed)
            #expect(replay.id == "keyed")
            let next = try await store.append(Sample.notification(id: "next", to: .users([2])))
            #expect(next.first?.sequence == UInt64(8 + page.events.count + 1))
        }
    }

    @Test("retention sweeps old Notify entries; a cursor into swept history gets the signal; sequences are not reused", arguments: StoreBackend.all)
    func retention(backend: StoreBackend) async throws {
        try await backend.withStore(ConformanceOptions(retention: .seconds(60), sweeps: true)) { store, location in
            let old = Timestamp.now().adding(seconds: -3600)
            for index in 1...3 {
                var entry = Sample.notification(id: "old\(index)", to: .users([1]))
                entry.createdAt = old
                _ = try await store.append(entry)
            }
            _ = try await store.append(Sample.fresh(id: "new4", to: .users([1])))
            _ = try await store.append(Sample.fresh(id: "expired5", content: Self.expired, to: .users([1])))
            _ = try await store.append(Sample.fresh(id: "new6", to: .users([1])))
            let swept = try await Self.eventually {
                let rows = try await location.storedRows(store)
                return rows.feedEntries == 2 && rows.notifications == 2
            }
            #expect(swept)
            // A cursor before the swept history: the oldest kept entry, and the signal.
            for cursor: UInt64 in [0, 1, 2] {
                let page = try await store.feedPage(user: 1, after: cursor, limit: 1, maxBytes: .max)
                #expect(page.entries.map(\.id) == ["new4"], "after \(cursor)")
                #expect(page.sweptThrough == 3, "after \(cursor)")
            }
            // A cursor at or past it: no signal, nothing lost (the expired 5 raises none).
            let at = try await store.feedPage(user: 1, after: 3, limit: 10, maxBytes: .max)
            #expect(at.entries.map(\.id) == ["new4", "new6"])
            #expect(at.sweptThrough == nil)
            #expect(try await store.feedPage(user: 1, after: 4, limit: 10, maxBytes: .max).sweptThrough == nil)
            // Sequence numbers go on from the head, after the expired 5's removal event
            // (6 or 7: the sweeper may run before the 6th append).
            #expect(at.events.map(\.change) == [.removed(.expired)])
            #expect(at.events.map(\.sequence).allSatisfy { $0 > 4 })
            let next = try await store.append(Sample.fresh(id: "new7", to: .users([1])))
            #expect(next.first?.sequence == 8)
        }
    }
}
