import Foundation
import NIOCore
import NotifyClient
import NotifyDomain
import NotifyMessages
import NotifyServer
import NotifyTesting
import NotifyWire
import Testing

/// Feeds of large entries, and readers that do not keep up: what one feed or
/// one reader can cost the server.
@Suite("Feed streams under abuse: large entries, stuck and slow readers")
struct FeedStreamAbuseTests {
    /// 120 entries of 60 KB: 100 of them (the default page) are 6 MB, more
    /// than the 4 MiB maximum message size.
    static let largeCount = 120

    @Test("a feed of 60 KB entries is readable by List, page by page, with the default and the maximum limit",
          arguments: [nil, 1000] as [UInt32?])
    func listLargeEntries(limit: UInt32?) async throws {
        try await withTestServer(memoryBacked: true) { server in
            let ids = try await server.largeEntries(user: 2, count: Self.largeCount)
            let owner = Metadata.bearer(try await server.token(for: .user(2), roles: [.user]))
            let client = server.client()
            var seen: [String] = []
            var after: UInt64 = 0
            var pages = 0
            while pages < 1_000 {
                let page = try await client.listFeed(ListFeedRequest(user: 2, afterSequence: after, limit: limit), metadata: owner)
                pages += 1
                #expect(!page.notifications.isEmpty || page.caughtUp)
                #expect(page.serializedBuffer().readableBytes <= 256 * 1024 + 70_000)
                seen += page.notifications.map(\.id)
                after = page.nextAfterSequence
                if page.caughtUp { break }
            }
            #expect(seen.count == ids.count && seen.elementsEqual(ids))
            #expect(pages > 1)
            await client.close()
        }
    }

    @Test("a feed of 60 KB entries is readable by Watch with the default and the maximum limit, then live",
          arguments: [nil, 1000] as [UInt32?])
    func watchLargeEntries(limit: UInt32?) async throws {
        try await withTestServer(memoryBacked: true) { server in
            let ids = try await server.largeEntries(user: 2, count: Self.largeCount)
            let owner = Metadata.bearer(try await server.token(for: .user(2), roles: [.user]))
            let client = server.client()
            var pages = client.watchFeed(ListFeedRequest(user: 2, limit: limit), metadata: owner).makeAsyncIterator()
            var seen: [String] = []
            var caughtUp = false
            while !caughtUp, let page = try await pages.next() {
                seen += page.notifications.map(\.id)
                caughtUp = page.caughtUp
                #expect(page.caughtUp || !page.notifications.isEmpty)
            }
            #expect(seen.count == ids.count && seen.elementsEqual(ids))
            let live = try await server.largeEntries(user: 2, count: 1)
            let next = try #require(try await pages.next())
            #expect(next.notifications.map(\.id) == live)
            #expect(next.caughtUp)
            await client.close()
        }
    }
}
