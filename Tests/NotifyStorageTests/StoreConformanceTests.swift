import Foundation
import NotifyDomain
import NotifyStorage
import ServiceLifecycle
import ServiceLifecycleTestKit
import Testing

/// Every promise of ``NotificationLog``, ``Directory`` and
/// ``NotificationStore``'s lifecycle, checked against each implementation in
/// ``StoreBackend/all``.
///
/// Durability across a stop and a new open is checked here; across a
/// crash, by the process tests that SIGKILL a real notifyd right after its
/// answers and read every acknowledged notification back after a restart
/// (NotifyEndToEndTests `ProcessTests.durableAfterSIGKILL`, and
/// `ProcessTests.drainOnSIGTERM` for a graceful stop under load).
@Suite("Store conformance")
struct StoreConformanceTests {
    // MARK: The log: appends and reads

    @Test("an append is read back exactly, in order, each feed numbered 1, 2, 3; a repeated recipient counts once", arguments: StoreBackend.all)
    func appendAndRead(backend: StoreBackend) async throws {
        try await backend.withStore { store in
            let custom = Sample.notification(id: "n1", content: Sample.custom(), to: .users([10, 11, 10]))
            let graph = Sample.notification(id: "n2", content: Sample.graph, to: .users([10]))
            var noEmbed = Sample.notification(
                id: "n3",
                content: .custom(CustomNotification(type: "t", embed: nil, title: nil, description: "", issuer: 1)),
                to: .users([10]))
            noEmbed.createdAt = Timestamp.now()

            let first = try await store.append(custom)
            #expect(first.id == "n1")
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
            #expect(try await store.feed(user: 11, after: 0, limit: 10).map(\.sequence) == [1])

            let duplicate = await #expect(throws: StorageError.self) {
                try await store.append(Sample.notification(id: "n1", to: .users([12])))
            }
            #expect(duplicate?.code == .alreadyExists)
            // The refused append left no trace.
            #expect(try await store.feed(user: 12, after: 0, limit: 10).isEmpty)
        }
    }

    @Test("concurrent appends give every feed a gapless sequence, and all feeds agree on their order", arguments: StoreBackend.all)
    func concurrentAppends(backend: StoreBackend) async throws {
        try await backend.withStore { store in
            let users: [Int64] = [1, 2, 3, 4, 5]
            // Varied subsets of the users, each append to two or more.
            func recipients(_ i: Int) -> [Int64] { users.filter { (i + Int($0)) % 3 != 0 } }
            try await withThrowingTaskGroup(of: AppendResult.self) { group in
                for i in 0..<200 {
                    group.addTask { try await store.append(Sample.notification(id: "c\(i)", to: .users(recipients(i)))) }
                }
                for try await result in group { #expect(result.first != nil) }
            }
            var feeds: [Int64: [String]] = [:]
            for user in users {
                let feed = try await store.feed(user: user, after: 0, limit: 1_000)
                let expectedCount = (0..<200).filter { recipients($0).contains(user) }.count
                #expect(feed.map(\.sequence) == (1...UInt64(expectedCount)).map { $0 }, "user \(user)")
                #expect(Set(feed.map(\.id)) == Set((0..<200).filter { recipients($0).contains(user) }.map { "c\($0)" }))
                feeds[user] = feed.map(\.id)
            }
            // Commit order: two notifications in two feeds are in the same order in both.
            for a in users {
                for b in users where a < b {
                    let inB = Set(feeds[b] ?? [])
                    let inA = Set(feeds[a] ?? [])
                    #expect(feeds[a]?.filter(inB.contains) == feeds[b]?.filter(inA.contains), "users \(a) and \(b)")
                }
            }
            // An append issued after another's answer comes after it.
            _ = try await store.append(Sample.notification(id: "before", to: .users([1, 2])))
            _ = try await store.append(Sample.notification(id: "after", to: .users([2, 1])))
            for user: Int64 in [1, 2] {
                #expect(try await store.feed(user: user, after: 0, limit: 1_000).suffix(2).map(\.id) == ["before", "after"])
            }
        }
    }

    @Test("a refused append fails alone: the appends beside it commit and the feed stays gapless", arguments: StoreBackend.all)
    func failureAmongConcurrentAppends(backend: StoreBackend) async throws {
        try await backend.withStore { store in
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

    @Test("an idempotency key replays the first answer, refuses another request, and is scoped by caller and method", arguments: StoreBackend.all)
    func idempotency(backend: StoreBackend) async throws {
        try await backend.withStore { store in
            for id in Int64(1)...3 { try await store.putUser(User(id: id)) }
            try await store.putConnection(Connection(user: 2, to: 1, kind: .follow))
            try await store.putConnection(Connection(user: 3, to: 1, kind: .follow))
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
            #expect(try await store.feed(user: 2, after: 0, limit: 10).map(\.id) == ["first"])

            // Another caller or method may use the same key.
            var otherScope = key
            otherScope.scope = "app:b"
            #expect(try await store.append(Sample.notification(id: "fourth", to: .users([2]), key: otherScope)).replayed == false)
            var otherMethod = key
            otherMethod.method = "SendNotification"
            #expect(try await store.append(Sample.notification(id: "fifth", to: .users([2]), key: otherMethod)).replayed == false)

            // Two retries racing: one writes, the other replays it.
            let racing = IdempotencyKey(scope: "app:a", method: "Notify", key: "k2", fingerprint: [7])
            async let a = store.append(Sample.notification(id: "race-a", to: .users([3]), key: racing))
            async let b = store.append(Sample.notification(id: "race-b", to: .users([3]), key: racing))
            let (ra, rb) = try await (a, b)
            #expect(ra.id == rb.id)
            #expect([ra.replayed, rb.replayed].filter { $0 }.count == 1)
            #expect(try await store.feed(user: 3, after: 0, limit: 10).map(\.id) == ["first", ra.id])
        }
    }

    @Test("keyed appends committed together replay their own answers; a key twice among them writes once", arguments: StoreBackend.all)
    func keyedAppendsTogether(backend: StoreBackend) async throws {
        try await backend.withStore { store in
            // Concurrent appends, so that the writer takes several in one
            // batch; each to two users of three, so that the entries of one
            // batch share feeds.
            func key(_ i: Int) -> IdempotencyKey {
                IdempotencyKey(scope: "app:a", method: "Notify", key: "b\(i % 40)", fingerprint: [UInt8(i % 40)])
            }
            func users(_ i: Int) -> [Int64] { [Int64(1 + i % 3), Int64(1 + (i + 1) % 3)] }
            let answers = try await withThrowingTaskGroup(of: (Int, AppendResult).self) { group in
                // 0..<40 and 40..<60: the second twenty repeat keys of the first.
                for i in 0..<60 {
                    group.addTask { (i, try await store.append(Sample.notification(id: "b\(i)", to: .users(users(i % 40)), key: key(i)))) }
                }
                return try await group.reduce(into: [Int: AppendResult]()) { $0[$1.0] = $1.1 }
            }
            for i in 0..<20 {
                let (one, other) = (answers[i]!, answers[i + 40]!)
                #expect(one.id == other.id, "key \(i)")
                #expect([one.replayed, other.replayed].filter { $0 }.count == 1, "key \(i)")
                #expect(one.first == other.first, "key \(i)")
            }
            // Each answer's first entry is the one its feed holds.
            var written: [String: AppendResult] = [:]
            for answer in answers.values where !answer.replayed { written[answer.id] = answer }
            #expect(written.count == 40)
            for user: Int64 in 1...3 {
                let feed = try await store.feed(user: user, after: 0, limit: 100)
                #expect(feed.map(\.sequence) == (1...UInt64(feed.count)).map { $0 }, "user \(user)")
                for entry in feed where written[entry.id]?.first?.user == user {
                    #expect(written[entry.id]?.first == entry, "\(entry.id)")
                }
            }
            // And a retry now replays what the first call answered.
            for i in 0..<40 {
                let retry = try await store.append(Sample.notification(id: "r\(i)", to: .users(users(i)), key: key(i)))
                let first = [answers[i]!, answers[i + 40]].compactMap { $0 }.first { !$0.replayed }
                #expect(retry.replayed)
                #expect(retry.id == first?.id)
                #expect(retry.first == first?.first)
                #expect(retry.recipients == 2)
            }
        }
    }

    @Test("concurrent appends to a feed near its bound: it ends exactly full, gapless, and the rest fail FEED_FULL", arguments: StoreBackend.all)
    func boundAmongConcurrentAppends(backend: StoreBackend) async throws {
        try await backend.withStore(ConformanceOptions(maxFeedEntries: 5)) { store in
            _ = try await store.append(Sample.notification(id: "early", to: .users([1])))
            let outcomes = try await withThrowingTaskGroup(of: StorageError.Code?.self) { group in
                for i in 0..<12 {
                    group.addTask {
                        do throws(StorageError) {
                            _ = try await store.append(Sample.notification(id: "n\(i)", to: .users([1])))
                            return nil
                        } catch {
                            return error.code
                        }
                    }
                }
                return try await group.reduce(into: [StorageError.Code?]()) { $0.append($1) }
            }
            #expect(outcomes.filter { $0 == nil }.count == 4)
            #expect(outcomes.filter { $0 == .feedFull }.count == 8)
            #expect(try await store.feed(user: 1, after: 0, limit: 100).map(\.sequence) == [1, 2, 3, 4, 5])
        }
    }

    @Test("a page holds at most its limit and its byte budget, at least one entry, and says whether it caught up", arguments: StoreBackend.all)
    func pages(backend: StoreBackend) async throws {
        try await backend.withStore { store in
            // Entries of about 10 kB each, whatever the content's encoding.
            let large = String(repeating: "x", count: 10_000)
            for i in 1...10 {
                _ = try await store.append(Sample.notification(id: "p\(i)", content: Sample.custom(title: large), to: .users([1])))
            }
            let limited = try await store.feedPage(user: 1, after: 0, limit: 3, maxBytes: .max)
            #expect(limited.entries.map(\.sequence) == [1, 2, 3])
            #expect(!limited.caughtUp)
            let middle = try await store.feedPage(user: 1, after: 3, limit: 2, maxBytes: .max)
            #expect(middle.entries.map(\.id) == ["p4", "p5"])
            let last = try await store.feedPage(user: 1, after: 7, limit: 5, maxBytes: .max)
            #expect(last.entries.map(\.sequence) == [8, 9, 10])
            #expect(last.caughtUp)
            // Exactly at its limit, with nothing after it: caught up or not, but never past the end.
            let exact = try await store.feedPage(user: 1, after: 8, limit: 2, maxBytes: .max)
            #expect(exact.entries.map(\.sequence) == [9, 10])
            let atEnd = try await store.feedPage(user: 1, after: 10, limit: 5, maxBytes: .max)
            #expect(atEnd.entries.isEmpty)
            #expect(atEnd.caughtUp)
            let nothing = try await store.feedPage(user: 1, after: 0, limit: 0, maxBytes: .max)
            #expect(nothing.entries.isEmpty)
            #expect(!nothing.caughtUp)
            let empty = try await store.feedPage(user: 99, after: 0, limit: 5, maxBytes: .max)
            #expect(empty.entries.isEmpty)
            #expect(empty.caughtUp)

            // The byte budget: two entries fit in 25 kB, not three.
            let budget = try await store.feedPage(user: 1, after: 0, limit: 10, maxBytes: 25_000)
            #expect(budget.entries.map(\.sequence) == [1, 2])
            #expect(!budget.caughtUp)
            // One entry larger than the budget still comes alone.
            let tiny = try await store.feedPage(user: 1, after: 4, limit: 10, maxBytes: 1)
            #expect(tiny.entries.map(\.sequence) == [5])
            #expect(!tiny.caughtUp)
            let lastAlone = try await store.feedPage(user: 1, after: 9, limit: 10, maxBytes: 1)
            #expect(lastAlone.entries.map(\.sequence) == [10])
            #expect(lastAlone.caughtUp)
        }
    }

    @Test(
        "a connections append reaches exactly the issuer's friends or followers, whether written at once or in the background",
        arguments: StoreBackend.all, [false, true])
    func connectionsAudience(backend: StoreBackend, largeAudiences: Bool) async throws {
        try await backend.withStore(ConformanceOptions(largeAudiences: largeAudiences)) { store in
            for id in Int64(1)...12 { try await store.putUser(User(id: id)) }
            for connection in [
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
            ] {
                try await store.putConnection(connection)
            }

            let friends = try await store.append(Sample.notification(id: "friends", to: .connections(of: 1, mode: .friendship)))
            let followers = try await store.append(Sample.notification(id: "followers", to: .connections(of: 1, mode: .follow)))
            #expect(friends.recipients == 3)
            #expect(followers.recipients == 3)
            #expect(friends.first?.user == 2)
            #expect(followers.first?.user == 4)

            let expected: [Int64: [String]] = [
                1: [], 2: ["friends"], 3: ["friends"], 4: ["followers"], 5: ["followers"], 6: [], 7: [], 8: [],
                9: [], 10: [], 11: ["friends"], 12: ["followers"],
            ]
            // A background fan-out writes its entries shortly after the answer.
            var received: [Int64: [String]] = [:]
            let deadline = ContinuousClock.now + .seconds(60)
            repeat {
                for user in Int64(1)...12 {
                    received[user] = try await store.feed(user: user, after: 0, limit: 10).map(\.id)
                }
                if received == expected { break }
                try await Task.sleep(for: .milliseconds(10))
            } while ContinuousClock.now < deadline
            #expect(received == expected)
        }
    }

    @Test("a full feed is skipped; an append whose every feed is full fails FEED_FULL and stores nothing", arguments: StoreBackend.all)
    func feedFull(backend: StoreBackend) async throws {
        try await backend.withStore(ConformanceOptions(maxFeedEntries: 2)) { store in
            for id in Int64(1)...3 { try await store.putUser(User(id: id)) }
            try await store.putConnection(Connection(user: 3, to: 1, kind: .friend))
            try await store.putConnection(Connection(user: 3, to: 2, kind: .friend))
            _ = try await store.append(Sample.notification(id: "a", to: .users([1])))
            _ = try await store.append(Sample.notification(id: "b", to: .users([1])))
            let full = await #expect(throws: StorageError.self) {
                try await store.append(Sample.notification(id: "c", to: .users([1])))
            }
            #expect(full?.code == .feedFull)
            #expect(try await store.feed(user: 1, after: 0, limit: 10).map(\.id) == ["a", "b"])

            // A full feed among others is skipped.
            let skipped = try await store.append(Sample.notification(id: "d", to: .users([1, 2])))
            #expect(skipped.recipients == 1)
            #expect(skipped.first?.user == 2)
            let friends = try await store.append(Sample.notification(id: "e", to: .connections(of: 3, mode: .friendship)))
            #expect(friends.recipients == 1)
            #expect(try await store.feed(user: 2, after: 0, limit: 10).map(\.id) == ["d", "e"])
            #expect(try await store.feed(user: 1, after: 0, limit: 10).map(\.id) == ["a", "b"])

            // Nothing of the refused append was stored: its id is free.
            #expect(try await store.append(Sample.notification(id: "c", to: .users([3]))).recipients == 1)
        }
    }

    // MARK: The log: live readers

    @Test("a watch wakes after a commit to its feed, written at once or in the background, and on wakeFeedWatchers", arguments: StoreBackend.all, [false, true])
    func watchWakes(backend: StoreBackend, largeAudiences: Bool) async throws {
        try await backend.withStore(ConformanceOptions(largeAudiences: largeAudiences)) { store in
            for id in Int64(1)...3 { try await store.putUser(User(id: id)) }
            try await store.putConnection(Connection(user: 1, to: 2, kind: .friend))
            try await store.putConnection(Connection(user: 1, to: 3, kind: .friend))
            var two = store.watchFeed(user: 2).makeAsyncIterator()
            let three = store.watchFeed(user: 3).makeAsyncIterator()

            _ = try await store.append(Sample.notification(to: .users([2])))
            #expect(await two.next() != nil)
            #expect(try await store.feed(user: 2, after: 0, limit: 10).count == 1)

            _ = try await store.append(Sample.notification(to: .connections(of: 1, mode: .friendship)))
            // A wake-up may come before this feed's entry (another feed's
            // commit): read after each until the entry is there.
            for (user, iterator) in [(Int64(2), two), (3, three)] {
                var wakes = iterator
                var entries = 0
                while entries < (user == 2 ? 2 : 1) {
                    #expect(await wakes.next() != nil, "user \(user)")
                    entries = try await store.feed(user: user, after: 0, limit: 10).count
                }
            }

            store.wakeFeedWatchers()
            var one = store.watchFeed(user: 1).makeAsyncIterator()
            store.wakeFeedWatchers()
            #expect(await one.next() != nil)
        }
    }

    // MARK: The directory

    @Test("users are created, replaced, read and deleted", arguments: StoreBackend.all)
    func users(backend: StoreBackend) async throws {
        try await backend.withStore { store in
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

    @Test("connections need both users, are idempotent, a friendship is one connection either way, a follow is directed", arguments: StoreBackend.all)
    func connections(backend: StoreBackend) async throws {
        try await backend.withStore { store in
            try await store.putUser(User(id: 1))
            try await store.putUser(User(id: 2))
            let missing = await #expect(throws: StorageError.self) {
                try await store.putConnection(Connection(user: 1, to: 99, kind: .follow))
            }
            #expect(missing?.code == .notFound)

            try await store.putConnection(Connection(user: 1, to: 2, kind: .follow))
            try await store.putConnection(Connection(user: 1, to: 2, kind: .follow))
            try await store.putConnection(Connection(user: 2, to: 1, kind: .friend))
            try await store.putConnection(Connection(user: 1, to: 2, kind: .friend))
            // The reverse friendship names the same connection.
            #expect(try await store.deleteConnection(Connection(user: 1, to: 2, kind: .friend)))
            #expect(try await store.deleteConnection(Connection(user: 2, to: 1, kind: .friend)) == false)
            // A follow is directed.
            #expect(try await store.deleteConnection(Connection(user: 2, to: 1, kind: .follow)) == false)
            #expect(try await store.deleteConnection(Connection(user: 1, to: 2, kind: .follow)))
        }
    }

    @Test("subscriptions are created once, need their user, are renewed to the microsecond and deleted", arguments: StoreBackend.all)
    func subscriptions(backend: StoreBackend) async throws {
        try await backend.withStore { store in
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

            let later = Timestamp(microsecondsSince1970: 1_760_000_000_000_001)
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

    @Test("the blocked list holds apps and users; blocking twice is one entry", arguments: StoreBackend.all)
    func blocked(backend: StoreBackend) async throws {
        try await backend.withStore { store in
            #expect(try await store.isBlocked(.app("a")) == false)
            try await store.block(.app("a"))
            try await store.block(.app("a"))
            try await store.block(.user(5))
            #expect(try await store.isBlocked(.app("a")))
            #expect(try await store.isBlocked(.user(5)))
            #expect(try await store.isBlocked(.user(6)) == false)
            #expect(try await store.isBlocked(.app("5")) == false)
            #expect(try await store.unblock(.app("a")))
            #expect(try await store.unblock(.app("a")) == false)
            #expect(try await store.isBlocked(.app("a")) == false)
        }
    }

    @Test("tokens are found by hash, unique by id and hash, revoked for good, and come back expired as they are", arguments: StoreBackend.all)
    func tokens(backend: StoreBackend) async throws {
        try await backend.withStore { store in
            let hash = [UInt8](repeating: 0xAB, count: 32)
            let token = TokenRecord(
                id: "t1", hash: hash, principal: .app("host:with:colons"), roles: [.admin, .app],
                expiresAt: Timestamp(microsecondsSince1970: 1_900_000_000_000_001))
            try await store.insertToken(token)
            #expect(try await store.token(hash: hash) == token)
            #expect(try await store.token(hash: [UInt8](repeating: 0, count: 32)) == nil)

            var sameHash = token
            sameHash.id = "t2"
            let duplicateHash = await #expect(throws: StorageError.self) { try await store.insertToken(sameHash) }
            #expect(duplicateHash?.code == .alreadyExists)
            var sameID = token
            sameID.hash = [UInt8](repeating: 0xCD, count: 32)
            let duplicateID = await #expect(throws: StorageError.self) { try await store.insertToken(sameID) }
            #expect(duplicateID?.code == .alreadyExists)

            // Expired: the record as it is, for the caller to answer TOKEN_EXPIRED.
            let expired = TokenRecord(
                id: "t3", hash: [UInt8](repeating: 1, count: 32), principal: .user(-3), roles: [],
                expiresAt: Sample.created)
            try await store.insertToken(expired)
            #expect(try await store.token(hash: expired.hash) == expired)

            #expect(try await store.revokeToken(id: "t1"))
            #expect(try await store.revokeToken(id: "missing") == false)
            var revoked = token
            revoked.revoked = true
            #expect(try await store.token(hash: hash) == revoked)
        }
    }

    @Test("a stream ticket is redeemed once, for its token's record; expired or unknown ones redeem nothing", arguments: StoreBackend.all)
    func streamTickets(backend: StoreBackend) async throws {
        try await backend.withStore { store in
            let token = TokenRecord(
                id: "t1", hash: [UInt8](repeating: 7, count: 32), principal: .user(5), roles: [.user],
                expiresAt: Timestamp(secondsSince1970: 1_900_000_000))
            try await store.insertToken(token)
            let now = Timestamp.now()
            let ticket = StreamTicketRecord(hash: [UInt8](repeating: 9, count: 32), tokenID: "t1", expiresAt: now.adding(seconds: 60))
            try await store.insertStreamTicket(ticket)
            let again = await #expect(throws: StorageError.self) { try await store.insertStreamTicket(ticket) }
            #expect(again?.code == .alreadyExists)
            #expect(try await store.redeemStreamTicket(hash: ticket.hash, now: now) == token)
            #expect(try await store.redeemStreamTicket(hash: ticket.hash, now: now) == nil)
            #expect(try await store.redeemStreamTicket(hash: [UInt8](repeating: 0, count: 32), now: now) == nil)

            // Expired: gone too, and redeems nothing.
            let expired = StreamTicketRecord(hash: [UInt8](repeating: 10, count: 32), tokenID: "t1", expiresAt: now.adding(seconds: 1))
            try await store.insertStreamTicket(expired)
            #expect(try await store.redeemStreamTicket(hash: expired.hash, now: now.adding(seconds: 2)) == nil)
            #expect(try await store.redeemStreamTicket(hash: expired.hash, now: now) == nil)

            // A revoked token's ticket still answers its record: the caller refuses it.
            let pending = StreamTicketRecord(hash: [UInt8](repeating: 11, count: 32), tokenID: "t1", expiresAt: now.adding(seconds: 60))
            try await store.insertStreamTicket(pending)
            #expect(try await store.revokeToken(id: "t1"))
            #expect(try await store.redeemStreamTicket(hash: pending.hash, now: now)?.revoked == true)

            // Racing redemptions of one ticket: exactly one gets the token.
            let raced = StreamTicketRecord(hash: [UInt8](repeating: 12, count: 32), tokenID: "t1", expiresAt: now.adding(seconds: 60))
            try await store.insertStreamTicket(raced)
            let winners = try await withThrowingTaskGroup(of: Bool.self) { group in
                for _ in 0..<8 { group.addTask { try await store.redeemStreamTicket(hash: raced.hash, now: now) != nil } }
                return try await group.reduce(0) { $0 + ($1 ? 1 : 0) }
            }
            #expect(winners == 1)
        }
    }

    @Test("deleting a user takes his connections, subscriptions and feed, revokes his tokens, and keeps his feed's head", arguments: StoreBackend.all)
    func deleteUser(backend: StoreBackend) async throws {
        try await backend.withStore { store in
            try await store.putUser(User(id: 1))
            try await store.putUser(User(id: 2))
            try await store.putConnection(Connection(user: 2, to: 1, kind: .follow))
            try await store.createSubscription(
                Subscription(id: "s", user: 2, app: "a", platform: .ios, deviceID: nil, expiresAt: Sample.created))
            let token = TokenRecord(
                id: "t2", hash: [UInt8](repeating: 2, count: 32), principal: .user(2), roles: [.user],
                expiresAt: Timestamp(secondsSince1970: 1_900_000_000))
            try await store.insertToken(token)
            for i in 1...3 { _ = try await store.append(Sample.notification(id: "old\(i)", to: .users([2]))) }

            #expect(try await store.deleteUser(id: 2))
            #expect(try await store.user(id: 2) == nil)
            #expect(try await store.subscription(id: "s") == nil)
            #expect(try await store.feed(user: 2, after: 0, limit: 10).isEmpty)
            #expect(try await store.token(hash: token.hash)?.revoked == true)
            let toFollowers = try await store.append(Sample.notification(to: .connections(of: 1, mode: .follow)))
            #expect(toFollowers.recipients == 0)
            #expect(toFollowers.first == nil)
            #expect(try await store.deleteUser(id: 2) == false)

            // Created again: the feed continues after the last number given,
            // and the old token stays revoked.
            try await store.putUser(User(id: 2))
            let next = try await store.append(Sample.notification(id: "new", to: .users([2])))
            #expect(next.first?.sequence == 4)
            #expect(try await store.feed(user: 2, after: 0, limit: 10).map(\.sequence) == [4])
            #expect(try await store.token(hash: token.hash)?.revoked == true)
        }
    }

    @Test(
        "a user deleted and created again continues his sequence however entries reach him: direct, connections at once or in the background, a full feed's bound",
        arguments: StoreBackend.all, [false, true])
    func recreatedUserSequence(backend: StoreBackend, largeAudiences: Bool) async throws {
        try await backend.withStore(ConformanceOptions(maxFeedEntries: 3, largeAudiences: largeAudiences)) { store in
            // 1 issues to his friends 2 and 3; 3 is the one deleted and created again.
            func befriend() async throws {
                for id: Int64 in [2, 3] { try await store.putConnection(Connection(user: 1, to: id, kind: .friend)) }
            }
            /// The ids of 3's feed, with their numbers, once it holds `count` entries.
            func feed(of user: Int64, holding count: Int) async throws -> [(UInt64, String)] {
                let deadline = ContinuousClock.now + .seconds(60)
                while true {
                    let entries = try await store.feed(user: user, after: 0, limit: 10)
                    if entries.count >= count || ContinuousClock.now >= deadline {
                        return entries.map { ($0.sequence, $0.id) }
                    }
                    try await Task.sleep(for: .milliseconds(10))
                }
            }
            for id in Int64(1)...3 { try await store.putUser(User(id: id)) }
            try await befriend()
            _ = try await store.append(Sample.notification(id: "old-direct", to: .users([3])))
            _ = try await store.append(Sample.notification(id: "old-friends", to: .connections(of: 1, mode: .friendship)))
            #expect(try await feed(of: 3, holding: 2).map(\.0) == [1, 2])

            #expect(try await store.deleteUser(id: 3))
            try await store.putUser(User(id: 3))
            try await befriend()
            #expect(try await store.feed(user: 3, after: 0, limit: 10).isEmpty)
            // In the background too: the job's entry for 3 takes the number after the kept head.
            _ = try await store.append(Sample.notification(id: "new-friends", to: .connections(of: 1, mode: .friendship)))
            #expect(try await feed(of: 3, holding: 1).map(\.0) == [3])
            _ = try await store.append(Sample.notification(id: "new-direct", to: .users([3])))
            let renewed = try await feed(of: 3, holding: 2)
            #expect(renewed.map(\.0) == [3, 4])
            #expect(renewed.map(\.1) == ["new-friends", "new-direct"])
            // The bound counts the entries a feed holds, not its head: two, so one more fits.
            _ = try await store.append(Sample.notification(id: "third", to: .users([3])))
            #expect(try await feed(of: 3, holding: 3).map(\.0) == [3, 4, 5])
            let full = await #expect(throws: StorageError.self) {
                try await store.append(Sample.notification(id: "fourth", to: .users([3])))
            }
            #expect(full?.code == .feedFull)

            // Deleted and created again with nothing since: the head stays where it was.
            #expect(try await store.deleteUser(id: 3))
            try await store.putUser(User(id: 3))
            #expect(try await store.feedPage(user: 3, after: 5, limit: 10, maxBytes: .max).end == .head(5))
            _ = try await store.append(Sample.notification(id: "last", to: .users([3])))
            #expect(try await store.feed(user: 3, after: 0, limit: 10).map(\.sequence) == [6])
        }
    }

    // MARK: Lifecycle and durability

    @Test("an append made before the store runs is committed once it runs", arguments: StoreBackend.all)
    func appendBeforeRunning(backend: StoreBackend) async throws {
        let location = try backend.makeLocation()
        defer { location.remove() }
        let store = try location.open(.init())
        let (results, result) = AsyncStream.makeStream(of: Result<AppendResult, StorageError>.self)
        store.append(Sample.notification(id: "early", to: .users([1]))) { result.yield($0) }
        let appended = try await runStore(store) { _ in
            var iterator = results.makeAsyncIterator()
            return try #require(await iterator.next()).get()
        }
        #expect(appended.first?.sequence == 1)
        try await location.withStore { store throws in
            #expect(try await store.feed(user: 1, after: 0, limit: 10).map(\.id) == ["early"])
        }
    }

    @Test("appends accepted before a graceful shutdown are all committed, even when it comes before the store runs", arguments: StoreBackend.all)
    func acceptedAppendsSurviveShutdown(backend: StoreBackend) async throws {
        let location = try backend.makeLocation()
        defer { location.remove() }
        let store = try location.open(.init())
        let (results, result) = AsyncStream.makeStream(of: Result<AppendResult, StorageError>.self)
        for i in 0..<100 {
            store.append(Sample.notification(id: "q\(i)", to: .users([1]))) { result.yield($0) }
        }
        try await testGracefulShutdown { trigger in
            trigger.triggerGracefulShutdown()
            try await store.run()
        }
        var acknowledged: [String] = []
        for await outcome in results.prefix(100) { acknowledged.append(try outcome.get().id) }
        #expect(acknowledged.count == 100)
        try await location.withStore { store throws in
            #expect(try await store.feed(user: 1, after: 0, limit: 1_000).map(\.sequence) == (1...100).map { UInt64($0) })
        }
    }

    @Test("what was acknowledged is there after the store stops and its data is opened again; then sequences continue", arguments: StoreBackend.all)
    func durability(backend: StoreBackend) async throws {
        let location = try backend.makeLocation()
        defer { location.remove() }
        let token = TokenRecord(
            id: "t", hash: [UInt8](repeating: 7, count: 32), principal: .app("a"), roles: [.app],
            expiresAt: Timestamp(secondsSince1970: 1_900_000_000))
        let subscription = Subscription(
            id: "s", user: 1, app: "a", platform: .windows, deviceID: "d", expiresAt: Timestamp(secondsSince1970: 1_800_000_000))
        let (acknowledged, stopped) = try await location.withStore { store in
            try await store.putUser(User(id: 1, name: "kept"))
            try await store.putUser(User(id: 2))
            try await store.putConnection(Connection(user: 1, to: 2, kind: .friend))
            try await store.createSubscription(subscription)
            try await store.insertToken(token)
            try await store.block(.app("blocked"))
            let acknowledged = try await withThrowingTaskGroup(of: AppendResult.self) { group in
                for i in 0..<100 {
                    let content = i.isMultiple(of: 2) ? Sample.graph : Sample.custom()
                    group.addTask {
                        try await store.append(Sample.notification(id: "d\(i)", content: content, to: .users([1, 2])))
                    }
                }
                return try await group.reduce(into: [AppendResult]()) { $0.append($1) }
            }
            return (acknowledged, store)
        }

        // Stopped: every call is refused, a watch ends at once, and it runs once.
        let refusedRead = await #expect(throws: StorageError.self) { try await stopped.user(id: 1) }
        #expect(refusedRead?.code == .unavailable)
        let refusedAppend = await #expect(throws: StorageError.self) {
            try await stopped.append(Sample.notification(to: .users([1])))
        }
        #expect(refusedAppend?.code == .unavailable)
        for await _ in stopped.watchFeed(user: 1) { Issue.record("a stopped store woke a watcher") }
        await #expect(throws: (any Error).self) { try await stopped.run() }

        try await location.withStore { store in
            #expect(try await store.user(id: 1) == User(id: 1, name: "kept"))
            #expect(try await store.subscription(id: "s") == subscription)
            #expect(try await store.token(hash: token.hash) == token)
            #expect(try await store.isBlocked(.app("blocked")))
            #expect(try await store.deleteConnection(Connection(user: 2, to: 1, kind: .friend)))
            let feed = try await store.feed(user: 1, after: 0, limit: 1_000)
            #expect(feed.map(\.sequence) == (1...100).map { UInt64($0) })
            #expect(Set(feed) == Set(acknowledged.compactMap(\.first)))
            let next = try await store.append(Sample.notification(id: "later", to: .users([1])))
            #expect(next.first?.sequence == 101)
        }
    }

    private struct Thrown: Error {}

    @Test("withRunning stops the store when its body throws, and hands the error on", arguments: StoreBackend.all)
    func withRunningThrows(backend: StoreBackend) async throws {
        let location = try backend.makeLocation()
        defer { location.remove() }
        let store = try location.open(.init())
        await #expect(throws: Thrown.self) {
            try await runStore(store) { store in
                _ = try await store.append(Sample.notification(id: "kept", to: .users([1])))
                throw Thrown()
            }
        }
        let stopped = await #expect(throws: StorageError.self) { try await store.user(id: 1) }
        #expect(stopped?.code == .unavailable)
        try await location.withStore { store throws in
            #expect(try await store.feed(user: 1, after: 0, limit: 10).map(\.id) == ["kept"])
        }
    }

    private enum Outcome: Sendable {
        case stopped
        case acknowledged(String)
        case refused
        case failed(StorageError)
    }

    @Test(
        "graceful shutdown commits every append it accepted: each ends acknowledged or unavailable, and the feed holds exactly the acknowledged",
        .timeLimit(.minutes(2)), arguments: StoreBackend.all)
    func gracefulShutdown(backend: StoreBackend) async throws {
        let location = try backend.makeLocation()
        defer { location.remove() }
        let store = try location.open(.init())
        let outcomes = try await testGracefulShutdown { trigger in
            try await withThrowingTaskGroup(of: Outcome.self) { group in
                group.addTask {
                    try await store.run()
                    return .stopped
                }
                for i in 0..<400 {
                    group.addTask {
                        do throws(StorageError) {
                            return .acknowledged(try await store.append(Sample.notification(id: "g\(i)", to: .users([1]))).id)
                        } catch where error.code == .unavailable {
                            return .refused
                        } catch {
                            return .failed(error)
                        }
                    }
                }
                var outcomes: [Outcome] = []
                var acknowledged = 0
                var triggered = false
                for try await outcome in group {
                    outcomes.append(outcome)
                    if case .acknowledged = outcome { acknowledged += 1 }
                    // Shut down mid-stream: after 50 answers, or once all have come.
                    if !triggered, acknowledged >= 50 || outcomes.count == 400 {
                        triggered = true
                        trigger.triggerGracefulShutdown()
                    }
                }
                return outcomes
            }
        }
        var acknowledged: [String] = []
        var refused = 0
        for outcome in outcomes {
            switch outcome {
            case .stopped: break
            case .acknowledged(let id): acknowledged.append(id)
            case .refused: refused += 1
            case .failed(let error): Issue.record("an append failed with \(error)")
            }
        }
        #expect(outcomes.count == 401)
        #expect(acknowledged.count >= 50)
        #expect(acknowledged.count + refused == 400)
        try await location.withStore { store in
            let feed = try await store.feed(user: 1, after: 0, limit: 1_000)
            #expect(Set(feed.map(\.id)) == Set(acknowledged), "acknowledged \(acknowledged.count), refused \(refused)")
            #expect(feed.map(\.sequence) == (0..<UInt64(feed.count)).map { $0 + 1 })
        }
    }
}

/// Runs `store` while `body` runs (``NotificationStore/withRunning(_:)`` on an existential).
func runStore<T>(_ store: any NotificationStore, _ body: (any NotificationStore) async throws -> T) async throws -> T {
    func run<Store: NotificationStore>(_ store: Store) async throws -> T {
        try await store.withRunning { try await body($0) }
    }
    return try await run(store)
}
