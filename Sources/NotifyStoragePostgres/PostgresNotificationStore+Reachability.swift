import Logging
public import NotifyStorage
import PostgresNIO

extension PostgresNotificationStore {
    /// False until the schema is migrated, once the store stops, and while
    /// the database does not answer (down, restarting, out of reach): every
    /// call is then refused at once with UNAVAILABLE `STORE_UNAVAILABLE`.
    /// A call that cannot reach the database turns it off; the probe (every
    /// ``PostgresStoreConfiguration/probeInterval``, a `SELECT 1` on a pooled
    /// connection) turns it off with no traffic, and on again once the
    /// database answers through the pool, which reconnects by itself.
    /// Readiness reports it; liveness does not, so an instance still
    /// migrating, or waiting on another's migration, takes no traffic.
    public var isWritable: Bool { readiness.isReady && reachability.isReachable }

    /// Runs `body` on a pooled connection (``PostgresLeases``): waiting for
    /// one at most ``PostgresStoreConfiguration/acquireTimeout``, and failing
    /// when the connection closes under `body` or `body` runs past
    /// ``PostgresStoreConfiguration/statementLimit``.
    /// - Parameters:
    ///   - operation: what the call does, for the error's message.
    ///   - checkingReachability: refuse at once while the database is known
    ///     unreachable (every call; the probe passes false).
    ///   - limited: whether `body` is bounded by the statement limit (all but the migrations).
    /// - Throws: what `body` throws; ``StorageError/Code/unavailable`` when no
    ///   connection came in time, the connection was lost, or the database
    ///   is known unreachable. A failure to reach the database marks it unreachable.
    func leased<T: Sendable>(
        _ operation: String, checkingReachability: Bool = true, limited: Bool = true,
        _ body: @escaping @Sendable (PostgresConnection) async throws -> T
    ) async throws -> T {
        if checkingReachability, let refusal = reachability.refusal() { throw refusal }
        do {
            return try await leases.lease(
                from: client, operation, timeout: configuration.acquireTimeout,
                limit: limited ? configuration.statementLimit : nil, body)
        } catch {
            if !(error is CancellationError), !Task.isCancelled {
                let failure = StorageError(mappingPostgres: error, during: operation)
                if failure.code == .unavailable { reachability.lost(failure, logger: logger) }
            }
            throw error
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
