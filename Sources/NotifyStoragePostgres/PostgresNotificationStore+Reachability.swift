import Logging
public import NotifyStorage
import PostgresNIO
import Synchronization

extension PostgresNotificationStore {
    /// False while the database does not answer (down, restarting, out of
    /// reach): every call is then refused at once with UNAVAILABLE
    /// `STORE_UNAVAILABLE`. A call that cannot reach the database turns it
    /// off; the probe (every ``PostgresStoreConfiguration/probeInterval``,
    /// a `SELECT 1` on a pooled connection) turns it off with no traffic,
    /// and on again once the database answers through the pool, which
    /// reconnects by itself. Readiness reports it; liveness does not.
    public var isWritable: Bool { reachability.isReachable }

    /// Runs `body` on a pooled connection, waiting for one at most
    /// ``PostgresStoreConfiguration/acquireTimeout``.
    ///
    /// postgres-nio's pool queues a lease while it cannot connect, retrying
    /// with a growing backoff, and fails it only after a minute: without a
    /// bound a call would hang that long when the database goes away.
    /// - Parameters:
    ///   - operation: what the call does, for the error's message.
    ///   - checkingReachability: refuse at once while the database is known
    ///     unreachable (every call; the probe passes false).
    /// - Throws: what `body` throws; ``StorageError/Code/unavailable`` when no
    ///   connection came in time or the database is known unreachable. A
    ///   failure to reach the database marks it unreachable.
    func leased<T: Sendable>(
        _ operation: String, checkingReachability: Bool = true,
        _ body: @Sendable (PostgresConnection) async throws -> T
    ) async throws -> T {
        if checkingReachability, let refusal = reachability.refusal() { throw refusal }
        do {
            return try await Self.leasing(client, timeout: configuration.acquireTimeout, operation: operation, body)
        } catch {
            if !(error is CancellationError), !Task.isCancelled {
                let failure = StorageError(mappingPostgres: error, during: operation)
                if failure.code == .unavailable { reachability.lost(failure, logger: logger) }
            }
            throw error
        }
    }

    /// Leases a connection from `client` for `body`, racing the lease
    /// against `timeout`; once leased, `body` runs to its end (a query is
    /// bounded by the server and its connection, not by this timer).
    private static func leasing<T: Sendable>(
        _ client: PostgresClient, timeout: Duration, operation: String,
        _ body: @Sendable (PostgresConnection) async throws -> T
    ) async throws -> T {
        try await withoutActuallyEscaping(body) { body in
            try await withThrowingTaskGroup(of: T?.self) { group in
                let leased = LeaseFlag()
                group.addTask {
                    do {
                        return try await client.withConnection { connection in
                            leased.value.store(true, ordering: .releasing)
                            return try await body(connection)
                        }
                    } catch where !(error is CancellationError) && !leased.value.load(ordering: .acquiring) {
                        // No connection came: the pool could not connect (refused, its circuit
                        // breaker open, authentication refused). Its errors are not all PSQLErrors.
                        throw StorageError(
                            code: .unavailable, message: "no connection to the database while \(operation)",
                            cause: "\(error)")
                    }
                }
                group.addTask {
                    do {
                        try await Task.sleep(for: timeout)
                    } catch {
                        return nil
                    }
                    guard leased.value.load(ordering: .acquiring) else {
                        throw StorageError(
                            code: .unavailable,
                            message: "no connection to the database within \(timeout) while \(operation)")
                    }
                    return nil
                }
                while let result = try await group.next() {
                    if let result {
                        group.cancelAll()
                        return result
                    }
                }
                // Both ended without a value: only a cancelled lease does that.
                throw CancellationError()
            }
        }
    }

    /// Checks every ``PostgresStoreConfiguration/probeInterval`` that the
    /// database answers, and says so in ``isWritable``; ends when cancelled.
    func runReachabilityProbe() async {
        let interval = max(configuration.probeInterval, .milliseconds(10))
        let logger = logger
        while !Task.isCancelled {
            do {
                try await Task.sleep(for: interval)
            } catch {
                return
            }
            do {
                try await leased("probing the database", checkingReachability: false) { connection in
                    try await connection.query("SELECT 1", logger: logger)
                }
                reachability.reached(logger: logger)
            } catch {
                // leased() marked the database unreachable when it could not reach it.
            }
        }
    }
}

/// Set once a lease has its connection: past that, the acquire timer lets the call run.
private final class LeaseFlag: Sendable {
    let value = Atomic<Bool>(false)
}
