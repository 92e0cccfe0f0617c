import NotifyCore
import Foundation
import NIOCore
import NotifyClient
import NotifyDomain
import NotifyMessages
import NotifyProtobuf
import NotifyStorageSQLite
import NotifyTesting
import NotifyWire
import Testing

/// List and Watch where there is nothing to read: a cursor past the feed's
/// end, a user who does not exist (docs/PROTOCOL.md, "List and Watch").
/// Each used to answer an empty page: a Watch past the end then skipped the
/// entries it was waiting for, and a Watch of nobody waited forever.
@Suite("FeedService: a cursor past the end, a user who does not exist")
struct FeedEndTests {
    @Test("List past the end answers OUT_OF_RANGE PAST_END_OF_FEED naming the last sequence; at the end it answers an empty page")
    func listPastTheEnd() async throws {
        try await withFeed(entries: 3) { server, client, admin in
            let error = await expectFailure(.outOfRange, "PAST_END_OF_FEED") {
                try await client.listFeed(ListFeedRequest(user: 2, afterSequence: 4), metadata: admin)
            }
            #expect(error?.message.contains("last sequence is 3") == true, "\(String(describing: error))")
            let atEnd = try await client.listFeed(ListFeedRequest(user: 2, afterSequence: 3), metadata: admin)
            #expect(atEnd.notifications.isEmpty)
            #expect(atEnd.nextAfterSequence == 3)
            #expect(atEnd.caughtUp)
        }
    }

    @Test("Watch past the end ends OUT_OF_RANGE with no message frame, and does not skip what comes later")
    func watchPastTheEnd() async throws {
        try await withFeed(entries: 3) { server, client, admin in
            let connection = try await RawConnection.connect(port: server.port, caFile: server.caFile)
            _ = try await connection.next()
            try await connection.write([.request(RequestFrame(
                callID: 1, method: Methods.watchFeed, metadata: admin,
                payload: ListFeedRequest(user: 2, afterSequence: 5).serializedBuffer()))])
            guard case .response(let refused)? = try await connection.next() else {
                Issue.record("expected the Watch's response, with no message before it")
                return
            }
            #expect(refused.callID == 1)
            #expect(refused.status == .outOfRange)
            #expect(refused.reason == .pastEndOfFeed)
            #expect(refused.payload == nil)
            await connection.close()

            // At the end it waits, and the entries that come next are its own.
            var pages = client.watchFeed(ListFeedRequest(user: 2, afterSequence: 3), metadata: admin).makeAsyncIterator()
            let marker = try #require(try await pages.next())
            #expect(marker.notifications.isEmpty && marker.caughtUp)
            for _ in 0..<2 { _ = try await client.notify(notifyRequest(issuer: 2), metadata: admin) }
            var live: [UInt64] = []
            while live.count < 2, let page = try await pages.next() { live += page.notifications.map(\.sequence) }
            #expect(live == [4, 5])
        }
    }

    @Test("List and Watch of a user who does not exist answer NOT_FOUND USER_NOT_FOUND at once")
    func unknownUser() async throws {
        try await withFeed(entries: 0) { server, client, admin in
            await expectFailure(.notFound, "USER_NOT_FOUND") {
                try await client.listFeed(ListFeedRequest(user: 99), metadata: admin)
            }
            await expectFailure(.notFound, "USER_NOT_FOUND") {
                for try await _ in client.watchFeed(ListFeedRequest(user: 99), metadata: admin, timeout: .seconds(20)) {}
            }
            // A user with no entry yet is no error.
            let empty = try await client.listFeed(ListFeedRequest(user: 2), metadata: admin)
            #expect(empty.notifications.isEmpty && empty.caughtUp)
        }
    }

    @Test("an admin's Watch of a user deleted while it runs ends NOT_FOUND; the user created again keeps his old cursors valid")
    func deletedAndCreatedAgain() async throws {
        try await withFeed(entries: 2) { server, client, admin in
            var pages = client.watchFeed(ListFeedRequest(user: 2), metadata: admin, timeout: .seconds(30)).makeAsyncIterator()
            #expect(try #require(try await pages.next()).caughtUp)
            _ = try await client.call(Methods.deleteUser, DeleteUserRequest(id: 2), metadata: admin, as: DeleteUserResponse.self)
            await expectFailure(.notFound, "USER_NOT_FOUND") { while try await pages.next() != nil {} }

            // Created again: the feed continues after its kept head, 2; cursors up to it stay valid.
            try await server.users(2)
            for after: UInt64 in [0, 1, 2] {
                let page = try await client.listFeed(ListFeedRequest(user: 2, afterSequence: after), metadata: admin)
                #expect(page.notifications.isEmpty && page.caughtUp)
            }
            await expectFailure(.outOfRange, "PAST_END_OF_FEED") {
                try await client.listFeed(ListFeedRequest(user: 2, afterSequence: 3), metadata: admin)
            }
        }
    }

    @Test("a live page is capped at limit too: a commit of many entries comes as several pages, in order")
    func livePagesCappedAtLimit() async throws {
        try await withFeed(entries: 0) { server, client, admin in
            var pages = client.watchFeed(ListFeedRequest(user: 2, limit: 2), metadata: admin).makeAsyncIterator()
            #expect(try #require(try await pages.next()).caughtUp)
            _ = try await client.notify(notifyRequest(issuer: 2), metadata: admin)
            _ = try await pages.next()
            // Held, so that the next appends commit together: one wake-up, seven entries.
            let holder = try server.holdWriteLock()
            try await withThrowingTaskGroup(of: Void.self) { group in
                for _ in 0..<7 {
                    group.addTask { _ = try await client.notify(notifyRequest(issuer: 2), metadata: admin) }
                }
                try await Task.sleep(for: .milliseconds(300))
                try holder.release()
                try await group.waitForAll()
            }
            var sizes: [Int] = []
            var sequences: [UInt64] = []
            while sequences.count < 7, let page = try await pages.next() {
                sizes.append(page.notifications.count)
                sequences += page.notifications.map(\.sequence)
            }
            #expect(sequences == Array(2...8))
            #expect(sizes.allSatisfy { $0 <= 2 }, "\(sizes)")
            #expect(sizes.contains(2), "\(sizes)")
        }
    }

    private func withFeed(
        entries: Int, _ body: (TestServer, NotifyClient, Metadata) async throws -> Void
    ) async throws {
        try await withTestServer { server in
            try await server.users(2)
            let admin = Metadata.bearer(try await server.adminToken())
            let client = server.client()
            do {
                for _ in 0..<entries { _ = try await client.notify(notifyRequest(issuer: 2), metadata: admin) }
                try await body(server, client, admin)
            } catch {
                await client.close()
                throw error
            }
            await client.close()
        }
    }
}
