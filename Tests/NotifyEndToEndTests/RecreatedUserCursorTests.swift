import Foundation
import NotifyClient
import NotifyCore
import NotifyDomain
import NotifyMessages
import NotifyStorageSQLite
import NotifyTesting
import Testing

/// A device keeps its cursor across its user's deletion and re-creation:
/// the feed's head survives (docs/PROTOCOL.md, "Deleting a user"), so the
/// old cursor resumes at the new user's first entry, never past it, and no
/// sequence number is given twice.
@Suite("A user deleted and added again: an old cursor misses nothing and sees no reused sequence")
struct RecreatedUserCursorTests {
    /// How the entries reach user 3's feed.
    enum Path: String, CaseIterable, CustomTestStringConvertible, Sendable {
        /// Notify to the issuer himself.
        case user
        /// Notify to the issuer's friends, written in the append's transaction.
        case inlineConnections
        /// Notify to the issuer's friends, user 3's row written by the background fan-out.
        case backgroundFanOut

        var testDescription: String { rawValue }
    }

    @Test("List and Watch from the old cursor get exactly the new entries, numbered after the old head", arguments: Path.allCases)
    func oldCursor(path: Path) async throws {
        var store = SQLiteStoreConfiguration()
        // Audiences of 2 go to the background job, whose first recipient (user 2) is written inline.
        if path == .backgroundFanOut { store.inlineFanOutLimit = 1 }
        try await withTestServer(storeConfiguration: store) { server in
            let admin = Metadata.bearer(try await server.adminToken())
            let client = server.client()
            try await server.users(1, 2, 3)

            func connect() async throws {
                for id: Int64 in [2, 3] {
                    _ = try await client.call(
                        Methods.putConnection,
                        PutConnectionRequest(connection: ConnectionInput(user: 1, to: id, kind: "friend")),
                        metadata: admin, as: PutConnectionResponse.self)
                }
            }
            /// One entry for user 3 by `path`; returns its notification id once user 3's feed holds it.
            func send(_ title: String) async throws -> String {
                let request =
                    path == .user
                    ? notifyRequest(issuer: 3, title: title) : notifyRequest(issuer: 1, recipients: "connections", title: title)
                let id = try await client.notify(request, metadata: admin).id
                let deadline = ContinuousClock.now + .seconds(20)
                while try await !client.wholeFeed(of: 3, metadata: admin).contains(where: { $0.id == id }) {
                    try #require(ContinuousClock.now < deadline, "user 3's feed never held \(title)")
                    try await Task.sleep(for: .milliseconds(20))
                }
                return id
            }

            if path != .user { try await connect() }
            for title in ["old 1", "old 2", "old 3"] { _ = try await send(title) }
            let old = try await client.wholeFeed(of: 3, metadata: admin)
            #expect(old.map(\.sequence) == [1, 2, 3])

            // The device read up to 2 (and missed 3): its cursor is 2.
            let deviceToken = Metadata.bearer(try await server.token(for: .user(3), roles: [.user]))
            let cursor = try await client.listFeed(
                ListFeedRequest(user: 3, afterSequence: 0, limit: 2), metadata: deviceToken
            ).nextAfterSequence
            #expect(cursor == 2)

            _ = try await client.call(Methods.deleteUser, DeleteUserRequest(id: 3), metadata: admin, as: DeleteUserResponse.self)
            _ = try await client.call(
                Methods.putUser, PutUserRequest(user: User(id: 3, name: "again")), metadata: admin, as: PutUserResponse.self)
            if path != .user { try await connect() }
            var fresh: [String] = []
            for title in ["new 1", "new 2"] { fresh.append(try await send(title)) }

            // The device signs in again (its old token was revoked) and resumes from its cursor.
            let again = Metadata.bearer(try await server.token(for: .user(3), roles: [.user]))
            let listed = try await client.listFeed(ListFeedRequest(user: 3, afterSequence: cursor), metadata: again)
            #expect(listed.notifications.map(\.id) == fresh)
            #expect(listed.notifications.map(\.sequence) == [4, 5])
            #expect(listed.caughtUp)

            var pages = client.watchFeed(ListFeedRequest(user: 3, afterSequence: cursor), metadata: again).makeAsyncIterator()
            var watched: [NotifyDomain.Notification] = []
            while watched.count < 2, let page = try await pages.next() { watched += page.notifications }
            #expect(watched.map(\.id) == fresh)
            // Live after the resume: the next entry arrives with the next number.
            let third = try await send("new 3")
            while watched.count < 3, let page = try await pages.next() { watched += page.notifications }
            #expect(watched.map(\.id) == fresh + [third])
            #expect(watched.map(\.sequence) == [4, 5, 6])

            // No number of the old feed names an entry of the new one.
            let all = try await client.wholeFeed(of: 3, metadata: admin)
            #expect(Set(all.map(\.sequence)).isDisjoint(with: old.map(\.sequence)))
            // The device's old cursor past the whole old feed (3) resumes at 4 too.
            let fromOldHead = try await client.listFeed(ListFeedRequest(user: 3, afterSequence: 3), metadata: again)
            #expect(fromOldHead.notifications.map(\.sequence) == [4, 5, 6])
            await client.close()
        }
    }
}
