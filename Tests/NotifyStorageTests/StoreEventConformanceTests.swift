import Foundation
import NotifyDomain
import NotifyStorage
import Testing

/// A Graph notification of `app` for `platforms`, expiring at `expiration` (in a day by default).
private func graph(
    app: String, _ platforms: [Platform], title: String = "t", expiration: Timestamp = Timestamp.now().adding(seconds: 86_400)
) -> NotificationContent {
    .graph(GraphNotification(
        targetHostName: app, appNotificationID: nil, groupName: nil, expiration: expiration,
        payload: Payload(rawContent: nil, visualContent: VisualContent(title: title, body: nil)), platforms: platforms,
        priority: .none, displayTimeToLive: 0, fallbackPolicyJSON: nil))
}

/// Every item of `user`'s feed through `filter`, `limit` at a time from
/// `after`, resuming from each page's cursor: the sequences of entries and
/// events, the events, and the last cursor.
private func readAll(
    _ store: any NotificationStore, user: Int64, filter: FeedFilter, after: UInt64 = 0, limit: Int,
    maxBytes: Int = .max
) async throws -> (sequences: [UInt64], events: [FeedEvent], cursor: UInt64) {
    var cursor = after
    var sequences: [UInt64] = []
    var events: [FeedEvent] = []
    for _ in 0..<10_000 {
        let page = try await store.feedPage(user: user, after: cursor, limit: limit, maxBytes: maxBytes, filter: filter)
        #expect(page.entries.count + page.events.count <= limit)
        #expect(page.nextAfter >= cursor)
        sequences += (page.entries.map(\.sequence) + page.events.map(\.sequence)).sorted()
        events += page.events
        cursor = page.nextAfter
        if page.caughtUp { break }
    }
    return (sequences, events, cursor)
}

