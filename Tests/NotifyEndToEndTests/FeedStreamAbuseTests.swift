import Foundation
import NIOCore
import NotifyClient
import NotifyCore
import NotifyDomain
import NotifyMessages
import NotifyProtobuf
import NotifyServer
import NotifyTesting
import NotifyWire
import Testing

/// Feeds of large entries, and readers that do not keep up: what one feed or
/// one reader can cost the server.
@Suite("Feed streams under abuse: large entries, stuck and slow readers", .serialized)
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

    @Test("never-reading Watch readers with limit 1000 hold a bounded heap while large entries are produced")
    func stuckWatchers() async throws {
        try await withTestServer(memoryBacked: true) { server in
            // Pages of 1000 entries of 3.5 KB were 3.5 MB each: under the
            // message limit, so only the byte budget bounds them.
            try await server.manyLargeEntries(user: 2, count: 1_200, bytes: 3_500)
            let owner = Metadata.bearer(try await server.token(for: .user(2), roles: [.user]))
            let client = server.client()
            // One whole read first, so that the store's caches are warm before the baseline.
            _ = try await client.wholeFeed(of: 2, metadata: owner)
            let before = try #require(HeapStatistics.bytesInUse())

            let readers = 16
            var stuck: [RawConnection] = []
            for index in 0..<readers {
                let raw = try await RawConnection.connect(port: server.port, caFile: server.caFile, receiveBufferSize: 4096)
                guard case .settings = try await raw.next() else {
                    Issue.record("the first frame was not settings")
                    return
                }
                try await raw.stopReading()
                try await raw.write([.request(RequestFrame(
                    callID: UInt64(index + 1), method: Methods.watchFeed, metadata: owner, timeoutMilliseconds: nil,
                    payload: ListFeedRequest(user: 2, limit: 1000).serializedBuffer()
                ))])
                stuck.append(raw)
            }
            try await waitUntil("the watches are open") { server.endpoint.openStreams == readers }
            try await server.manyLargeEntries(user: 2, count: 100, bytes: 3_500)
            try await Task.sleep(for: .seconds(3))
            let grown = try #require(HeapStatistics.bytesInUse()) - before
            print("stuck Watch readers: \(readers) held \(grown / 1024) KiB, \(grown / max(1, readers) / 1024) KiB each")
            #expect(grown < readers * 1_536 * 1024 + 16 * 1024 * 1024, "\(grown) bytes for \(readers) stuck watches")
            // At once: each close waits for its TLS close_notify to time out.
            await withTaskGroup(of: Void.self) { group in
                for channel in stuck.map(\.channel) { group.addTask { try? await channel.close() } }
            }
            await client.close()
        }
    }
}
