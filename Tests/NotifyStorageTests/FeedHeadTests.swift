import NotifyDomain
import NotifyStorage
import NotifyStorageSQLite
import Testing

/// An empty feed page says where the feed ends (`FeedPage.end`): what a
/// feed reader needs to refuse a cursor past it or a user who does not
/// exist (docs/PROTOCOL.md, "List and Watch").
@Suite("The store's empty feed pages: where a feed ends, and whether its user exists")
struct FeedHeadTests {
    private func end(_ store: SQLiteNotificationStore, _ user: Int64, after: UInt64 = 0) async throws -> FeedEnd? {
        try await store.feedPage(user: user, after: after, limit: 10, maxBytes: .max).end
    }

    @Test("no such user; head 0 before the first entry; the last sequence after; kept across a deletion; nil on a page with entries")
    func head() async throws {
        try await withStore { store, _ in
            #expect(try await end(store, 7) == .noSuchUser)
            try await store.putUser(User(id: 7))
            #expect(try await end(store, 7) == .head(0))
            for _ in 0..<3 { _ = try await store.append(Sample.notification(to: .users([7]))) }
            #expect(try await end(store, 7) == nil)
            #expect(try await end(store, 7, after: 3) == .head(3))
            #expect(try await end(store, 7, after: 9) == .head(3))

            #expect(try await store.deleteUser(id: 7))
            #expect(try await end(store, 7, after: 3) == .noSuchUser)
            try await store.putUser(User(id: 7))
            #expect(try await end(store, 7) == .head(3))
            _ = try await store.append(Sample.notification(to: .users([7])))
            #expect(try await end(store, 7, after: 4) == .head(4))
        }
    }
}
