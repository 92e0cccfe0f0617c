import Foundation
import Logging
import NotifyDomain
import NotifyStorage
import NotifyStoragePostgres
import Testing

/// The PostgreSQL sweep's transactions against its time budget: each
/// removes as many entries as its budget allows, since an append naming one
/// of its feeds waits for it. ``StoreExpiryConformanceTests`` holds what
/// every store's sweep removes.
@Suite("PostgreSQL store: the sweep's budget", .enabled(if: PostgresTestServer.runs, "\(PostgresTestServer.missing)"))
struct PostgresSweepTests {
    private func open(_ location: PostgresLocation, budget: Duration) throws -> PostgresNotificationStore {
        var configuration = try PostgresStoreConfiguration(url: location.url)
        configuration.schema = location.schema
        configuration.maximumConnections = 4
        configuration.sweepInterval = .zero
        configuration.sweepBatchSize = 1_000
        configuration.sweepTransactionBudget = budget
        var logger = Logger(label: "notify.storage.tests.postgres")
        logger.logLevel = .warning
        return try PostgresNotificationStore(configuration: configuration, logger: logger)
    }

    /// 200 entries over 4 feeds, ids `prefix` and their number, expired.
    private func expired(_ store: PostgresNotificationStore, prefix: String = "s") async throws {
        for user in Int64(1)...4 { try await store.putUser(User(id: user)) }
        let soon = Timestamp.now().adding(seconds: 1)
        for index in 0..<200 {
            _ = try await store.append(NewNotification(
                id: "\(prefix)\(index)", createdAt: .now(), content: StoreExpiryConformanceTests.graph(expiring: soon),
                recipients: .users([Int64(index % 4) + 1]), idempotencyKey: nil))
        }
        try await Task.sleep(for: .milliseconds(1_100))
    }

    @Test(
        "transactions are sized to the budget (a microsecond: 64 entries, then 8 at a time); zero: whole batches",
        .timeLimit(.minutes(1)), arguments: [Duration.microseconds(1), .zero])
    func sizedToTheBudget(_ budget: Duration) async throws {
        let location = try PostgresLocation()
        defer { location.remove() }
        try await open(location, budget: budget).withRunning { store in
            try await expired(store)
            let outcome = try await store.sweep()
            #expect(outcome.expiredEntries == 200)
            #expect(outcome.notifications == 200)
            #expect(try await store.storedRowCounts() == (0, 0))
            // Each feed learns every removal, in its order, whatever the transactions.
            let page = try await store.feedPage(user: 1, after: 0, limit: 100, maxBytes: .max)
            #expect(page.events.flatMap(\.ids) == stride(from: 0, to: 200, by: 4).map { "s\($0)" })
            if budget > .zero {
                // 64, then 17 of 8 (the last one finds nothing more), then the notifications in one.
                #expect(outcome.transactions >= 18, "\(outcome)")
                #expect(outcome.removalEvents >= 18, "\(outcome)")
            } else {
                // 200 entries, then the 200 notifications they leave, each within 1,000 rows.
                #expect(outcome.transactions == 2, "\(outcome)")
                #expect(outcome.removalEvents == 4, "\(outcome)")
            }
        }
    }

    @Test("while this instance's appends flow the sweep rests after each transaction, and not otherwise", .timeLimit(.minutes(1)))
    func restsWhileAppendsFlow() async throws {
        let location = try PostgresLocation()
        defer { location.remove() }
        try await open(location, budget: .microseconds(1)).withRunning { store in
            try await expired(store)
            // Quiet for a second: no rest.
            let quiet = try await store.sweep()
            #expect(quiet.expiredEntries == 200)
            #expect(quiet.rests == 0, "\(quiet)")

            try await expired(store, prefix: "t")
            // Appends flowing while it sweeps: the same transactions, each followed by a rest.
            let flowing = Task {
                var index = 0
                while !Task.isCancelled {
                    _ = try await store.append(Sample.notification(id: "f\(index)", to: .users([4])))
                    index += 1
                    try await Task.sleep(for: .milliseconds(50))
                }
            }
            defer { flowing.cancel() }
            try await Task.sleep(for: .milliseconds(100))
            let gentle = try await store.sweep()
            #expect(gentle.expiredEntries == 200)
            // A rest after every transaction but the last (which found the end).
            #expect(gentle.rests >= 17, "\(gentle)")
        }
    }
}
