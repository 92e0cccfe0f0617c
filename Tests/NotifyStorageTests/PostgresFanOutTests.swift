import Foundation
import Logging
import NotifyDomain
import NotifyStorage
import NotifyStoragePostgres
import Testing

/// The PostgreSQL store's background fan-out across instances: a job is
/// claimed batch by batch (`FOR UPDATE SKIP LOCKED`), so it survives the
/// instance running it. ``StoreFanOutConformanceTests`` holds what every
/// store promises.
@Suite("PostgreSQL store: background fan-out")
struct PostgresFanOutTests {
    private func open(_ location: PostgresLocation, name: String) throws -> PostgresNotificationStore {
        var configuration = try PostgresStoreConfiguration(url: location.url)
        configuration.schema = location.schema
        configuration.maximumConnections = 4
        configuration.inlineFanOutLimit = 1
        configuration.fanOutBatchSize = 2
        configuration.fanOutPollInterval = .milliseconds(50)
        configuration.sweepInterval = .zero
        configuration.applicationName = name
        var logger = Logger(label: "notify.storage.tests.postgres")
        logger.logLevel = .critical
        return try PostgresNotificationStore(configuration: configuration, logger: logger)
    }

    @Test(
        "a job survives the instance running it: its connections ended mid-job, another instance finishes it, each follower once",
        .enabled(if: PostgresTestServer.runs, "\(PostgresTestServer.missing)"), .timeLimit(.minutes(3)))
    func survivesEndedInstance() async throws {
        let location = try PostgresLocation()
        defer { location.remove() }
        let suffix = String(location.schema.suffix(12))
        let followers = Int64(2)...Int64(1_201)
        let one = try open(location, name: "notify_one_\(suffix)")
        let running = Task { try await one.run() }
        defer { running.cancel() }
        for id in Int64(1)...followers.upperBound { try await one.putUser(User(id: id)) }
        for id in followers { try await one.putConnection(Connection(user: id, to: 1, kind: .follow)) }
        let result = try await one.append(Sample.notification(id: "big", to: .connections(of: 1, mode: .follow)))
        #expect(result.recipients == 1_200)
        // Batches of two: 600 transactions, several seconds.
        let deadline = ContinuousClock.now + .seconds(60)
        while ContinuousClock.now < deadline, one.statistics.fanOutRowsWritten < 20 {
            try await Task.sleep(for: .milliseconds(2))
        }
        #expect(one.statistics.fanOutRowsWritten >= 20)

        try await open(location, name: "notify_two_\(suffix)").withRunning { two in
            // The first instance "crashes": its connections end, its open
            // transaction with them, and it is stopped without draining.
            let ended = try await PostgresNotificationStore.terminateConnections(
                url: location.url, applicationName: "notify_one_\(suffix)")
            running.cancel()
            #expect(ended > 0)
            // Its stop returns: no statement waits on a connection that was ended.
            _ = try? await running.value
            #expect(one.statistics.fanOutJobsCompleted == 0)

            let done = ContinuousClock.now + .seconds(120)
            while ContinuousClock.now < done, two.statistics.fanOutJobsCompleted == 0 {
                try await Task.sleep(for: .milliseconds(20))
            }
            #expect(two.statistics.fanOutJobsCompleted == 1)
            #expect(two.statistics.fanOutRowsWritten > 0)
            #expect(try await two.pendingFanOutRecipients() == 0)
            for user in followers {
                let feed = try await two.feed(user: user, after: 0, limit: 10)
                #expect(feed.map(\.id) == ["big"], "user \(user)")
                #expect(feed.map(\.sequence) == [1], "user \(user)")
            }
            #expect(try await two.feed(user: 1, after: 0, limit: 10).isEmpty)
        }
    }

    @Test(
        "batches follow the fan-out budget: a microsecond gives 64 feeds, then 32 at a time; zero gives whole batches",
        .enabled(if: PostgresTestServer.runs, "\(PostgresTestServer.missing)"), .timeLimit(.minutes(1)),
        arguments: [Duration.microseconds(1), .zero])
    func batchesFollowTheBudget(_ budget: Duration) async throws {
        let location = try PostgresLocation()
        defer { location.remove() }
        var configuration = try PostgresStoreConfiguration(url: location.url)
        configuration.schema = location.schema
        configuration.maximumConnections = 4
        configuration.inlineFanOutLimit = 1
        configuration.sweepInterval = .zero
        configuration.fanOutTransactionBudget = budget
        var logger = Logger(label: "notify.storage.tests.postgres")
        logger.logLevel = .warning
        try await PostgresNotificationStore(configuration: configuration, logger: logger).withRunning { store in
            let followers = Int64(2)...Int64(201)
            for id in Int64(1)...followers.upperBound { try await store.putUser(User(id: id)) }
            for id in followers { try await store.putConnection(Connection(user: id, to: 1, kind: .follow)) }
            _ = try await store.append(Sample.notification(id: "big", to: .connections(of: 1, mode: .follow)))
            let deadline = ContinuousClock.now + .seconds(30)
            while ContinuousClock.now < deadline, store.statistics.fanOutJobsCompleted == 0 {
                try await Task.sleep(for: .milliseconds(10))
            }
            let statistics = store.statistics
            #expect(statistics.fanOutJobsCompleted == 1)
            // The append wrote the first follower's feed; the job the other 199.
            #expect(statistics.fanOutRowsWritten == 199)
            // 64, then 32 at a time (each well over a microsecond); else all 199 in one.
            #expect(statistics.fanOutTransactions == (budget > .zero ? 6 : 1), "\(statistics)")
            for user in [followers.lowerBound, 100, followers.upperBound] {
                #expect(try await store.feed(user: user, after: 0, limit: 10).map(\.id) == ["big"], "user \(user)")
            }
        }
    }
}
