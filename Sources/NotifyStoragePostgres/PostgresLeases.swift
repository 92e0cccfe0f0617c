import Logging
public import NotifyStorage
import PostgresNIO
import Synchronization

/// Leases pooled connections so that no call waits for ever: for a
/// connection, for a statement on a connection that closed, or for a
/// database that stopped answering.
///
/// Three ways postgres-nio 1.33.2 can hold a caller:
/// - its pool queues a lease while it cannot connect, retrying with a
///   growing backoff, and fails it only after a minute;
/// - it sends a statement with `channel.write(_, promise: nil)` and waits
///   for the answer; one written after a closed connection's handlers were
///   removed is dropped at the pipeline's head and its answer never comes.
///   It happens to a lease handed out just as its connection closed (seen
///   whenever the database went away under load: calls past their deadline,
///   a store whose `run()` never returned because a background task never
///   ended);
/// - a connection whose network died without closing answers nothing
///   until TCP gives up, many minutes later.
///
/// So each lease and the work on it run in a task of its own, registered
/// here, and every ``tick`` ``look(now:)`` checks what runs. A lease with no
/// connection past its acquire timeout, work whose connection was seen
/// closed on two looks in a row, and work past its limit (its connection is
/// then closed, which ends its statement at the server too) fail
/// ``StorageError/Code/unavailable`` at once. Their task is cancelled and
/// left behind: it ends when its statement does, or never, holding only its
/// memory and a connection already closed.
final class PostgresLeases: Sendable {
    /// How often ``watch()`` looks: the resolution of every bound here.
    let tick: Duration
    private let running = Mutex(Running())
    private let logger: Logger

    private struct Running {
        var next: UInt64 = 0
        var work: [UInt64: Work] = [:]
    }

    private struct Work {
        let operation: String
        /// Set once the lease has its connection.
        var connection: PostgresConnection?
        /// Before the lease: when waiting for a connection fails; after: when the work does.
        var deadline: ContinuousClock.Instant?
        let limit: Duration?
        let fail: @Sendable (StorageError) -> Void
        var seenClosed = false
    }

    init(tick: Duration = .milliseconds(100), logger: Logger) {
        self.tick = tick
        self.logger = logger
    }

    /// Leases a connection from `client` and runs `body` on it.
    /// - Parameters:
    ///   - operation: what the work does, for the error's message.
    ///   - timeout: the longest to wait for a connection.
    ///   - limit: the longest `body` may take; nil: as long as its
    ///     connection lives (the migrations, the listener).
    /// - Throws: what `body` throws; ``StorageError/Code/unavailable`` when no
    ///   connection came (in time), the connection closed under `body`, or
    ///   `body` ran past `limit`.
    func lease<T: Sendable>(
        from client: PostgresClient, _ operation: String, timeout: Duration, limit: Duration?,
        _ body: @escaping @Sendable (PostgresConnection) async throws -> T
    ) async throws -> T {
        let outcome = Outcome<T>()
        let id = running.withLock { running -> UInt64 in
            running.next += 1
            running.work[running.next] = Work(
                operation: operation, deadline: .now + timeout, limit: limit,
                fail: { outcome.finish(.failure($0)) })
            return running.next
        }
        let task = Task {
            var leased = false
            do {
                let value = try await client.withConnection { connection in
                    guard self.leased(id, connection) else { throw CancellationError() }
                    leased = true
                    return try await body(connection)
                }
                outcome.finish(.success(value))
            } catch where !leased && !(error is CancellationError) {
                // The pool could not connect (refused, its circuit breaker
                // open, authentication refused): not all PSQLErrors.
                outcome.finish(.failure(StorageError(
                    code: .unavailable, message: "no connection to the database while \(operation)", cause: "\(error)")))
            } catch {
                outcome.finish(.failure(error))
            }
        }
        defer {
            _ = running.withLock { $0.work.removeValue(forKey: id) }
            // Ended already, or failed by a look: then it is left behind.
            task.cancel()
        }
        return try await withTaskCancellationHandler {
            try await outcome.value()
        } onCancel: {
            task.cancel()
        }
    }

    /// Records lease `id`'s connection; false when it failed already (timed out).
    private func leased(_ id: UInt64, _ connection: PostgresConnection) -> Bool {
        running.withLock { running in
            guard var work = running.work[id] else { return false }
            work.connection = connection
            work.deadline = work.limit.map { .now + $0 }
            running.work[id] = work
            return true
        }
    }

    /// Looks every ``tick`` until cancelled.
    func watch() async {
        while true {
            do {
                try await Task.sleep(for: tick)
            } catch {
                return
            }
            look(now: .now)
        }
    }

    /// One look: fails the leases that waited too long, and the work whose
    /// connection closed a look ago or that ran past its limit (closing its
    /// connection).
    func look(now: ContinuousClock.Instant) {
        let failing = running.withLock { running -> [(Work, StorageError)] in
            var failing: [(Work, StorageError)] = []
            for (id, work) in running.work {
                let error: StorageError
                if let connection = work.connection, connection.isClosed {
                    guard work.seenClosed else {
                        running.work[id]?.seenClosed = true
                        continue
                    }
                    error = StorageError(
                        code: .unavailable,
                        message: "the connection to the database closed while \(work.operation), and its statement never ended: a write may be stored; retry it with its idempotency key")
                } else if let deadline = work.deadline, now >= deadline {
                    error = StorageError(
                        code: .unavailable,
                        message: work.connection == nil
                            ? "no connection to the database in time while \(work.operation)"
                            : "the database did not answer in time while \(work.operation): a write may be stored; retry it with its idempotency key")
                } else {
                    continue
                }
                running.work[id] = nil
                failing.append((work, error))
            }
            return failing
        }
        for (work, error) in failing {
            // First, so that the caller gets this error rather than the one
            // the close below gives its statement.
            work.fail(error)
            if let connection = work.connection {
                logger.warning(
                    "left work on a database connection behind",
                    metadata: ["notify.store.operation": "\(work.operation)", "error.message": "\(error.message)"])
                // Fails its statement here and ends it at the server.
                if !connection.isClosed { connection.close().whenComplete { _ in } }
            }
        }
    }

    /// How many leases are under way (tests).
    var count: Int { running.withLock { $0.work.count } }
}

/// A value that comes once: from the lease's task or from a look, whichever is first.
private final class Outcome<T: Sendable>: Sendable {
    private enum State {
        case waiting(CheckedContinuation<T, any Error>?)
        case finished(Result<T, any Error>)
        case taken
    }

    private let state = Mutex(State.waiting(nil))

    func finish(_ result: Result<T, any Error>) {
        let continuation = state.withLock { state -> CheckedContinuation<T, any Error>? in
            switch state {
            case .waiting(let continuation?):
                state = .taken
                return continuation
            case .waiting(nil):
                state = .finished(result)
                return nil
            case .finished, .taken:
                return nil
            }
        }
        continuation?.resume(with: result)
    }

    func value() async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            let result = state.withLock { state -> Result<T, any Error>? in
                switch state {
                case .finished(let result):
                    state = .taken
                    return result
                case .waiting:
                    state = .waiting(continuation)
                    return nil
                case .taken:
                    preconditionFailure("an outcome is awaited once")
                }
            }
            if let result { continuation.resume(with: result) }
        }
    }
}
