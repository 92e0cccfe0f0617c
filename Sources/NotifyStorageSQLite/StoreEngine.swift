import Foundation
import GRDB
import Logging
import NotifyDomain
import NotifyStorage
import Synchronization

/// The state the store's background tasks share with its methods.
///
/// Kept apart from ``SQLiteNotificationStore`` so that the writer thread
/// and the background tasks that ``SQLiteNotificationStore/run()`` starts
/// share only what they use.
final class StoreEngine: Sendable {
    let pool: DatabasePool
    let configuration: SQLiteStoreConfiguration
    let logger: Logger
    let statistics = Mutex(SQLiteStoreStatistics())
    let queue: AppendQueue
    /// Wakes the background fan-out.
    let fanOutSignal: AsyncStream<Void>.Continuation
    /// Wakes the live readers of feeds that a commit advanced.
    let feedAdvances = FeedAdvances()
    /// Whether the last write could write (a full disk turns it off).
    let writability: StoreWritability
    /// The retention's walk in serial order: every notification up to this
    /// serial has been walked (``sweep(now:)``). In memory: a new process
    /// walks once from the start.
    let retentionMark = Mutex<Int64>(0)
    /// The writer's batches and the fan-out's backlog, for `/metrics`.
    let metrics: StoreMetrics
    /// When the append writer last took a batch, in `DispatchTime` uptime
    /// nanoseconds (0: never): the background work is gentle while appends
    /// flow (``appendsFlow``).
    let lastAppendBatch = Atomic<UInt64>(0)
    /// This store object's name in `directory_changes`, random: it does
    /// not tell its own changes again (``runDirectoryWatch()``).
    let instanceID = String(UInt64.random(in: .min ... .max), radix: 16)
    /// The directory changes other processes made, as they are read.
    let heardChanges = DirectoryChanges()
    /// Whether the reads of `directory_changes` work: then every change
    /// made elsewhere is heard.
    let hearsChanges = Atomic<Bool>(false)

    init(
        pool: DatabasePool, configuration: SQLiteStoreConfiguration, logger: Logger,
        fanOutSignal: AsyncStream<Void>.Continuation, probeSignal: AsyncStream<Void>.Continuation,
        metrics: StoreMetrics = .disabled
    ) {
        self.metrics = metrics
        self.queue = AppendQueue(capacity: configuration.maxPendingAppends)
        self.pool = pool
        self.configuration = configuration
        self.logger = logger
        self.fanOutSignal = fanOutSignal
        self.writability = StoreWritability(logger: logger, probeSignal: probeSignal)
    }

    var isClosed: Bool { queue.isClosed }

    /// Whether an append batch was taken within ``appendsFlowWindow``: then
    /// the sweeper and the background fan-out size their transactions to
    /// their budgets and rest after each, so that appends wait behind one
    /// short transaction at most; otherwise nobody waits, and they write
    /// larger transactions back to back (the sweeper's bounded by
    /// ``SQLiteStoreConfiguration/sweepQuietBudget``, the fan-out's whole
    /// batches), one of which a first append after a quiet spell may wait for.
    var appendsFlow: Bool {
        let last = lastAppendBatch.load(ordering: .relaxed)
        return last != 0 && DispatchTime.now().uptimeNanoseconds &- last < Self.appendsFlowWindow
    }

    /// One second, in nanoseconds: a service taking an append a second or more counts as busy.
    static let appendsFlowWindow: UInt64 = 1_000_000_000

    static let closedError = StorageError(code: .unavailable, message: "the store has stopped")

    /// A read on a pooled reader connection, never on the caller's thread.
    func read<T: Sendable>(
        _ operation: String, _ body: @Sendable (Database) throws -> T
    ) async throws(StorageError) -> T {
        guard !isClosed else { throw Self.closedError }
        do {
            return try await pool.read(body)
        } catch {
            throw StorageError(mapping: error, during: operation)
        }
    }

    /// How long a background transaction took, both measured on the
    /// writer's thread (not the hop back to the task): its statements,
    /// which a budget bounds, and from its first statement to its commit,
    /// which an append queued behind it waits at most.
    struct WriteTimes: Sendable {
        var work: Duration = .zero
        var held: Duration = .zero
    }

    /// ``write(_:_:)``, timed (``WriteTimes``).
    func timedWrite<T: Sendable>(
        _ operation: String, _ body: @Sendable (Database) throws -> T
    ) async throws(StorageError) -> (value: T, times: WriteTimes) {
        let clock = ContinuousClock()
        let times = Mutex(WriteTimes())
        let value = try await write(operation) { db in
            let started = clock.now
            db.afterNextTransaction { _ in times.withLock { $0.held = started.duration(to: clock.now) } }
            defer { times.withLock { $0.work = started.duration(to: clock.now) } }
            return try body(db)
        }
        return (value, times.withLock { $0 })
    }

    /// A write transaction; returns after it has committed.
    ///
    /// A full disk stops writing (``writability``): from then on it is
    /// refused at once until the probe finds room.
    func write<T: Sendable>(
        _ operation: String, _ body: @Sendable (Database) throws -> T
    ) async throws(StorageError) -> T {
        guard !isClosed else { throw Self.closedError }
        if let refusal = writability.refusal() { throw refusal }
        do {
            return try await pool.write(body)
        } catch {
            let failure = StorageError(mapping: error, during: operation)
            writability.failed(failure)
            throw failure
        }
    }
}

