import Foundation
import Logging
import NotifyDomain
import NotifyStorage
import NotifyStoragePostgres
import NotifyTesting
import Synchronization
import Testing

/// The PostgreSQL store when its database goes away and comes back, through
/// a forwarder the test cuts (the shared test server keeps running).
@Suite("PostgreSQL store: a database that goes away", .enabled(if: TestPostgres.runs, "\(TestPostgres.missing)"))
struct PostgresReachabilityTests {
    private static let logger = {
        var logger = Logger(label: "notify.tests.reachability")
        logger.logLevel = .critical
        return logger
    }()

    private static func notification(_ index: Int, key: IdempotencyKey? = nil) -> NewNotification {
        NewNotification(
            id: UUID().uuidString, createdAt: .now(),
            content: .custom(CustomNotification(type: "t", embed: nil, title: "n\(index)", description: nil, issuer: 1)),
            recipients: .users([1]), idempotencyKey: key)
    }

    /// A store (at most 4 connections, a 1 s acquire timeout, then
    /// `configure`) in a schema of its own, reaching the test server through
    /// a forwarder `body` may cut, freeze and restore; run while `body` runs.
    /// `body` also gets the same store's configuration without the forwarder.
    private func withStore(
        _ configure: (inout PostgresStoreConfiguration) -> Void,
        _ body: (PostgresNotificationStore, TCPForwarder, _ direct: PostgresStoreConfiguration) async throws -> Void
    ) async throws {
        let target = try TestPostgres.target()
        let forwarder = try await TCPForwarder(targetHost: target.host, targetPort: target.port)
        let (url, schema) = try TestPostgres.location(port: forwarder.port)
        defer { Task { await TestPostgres.dropSchema(schema) } }
        var configuration = try PostgresStoreConfiguration(url: url)
        configuration.maximumConnections = 4
        configuration.acquireTimeout = .seconds(1)
        configure(&configuration)
        var direct = configuration
        direct.port = target.port
        let store = try PostgresNotificationStore(configuration: configuration, logger: Self.logger)
        try await store.withRunning { try await body($0, forwarder, direct) }
        await forwarder.close()
    }

    @Test(
        "cut: isWritable turns false with no traffic, calls fail UNAVAILABLE at once; restored: it recovers by itself, nothing acknowledged lost",
        .timeLimit(.minutes(2)))
    func cutAndRestore() async throws {
        try await withStore({ configuration in
            configuration.probeInterval = .milliseconds(100)
        }) { store, forwarder, _ in
            try await store.putUser(User(id: 1))
            var acknowledged: [String] = []
            for index in 0..<5 {
                let sample = Self.notification(index)
                _ = try await store.append(sample)
                acknowledged.append(sample.id)
            }
            #expect(store.isWritable)

            forwarder.cut()
            // The probe finds it with no call made.
            try await waitUntil("the store sees the database gone", timeout: .seconds(20)) { !store.isWritable }
            for index in 0..<3 {
                let started = ContinuousClock.now
                do {
                    _ = try await store.append(Self.notification(100 + index))
                    Issue.record("an append succeeded with the database cut")
                } catch {
                    #expect((error as? StorageError)?.code == .unavailable, "\(error)")
                }
                do {
                    _ = try await store.feedPage(user: 1, after: 0, limit: 10, maxBytes: 1 << 20)
                    Issue.record("a read succeeded with the database cut")
                } catch {
                    #expect((error as? StorageError)?.code == .unavailable, "\(error)")
                }
                // Refused at once: no wait for a connection.
                #expect(ContinuousClock.now - started < .seconds(1), "took \(ContinuousClock.now - started)")
            }

            forwarder.restore()
            try await waitUntil("the store sees the database back", timeout: .seconds(60)) { store.isWritable }
            let sample = Self.notification(200)
            _ = try await store.append(sample)
            acknowledged.append(sample.id)
            let page = try await store.feedPage(user: 1, after: 0, limit: 100, maxBytes: 1 << 20)
            #expect(page.entries.map(\.id) == acknowledged)
            #expect(page.entries.map(\.sequence) == Array(1...UInt64(acknowledged.count)))
        }
    }

    @Test("a store whose database does not answer fails within the acquire timeout rather than wait for the pool", .timeLimit(.minutes(2)))
    func boundedWait() async throws {
        let target = try TestPostgres.target()
        let forwarder = try await TCPForwarder(targetHost: target.host, targetPort: target.port)
        forwarder.cut()
        let (url, _) = try TestPostgres.location(port: forwarder.port)
        var configuration = try PostgresStoreConfiguration(url: url)
        configuration.acquireTimeout = .seconds(1)
        var logger = Logger(label: "notify.tests.reachability")
        logger.logLevel = .critical
        let store = try PostgresNotificationStore(configuration: configuration, logger: logger)
        let started = ContinuousClock.now
        let answered = Mutex<Duration?>(nil)
        do {
            _ = try await store.withRunning { store in
                do {
                    // The call waits for the schema, which waits for a connection.
                    _ = try await store.user(id: 1)
                } catch {
                    answered.withLock { $0 = ContinuousClock.now - started }
                    throw error
                }
            }
            Issue.record("the store ran with its database cut")
        } catch {
            #expect((error as? StorageError)?.code == .unavailable, "\(error)")
        }
        // postgres-nio's pool alone queues the lease until its circuit breaker, a minute.
        let took = try #require(answered.withLock { $0 })
        #expect(took < .seconds(10), "took \(took)")
        // And the store stops without waiting for the pool's connection attempts.
        #expect(ContinuousClock.now - started < .seconds(20), "stopped after \(ContinuousClock.now - started)")
        await forwarder.close()
    }

