import Foundation
import NotifyDomain
import NotifyStorage
import Testing

/// The promises of ``FeedStateLog``: state changes are feed entries of their
/// own, idempotent and atomic, entries carry their state, and the unseen
/// counters agree with the feed.
extension StoreConformanceTests {
    static let t = Timestamp(microsecondsSince1970: 1_765_000_000_000_000)

    /// Every item of `user`'s feed, read one small page at a time: the
    /// sequences of entries and events, and the entries.
    static func everything(
        _ store: any NotificationStore, user: Int64, limit: Int = 2
    ) async throws -> (sequences: [UInt64], entries: [NotifyDomain.Notification], events: [FeedEvent]) {
        var cursor: UInt64 = 0
        var entries: [NotifyDomain.Notification] = []
        var events: [FeedEvent] = []
        var rounds = 0
        while rounds < 10_000 {
            rounds += 1
            let page = try await store.feedPage(user: user, after: cursor, limit: limit, maxBytes: .max)
            #expect(page.entries.count + page.events.count <= limit)
            entries += page.entries
            events += page.events
            #expect(page.nextAfter >= cursor)
            cursor = page.nextAfter
            if page.caughtUp { break }
        }
        let sequences = (entries.map(\.sequence) + events.map(\.sequence)).sorted()
        return (sequences, entries, events)
    }

    /// The unseen count of `view`, counted the slow way, from the feed.
    static func scanUnseen(_ store: any NotificationStore, user: Int64, view: FeedView) async throws -> UInt64 {
        let entries = try await everything(store, user: user, limit: 1_000).entries
        return UInt64(entries.filter { !$0.read && view.contains($0.content) }.count)
    }

