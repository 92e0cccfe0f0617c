import Foundation
import GRDB
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

/// The SQLite sweep removes expired rows in feed order (StoreEngine+Sweep):
/// what a transaction's commit writes is the pages of the feeds it touches.
@Suite("The SQLite sweep in feed order")
struct SweepOrderTests {
    @Test("a mass expiry spread round robin over 50 feeds is removed feed by feed: one event per feed and transaction, each feed's ids in order, then every notification")
    func feedByFeed() async throws {
        try await withStore(RetentionWalkTests.configuration()) { store, _ in
            let users = (1...Int64(50)).map { User(id: $0) }
            try await store.putUsers(users)
            let soon = Timestamp.now().adding(seconds: 1)
            var ids: [Int64: [String]] = [:]
            for round in 0..<20 {
                for user in users {
                    let id = "e\(round)-\(user.id)"
                    _ = try await store.append(NewNotification(
                        id: id, createdAt: .now(), content: StoreExpiryConformanceTests.graph(expiring: soon),
                        recipients: .users([user.id]), idempotencyKey: nil))
                    ids[user.id, default: []].append(id)
                }
            }
            try await Task.sleep(for: .milliseconds(1_100))
            let outcome = try await store.sweep()
            #expect(outcome.expiredEntries == 1_000)
            #expect(outcome.notifications == 1_000)
            // In expiry order nearly every row was a feed (and an event) of its own.
            #expect(outcome.removalEvents <= outcome.transactions + 49, "\(outcome)")
            #expect(try await store.storedRowCounts() == (0, 0))
            // Each feed learns the removal of all its entries, in its order.
            for user in [Int64(1), 25, 50] {
                let page = try await store.feedPage(user: user, after: 0, limit: 100, maxBytes: .max)
                #expect(page.entries.isEmpty)
                #expect(page.events.allSatisfy { $0.change == .removed(.expired) })
                #expect(page.events.flatMap(\.ids) == ids[user])
            }
        }
    }

    @Test(
        "with no append flowing a sweep's transactions are sized to the quiet budget (zero: whole batches)",
        arguments: [Duration.microseconds(1), .zero])
    func quietBudget(_ budget: Duration) async throws {
        var configuration = RetentionWalkTests.configuration()
        configuration.sweepQuietBudget = budget
        try await withStore(configuration) { store, _ in
            try await store.putUsers((1...Int64(4)).map { User(id: $0) })
            let soon = Timestamp.now().adding(seconds: 1)
            for index in 0..<200 {
                _ = try await store.append(NewNotification(
                    id: "q\(index)", createdAt: .now(), content: StoreExpiryConformanceTests.graph(expiring: soon),
                    recipients: .users([Int64(index % 4) + 1]), idempotencyKey: nil))
            }
            try await Task.sleep(for: .milliseconds(1_100))
            #expect(!store.engine.appendsFlow)
            let outcome = try await store.sweep()
            #expect(outcome.expiredEntries == 200)
            if budget > .zero {
                // Each transaction well over a microsecond: 64 rows first, then the fewest, 8.
                #expect(outcome.transactions >= 10, "\(outcome)")
            } else {
                // 200 feed rows, then the 200 notifications they leave: within two of 1,000 rows.
                #expect(outcome.transactions <= 2, "\(outcome)")
            }
        }
    }

    @Test("background work is gentle while appends flow: from an append batch until a second without one")
    func appendsFlow() async throws {
        try await withStore(RetentionWalkTests.configuration()) { store, _ in
            #expect(!store.engine.appendsFlow)
            _ = try await store.append(RetentionWalkTests.notify("one", createdAt: .now()))
            #expect(store.engine.appendsFlow)
            try await Task.sleep(for: .milliseconds(1_100))
            #expect(!store.engine.appendsFlow)
        }
    }

    @Test("expired rows are read ahead in feed order, as many as asked")
    func plannedInFeedOrder() async throws {
        try await withStore(RetentionWalkTests.configuration()) { store, _ in
            try await store.putUsers([User(id: 1), User(id: 2)])
            let past = Timestamp.now().adding(seconds: -60)
            for index in 0..<3 {
                for user in [Int64(2), 1] {
                    _ = try await store.append(NewNotification(
                        id: "x\(index)-\(user)", createdAt: .now(), content: StoreExpiryConformanceTests.graph(expiring: past),
                        recipients: .users([user]), idempotencyKey: nil))
                }
            }
            let now = Timestamp.now().storedMicroseconds
            let keys = try await store.engine.pool.read { db in try StoreEngine.expiredKeys(db, now: now, limit: 10) }
            #expect(keys.map { [$0.user, $0.seq] } == [[1, 1], [1, 2], [1, 3], [2, 1], [2, 2], [2, 3]])
            let four = try await store.engine.pool.read { db in try StoreEngine.expiredKeys(db, now: now, limit: 4) }
            #expect(four.count == 4 && four == four.sorted())
        }
    }
}