    @Test("a call made just as the database goes away fails at once, and marks the store unreachable", .timeLimit(.minutes(2)))
    func callAsItGoes() async throws {
        try await withStore({ configuration in
            // No probe within the test: only the calls see the database.
            configuration.probeInterval = .seconds(600)
        }) { store, forwarder, _ in
            try await store.putUser(User(id: 1))
            forwarder.cut()
            let started = ContinuousClock.now
            do {
                _ = try await store.user(id: 1)
                Issue.record("a read succeeded with the database cut")
            } catch {
                #expect((error as? StorageError)?.code == .unavailable, "\(error)")
            }
            #expect(ContinuousClock.now - started < .seconds(10), "took \(ContinuousClock.now - started)")
            #expect(!store.isWritable)
            forwarder.restore()
        }
    }

    @Test(
        "a database that stops answering without closing: a call fails UNAVAILABLE within the statement limit; answering again, the store recovers",
        .timeLimit(.minutes(2)))
    func silentDatabase() async throws {
        try await withStore({ configuration in
            configuration.statementLimit = .seconds(1)
            configuration.probeInterval = .milliseconds(200)
            configuration.listenPingInterval = .milliseconds(200)
        }) { store, forwarder, _ in
            try await store.putUser(User(id: 1))
            try await waitUntil("the store listens", timeout: .seconds(20)) { store.statistics.listening }
            let acknowledged = Self.notification(0)
            _ = try await store.append(acknowledged)
            forwarder.freeze()
            let started = ContinuousClock.now
            do {
                _ = try await store.feedPage(user: 1, after: 0, limit: 10, maxBytes: 1 << 20)
                Issue.record("a read succeeded with the database silent")
            } catch {
                #expect((error as? StorageError)?.code == .unavailable, "\(error)")
            }
            // The limit (1 s) and a look or two; not TCP's minutes.
            #expect(ContinuousClock.now - started < .seconds(5), "took \(ContinuousClock.now - started)")
            try await waitUntil("the store sees the database silent", timeout: .seconds(20)) { !store.isWritable }
            // The listener's ping finds its connection silent too, and closes it.
            try await waitUntil("the listener gives up its silent connection", timeout: .seconds(20)) {
                !store.statistics.listening
            }

            forwarder.restore()
            try await waitUntil("the store sees the database back", timeout: .seconds(60)) { store.isWritable }
            let sample = Self.notification(1)
            _ = try await store.append(sample)
            let page = try await store.feedPage(user: 1, after: 0, limit: 10, maxBytes: 1 << 20)
            #expect(page.entries.map(\.id) == [acknowledged.id, sample.id])
            try await waitUntil("the store listens again", timeout: .seconds(30)) { store.statistics.listening }
        }
    }

    @Test(
        "an answer lost after its commit: the append answers UNAVAILABLE 'may be stored'; it is stored once, and its retry with the key replays it",
        .timeLimit(.minutes(2)))
    func answerLostAfterCommit() async throws {
        try await withStore({ configuration in
            // One connection, and nothing else to use it meanwhile: the statement whose
            // answer is lost is the append's, on the connection the first append prepared.
            configuration.maximumConnections = 1
            configuration.writers = 1
            configuration.probeInterval = .seconds(3600)
            configuration.sweepInterval = .seconds(3600)
            configuration.runsBackgroundFanOut = false
        }) { store, forwarder, direct in
            try await store.putUser(User(id: 1))
            let first = try await store.append(Self.notification(0))
            let key = IdempotencyKey(scope: "app:a", method: "Notify", key: "lost", fingerprint: [1])
            let call = Self.notification(1, key: key)

            forwarder.muteAnswers()
            let pending = Task { try await store.append(call) }
            // Another instance, as a client's retry may reach, straight to the database.
            let other = try PostgresNotificationStore(configuration: direct, logger: Self.logger)
            try await other.withRunning { other in
                let deadline = ContinuousClock.now + .seconds(20)
                while try await !other.feedPage(user: 1, after: 0, limit: 10, maxBytes: 1 << 20).entries.contains(where: { $0.id == call.id }) {
                    try #require(ContinuousClock.now < deadline, "the append never committed")
                    try await Task.sleep(for: .milliseconds(20))
                }
                forwarder.cut()
                do {
                    let answer = try await pending.value
                    Issue.record("an append whose answer was lost succeeded: \(answer)")
                } catch {
                    let failure = try #require(error as? StorageError, "\(error)")
                    #expect(failure.code == .unavailable)
                    #expect(failure.message.contains("may be stored"), "\(failure.message)")
                }

                let retry = try await other.append(Self.notification(2, key: key))
                #expect(retry.replayed)
                #expect(retry.id == call.id)
                #expect(retry.first?.sequence == 2)
                let page = try await other.feedPage(user: 1, after: 0, limit: 10, maxBytes: 1 << 20)
                #expect(page.entries.map(\.id) == [first.id, call.id])
            }
            forwarder.restore()
        }
    }
}
