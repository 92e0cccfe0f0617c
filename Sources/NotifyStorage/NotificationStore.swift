public import ServiceLifecycle

/// A whole store: the ``NotificationLog`` and the ``Directory`` on one
/// database, run as a ServiceLifecycle `Service`.
///
/// Opening a store (its initializer) makes it readable and writable; its
/// `run()` owns the work that outlives a call: the writer that commits
/// appends and any background work (a fan-out, a probe, a connection
/// pool). Appends made before `run()` starts wait for it. On graceful
/// shutdown or cancellation `run()` stops accepting appends, commits every
/// append it had accepted (each completes), stops its background work,
/// ends the live readers' watches, closes the database and returns; every
/// later call fails with ``StorageError/Code/unavailable``. A store runs
/// once.
///
/// In a `ServiceGroup`, put the store before the services that call it:
/// they shut down first, so it commits the last of their appends.
/// Elsewhere (tests, command-line tools) ``withRunning(_:)`` runs it for a scope.
///
/// The services depend on the narrower protocols: the feed on
/// ``NotificationLog``, administration on ``Directory``.
public protocol NotificationStore: NotificationLog, Directory, Service {}

extension NotificationStore {
    /// Runs the store while `body` runs, then stops it (as graceful shutdown
    /// does: every append accepted is committed) and waits for it to end.
    ///
    /// - Returns: what `body` returns.
    /// - Throws: what `body` throws, else what the store's `run()` threw.
    public func withRunning<T>(
        isolation: isolated (any Actor)? = #isolation,
        _ body: (Self) async throws -> T
    ) async throws -> T {
        try await withThrowingTaskGroup(of: Void.self, returning: T.self, isolation: isolation) { group in
            group.addTask { try await self.run() }
            let outcome: Result<T, any Error>
            do {
                outcome = .success(try await body(self))
            } catch {
                outcome = .failure(error)
            }
            // Cancelling run() is its stop: it drains, then returns.
            group.cancelAll()
            var runError: (any Error)?
            while !group.isEmpty {
                do {
                    try await group.next()
                } catch {
                    runError = error
                }
            }
            let value = try outcome.get()
            if let runError { throw runError }
            return value
        }
    }
}