/// The promises about events and readers: a device endpoint or a view gets
/// the events that name an entry it may see and every read up to a
/// sequence, its cursor passing over the others; the sweeper's removals are
/// events; retention removes events; one page keeps to one byte budget.
extension StoreConformanceTests {
    @Test("an endpoint or a view gets the events naming an entry it may see and every read up to; its cursor passes over the rest", arguments: StoreBackend.all)
    func filteredEvents(backend: StoreBackend) async throws {
        try await backend.withStore { store in
            try await store.putUser(User(id: 1))
            func append(_ id: String, _ content: NotificationContent) async throws {
                _ = try await store.append(Sample.notification(id: id, content: content, to: .users([1])))
            }
            func change(_ kind: FeedChange.Kind) async throws -> UInt64 {
                guard case .changed(let sequence, _) = try await store.changeFeed(
                    FeedChange(user: 1, kind: kind, createdAt: Self.t))
                else {
                    Issue.record("\(kind) changed nothing")
                    return 0
                }
                return sequence
            }
            try await append("n1", Sample.custom(title: "n1"))          // 1
            try await append("i1", graph(app: "a", [.ios]))             // 2
            try await append("w1", graph(app: "a", [.windows, .android])) // 3
            try await append("b1", graph(app: "b", [.ios]))             // 4
            let readIOS = try await change(.markRead(ids: ["i1"]))                           // 5
            let stateWindows = try await change(.setActionState(id: "w1", .dismissed))      // 6
            let deleteOther = try await change(.delete(ids: ["b1"]))                        // 7
            let readNotify = try await change(.markRead(ids: ["n1"]))                       // 8
            let mixed = try await change(.setActionState(id: "i1", .activated))             // 9
            try await append("w2", graph(app: "a", [.windows]))          // 10
            let upTo = try await change(.markReadUpTo(10, view: .graph))                    // 11
            let stateOther = try await change(.setActionState(id: "w1", .activated))        // 12
            #expect([readIOS, stateWindows, deleteOther, readNotify, mixed, upTo, stateOther] == [5, 6, 7, 8, 9, 11, 12])

            let ios = FeedFilter(endpoint: .init(app: "a", platform: .ios))
            let windows = FeedFilter(endpoint: .init(app: "a", platform: .windows))
            let otherIOS = FeedFilter(endpoint: .init(app: "b", platform: .ios))
            let web = FeedFilter(endpoint: .init(app: "a", platform: .webPush))
            // (filter, entries, events)
            let cases: [(FeedFilter, [UInt64], [UInt64])] = [
                (.all, [1, 2, 3, 10], [5, 6, 7, 8, 9, 11, 12]),
                (ios, [1, 2], [5, 8, 9, 11]),
                (windows, [1, 3, 10], [6, 8, 11, 12]),
                (otherIOS, [1], [7, 8, 11]),
                (web, [1], [8, 11]),
                (FeedFilter(source: .notify), [1], [8, 11]),
                (FeedFilter(source: .graph), [2, 3, 10], [5, 6, 7, 9, 11, 12]),
                (FeedFilter(source: .graph, endpoint: .init(app: "a", platform: .ios)), [2], [5, 9, 11]),
                (FeedFilter(source: .notify, endpoint: .init(app: "b", platform: .ios)), [1], [8, 11]),
            ]
            for (filter, entries, events) in cases {
                let page = try await store.feedPage(user: 1, after: 0, limit: 100, maxBytes: .max, filter: filter)
                #expect(page.entries.map(\.sequence) == entries, "\(filter)")
                #expect(page.events.map(\.sequence) == events, "\(filter)")
                // Caught up at the head, whether or not the last item was admitted.
                #expect(page.caughtUp && page.nextAfter == 12, "\(filter)")
                // One, two or three at a time, resuming from each cursor: the same, nothing repeated.
                for limit in [1, 2, 3] {
                    let read = try await readAll(store, user: 1, filter: filter, limit: limit)
                    #expect(read.sequences == (entries + events).sorted(), "\(filter) by \(limit)")
                    #expect(read.cursor == 12, "\(filter) by \(limit)")
                }
            }
            // The events themselves are whole.
            let iosEvents = try await store.feedPage(user: 1, after: 8, limit: 100, maxBytes: .max, filter: ios).events
            #expect(iosEvents.map(\.ids) == [["i1"], []])
            #expect(iosEvents.last?.change == .read(upTo: 10, view: .graph))
            // Only events it may not see after the cursor: an empty page that still moves it.
            let tail = try await store.feedPage(user: 1, after: 11, limit: 100, maxBytes: .max, filter: ios)
            #expect(tail.entries.isEmpty && tail.events.isEmpty && tail.caughtUp && tail.nextAfter == 12)
        }
    }

    @Test("a long run of events an endpoint may not see is crossed in bounded pages", arguments: StoreBackend.all)
    func filteredEventRunsAreBounded(backend: StoreBackend) async throws {
        try await backend.withStore { store in
            try await store.putUser(User(id: 1))
            let hidden = FeedPage.maxPassedOver + 10
            _ = try await store.append(Sample.notification(id: "seen0", content: Sample.custom(title: "seen"), to: .users([1])))
            // Entries of another application, each read on its own: twice as
            // many items the endpoint may not see, events among them.
            try await withThrowingTaskGroup(of: Void.self) { group in
                for index in 0..<hidden {
                    group.addTask {
                        let id = "h\(index)"
                        _ = try await store.append(Sample.notification(id: id, content: graph(app: "b", [.ios]), to: .users([1])))
                        _ = try await store.changeFeed(FeedChange(user: 1, kind: .markRead(ids: [id]), createdAt: Self.t))
                    }
                }
                try await group.waitForAll()
            }
            _ = try await store.append(Sample.notification(id: "seen1", content: Sample.custom(title: "seen"), to: .users([1])))
            let head = UInt64(2 * hidden + 2)
            let filter = FeedFilter(endpoint: .init(app: "a", platform: .ios))
            var cursor: UInt64 = 0
            var seen: [String] = []
            var pages = 0
            while pages < 100 {
                pages += 1
                let page = try await store.feedPage(user: 1, after: cursor, limit: 100, maxBytes: .max, filter: filter)
                #expect(page.events.isEmpty)
                #expect(page.nextAfter > cursor || page.caughtUp)
                seen += page.entries.map(\.id)
                cursor = page.nextAfter
                if page.caughtUp { break }
            }
            #expect(seen == ["seen0", "seen1"])
            #expect(cursor == head)
            // Each page passed over a bounded run: more than one page was needed.
            #expect(pages >= 2)
            // The whole feed has every event.
            let all = try await readAll(store, user: 1, filter: .all, limit: 1_000)
            #expect(all.events.count == hidden)
            #expect(all.sequences.count == Int(head))
        }
    }