    @Test("a state change is an event numbered from the feed's own head; entries carry their state; a change that changes nothing appends nothing", arguments: StoreBackend.all)
    func stateEventsShareTheSequence(backend: StoreBackend) async throws {
        try await backend.withStore { store in
            try await store.putUser(User(id: 10))
            _ = try await store.append(Sample.notification(id: "n1", to: .users([10])))
            _ = try await store.append(Sample.notification(id: "n2", content: Sample.graph, to: .users([10])))
            let read = try await store.changeFeed(FeedChange(user: 10, kind: .markRead(ids: ["n1", "n1"]), createdAt: Self.t))
            #expect(read == .changed(sequence: 3, unseen: 1))
            // Again: nothing changes, nothing is appended.
            #expect(try await store.changeFeed(FeedChange(user: 10, kind: .markRead(ids: ["n1"]), createdAt: Self.t)) == .unchanged(unseen: 1))
            _ = try await store.append(Sample.notification(id: "n3", to: .users([10])))
            let state = try await store.changeFeed(
                FeedChange(user: 10, kind: .setActionState(id: "n2", .dismissed), createdAt: Self.t))
            #expect(state == .changed(sequence: 5, unseen: 2))
            #expect(try await store.changeFeed(
                FeedChange(user: 10, kind: .setActionState(id: "n2", .dismissed), createdAt: Self.t)) == .unchanged(unseen: 2))
            // noInteraction is the default: setting it on an untouched entry changes nothing.
            #expect(try await store.changeFeed(
                FeedChange(user: 10, kind: .setActionState(id: "n3", .noInteraction), createdAt: Self.t)) == .unchanged(unseen: 2))

            let page = try await store.feedPage(user: 10, after: 0, limit: 100, maxBytes: .max)
            #expect(page.entries.map(\.sequence) == [1, 2, 4])
            #expect(page.events.map(\.sequence) == [3, 5])
            #expect(page.nextAfter == 5)
            #expect(page.caughtUp)
            #expect(page.entries.map(\.read) == [true, false, false])
            #expect(page.entries.map(\.actionState) == [.noInteraction, .dismissed, .noInteraction])
            #expect(page.events[0] == FeedEvent(sequence: 3, user: 10, createdAt: Self.t, ids: ["n1"], change: .read(upTo: nil, view: .all)))
            #expect(page.events[1] == FeedEvent(sequence: 5, user: 10, createdAt: Self.t, ids: ["n2"], change: .actionState(.dismissed)))
            // The next append follows the events.
            #expect(try await store.append(Sample.notification(id: "n4", to: .users([10]))).first?.sequence == 6)
            // Paged one and two at a time, nothing is skipped or repeated.
            for limit in [1, 2, 3] {
                #expect(try await Self.everything(store, user: 10, limit: limit).sequences == [1, 2, 3, 4, 5, 6])
            }
            let entry = try await store.feedEntry(user: 10, id: "n2", now: Self.t)
            #expect(entry?.sequence == 2)
            #expect(entry?.actionState == .dismissed)
            #expect(try await store.feedEntry(user: 11, id: "n2", now: Self.t) == nil)
        }
    }

    @Test("unseen counts per view follow appends, reads up to a sequence and removals, without scanning", arguments: StoreBackend.all)
    func unseenCounts(backend: StoreBackend) async throws {
        try await backend.withStore { store in
            try await store.putUser(User(id: 10))
            #expect(try await store.unseenCount(user: 10, view: .all) == 0)
            #expect(try await store.unseenCount(user: 99, view: .all) == nil)
            for i in 0..<3 { _ = try await store.append(Sample.notification(id: "c\(i)", to: .users([10]))) }
            for i in 0..<2 { _ = try await store.append(Sample.notification(id: "g\(i)", content: Sample.graph, to: .users([10]))) }
            #expect(try await store.unseenCount(user: 10, view: .all) == 5)
            #expect(try await store.unseenCount(user: 10, view: .notify) == 3)
            #expect(try await store.unseenCount(user: 10, view: .graph) == 2)

            let upTo = try await store.changeFeed(
                FeedChange(user: 10, kind: .markReadUpTo(4, view: .notify), view: .notify, createdAt: Self.t))
            #expect(upTo == .changed(sequence: 6, unseen: 0))
            #expect(try await store.unseenCount(user: 10, view: .graph) == 2)
            // The same again, and past the head: nothing more to read.
            #expect(try await store.changeFeed(
                FeedChange(user: 10, kind: .markReadUpTo(100, view: .notify), createdAt: Self.t)) == .unchanged(unseen: 2))
            let events = try await Self.everything(store, user: 10).events
            #expect(events.map(\.change) == [.read(upTo: 4, view: .notify)])
            #expect(events.first?.ids == [])

            // Deleting an unread entry takes it out of the count at once.
            let deleted = try await store.changeFeed(FeedChange(user: 10, kind: .delete(ids: ["g0"]), createdAt: Self.t))
            #expect(deleted == .changed(sequence: 7, unseen: 1))
            #expect(try await store.unseenCount(user: 10, view: .graph) == 1)
            let all = try await store.changeFeed(FeedChange(user: 10, kind: .markReadUpTo(100, view: .all), createdAt: Self.t))
            #expect(all == .changed(sequence: 8, unseen: 0))
            for view in FeedView.allCases {
                #expect(try await store.unseenCount(user: 10, view: view) == Self.scanUnseen(store, user: 10, view: view))
            }
        }
    }

    @Test("unseen counts agree with the feed under concurrent appends, reads and deletes", arguments: StoreBackend.all)
    func unseenCountsConcurrently(backend: StoreBackend) async throws {
        try await backend.withStore { store in
            try await store.putUser(User(id: 10))
            try await withThrowingTaskGroup(of: Void.self) { group in
                for i in 0..<60 {
                    group.addTask {
                        let content = i % 3 == 0 ? Sample.graph : Sample.custom()
                        _ = try await store.append(Sample.notification(id: "x\(i)", content: content, to: .users([10])))
                        switch i % 4 {
                        case 0: _ = try await store.changeFeed(FeedChange(user: 10, kind: .markRead(ids: ["x\(i)"]), createdAt: Self.t))
                        case 1: _ = try await store.changeFeed(FeedChange(user: 10, kind: .delete(ids: ["x\(i)"]), createdAt: Self.t))
                        case 2: _ = try await store.changeFeed(
                            FeedChange(user: 10, kind: .markReadUpTo(UInt64(i / 2), view: .graph), createdAt: Self.t))
                        default: break
                        }
                    }
                }
                try await group.waitForAll()
            }
            let (sequences, _, _) = try await Self.everything(store, user: 10, limit: 7)
            // Strictly increasing; the only numbers missing are the 15 deleted entries'.
            #expect(sequences == Array(Set(sequences)).sorted())
            #expect(UInt64(sequences.count) + 15 == sequences.last)
            for view in FeedView.allCases {
                #expect(try await store.unseenCount(user: 10, view: view) == Self.scanUnseen(store, user: 10, view: view))
            }
        }
    }

    @Test(
        "entries a connections append writes count as unseen, whether written at once or in the background",
        arguments: StoreBackend.all, [false, true])
    func unseenCountsOfConnections(backend: StoreBackend, largeAudiences: Bool) async throws {
        try await backend.withStore(ConformanceOptions(largeAudiences: largeAudiences)) { store in
            for id in Int64(1)...5 { try await store.putUser(User(id: id)) }
            for follower in Int64(2)...5 { try await store.putConnection(Connection(user: follower, to: 1, kind: .follow)) }
            _ = try await store.append(Sample.notification(id: "f", to: .connections(of: 1, mode: .follow)))
            let deadline = ContinuousClock.now + .seconds(60)
            var counts: [UInt64?] = []
            repeat {
                counts = []
                for user in Int64(2)...5 { counts.append(try await store.unseenCount(user: user, view: .notify)) }
                if counts == [1, 1, 1, 1] { break }
                try await Task.sleep(for: .milliseconds(10))
            } while ContinuousClock.now < deadline
            #expect(counts == [1, 1, 1, 1])
            #expect(try await store.unseenCount(user: 3, view: .graph) == 0)
        }
    }

    @Test("a deleted entry is never listed or found again; DeleteGroup removes a group's SendNotification entries only", arguments: StoreBackend.all)
    func deleteAndDeleteGroup(backend: StoreBackend) async throws {
        try await backend.withStore { store in
            try await store.putUser(User(id: 10))
            func graph(group: String?, app: String = "app.example.com") -> NotificationContent {
                guard case .graph(var content) = Sample.graph else { return Sample.graph }
                content.groupName = group
                content.targetHostName = app
                return .graph(content)
            }
            _ = try await store.append(Sample.notification(id: "a", content: graph(group: "g"), to: .users([10])))
            _ = try await store.append(Sample.notification(id: "b", content: graph(group: "h"), to: .users([10])))
            _ = try await store.append(Sample.notification(id: "c", content: graph(group: "g", app: "other"), to: .users([10])))
            _ = try await store.append(Sample.notification(id: "d", to: .users([10])))
            #expect(try await store.changeFeed(FeedChange(user: 10, kind: .delete(ids: ["d"]), createdAt: Self.t))
                == .changed(sequence: 5, unseen: 3))
            #expect(try await store.feedEntry(user: 10, id: "d", now: Self.t) == nil)
            #expect(try await store.changeFeed(FeedChange(user: 10, kind: .delete(ids: ["d"]), createdAt: Self.t)) == .notFound(id: "d"))
            #expect(try await store.changeFeed(FeedChange(user: 10, kind: .markRead(ids: ["d"]), createdAt: Self.t)) == .notFound(id: "d"))

            // An application deletes only its own entries of the group.
            let mine = try await store.changeFeed(
                FeedChange(user: 10, kind: .deleteGroup("g"), scope: .application("app.example.com"), createdAt: Self.t))
            #expect(mine == .changed(sequence: 6, unseen: 2))
            let rest = try await store.changeFeed(FeedChange(user: 10, kind: .deleteGroup("g"), createdAt: Self.t))
            #expect(rest == .changed(sequence: 7, unseen: 1))
            #expect(try await store.changeFeed(FeedChange(user: 10, kind: .deleteGroup("g"), createdAt: Self.t)) == .unchanged(unseen: 1))

            let (sequences, entries, events) = try await Self.everything(store, user: 10)
            #expect(entries.map(\.id) == ["b"])
            #expect(sequences == [2, 5, 6, 7])
            #expect(events.map(\.ids) == [["d"], ["a"], ["c"]])
            #expect(events.allSatisfy { $0.change == .removed(.deleted) })
        }
    }

    @Test("a change naming an unknown, another user's or an out-of-scope entry changes nothing at all", arguments: StoreBackend.all)
    func refusedChangesAreAtomic(backend: StoreBackend) async throws {
        try await backend.withStore { store in
            for id in Int64(10)...11 { try await store.putUser(User(id: id)) }
            _ = try await store.append(Sample.notification(id: "mine", to: .users([10])))
            _ = try await store.append(Sample.notification(id: "sent", content: Sample.graph, to: .users([10])))
            _ = try await store.append(Sample.notification(id: "theirs", to: .users([11])))
            #expect(try await store.changeFeed(FeedChange(user: 10, kind: .markRead(ids: ["mine", "nope"]), createdAt: Self.t))
                == .notFound(id: "nope"))
            #expect(try await store.changeFeed(FeedChange(user: 10, kind: .delete(ids: ["mine", "theirs"]), createdAt: Self.t))
                == .notFound(id: "theirs"))
            #expect(try await store.changeFeed(
                FeedChange(user: 10, kind: .markRead(ids: ["sent", "mine"]), scope: .application("app.example.com"), createdAt: Self.t))
                == .notPermitted(id: "mine"))
            #expect(try await store.changeFeed(
                FeedChange(user: 10, kind: .markRead(ids: ["sent"]), scope: .application("another.app"), createdAt: Self.t))
                == .notPermitted(id: "sent"))
            #expect(try await store.changeFeed(FeedChange(user: 99, kind: .markRead(ids: ["mine"]), createdAt: Self.t)) == .noSuchUser)
            let (sequences, entries, _) = try await Self.everything(store, user: 10)
            #expect(sequences == [1, 2])
            #expect(entries.allSatisfy { !$0.read })
            #expect(try await store.unseenCount(user: 10, view: .all) == 2)
            #expect(try await store.changeFeed(
                FeedChange(user: 10, kind: .markRead(ids: ["sent"]), scope: .application("app.example.com"), createdAt: Self.t))
                == .changed(sequence: 3, unseen: 1))
        }
    }

    @Test("a MarkRead by ids of one view reaches only that view's entries: another view's id is not found and nothing changes", arguments: StoreBackend.all)
    func markReadByIDsKeepsToItsView(backend: StoreBackend) async throws {
        try await backend.withStore { store in
            try await store.putUser(User(id: 10))
            _ = try await store.append(Sample.notification(id: "notify", to: .users([10])))
            _ = try await store.append(Sample.notification(id: "graph", content: Sample.graph, to: .users([10])))
            #expect(try await store.changeFeed(
                FeedChange(user: 10, kind: .markRead(ids: ["notify", "graph"]), view: .notify, createdAt: Self.t))
                == .notFound(id: "graph"))
            #expect(try await store.changeFeed(
                FeedChange(user: 10, kind: .markRead(ids: ["notify"]), view: .graph, createdAt: Self.t))
                == .notFound(id: "notify"))
            #expect(try await store.changeFeed(
                FeedChange(user: 10, kind: .setActionState(id: "notify", .dismissed), view: .graph, createdAt: Self.t))
                == .notFound(id: "notify"))
            #expect(try await store.changeFeed(
                FeedChange(user: 10, kind: .delete(ids: ["graph"]), view: .notify, createdAt: Self.t))
                == .notFound(id: "graph"))
            let (sequences, entries, _) = try await Self.everything(store, user: 10)
            #expect(sequences == [1, 2])
            #expect(entries.allSatisfy { !$0.read && $0.actionState == .noInteraction })
            #expect(try await store.unseenCount(user: 10, view: .all) == 2)
            // Each view's own id, and both through the whole feed.
            #expect(try await store.changeFeed(
                FeedChange(user: 10, kind: .markRead(ids: ["graph"]), view: .graph, createdAt: Self.t))
                == .changed(sequence: 3, unseen: 0))
            #expect(try await store.changeFeed(
                FeedChange(user: 10, kind: .markRead(ids: ["notify", "graph"]), view: .all, createdAt: Self.t))
                == .changed(sequence: 4, unseen: 0))
        }
    }

    @Test("a change wakes its feed's watchers; deleting the user clears his events and counts, and the head is kept", arguments: StoreBackend.all)
    func changesWakeAndUserDeletion(backend: StoreBackend) async throws {
        try await backend.withStore { store in
            try await store.putUser(User(id: 10))
            _ = try await store.append(Sample.notification(id: "n1", to: .users([10])))
            let advances = store.watchFeed(user: 10)
            var wakeUps = advances.makeAsyncIterator()
            _ = try await store.changeFeed(FeedChange(user: 10, kind: .markRead(ids: ["n1"]), createdAt: Self.t))
            #expect(await wakeUps.next() != nil)
            _ = try await store.append(Sample.notification(id: "n2", to: .users([10])))
            #expect(try await store.deleteUser(id: 10))
            try await store.putUser(User(id: 10))
            #expect(try await store.unseenCount(user: 10, view: .all) == 0)
            let page = try await store.feedPage(user: 10, after: 0, limit: 10, maxBytes: .max)
            #expect(page.entries.isEmpty && page.events.isEmpty)
            #expect(page.end == .head(3))
            _ = try await store.append(Sample.notification(id: "n3", to: .users([10])))
            #expect(try await store.unseenCount(user: 10, view: .all) == 1)
        }
    }
}

