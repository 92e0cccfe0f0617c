import Foundation
import NotifyDomain
import NotifyStorage
@testable import NotifyStorageSQLite
import Testing

@Suite("Feed wake-ups for live readers")
struct FeedAdvancesTests {
    @Test("a wake-up reaches the watchers of the users named, keeps one pending per watcher, and leaves the others")
    func wakesByUser() async {
        let advances = FeedAdvances()
        #expect(!advances.isWatched)
        let two = advances.watch(user: 2)
        let three = advances.watch(user: 3)
        #expect(advances.isWatched)
        advances.advanced(users: [2, 9])
        advances.advanced(users: [2])
        advances.finishAll()
        #expect(!advances.isWatched)
        #expect(await wakeUps(two) == 1)
        #expect(await wakeUps(three) == 0)
    }

    @Test("advancedAll wakes every watcher; a watch that ends is removed")
    func wakesAllAndForgets() async {
        let advances = FeedAdvances()
        let two = advances.watch(user: 2)
        let alsoTwo = advances.watch(user: 2)
        do {
            // Dropped unread: its termination removes it.
            _ = advances.watch(user: 5)
        }
        try? await Task.sleep(for: .milliseconds(10))
        advances.advancedAll()
        advances.finishAll()
        #expect(await wakeUps(two) == 1)
        #expect(await wakeUps(alsoTwo) == 1)
        #expect(!advances.isWatched)
    }

    @Test("the SQLite store wakes a user's watcher after commits to that user, to the issuer's friends, and after each batch of the background fan-out")
    func storeWakesAfterCommit() async throws {
        var configuration = SQLiteStoreConfiguration()
        configuration.inlineFanOutLimit = 1
        configuration.fanOutBatchSize = 1
        // The test runs the fan-out's batches itself, one at a time.
        configuration.runsBackgroundFanOut = false
        try await withStore(configuration) { store, _ in
            try await store.putUsers([User(id: 1), User(id: 2), User(id: 3)])
            try await store.putConnection(Connection(user: 1, to: 2, kind: .friend))
            var wakes = store.watchFeed(user: 2).makeAsyncIterator()

            _ = try await store.append(Sample.notification(to: .users([2])))
            #expect(await wakes.next() != nil)
            #expect(try await store.feed(user: 2, after: 0, limit: 10).count == 1)

            // Inline: one friend is within inlineFanOutLimit.
            _ = try await store.append(Sample.notification(to: .connections(of: 1, mode: .friendship)))
            #expect(await wakes.next() != nil)
            #expect(try await store.feed(user: 2, after: 1, limit: 10).count == 1)

            // Two friends are past it: the first (user 2) gets it in the
            // commit, which wakes user 2 only; the other gets it in a fan-out
            // job's batch, which wakes user 3.
            try await store.putConnection(Connection(user: 1, to: 3, kind: .friend))
            var wakesThree = store.watchFeed(user: 3).makeAsyncIterator()
            _ = try await store.append(Sample.notification(to: .connections(of: 1, mode: .friendship)))
            #expect(await wakes.next() != nil)
            #expect(try await store.feed(user: 2, after: 2, limit: 10).count == 1)
            #expect(try await store.feed(user: 3, after: 0, limit: 10).isEmpty)
            #expect(try await store.engine.materializeFanOutBatch())
            #expect(await wakesThree.next() != nil)
            #expect(try await store.feed(user: 3, after: 0, limit: 10).count == 1)
        }
    }

    @Test("a connections commit wakes the users it reached and leaves the others' watchers asleep, inline and in the background fan-out")
    func connectionsWakeOnlyTheirAudience() async throws {
        let database = try TemporaryDatabase()
        defer { database.remove() }
        for inlineLimit in [1_000, 1] {
            var configuration = SQLiteStoreConfiguration()
            configuration.inlineFanOutLimit = inlineLimit
            configuration.runsBackgroundFanOut = false
            let watches = try await database.open(configuration).withRunning { store in
                try await store.putUsers((1...4).map { User(id: $0) })
                try await store.putConnections([
                    Connection(user: 1, to: 2, kind: .friend), Connection(user: 1, to: 3, kind: .friend),
                ])
                let watches = (2...4).map { store.watchFeed(user: $0) }
                _ = try await store.append(Sample.notification(to: .connections(of: 1, mode: .friendship)))
                while try await store.engine.materializeFanOutBatch() {}
                return watches
            }
            // Stopping ends the watches: each yields what it held, at most one.
            var held: [Int] = []
            for watch in watches { held.append(await wakeUps(watch)) }
            #expect(held == [1, 1, 0], "inline limit \(inlineLimit)")
        }
    }

    /// How many wake-ups a finished watch held.
    private func wakeUps(_ stream: AsyncStream<Void>) async -> Int {
        var count = 0
        for await _ in stream { count += 1 }
        return count
    }
}
