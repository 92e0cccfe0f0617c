import Foundation
import NotifyDomain
import NotifyStorage
import NotifyStorageSQLite
import Testing

@Suite("SQLite notification store")
struct SQLiteNotificationStoreTests {
    @Test("users are created, updated, read and deleted")
    func users() async throws {
        try await withStore { store, _ in
            #expect(try await store.user(id: 7) == nil)
            try await store.putUser(User(id: 7, name: "Ada"))
            #expect(try await store.user(id: 7) == User(id: 7, name: "Ada"))
            try await store.putUser(User(id: 7, name: nil))
            #expect(try await store.user(id: 7) == User(id: 7, name: nil))
            #expect(try await store.deleteUser(id: 7))
            #expect(try await store.deleteUser(id: 7) == false)
            #expect(try await store.user(id: 7) == nil)
        }
    }

    @Test("connections need both users, are idempotent, and a friendship is one row either way")
    func connections() async throws {
        try await withStore { store, _ in
            try await store.putUsers([User(id: 1), User(id: 2)])
            let missing = await #expect(throws: StorageError.self) {
                try await store.putConnection(Connection(user: 1, to: 99, kind: .follow))
            }
            #expect(missing?.code == .notFound)

            try await store.putConnection(Connection(user: 1, to: 2, kind: .follow))
            try await store.putConnection(Connection(user: 1, to: 2, kind: .follow))
            try await store.putConnection(Connection(user: 2, to: 1, kind: .friend))
            try await store.putConnection(Connection(user: 1, to: 2, kind: .friend))
            // The reverse friendship names the same row.
            #expect(try await store.deleteConnection(Connection(user: 1, to: 2, kind: .friend)))
            #expect(try await store.deleteConnection(Connection(user: 2, to: 1, kind: .friend)) == false)
            // A follow is directed.
            #expect(try await store.deleteConnection(Connection(user: 2, to: 1, kind: .follow)) == false)
            #expect(try await store.deleteConnection(Connection(user: 1, to: 2, kind: .follow)))
        }
    }

    @Test("subscriptions are created, renewed and deleted")
    func subscriptions() async throws {
        try await withStore { store, _ in
            try await store.putUser(User(id: 1))
            let expires = Timestamp(microsecondsSince1970: 1_750_000_000_250_000)
            let subscription = Subscription(
                id: "uns-1", user: 1, app: "app.example.com", platform: .android, deviceID: "device", expiresAt: expires)
            try await store.createSubscription(subscription)
            #expect(try await store.subscription(id: "uns-1") == subscription)

            let duplicate = await #expect(throws: StorageError.self) { try await store.createSubscription(subscription) }
            #expect(duplicate?.code == .alreadyExists)
            var orphan = subscription
            orphan.id = "uns-2"
            orphan.user = 404
            let noUser = await #expect(throws: StorageError.self) { try await store.createSubscription(orphan) }
            #expect(noUser?.code == .notFound)

            let later = Timestamp(secondsSince1970: 1_760_000_000)
            var renewed = subscription
            renewed.expiresAt = later
            #expect(try await store.renewSubscription(id: "uns-1", expiresAt: later) == renewed)
            #expect(try await store.subscription(id: "uns-1") == renewed)
            #expect(try await store.renewSubscription(id: "nope", expiresAt: later) == nil)

            #expect(try await store.deleteSubscription(id: "uns-1"))
            #expect(try await store.deleteSubscription(id: "uns-1") == false)
            #expect(try await store.subscription(id: "uns-1") == nil)
        }
    }

    @Test("deleting a user removes their subscriptions, connections and feed")
    func deleteUserCascades() async throws {
        try await withStore { store, _ in
            try await store.putUsers([User(id: 1), User(id: 2)])
            try await store.putConnection(Connection(user: 2, to: 1, kind: .follow))
            try await store.createSubscription(
                Subscription(id: "s", user: 2, app: "a", platform: .ios, deviceID: nil, expiresAt: Sample.created))
            _ = try await store.append(Sample.notification(to: .users([2])))
            #expect(try await store.deleteUser(id: 2))
            #expect(try await store.subscription(id: "s") == nil)
            #expect(try await store.feed(user: 2, after: 0, limit: 10).isEmpty)
            let result = try await store.append(Sample.notification(to: .connections(of: 1, mode: .follow)))
            #expect(result.recipients == 0)
            #expect(result.first == nil)
        }
    }

    @Test("the blocked list holds apps and users")
    func blocked() async throws {
        try await withStore { store, _ in
            #expect(try await store.isBlocked(.app("a")) == false)
            try await store.block(.app("a"))
            try await store.block(.app("a"))
            try await store.block(.user(5))
            #expect(try await store.isBlocked(.app("a")))
            #expect(try await store.isBlocked(.user(5)))
            #expect(try await store.isBlocked(.user(6)) == false)
            #expect(try await store.unblock(.app("a")))
            #expect(try await store.unblock(.app("a")) == false)
            #expect(try await store.isBlocked(.app("a")) == false)
        }
    }

    @Test("tokens are found by hash, unique, and revoked")
    func tokens() async throws {
        try await withStore { store, _ in
            let hash = [UInt8](repeating: 0xAB, count: 32)
            let token = TokenRecord(
                id: "t1", hash: hash, principal: .app("host:with:colons"), roles: [.admin, .app],
                expiresAt: Timestamp(microsecondsSince1970: 1_900_000_000_000_001))
            try await store.insertToken(token)
            #expect(try await store.token(hash: hash) == token)
            #expect(try await store.token(hash: [UInt8](repeating: 0, count: 32)) == nil)

            var sameHash = token
            sameHash.id = "t2"
            let duplicate = await #expect(throws: StorageError.self) { try await store.insertToken(sameHash) }
            #expect(duplicate?.code == .alreadyExists)

            let user = TokenRecord(
                id: "t3", hash: [UInt8](repeating: 1, count: 32), principal: .user(-3), roles: [],
                expiresAt: Sample.created)
            try await store.insertToken(user)
            #expect(try await store.token(hash: user.hash) == user)

            #expect(try await store.revokeToken(id: "t1"))
            #expect(try await store.revokeToken(id: "missing") == false)
            var revoked = token
            revoked.revoked = true
            #expect(try await store.token(hash: hash) == revoked)
        }
    }

    @Test("the feed returns exactly what was appended, in order, paged")
    func feedRoundTrip() async throws {
        try await withStore { store, _ in
            let custom = Sample.notification(id: "n1", content: Sample.custom(), to: .users([10, 11, 10]))
            let graph = Sample.notification(id: "n2", content: Sample.graph, to: .users([10]))
            var noEmbed = Sample.notification(
                id: "n3",
                content: .custom(CustomNotification(type: "t", embed: nil, title: nil, description: "", issuer: 1)),
                to: .users([10]))
            noEmbed.createdAt = Timestamp.now()

            let first = try await store.append(custom)
            #expect(first.recipients == 2)
            #expect(first.replayed == false)
            _ = try await store.append(graph)
            let third = try await store.append(noEmbed)

            let feed = try await store.feed(user: 10, after: 0, limit: 100)
            #expect(feed.map(\.sequence) == [1, 2, 3])
            #expect(feed.map(\.id) == ["n1", "n2", "n3"])
            #expect(feed[0] == NotifyDomain.Notification(id: "n1", sequence: 1, user: 10, createdAt: Sample.created, content: Sample.custom()))
            #expect(feed[1].content == Sample.graph)
            #expect(feed[2].content == noEmbed.content)
            // Times are kept to the microsecond.
            #expect(feed[2].createdAt == noEmbed.createdAt)
            // The answer carries the entry the feed returns.
            #expect(first.first == feed[0])
            #expect(third.first == feed[2])

            #expect(try await store.feed(user: 10, after: 1, limit: 1).map(\.id) == ["n2"])
            #expect(try await store.feed(user: 10, after: 3, limit: 10).isEmpty)
            #expect(try await store.feed(user: 10, after: 0, limit: 0).isEmpty)
            #expect(try await store.feed(user: 11, after: 0, limit: 10).map(\.sequence) == [1])

            let duplicate = await #expect(throws: StorageError.self) {
                try await store.append(Sample.notification(id: "n1", to: .users([12])))
            }
            #expect(duplicate?.code == .alreadyExists)
            // The refused append left no trace.
            #expect(try await store.feed(user: 12, after: 0, limit: 10).isEmpty)
        }
    }

    @Test(
        "friendship and follow fan-out reach exactly the right users, inline or in the background",
        arguments: [1_000, 1])
    func fanOutAudience(inlineLimit: Int) async throws {
        let configuration = SQLiteStoreConfiguration(inlineFanOutLimit: inlineLimit, fanOutBatchSize: 2)
        try await withStore(configuration) { store, _ in
            try await store.putUsers((1...12).map { User(id: $0) })
            try await store.putConnections([
                Connection(user: 1, to: 2, kind: .friend),
                Connection(user: 3, to: 1, kind: .friend),  // the other direction
                Connection(user: 11, to: 1, kind: .friend),
                Connection(user: 1, to: 11, kind: .friend),  // the same friendship again
                Connection(user: 4, to: 1, kind: .follow),  // followers of 1
                Connection(user: 5, to: 1, kind: .follow),
                Connection(user: 12, to: 1, kind: .follow),
                Connection(user: 1, to: 6, kind: .follow),  // 1 follows 6: not a follower
                Connection(user: 7, to: 8, kind: .friend),  // unrelated
                Connection(user: 9, to: 2, kind: .follow),
                Connection(user: 1, to: 1, kind: .friend),  // never in its own audience
            ])

            let friends = try await store.append(Sample.notification(id: "friends", to: .connections(of: 1, mode: .friendship)))
            let followers = try await store.append(Sample.notification(id: "followers", to: .connections(of: 1, mode: .follow)))
            #expect(friends.recipients == 3)
            #expect(followers.recipients == 3)
            #expect(friends.first?.user == 2)
            #expect(followers.first?.user == 4)
            #expect(try await waitForFanOut(store))

            var received: [Int64: [String]] = [:]
            for user in Int64(1)...12 {
                received[user] = try await store.feed(user: user, after: 0, limit: 10).map(\.id)
            }
            let expected: [Int64: [String]] = [
                1: [], 2: ["friends"], 3: ["friends"], 4: ["followers"], 5: ["followers"], 6: [], 7: [], 8: [],
                9: [], 10: [], 11: ["friends"], 12: ["followers"],
            ]
            #expect(received == expected)
            if inlineLimit == 1 {
                #expect(store.statistics.fanOutJobsCreated == 2)
                #expect(store.statistics.fanOutJobsCompleted == 2)
                #expect(store.statistics.fanOutRowsWritten == 4)
            } else {
                #expect(store.statistics.fanOutJobsCreated == 0)
            }
        }
    }

    @Test("200 concurrent appends give gapless per-user sequences in fewer transactions")
    func concurrentAppends() async throws {
        try await withStore { store, _ in
            let users: [Int64] = [1, 2, 3, 4, 5]
            // Append i goes to users whose index divides into i's pattern: varied subsets.
            func recipients(_ i: Int) -> [Int64] { users.filter { (i + Int($0)) % 3 != 0 } }
            try await withThrowingTaskGroup(of: AppendResult.self) { group in
                for i in 0..<200 {
                    group.addTask { try await store.append(Sample.notification(id: "c\(i)", to: .users(recipients(i)))) }
                }
                for try await result in group { #expect(result.first != nil) }
            }
            for user in users {
                let feed = try await store.feed(user: user, after: 0, limit: 1_000)
                let expectedCount = (0..<200).filter { recipients($0).contains(user) }.count
                #expect(feed.count == expectedCount)
                #expect(feed.map(\.sequence) == (1...UInt64(expectedCount)).map { $0 })
                #expect(Set(feed.map(\.id)).count == expectedCount)
            }
            let statistics = store.statistics
            #expect(statistics.appends == 200)
            #expect(statistics.appendTransactions < statistics.appends)
            #expect(statistics.largestAppendBatch > 1)
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

    @Test("an idempotency key replays the first answer and refuses another request")
    func idempotency() async throws {
        try await withStore { store, _ in
            try await store.putUsers([User(id: 1), User(id: 2), User(id: 3)])
            try await store.putConnections([
                Connection(user: 2, to: 1, kind: .follow), Connection(user: 3, to: 1, kind: .follow),
            ])
            let key = IdempotencyKey(scope: "app:a", method: "Notify", key: "k1", fingerprint: [1, 2, 3])
            let first = try await store.append(
                Sample.notification(id: "first", to: .connections(of: 1, mode: .follow), key: key))
            let again = try await store.append(
                Sample.notification(id: "second", to: .connections(of: 1, mode: .follow), key: key))
            #expect(first.replayed == false)
            #expect(again.replayed)
            #expect(again.id == "first")
            #expect(again.recipients == first.recipients)
            #expect(again.first == first.first)
            #expect(try await store.feed(user: 2, after: 0, limit: 10).map(\.id) == ["first"])

            var other = key
            other.fingerprint = [9]
            let reused = await #expect(throws: StorageError.self) {
                try await store.append(Sample.notification(id: "third", to: .users([2]), key: other))
            }
            #expect(reused?.code == .idempotencyKeyReused)

            // Another caller or method may use the same key.
            var otherScope = key
            otherScope.scope = "app:b"
            #expect(try await store.append(Sample.notification(id: "fourth", to: .users([2]), key: otherScope)).replayed == false)
            var otherMethod = key
            otherMethod.method = "SendNotification"
            #expect(try await store.append(Sample.notification(id: "fifth", to: .users([2]), key: otherMethod)).replayed == false)

            // Two retries racing into one batch: one writes, the other replays it.
            let racing = IdempotencyKey(scope: "app:a", method: "Notify", key: "k2", fingerprint: [7])
            async let a = store.append(Sample.notification(id: "race-a", to: .users([3]), key: racing))
            async let b = store.append(Sample.notification(id: "race-b", to: .users([3]), key: racing))
            let (ra, rb) = try await (a, b)
            #expect(ra.id == rb.id)
            #expect([ra.replayed, rb.replayed].filter { $0 }.count == 1)
            #expect(try await store.feed(user: 3, after: 0, limit: 10).map(\.id) == ["first", ra.id])
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

    @Test("committed data survives close and reopen, and sequences continue")
    func durability() async throws {
        let database = try TemporaryDatabase()
        defer { database.remove() }
        let store = try database.open()
        try await store.putUser(User(id: 1, name: "kept"))
        let appended = try await store.append(Sample.notification(id: "a", content: Sample.graph, to: .users([1])))
        await store.close()
        let closed = await #expect(throws: StorageError.self) { try await store.user(id: 1) }
        #expect(closed?.code == .unavailable)
        let refused = await #expect(throws: StorageError.self) { try await store.append(Sample.notification(to: .users([1]))) }
        #expect(refused?.code == .unavailable)

        let reopened = try database.open()
        #expect(try await reopened.user(id: 1) == User(id: 1, name: "kept"))
        #expect(try await reopened.feed(user: 1, after: 0, limit: 10) == [try #require(appended.first)])
        let next = try await reopened.append(Sample.notification(id: "b", to: .users([1])))
        #expect(next.first?.sequence == 2)
        await reopened.close()
    }

    @Test("a fan-out job left unfinished is completed after a restart")
    func fanOutResumes() async throws {
        let database = try TemporaryDatabase()
        defer { database.remove() }
        let paused = SQLiteStoreConfiguration(inlineFanOutLimit: 5, fanOutBatchSize: 7, runsBackgroundFanOut: false)
        let store = try database.open(paused)
        try await store.putUsers((0...50).map { User(id: $0) })
        try await store.putConnections((1...50).map { Connection(user: $0, to: 0, kind: .follow) })
        let result = try await store.append(Sample.notification(id: "big", to: .connections(of: 0, mode: .follow)))
        #expect(result.recipients == 50)
        #expect(result.first?.user == 1)
        #expect(try await store.pendingFanOutRecipients() == 49)
        // A user removed before the fan-out reaches them gets nothing.
        #expect(try await store.deleteUser(id: 50))
        await store.close()

        let resumed = try database.open(SQLiteStoreConfiguration(fanOutBatchSize: 7))
        #expect(try await waitForFanOut(resumed, jobs: 1))
        for user in Int64(1)...49 {
            #expect(try await resumed.feed(user: user, after: 0, limit: 10).map(\.id) == ["big"])
        }
        #expect(try await resumed.feed(user: 50, after: 0, limit: 10).isEmpty)
        #expect(resumed.statistics.fanOutRowsWritten == 48)
        #expect(resumed.statistics.fanOutTransactions == 7)
        await resumed.close()
    }

    @Test("two stores on one file, like the admin CLI beside the server, both work")
    func twoInstances() async throws {
        let database = try TemporaryDatabase()
        defer { database.remove() }
        let server = try database.open()
        let cli = try database.open(SQLiteStoreConfiguration(runsBackgroundFanOut: false))
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
        await cli.close()
        await server.close()
    }

    @Test("a full append queue refuses at once with busy")
    func queueBound() async throws {
        try await withStore(SQLiteStoreConfiguration(maxPendingAppends: 0)) { store, _ in
            let error = await #expect(throws: StorageError.self) { try await store.append(Sample.notification(to: .users([1]))) }
            #expect(error?.code == .busy)
        }
    }

    @Test("a refused append fails alone: the rest of its batch commits and feeds stay gapless")
    func failureInsideBatch() async throws {
        try await withStore { store, _ in
            _ = try await store.append(Sample.notification(id: "dup", to: .users([1])))
            let outcomes = try await withThrowingTaskGroup(of: StorageError.Code?.self) { group in
                for i in 0..<50 {
                    let id = i.isMultiple(of: 10) ? "dup" : "ok\(i)"
                    group.addTask {
                        do throws(StorageError) {
                            _ = try await store.append(Sample.notification(id: id, to: .users([1])))
                            return nil
                        } catch {
                            return error.code
                        }
                    }
                }
                return try await group.reduce(into: [StorageError.Code?]()) { $0.append($1) }
            }
            #expect(outcomes.filter { $0 == .alreadyExists }.count == 5)
            #expect(outcomes.filter { $0 == nil }.count == 45)
            let feed = try await store.feed(user: 1, after: 0, limit: 100)
            #expect(feed.map(\.sequence) == (1...46).map { UInt64($0) })
        }
    }
}