/// Appends waiting for the group-commit writer thread.
///
/// A condition variable rather than an async stream: the writer is a thread
/// of its own that sleeps here between batches, so a batch costs no task
/// wake-up and no hop between threads (GRDB's synchronous `write` runs on
/// the calling thread).
final class AppendQueue: @unchecked Sendable {
    /// One write for the writer: an append, or a change to entries' state
    /// (which numbers its event from the same heads, so it goes the same way).
    enum Pending {
        case append(EncodedAppend, @Sendable (Result<AppendResult, StorageError>) -> Void)
        case change(FeedChange, @Sendable (Result<FeedChangeOutcome, StorageError>) -> Void)

        /// Completes it with what the writer did.
        func complete(_ outcome: AppendOutcome) {
            switch self {
            case .append(let encoded, let completion):
                completion(outcome.result(for: encoded))
            case .change(_, let completion):
                completion(outcome.changeResult())
            }
        }

        /// What it was doing, for an error's log.
        var operation: String {
            switch self {
            case .append(let encoded, _): "appending \(encoded.item.id)"
            case .change(let change, _): "changing the state of user \(change.user)'s feed"
            }
        }

        /// Fails it, with nothing done.
        func fail(_ error: StorageError) {
            switch self {
            case .append(_, let completion): completion(.failure(error))
            case .change(_, let completion): completion(.failure(error))
            }
        }
    }

    /// Guards every stored property below.
    private let condition = NSCondition()
    private var pending: [Pending] = []
    /// Set by close (the store stopping): no append is accepted any more.
    private var closed = false
    private let capacity: Int

    /// - Parameter capacity: the most appends waiting at once.
    init(capacity: Int) {
        self.capacity = capacity
    }

    /// Queues `append`, or says why not.
    func enqueue(_ append: Pending) -> StorageError? {
        condition.lock()
        defer { condition.unlock() }
        if closed { return StoreEngine.closedError }
        if pending.count >= capacity {
            return StorageError(code: .busy, message: "too many appends are waiting to be committed")
        }
        pending.append(append)
        // The writer only sleeps on an empty queue: one signal per wake-up.
        if pending.count == 1 { condition.signal() }
        return nil
    }

    /// Up to `limit` appends, oldest first, waiting for the first one; nil
    /// once the queue is closed and empty.
    func next(limit: Int) -> [Pending]? {
        condition.lock()
        defer { condition.unlock() }
        while pending.isEmpty && !closed { condition.wait() }
        if pending.isEmpty { return nil }
        guard pending.count > limit else {
            // The usual case: the whole queue, without copying or shifting it.
            var batch: [Pending] = []
            swap(&batch, &pending)
            pending.reserveCapacity(batch.count)
            return batch
        }
        let batch = Array(pending[..<limit])
        pending.removeFirst(limit)
        return batch
    }

    /// Refuses every later append; the writer drains what is queued, then
    /// ends (the store's `run()` stopping).
    /// - Returns: whether the queue was open.
    func close() -> Bool {
        condition.lock()
        defer { condition.unlock() }
        let wasOpen = !closed
        closed = true
        condition.broadcast()
        return wasOpen
    }

    var isClosed: Bool {
        condition.lock()
        defer { condition.unlock() }
        return closed
    }
}

/// An append with everything that does not need the database already
/// computed, on the caller's task: the writer thread is the one serial
/// resource, so it only binds and steps statements. A class, so the queue
/// and the writer pass one reference instead of copying every field.
final class EncodedAppend: Sendable {
    let item: NewNotification
    /// `notifications.kind`: ``ContentColumns/customKind`` or ``ContentColumns/graphKind``.
    let kind: String
    /// A SendNotification's platforms as `notifications.platforms` holds them.
    let platforms: String?
    let createdAt: Int64
    let fingerprint: Data?

    init(_ item: NewNotification) {
        self.item = item
        createdAt = item.createdAt.storedMicroseconds
        switch item.content {
        case .graph(let graph):
            kind = ContentColumns.graphKind
            platforms = ContentColumns.platformList(graph.platforms)
        case .custom:
            kind = ContentColumns.customKind
            platforms = nil
        }
        fingerprint = item.idempotencyKey.map { Data($0.fingerprint) }
    }
}

/// What the writer hands back for one append.
///
/// Small, so a batch's outcomes are one small array inside the transaction;
/// the ``AppendResult`` is built from it and the ``EncodedAppend`` after the commit.
enum AppendOutcome: Sendable {
    case appended(recipients: Int64, first: (user: Int64, seq: Int64)?)
    /// Rare (a retried call): boxed, so it does not widen every outcome.
    case replayed(ReplayedAppend)
    case failed(StorageError)
    /// A ``FeedChange``'s outcome (refusals included: they wrote nothing).
    case changed(FeedChangeOutcome)

    func changeResult() -> Result<FeedChangeOutcome, StorageError> {
        switch self {
        case .changed(let outcome): .success(outcome)
        case .failed(let error): .failure(error)
        case .appended, .replayed:
            .failure(StorageError(code: .internalError, message: "a feed change was answered as an append"))
        }
    }

    func result(for encoded: EncodedAppend) -> Result<AppendResult, StorageError> {
        switch self {
        case .appended(let recipients, let first):
            let item = encoded.item
            let entry = first.map {
                NotifyDomain.Notification(
                    id: item.id, sequence: UInt64($0.seq), user: $0.user,
                    createdAt: Timestamp(storedMicroseconds: encoded.createdAt), content: item.content)
            }
            return .success(AppendResult(id: item.id, recipients: UInt64(recipients), first: entry, replayed: false))
        case .replayed(let replayed):
            return .success(replayed.result)
        case .failed(let error):
            return .failure(error)
        case .changed:
            return .failure(StorageError(code: .internalError, message: "an append was answered as a feed change"))
        }
    }
}

final class ReplayedAppend: Sendable {
    let result: AppendResult

    init(_ result: AppendResult) {
        self.result = result
    }
}
