import Foundation
import NotifyDomain
import NotifyStorage
import NotifyStorageSQLite
import Testing

/// What only the SQLite store does: group commit, its background fan-out,
/// its retention and queue settings, two processes on one file. What every
/// store promises is in ``StoreConformanceTests``.
@Suite("SQLite notification store")
struct SQLiteNotificationStoreTests {
    @Test("concurrent appends are group-committed: fewer transactions than appends")
    func groupCommit() async throws {
        try await withStore { store, _ in
            try await withThrowingTaskGroup(of: Void.self) { group in
                for i in 0..<200 {
                    group.addTask { _ = try await store.append(Sample.notification(id: "c\(i)", to: .users([Int64(i % 5)]))) }
                }
                try await group.waitForAll()
            }
            let statistics = store.statistics
            #expect(statistics.appends == 200)
            #expect(statistics.appendTransactions < statistics.appends)
            #expect(statistics.largestAppendBatch > 1)
        }
    }

    @Test("a connections audience past the inline limit becomes a background job; within it, none", arguments: [1_000, 1])
    func fanOutJobs(inlineLimit: Int) async throws {
        let configuration = SQLiteStoreConfiguration(inlineFanOutLimit: inlineLimit, fanOutBatchSize: 2)
        try await withStore(configuration) { store, _ in
            try await store.putUsers((1...4).map { User(id: $0) })
            try await store.putConnections((2...4).map { Connection(user: $0, to: 1, kind: .follow) })
            let result = try await store.append(Sample.notification(id: "followers", to: .connections(of: 1, mode: .follow)))
            #expect(result.recipients == 3)
            #expect(try await waitForFanOut(store))
            if inlineLimit == 1 {
                #expect(store.statistics.fanOutJobsCreated == 1)
                #expect(store.statistics.fanOutJobsCompleted == 1)
                #expect(store.statistics.fanOutRowsWritten == 2)
            } else {
                #expect(store.statistics.fanOutJobsCreated == 0)
            }
        }
    }

    @Test(
        "users and connections appends to the same feeds in one batch keep every feed gapless",
        arguments: [1_000, 1])
    func usersAndConnectionsInOneBatch(inlineLimit: Int) async throws {
        let configuration = SQLiteStoreConfiguration(inlineFanOutLimit: inlineLimit, fanOutBatchSize: 2)
        try await withStore(configuration) { store, _ in
            try await store.putUsers((1...5).map { User(id: $0) })
            try await store.putConnections((2...5).map { Connection(user: 1, to: $0, kind: .friend) })
            // Every third append goes to 1's friends (2…5) through SQL; the others name 2 and 3.
            func recipients(_ i: Int) -> Recipients {
                i.isMultiple(of: 3) ? .connections(of: 1, mode: .friendship) : .users([2, 3])
            }
            try await withThrowingTaskGroup(of: Void.self) { group in
                for i in 0..<120 {
                    group.addTask { _ = try await store.append(Sample.notification(id: "m\(i)", to: recipients(i))) }
                }
                try await group.waitForAll()
            }
            #expect(try await waitForFanOut(store))
            #expect(store.statistics.largestAppendBatch > 1)
            for (user, count) in [(Int64(2), 120), (3, 120), (4, 40), (5, 40)] {
                let feed = try await store.feed(user: user, after: 0, limit: 1_000)
                #expect(feed.map(\.sequence) == (1...UInt64(count)).map { $0 }, "user \(user)")
                #expect(Set(feed.map(\.id)).count == count)
            }
        }
    }

    @Test("an idempotency key expires after the retention")
    func idempotencyRetention() async throws {
        let configuration = SQLiteStoreConfiguration(idempotencyRetention: .milliseconds(1), idempotencyPurgeInterval: .zero)
        try await withStore(configuration) { store, _ in
            let key = IdempotencyKey(scope: "s", method: "m", key: "k", fingerprint: [1])
            _ = try await store.append(Sample.notification(id: "one", to: .users([1]), key: key))
            try await Task.sleep(for: .milliseconds(20))
            let later = try await store.append(Sample.notification(id: "two", to: .users([1]), key: key))
            #expect(later.replayed == false)
            #expect(later.id == "two")
        }
    }

    @Test("a fan-out job left unfinished is completed after a restart")
    func fanOutResumes() async throws {
        let database = try TemporaryDatabase()
        defer { database.remove() }
        let paused = SQLiteStoreConfiguration(inlineFanOutLimit: 5, fanOutBatchSize: 7, runsBackgroundFanOut: false)
        try await database.open(paused).withRunning { store in
            try await store.putUsers((0...50).map { User(id: $0) })
            try await store.putConnections((1...50).map { Connection(user: $0, to: 0, kind: .follow) })
            let result = try await store.append(Sample.notification(id: "big", to: .connections(of: 0, mode: .follow)))
            #expect(result.recipients == 50)
            #expect(result.first?.user == 1)
            #expect(try await store.pendingFanOutRecipients() == 49)
            // A user removed before the fan-out reaches them gets nothing.
            #expect(try await store.deleteUser(id: 50))
        }

        try await database.open(SQLiteStoreConfiguration(fanOutBatchSize: 7)).withRunning { resumed throws in
            #expect(try await waitForFanOut(resumed, jobs: 1))
            for user in Int64(1)...49 {
                #expect(try await resumed.feed(user: user, after: 0, limit: 10).map(\.id) == ["big"])
            }
            #expect(try await resumed.feed(user: 50, after: 0, limit: 10).isEmpty)
            #expect(resumed.statistics.fanOutRowsWritten == 48)
            #expect(resumed.statistics.fanOutTransactions == 7)
        }
    }

    @Test("two stores on one file, like the admin CLI beside the server, both work")
    func twoInstances() async throws {
        let database = try TemporaryDatabase()
        defer { database.remove() }
        try await database.open().withRunning { server in
            try await database.open(SQLiteStoreConfiguration(runsBackgroundFanOut: false)).withRunning { cli in
                try await cli.putUser(User(id: 1, name: "from the CLI"))
                #expect(try await server.user(id: 1)?.name == "from the CLI")
                try await withThrowingTaskGroup(of: Void.self) { group in
                    for i in 0..<100 {
                        let store = i.isMultiple(of: 2) ? server : cli
                        group.addTask { _ = try await store.append(Sample.notification(id: "x\(i)", to: .users([1]))) }
                    }
                    try await group.waitForAll()
                }
                let feed = try await server.feed(user: 1, after: 0, limit: 1_000)
                #expect(feed.map(\.sequence) == (1...100).map { UInt64($0) })
            }
        }
    }

    @Test("a full append queue refuses at once with busy")
    func queueBound() async throws {
        try await withStore(SQLiteStoreConfiguration(maxPendingAppends: 0)) { store, _ in
            let error = await #expect(throws: StorageError.self) { try await store.append(Sample.notification(to: .users([1]))) }
            #expect(error?.code == .busy)
        }
    }

    @Test("a store dropped without having run fails the appends it queued rather than leave them waiting")
    func droppedBeforeRunning() async throws {
        let database = try TemporaryDatabase()
        defer { database.remove() }
        let (outcomes, outcome) = AsyncStream.makeStream(of: StorageError.Code?.self)
        do {
            let store = try database.open()
            store.append(Sample.notification(to: .users([1]))) { result in
                switch result {
                case .success: outcome.yield(nil)
                case .failure(let error): outcome.yield(error.code)
                }
            }
        }
        var iterator = outcomes.makeAsyncIterator()
        #expect(await iterator.next() == .some(.unavailable))
    }
}
