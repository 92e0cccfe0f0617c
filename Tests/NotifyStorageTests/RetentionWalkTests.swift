import Foundation
import NotifyDomain
import NotifyStorage
import Testing

@testable import NotifyStorageSQLite

/// The SQLite store's retention walks notifications in serial order, with no
/// index on their time (StoreEngine+Sweep): what that walk must still get right.
@Suite("The SQLite retention walk in serial order")
struct RetentionWalkTests {
    static let old = Timestamp.now().adding(seconds: -3600)

    static func notify(_ id: String, createdAt: Timestamp = old, key: IdempotencyKey? = nil) -> NewNotification {
        NewNotification(id: id, createdAt: createdAt, content: Sample.custom(), recipients: .users([1]), idempotencyKey: key)
    }

    static func graph(_ id: String, createdAt: Timestamp = old, expiring: Timestamp) -> NewNotification {
        NewNotification(
            id: id, createdAt: createdAt, content: StoreExpiryConformanceTests.graph(expiring: expiring),
            recipients: .users([1]), idempotencyKey: nil)
    }

    static func configuration(batch: Int = 1_000, keys: Duration = .seconds(86_400)) -> SQLiteStoreConfiguration {
        SQLiteStoreConfiguration(
            idempotencyRetention: keys, idempotencyPurgeInterval: .zero, retention: .seconds(60), sweepInterval: .zero,
            sweepBatchSize: batch)
    }

    @Test("it passes over SendNotification rows and goes on in bounded transactions until the cutoff")
    func boundedAndPastGraphRows() async throws {
        try await withStore(Self.configuration(batch: 2)) { store, _ in
            _ = try await store.append(Self.graph("g", expiring: Timestamp.now().adding(seconds: 3600)))
            for index in 1...5 { _ = try await store.append(Self.notify("old\(index)")) }
            _ = try await store.append(Self.notify("new", createdAt: .now()))
            let outcome = try await store.sweep()
            #expect(outcome.retainedEntries == 5)
            #expect(outcome.notifications == 5)
            #expect(outcome.transactions >= 3)
            #expect(try await store.feed(user: 1, after: 0, limit: 10).map(\.id) == ["g", "new"])
            // Walked: a second sweep finds nothing.
            #expect(try await store.sweep().retainedEntries == 0)
        }
    }

    @Test("a notification a key names loses its entries at once and goes once the key is purged")
    func keyedNotificationGoesAfterItsKey() async throws {
        try await withStore(Self.configuration(keys: .seconds(1))) { store, _ in
            let key = IdempotencyKey(scope: "s", method: "m", key: "k", fingerprint: [1])
            _ = try await store.append(Self.notify("keyed", key: key))
            let first = try await store.sweep()
            #expect(first.retainedEntries == 1)
            #expect(try await store.storedRowCounts() == (1, 0))
            // Past the key's retention, the next append purges it.
            try await Task.sleep(for: .milliseconds(1_100))
            _ = try await store.append(Self.notify("after", createdAt: .now()))
            #expect(try await store.sweep().notifications == 1)
            #expect(try await store.storedRowCounts() == (1, 1))
        }
    }

    @Test("a serial given again after the newest row was swept is walked")
    func reusedSerial() async throws {
        try await withStore(Self.configuration()) { store, _ in
            _ = try await store.append(Self.graph("expired", expiring: Timestamp.now().adding(seconds: -60)))
            let first = try await store.sweep()
            #expect(first.expiredEntries == 1 && first.notifications == 1)
            // SQLite gives the freed serial again: the walk must not be past it.
            _ = try await store.append(Self.notify("old"))
            #expect(try await store.sweep().retainedEntries == 1)
            #expect(try await store.storedRowCounts() == (0, 0))
        }
    }
}
