import Foundation
import Logging
import NIOCore
import NIOPosix
import NotifyStorage
@testable import NotifyStoragePostgres
import PostgresNIO
import Synchronization
import Testing

/// ``PostgresLeases``: no call waits for ever, for a connection or for a
/// statement, on the test server.
@Suite("PostgreSQL leases: bounded waits", .enabled(if: PostgresTestServer.runs, "\(PostgresTestServer.missing)"))
struct PostgresLeasesTests {
    private static let logger: Logger = {
        var logger = Logger(label: "notify.storage.tests.leases")
        logger.logLevel = .critical
        return logger
    }()

    /// A pool on `port` (the test server's by default), running, and leases
    /// watched every 20 ms, for `body`.
    private func withLeases(
        port: Int? = nil, _ body: (PostgresClient, PostgresLeases) async throws -> Void
    ) async throws {
        guard let url = PostgresTestServer.url else { throw PostgresLocation.NoServer() }
        var store = try PostgresStoreConfiguration(url: url)
        if let port { store.port = port }
        var configuration = PostgresClient.Configuration(
            host: store.host, port: store.port, username: store.username, password: store.password,
            database: store.database, tls: .disable)
        configuration.options.maximumConnections = 2
        configuration.options.connectTimeout = .seconds(1)
        let client = PostgresClient(configuration: configuration, backgroundLogger: Self.logger)
        let leases = PostgresLeases(tick: .milliseconds(20), logger: Self.logger)
        try await withThrowingDiscardingTaskGroup { group in
            group.addTask { await client.run() }
            group.addTask { await leases.watch() }
            defer { group.cancelAll() }
            try await body(client, leases)
        }
    }

    @Test("a statement sent on a connection that closed under its lease fails UNAVAILABLE, where postgres-nio alone waits for ever", .timeLimit(.minutes(1)))
    func closedUnderLease() async throws {
        try await withLeases { client, leases in
            let started = ContinuousClock.now
            let error = await #expect(throws: StorageError.self) {
                try await leases.lease(from: client, "reading after a close", timeout: .seconds(2), limit: nil) { connection in
                    try await connection.close()
                    // Its answer never comes: the write is dropped once the handlers are gone.
                    try await connection.query("SELECT 1", logger: Self.logger)
                }
            }
            #expect(error?.code == .unavailable)
            #expect(error?.message.contains("reading after a close") == true)
            #expect(ContinuousClock.now - started < .seconds(5), "took \(ContinuousClock.now - started)")
            #expect(leases.count == 0)
            // The pool goes on with a fresh connection.
            let one = try await leases.lease(from: client, "reading", timeout: .seconds(2), limit: .seconds(5)) { connection in
                try await connection.query("SELECT 1", logger: Self.logger).collect().first?.decode(Int.self)
            }
            #expect(one == 1)
        }
    }

    @Test("work past its limit fails UNAVAILABLE and its connection is closed", .timeLimit(.minutes(1)))
    func pastItsLimit() async throws {
        try await withLeases { client, leases in
            let held = Held()
            let started = ContinuousClock.now
            let error = await #expect(throws: StorageError.self) {
                try await leases.lease(from: client, "sleeping", timeout: .seconds(2), limit: .milliseconds(300)) { connection in
                    held.connection.withLock { $0 = connection }
                    try await connection.query("SELECT pg_sleep(30)", logger: Self.logger)
                }
            }
            #expect(error?.code == .unavailable)
            #expect(error?.message.contains("did not answer in time while sleeping") == true)
            #expect(ContinuousClock.now - started < .seconds(5), "took \(ContinuousClock.now - started)")
            let connection = try #require(held.connection.withLock { $0 })
            try await connection.closeFuture.get()
            #expect(leases.count == 0)
        }
    }

    @Test("a lease that gets no connection fails UNAVAILABLE at its timeout, not after the pool's minute", .timeLimit(.minutes(1)))
    func noConnection() async throws {
        // A port nobody listens on: each connection attempt is refused, and the pool retries.
        let closed = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .bind(host: "127.0.0.1", port: 0).get()
        let port = try #require(closed.localAddress?.port)
        try await closed.close()
        try await withLeases(port: port) { client, leases in
            let started = ContinuousClock.now
            let error = await #expect(throws: StorageError.self) {
                try await leases.lease(from: client, "reading", timeout: .milliseconds(500), limit: nil) { _ in 1 }
            }
            #expect(error?.code == .unavailable)
            let took = ContinuousClock.now - started
            #expect(took >= .milliseconds(400) && took < .seconds(5), "took \(took)")
            #expect(leases.count == 0)
        }
    }

    @Test("a lease's work ends with its caller's cancellation, and errors pass through unchanged", .timeLimit(.minutes(1)))
    func cancellationAndErrors() async throws {
        struct Refused: Error {}
        try await withLeases { client, leases in
            await #expect(throws: Refused.self) {
                try await leases.lease(from: client, "refusing", timeout: .seconds(2), limit: nil) { _ -> Int in throw Refused() }
            }
            let waiting = Task {
                try await leases.lease(from: client, "waiting", timeout: .seconds(2), limit: nil) { _ in
                    try await Task.sleep(for: .seconds(30))
                }
            }
            try await Task.sleep(for: .milliseconds(200))
            waiting.cancel()
            await #expect(throws: CancellationError.self) { try await waiting.value }
            #expect(leases.count == 0)
        }
    }
}

private final class Held: Sendable {
    let connection = Mutex<PostgresConnection?>(nil)
}
