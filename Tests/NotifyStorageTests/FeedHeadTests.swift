import NotifyDomain
import NotifyStorage
import NotifyStorageSQLite
import Testing

/// `feedHead(user:)`: what a feed reader asks when a page comes back empty
/// (docs/PROTOCOL.md, "List and Watch").
@Suite("The store's feed head: where a feed ends, and whether its user exists")
struct FeedHeadTests {
    @Test("nil for no such user; 0 before the first entry; the last sequence after; kept across a deletion, nil meanwhile")
    func head() async throws {
        try await withStore { store, _ in
            #expect(try await store.feedHead(user: 7) == nil)
            try await store.putUser(User(id: 7))
            #expect(try await store.feedHead(user: 7) == 0)
            for _ in 0..<3 { _ = try await store.append(Sample.notification(to: .users([7]))) }
            #expect(try await store.feedHead(user: 7) == 3)
            // An append to a user who does not exist writes his feed, but he still does not exist.
            _ = try await store.append(Sample.notification(to: .users([8])))
            #expect(try await store.feedHead(user: 8) == nil)

            #expect(try await store.deleteUser(id: 7))
            #expect(try await store.feedHead(user: 7) == nil)
            try await store.putUser(User(id: 7))
            #expect(try await store.feedHead(user: 7) == 3)
            _ = try await store.append(Sample.notification(to: .users([7])))
            #expect(try await store.feedHead(user: 7) == 4)
        }
    }
}
