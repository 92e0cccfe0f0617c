import Foundation
import NotifyDomain
import NotifyStorage
import Testing

/// The newest-first page of ``NotificationLog``, for every backend.
extension StoreConformanceTests {
    @Test("newest first: the notifications below the cursor, highest first, with their state, filtered, expired ones and events passed over; paged with no skip and no repeat", arguments: StoreBackend.all)
    func newestFirstPages(backend: StoreBackend) async throws {
        try await backend.withStore { store in
            try await store.putUser(User(id: 1))
            let now = Timestamp.now()
            let contents: [NotificationContent] = [
                Sample.custom(title: "n1"),                           // 1
                StoreExpiryConformanceTests.graph(expiring: now.adding(seconds: 86_400)),  // 2
                StoreExpiryConformanceTests.expired,  // 3
                Sample.custom(title: "n4"),                           // 4
                Sample.custom(title: "n5"),                           // 5
            ]
            var ids: [String] = []
            for content in contents {
                ids.append(try await store.append(Sample.notification(content: content, to: .users([1]))).id)
            }
            // An event (6): a page newest first lists notifications only, with their state.
            _ = try await store.changeFeed(FeedChange(user: 1, kind: .markRead(ids: [ids[3]]), createdAt: Self.t))
            _ = try await store.append(Sample.notification(content: Sample.custom(title: "n7"), to: .users([1])))  // 7

            func page(before: UInt64?, limit: Int = 100, filter: FeedFilter = .all) async throws -> FeedPage {
                try await store.feedPageNewestFirst(
                    user: 1, before: before, limit: limit, maxBytes: .max, now: .now(), filter: filter)
            }
            for before: UInt64? in [nil, 0, 8, 1_000, .max] {
                let all = try await page(before: before)
                #expect(all.entries.map(\.sequence) == [7, 5, 4, 2, 1], "\(String(describing: before))")
                #expect(all.events.isEmpty && all.caughtUp && all.end == nil)
                #expect(all.nextAfter == 1)
            }
            let all = try await page(before: nil)
            #expect(all.entries.map(\.read) == [false, false, true, false, false])
            #expect(try await page(before: 5).entries.map(\.sequence) == [4, 2, 1])
            #expect(try await page(before: nil, filter: FeedFilter(source: .notify)).entries.map(\.sequence) == [7, 5, 4, 1])
            #expect(try await page(before: nil, filter: FeedFilter(source: .graph)).entries.map(\.sequence) == [2])

            // Two at a time: each page's nextAfter is the next page's cursor.
            var seen: [UInt64] = []
            var cursor: UInt64? = nil
            var rounds = 0
            while rounds < 100 {
                rounds += 1
                let next = try await page(before: cursor, limit: 2)
                #expect(next.entries.count <= 2)
                seen += next.entries.map(\.sequence)
                cursor = next.nextAfter
                if next.caughtUp { break }
            }
            #expect(seen == [7, 5, 4, 2, 1])
            let first = try await page(before: nil, limit: 2)
            #expect(!first.caughtUp && first.nextAfter == 5)

            // Nothing below the cursor: empty, caught up, the feed's end read with it.
            let empty = try await page(before: 1)
            #expect(empty.entries.isEmpty && empty.caughtUp && empty.end == .head(7))
            // A user who does not exist.
            let nobody = try await store.feedPageNewestFirst(
                user: 99, before: nil, limit: 10, maxBytes: .max, now: .now(), filter: .all)
            #expect(nobody.entries.isEmpty && nobody.end == .noSuchUser)
            // A user with an empty feed.
            try await store.putUser(User(id: 2))
            let fresh = try await store.feedPageNewestFirst(
                user: 2, before: nil, limit: 10, maxBytes: .max, now: .now(), filter: .all)
            #expect(fresh.entries.isEmpty && fresh.caughtUp && fresh.end == .head(0) && fresh.nextAfter == 1)
            // A byte budget still gives one entry per page.
            let small = try await store.feedPageNewestFirst(
                user: 1, before: nil, limit: 10, maxBytes: 1, now: .now(), filter: .all)
            #expect(small.entries.map(\.sequence) == [7] && !small.caughtUp)
        }
    }
}