    @Test("a page keeps to one byte budget for notifications and events together", arguments: StoreBackend.all)
    func oneBudget(backend: StoreBackend) async throws {
        try await backend.withStore { store in
            try await store.putUser(User(id: 1))
            // 1,000 small unread entries, then ten large entries, each
            // followed by an event naming 100 of the small ones (3,864 bytes).
            let small = (0..<1_000).map { _ in UUID().uuidString.lowercased() }
            try await withThrowingTaskGroup(of: Void.self) { group in
                for id in small {
                    group.addTask { _ = try await store.append(Sample.notification(id: id, content: Sample.custom(title: "s"), to: .users([1]))) }
                }
                try await group.waitForAll()
            }
            let title = String(repeating: "x", count: 4_000)
            for round in 0..<10 {
                _ = try await store.append(Sample.notification(content: Sample.custom(title: title), to: .users([1])))
                _ = try await store.changeFeed(
                    FeedChange(user: 1, kind: .markRead(ids: Array(small[(round * 100)..<(round * 100 + 100)])), createdAt: Self.t))
            }
            let maxBytes = 20_000
            var cursor: UInt64 = 0
            var sequences: [UInt64] = []
            var mixed = 0
            for _ in 0..<1_000 {
                let page = try await store.feedPage(user: 1, after: cursor, limit: 1_000, maxBytes: maxBytes)
                // What each item counts at least: an entry its title, its id
                // and 64 bytes; an event exactly its formula.
                let entryBytes = page.entries.map { entry -> Int in
                    guard case .custom(let custom) = entry.content else { return 0 }
                    return FeedPage.size(ofContent: custom.title?.utf8.count ?? 0, id: entry.id.utf8.count)
                }
                let bytes = entryBytes.reduce(0, +) + page.events.map { FeedPage.size(ofEventIDs: $0.ids) }.reduce(0, +)
                #expect(page.entries.count + page.events.count == 1 || bytes <= maxBytes, "\(bytes)")
                if !page.events.isEmpty && entryBytes.contains(where: { $0 > 4_000 }) { mixed += 1 }
                sequences += (page.entries.map(\.sequence) + page.events.map(\.sequence)).sorted()
                cursor = page.nextAfter
                if page.caughtUp { break }
            }
            #expect(mixed > 0)
            #expect(sequences == Array(1...UInt64(1_020)))
        }
    }

