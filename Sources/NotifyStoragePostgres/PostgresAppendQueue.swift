import Foundation
import NotifyDomain
import NotifyStorage
import Synchronization

/// An append with what needs no database computed on the caller's task, so
/// that the writer, the one serial resource, only binds and sends. A class,
/// so the queue and the writer pass one reference.
final class PendingAppend: Sendable {
    let item: NewNotification
    let kind: String
    /// The content as `notifications.content` stores it.
    let json: String
    let createdAt: Int64
    /// A SendNotification's expiration; nil for Notify's.
    let expiresAt: Int64?
    /// A SendNotification's target application (nil for Notify's, or none).
    let app: String?
    /// A SendNotification's platforms, comma-separated (nil for Notify's).
    let platforms: String?
    let graph: Bool
    /// `.users`' recipients, each once, in the order given.
    let users: [Int64]
    let completion: @Sendable (Result<AppendResult, StorageError>) -> Void

    init(_ item: NewNotification, completion: @escaping @Sendable (Result<AppendResult, StorageError>) -> Void) {
        self.item = item
        self.completion = completion
        (kind, json) = PostgresContent.encode(item.content)
        createdAt = item.createdAt.microsecondsSince1970
        switch item.content {
        case .graph(let content):
            expiresAt = content.expiration.microsecondsSince1970
            app = content.targetHostName
            platforms = content.platforms.map(\.rawValue).joined(separator: ",")
            graph = true
        case .custom:
            expiresAt = nil
            app = nil
            platforms = nil
            graph = false
        }
        switch item.recipients {
        case .users(let ids):
            var seen = Set<Int64>(minimumCapacity: ids.count)
            users = ids.filter { seen.insert($0).inserted }
        case .connections:
            users = []
        }
    }
}

/// One write for the writer: an append, or a change to entries' state
/// (whose event is numbered from the same heads, so it goes the same way).
enum PostgresPending: Sendable {
    case append(PendingAppend)
    case change(FeedChange, @Sendable (Result<FeedChangeOutcome, StorageError>) -> Void)

    /// Fails it, with nothing done.
    func fail(_ error: StorageError) {
        switch self {
        case .append(let append): append.completion(.failure(error))
        case .change(_, let completion): completion(.failure(error))
        }
    }
}

/// What the writer did with one append.
enum PostgresAppendOutcome: Sendable {
    case appended(recipients: Int64, first: (user: Int64, seq: Int64)?)
    case replayed(AppendResult)
    case failed(StorageError)

    func result(for append: PendingAppend) -> Result<AppendResult, StorageError> {
        switch self {
        case .appended(let recipients, let first):
            let item = append.item
            let entry = first.map {
                NotifyDomain.Notification(
                    id: item.id, sequence: UInt64($0.seq), user: $0.user,
                    createdAt: Timestamp(microsecondsSince1970: append.createdAt), content: item.content)
            }
            return .success(AppendResult(id: item.id, recipients: UInt64(max(0, recipients)), first: entry, replayed: false))
        case .replayed(let result):
            return .success(result)
        case .failed(let error):
            return .failure(error)
        }
    }
}

/// Appends waiting for the group-commit writer: while one transaction runs,
/// the appends that come queue here, and the next transaction takes them all
/// (up to its limit). Bounded: past its capacity an append is refused as busy.
final class PostgresAppendQueue: Sendable {
    private struct State {
        var pending: [PostgresPending] = []
        var closed = false
        /// The writers asleep on an empty queue.
        var waiters: [CheckedContinuation<Void, Never>] = []
    }

    private let state = Mutex(State())
    private let capacity: Int

    init(capacity: Int) {
        self.capacity = capacity
    }

    static let closedError = StorageError(code: .unavailable, message: "the store has stopped")

    /// Queues `append`, or says why not.
    func enqueue(_ append: PostgresPending) -> StorageError? {
        let outcome = state.withLock { state -> (StorageError?, CheckedContinuation<Void, Never>?) in
            if state.closed { return (Self.closedError, nil) }
            if state.pending.count >= capacity {
                return (StorageError(code: .busy, message: "too many appends are waiting to be committed"), nil)
            }
            state.pending.append(append)
            // One writer per wake-up: it takes everything queued.
            return (nil, state.waiters.popLast())
        }
        outcome.1?.resume()
        return outcome.0
    }

    /// Up to `limit` appends, oldest first, waiting for the first; nil once
    /// the queue is closed and empty.
    func next(limit: Int) async -> [PostgresPending]? {
        while true {
            let batch = state.withLock { state -> [PostgresPending]?? in
                if state.pending.isEmpty { return state.closed ? .some(nil) : nil }
                guard state.pending.count > limit else {
                    var batch: [PostgresPending] = []
                    swap(&batch, &state.pending)
                    return batch
                }
                let batch = Array(state.pending[..<limit])
                state.pending.removeFirst(limit)
                return batch
            }
            if let batch { return batch }
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                let now = state.withLock { state -> Bool in
                    if !state.pending.isEmpty || state.closed { return true }
                    state.waiters.append(continuation)
                    return false
                }
                if now { continuation.resume() }
            }
        }
    }

    /// Refuses every later append; the writer drains what is queued, then ends.
    /// - Returns: whether the queue was open.
    @discardableResult
    func close() -> Bool {
        let (wasOpen, waiters) = state.withLock { state in
            defer {
                state.closed = true
                state.waiters = []
            }
            return (!state.closed, state.waiters)
        }
        for waiter in waiters { waiter.resume() }
        return wasOpen
    }

    var isClosed: Bool { state.withLock { $0.closed } }

    /// What is still queued, taken out: a store dropped without running fails it.
    func drain() -> [PostgresPending] {
        state.withLock { state in
            defer { state.pending = [] }
            return state.pending
        }
    }
}

/// Opens once the schema is migrated: calls that come earlier (while
/// ``PostgresNotificationStore/run()`` starts) wait for it.
final class PostgresReadiness: Sendable {
    private enum State {
        case waiting([CheckedContinuation<StorageError?, Never>])
        case ready
        case closed(StorageError)
    }

    private let state = Mutex(State.waiting([]))

    /// Returns when the store is ready.
    /// - Throws: why the store is not usable (stopped, or its migration failed).
    func wait() async throws(StorageError) {
        let failure: StorageError? = await withCheckedContinuation { continuation in
            let now = state.withLock { state -> StorageError?? in
                switch state {
                case .ready: return .some(nil)
                case .closed(let error): return .some(error)
                case .waiting(var waiters):
                    waiters.append(continuation)
                    state = .waiting(waiters)
                    return nil
                }
            }
            if let now { continuation.resume(returning: now) }
        }
        if let failure { throw failure }
    }

    /// Whether the schema is migrated and the store not stopped.
    var isReady: Bool {
        state.withLock {
            if case .ready = $0 { return true }
            return false
        }
    }

    func open() { settle(.ready, nil) }

    func close(_ error: StorageError) { settle(.closed(error), error) }

    private func settle(_ next: State, _ answer: StorageError?) {
        let waiters = state.withLock { state -> [CheckedContinuation<StorageError?, Never>] in
            if case .closed = state { return [] }
            defer { state = next }
            if case .waiting(let waiters) = state { return waiters }
            return []
        }
        for waiter in waiters { waiter.resume(returning: answer) }
    }
}
