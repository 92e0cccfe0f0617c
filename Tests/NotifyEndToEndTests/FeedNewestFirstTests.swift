import NotifyClient
import NotifyCore
import NotifyDomain
import NotifyMessages
import NotifyTesting
import Testing

@Suite("FeedService/List newest first, and a feed named by the caller's own token, over real TLS")
struct FeedNewestFirstTests {
    @Test("before_sequence lists newest first, page by page, by view; with after_sequence or in a Watch it is refused")
    func newestFirst() async throws {
        try await withTestServer { server in
            try await server.users(2)
            let admin = Metadata.bearer(try await server.adminToken())
            let owner = Metadata.bearer(try await server.token(for: .user(2), roles: [.user]))
            let client = server.client()
            for index in 1...5 {
                _ = try await client.notify(notifyRequest(issuer: 2, title: "n\(index)"), metadata: admin)
            }
            let first = try await client.listFeed(ListFeedRequest(user: 2, limit: 2, beforeSequence: 0), metadata: owner)
            #expect(first.notifications.map(\.sequence) == [5, 4])
            #expect(!first.caughtUp && first.nextAfterSequence == 4 && first.events.isEmpty)
            let second = try await client.listFeed(
                ListFeedRequest(user: 2, limit: 10, beforeSequence: first.nextAfterSequence), metadata: owner)
            #expect(second.notifications.map(\.sequence) == [3, 2, 1])
            #expect(second.caughtUp)
            // A view: no Graph entry in this feed.
            let graph = try await client.listFeed(
                ListFeedRequest(user: 2, source: "graph", beforeSequence: 0), metadata: owner)
            #expect(graph.notifications.isEmpty && graph.caughtUp)

            let both = await expectFailure(.invalidArgument, "INVALID_FIELDS") {
                try await client.listFeed(ListFeedRequest(user: 2, afterSequence: 1, beforeSequence: 3), metadata: owner)
            }
            #expect(both?.fieldViolations.map(\.field) == ["before_sequence"])
            let watch = await expectFailure(.invalidArgument, "INVALID_FIELDS") {
                for try await _ in client.watchFeed(ListFeedRequest(user: 2, beforeSequence: 0), metadata: owner) {}
            }
            #expect(watch?.fieldViolations.map(\.field) == ["before_sequence"])
            await expectFailure(.notFound, "USER_NOT_FOUND") {
                try await client.listFeed(ListFeedRequest(user: 77, beforeSequence: 0), metadata: admin)
            }
            await client.close()
        }
    }

    @Test("user absent names the caller's own feed for a user's token; an application or an administrator must name one")
    func ownFeed() async throws {
        try await withTestServer { server in
            try await server.users(2)
            let admin = Metadata.bearer(try await server.adminToken())
            let owner = Metadata.bearer(try await server.token(for: .user(2), roles: [.user]))
            let app = Metadata.bearer(try await server.token(for: .app("app.example.com"), roles: [.app]))
            let client = server.client()
            let id = try await client.notify(notifyRequest(issuer: 2), metadata: admin).id
            let page = try await client.listFeed(ListFeedRequest(beforeSequence: 0), metadata: owner)
            #expect(page.notifications.map(\.id) == [id])
            #expect(try await client.unseenCount(user: 2, metadata: owner) == 1)
            let change = try await client.markRead(MarkReadRequest(upToSequence: 1, source: "notify"), metadata: owner)
            #expect(change.unseenCount == 0 && change.sequence == 2)
            #expect(try await client.getEntry(user: 2, id: id, metadata: owner).read)
            for metadata in [admin, app] {
                let refused = await expectFailure(.invalidArgument, "INVALID_FIELDS") {
                    try await client.listFeed(ListFeedRequest(beforeSequence: 0), metadata: metadata)
                }
                #expect(refused?.fieldViolations.map(\.field) == ["user"])
                await expectFailure(.invalidArgument, "INVALID_FIELDS") {
                    try await client.markRead(MarkReadRequest(upToSequence: 1), metadata: metadata)
                }
            }
            await client.close()
        }
    }
}