extension StoreExpiryConformanceTests {
    @Test("an unread entry leaves the unseen count when the sweeper removes it, expired or past the retention; list and count then agree", arguments: StoreBackend.all)
    func sweptEntriesLeaveTheCount(backend: StoreBackend) async throws {
        try await backend.withStore(ConformanceOptions(retention: .seconds(60), sweeps: true)) { store, location in
            try await store.putUser(User(id: 1, name: nil))
            var old = Sample.notification(id: "old", to: .users([1]))
            old.createdAt = Timestamp.now().adding(seconds: -3600)
            _ = try await store.append(old)
            _ = try await store.append(Sample.fresh(id: "expired", content: Self.expired, to: .users([1])))
            _ = try await store.append(Sample.fresh(id: "read-expired", content: Self.expired, to: .users([1])))
            _ = try await store.append(Sample.fresh(id: "new", to: .users([1])))
            _ = try await store.append(Sample.fresh(id: "later", content: Self.later, to: .users([1])))
            _ = try await store.changeFeed(
                FeedChange(user: 1, kind: .markReadUpTo(3, view: .graph), createdAt: .now()))
            let swept = try await Self.eventually {
                try await location.storedRows(store).feedEntries == 2
            }
            #expect(swept)
            #expect(try await store.unseenCount(user: 1, view: .notify) == 1)
            #expect(try await store.unseenCount(user: 1, view: .graph) == 1)
            #expect(try await store.unseenCount(user: 1, view: .all) == 2)
            let listed = try await store.feed(user: 1, after: 0, limit: 10)
            #expect(listed.map(\.id) == ["new", "later"])
            #expect(listed.filter { !$0.read }.count == 2)
        }
    }
}
