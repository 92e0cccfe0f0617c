import Logging
import NotifyStorage
import Synchronization

/// Whether the database answers, as the store last saw it: a call that
/// could not reach it (no connection within the acquire timeout, a
/// connection refused or lost, the server shutting down) turns it off, and
/// only the store's probe, a `SELECT 1` that answered, turns it on again.
///
/// While it is off every call is refused at once with
/// ``StorageError/Code/unavailable`` (the reason a full disk gets on
/// SQLite), without waiting for a connection, so that a database that went
/// away costs a caller nothing but the answer; and
/// ``PostgresNotificationStore/isWritable`` is false, so that readiness
/// follows. Each change is logged once (error when the database is lost,
/// notice when it answers again), not once per refused call.
final class PostgresReachability: Sendable {
    private enum State {
        case reachable
        case unreachable(since: ContinuousClock.Instant, refusals: Int, cause: String)
    }

    private let state = Mutex(State.reachable)

    init() {}

    var isReachable: Bool {
        state.withLock {
            if case .reachable = $0 { return true }
            return false
        }
    }

    /// The error for a call made while the database is unreachable
    /// (counted), or nil while it answers.
    func refusal() -> StorageError? {
        state.withLock { state -> StorageError? in
            guard case .unreachable(let since, let refusals, let cause) = state else { return nil }
            state = .unreachable(since: since, refusals: refusals + 1, cause: cause)
            return StorageError(
                code: .unavailable, message: "the database cannot be reached; retry once it answers", cause: cause)
        }
    }

    /// Records a call (or a probe) that could not reach the database.
    func lost(_ error: StorageError, logger: Logger) {
        let changed = state.withLock { state -> Bool in
            switch state {
            case .reachable:
                state = .unreachable(since: .now, refusals: 0, cause: error.cause ?? error.message)
                return true
            case .unreachable:
                return false
            }
        }
        guard changed else { return }
        logger.error(
            "the database cannot be reached: refusing calls with STORE_UNAVAILABLE until it answers",
            metadata: ["error.message": "\(error.message)", "error.cause": "\(error.cause ?? "")"])
    }

    /// Records a probe that answered.
    func reached(logger: Logger) {
        let previous = state.withLock { state -> (since: ContinuousClock.Instant, refusals: Int)? in
            guard case .unreachable(let since, let refusals, _) = state else { return nil }
            state = .reachable
            return (since, refusals)
        }
        guard let previous else { return }
        let down = ContinuousClock.now - previous.since
        logger.notice(
            "the database answers again",
            metadata: [
                "notify.store.unreachable_seconds": "\(Double(down.components.seconds) + Double(down.components.attoseconds) / 1e18)",
                "notify.store.refused_calls": "\(previous.refusals)",
            ])
    }
}