    @Test("the sweeper removes expired entries with one removed event per feed and batch, numbered from the head, filtered like any event", arguments: StoreBackend.all)
    func expiredRemovalsAreEvents(backend: StoreBackend) async throws {
        try await backend.withStore(ConformanceOptions(sweeps: true)) { store, location in
            for user in Int64(1)...2 { try await store.putUser(User(id: user)) }
            let soon = Timestamp.now().adding(seconds: 3)
            _ = try await store.append(Sample.notification(id: "n1", to: .users([1])))
            _ = try await store.append(Sample.notification(id: "i1", content: graph(app: "a", [.ios], expiration: soon), to: .users([1])))
            _ = try await store.append(Sample.notification(id: "w1", content: graph(app: "a", [.windows], expiration: soon), to: .users([1])))
            _ = try await store.append(Sample.notification(id: "x2", content: graph(app: "a", [.ios], expiration: soon), to: .users([2])))
            _ = try await store.changeFeed(FeedChange(user: 1, kind: .markRead(ids: ["w1"]), createdAt: Self.t))
            #expect(try await store.unseenCount(user: 1, view: .graph) == 1)
            let advances = store.watchFeed(user: 1)
            let swept = try await StoreExpiryConformanceTests.eventually {
                try await location.storedRows(store).feedEntries == 1
            }
            #expect(swept)
            // The sweep woke the feed's readers (waited for a bounded time, so a missing wake-up fails, not hangs).
            let woken = await withTaskGroup(of: Bool.self) { group in
                group.addTask {
                    for await _ in advances { return true }
                    return false
                }
                group.addTask {
                    try? await Task.sleep(for: .seconds(30))
                    return false
                }
                let first = await group.next() ?? false
                group.cancelAll()
                return first
            }
            #expect(woken)
            // Counts moved with the removal.
            #expect(try await store.unseenCount(user: 1, view: .graph) == 0)
            #expect(try await store.unseenCount(user: 2, view: .all) == 0)
            #expect(try await store.unseenCount(user: 1, view: .notify) == 1)

            let all = try await readAll(store, user: 1, filter: .all, limit: 100)
            let removals = all.events.filter { $0.change == .removed(.expired) }
            // Three rows at most per transaction here: the two fit in one, or come in two.
            #expect(Set(removals.flatMap(\.ids)) == ["i1", "w1"])
            #expect(removals.flatMap(\.ids).count == 2)
            #expect(removals.allSatisfy { $0.sequence > 4 })
            // Numbered from the head: the next append follows them.
            let head = all.cursor
            #expect(head == UInt64(4 + removals.count))
            #expect(try await store.append(Sample.notification(id: "n2", to: .users([1]))).first?.sequence == head + 1)
            // An endpoint learns the removal of what it could see, and only that.
            let ios = try await readAll(store, user: 1, filter: FeedFilter(endpoint: .init(app: "a", platform: .ios)), limit: 100)
            // (An event comes whole: it may name w1 too, removed in the same batch.)
            #expect(ios.events.filter { $0.change == .removed(.expired) }.flatMap(\.ids).contains("i1"))
            let other = try await readAll(store, user: 1, filter: FeedFilter(endpoint: .init(app: "b", platform: .ios)), limit: 100)
            #expect(other.events.filter { $0.change == .removed(.expired) }.isEmpty)
            #expect(other.cursor == head + 1)
            // The other feed got its own.
            let second = try await readAll(store, user: 2, filter: .all, limit: 100)
            #expect(second.events.map(\.ids) == [["x2"]])
            #expect(second.sequences == [2])
        }
    }

    @Test("retention removes old events as it removes old entries, and the swept signal covers them", arguments: StoreBackend.all)
    func retentionRemovesEvents(backend: StoreBackend) async throws {
        try await backend.withStore(ConformanceOptions(retention: .seconds(60), sweeps: true)) { store, location in
            try await store.putUser(User(id: 1))
            let old = Timestamp.now().adding(seconds: -3600)
            var entry = Sample.notification(id: "old1", to: .users([1]))
            entry.createdAt = old
            _ = try await store.append(entry)                                                     // 1
            _ = try await store.append(Sample.fresh(id: "new2", to: .users([1])))          // 2
            _ = try await store.changeFeed(FeedChange(user: 1, kind: .markRead(ids: ["new2"]), createdAt: old))       // 3
            _ = try await store.changeFeed(FeedChange(user: 1, kind: .setActionState(id: "new2", .activated), createdAt: .now())) // 4
            let swept = try await StoreExpiryConformanceTests.eventually {
                let all = try await readAll(store, user: 1, filter: .all, limit: 100)
                return all.sequences == [2, 4]
            }
            #expect(swept)
            #expect(try await location.storedRows(store).feedEntries == 1)
            for cursor: UInt64 in [0, 1, 2] {
                let page = try await store.feedPage(user: 1, after: cursor, limit: 10, maxBytes: .max)
                #expect(page.sweptThrough == 3, "after \(cursor)")
                #expect((page.entries.map(\.sequence) + page.events.map(\.sequence)).sorted() == [2, 4].filter { $0 > cursor })
            }
            #expect(try await store.feedPage(user: 1, after: 3, limit: 10, maxBytes: .max).sweptThrough == nil)
            // The entry keeps the state the removed event gave it.
            #expect(try await store.feed(user: 1, after: 0, limit: 10).first?.read == true)
        }
    }
}
