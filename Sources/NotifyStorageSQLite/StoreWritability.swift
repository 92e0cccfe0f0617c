import Logging
import NotifyStorage
import Synchronization

/// Whether the store can write: a write that fails because the disk is full
/// (or the database file cannot be written) turns writing off; only the
/// store's probe turns it on again.
///
/// While it is off, every write is refused at once with
/// ``StorageError/Code/unavailable``, without touching the disk: the calls
/// see one steady answer rather than a mix of refusals and the odd small
/// write that still fits, and the last bytes stay free for the checkpoint
/// that recovery needs. The probe (``StoreEngine/runWritabilityProbe(_:)``)
/// checks every ``SQLiteStoreConfiguration/probeInterval`` whether there is
/// room again, with no traffic needed (readiness sends none this way).
///
/// Each change is logged once, at error when writing stops and at notice
/// when it resumes, so that a full disk under load is one line in the log
/// rather than one per refused batch. (A library logs at info or below as a
/// rule; an outage that needs an operator is the exception.)
final class StoreWritability: Sendable {
    private enum State {
        case writable
        case unwritable(since: ContinuousClock.Instant, refusals: Int, cause: String)
    }

    private let state = Mutex(State.writable)
    private let logger: Logger
    /// Wakes the probe when writing stops.
    private let probeSignal: AsyncStream<Void>.Continuation

    init(logger: Logger, probeSignal: AsyncStream<Void>.Continuation) {
        self.logger = logger
        self.probeSignal = probeSignal
    }

    var isWritable: Bool {
        state.withLock {
            if case .writable = $0 { return true }
            return false
        }
    }

    /// Records a write that failed with `error`; only ``StorageError/Code/unavailable``
    /// (the disk is full, the file cannot be written) stops writing.
    /// - Parameter count: the calls the failure refused (a batch's appends).
    func failed(_ error: StorageError, count: Int = 1) {
        guard error.code == .unavailable else { return }
        let changed = state.withLock { state -> Bool in
            switch state {
            case .writable:
                state = .unwritable(since: .now, refusals: count, cause: error.message)
                return true
            case .unwritable(let since, let refusals, let cause):
                state = .unwritable(since: since, refusals: refusals + count, cause: cause)
                return false
            }
        }
        guard changed else { return }
        logger.error(
            "the store cannot write: refusing writes with STORE_UNAVAILABLE until it can",
            metadata: ["error.type": "\(error.code)", "error.message": "\(error.message)", "error.cause": "\(error.cause ?? "")"])
        probeSignal.yield()
    }

    /// The error for a write asked for while writing is off (counted), or
    /// nil while the store can write.
    func refusal() -> StorageError? {
        state.withLock { state -> StorageError? in
            guard case .unwritable(let since, let refusals, let cause) = state else { return nil }
            state = .unwritable(since: since, refusals: refusals + 1, cause: cause)
            return StorageError(
                code: .unavailable, message: "the store cannot write until there is room again", cause: cause)
        }
    }

    /// Records a probe that committed: writing resumes.
    func succeeded() {
        let previous = state.withLock { state -> (since: ContinuousClock.Instant, refusals: Int)? in
            guard case .unwritable(let since, let refusals, _) = state else { return nil }
            state = .writable
            return (since, refusals)
        }
        guard let previous else { return }
        logger.notice(
            "the store writes again",
            metadata: [
                "notify.store.unwritable_seconds": "\((ContinuousClock.now - previous.since).seconds)",
                "notify.store.refused_writes": "\(previous.refusals)",
            ])
    }

    func finish() {
        probeSignal.finish()
    }
}
