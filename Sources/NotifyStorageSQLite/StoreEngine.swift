import Foundation
import GRDB
import Logging
import NotifyDomain
import NotifyStorage
import Synchronization

/// The state the store's background tasks share with its methods.
///
/// Kept apart from ``SQLiteNotificationStore`` so that the writer tasks do
/// not keep the store itself alive: dropping the store finishes their
/// signal streams and they end.
final class StoreEngine: Sendable {
    let pool: DatabasePool
    let configuration: SQLiteStoreConfiguration
    let logger: Logger
    let statistics = Mutex(SQLiteStoreStatistics())
    let queue = Mutex(AppendQueue())
    /// Wakes the group-commit writer; one buffered signal is enough, since
    /// the writer drains the whole queue each time it wakes.
    let appendSignal: AsyncStream<Void>.Continuation
    /// Wakes the background fan-out.
    let fanOutSignal: AsyncStream<Void>.Continuation

    init(
        pool: DatabasePool, configuration: SQLiteStoreConfiguration, logger: Logger,
        appendSignal: AsyncStream<Void>.Continuation, fanOutSignal: AsyncStream<Void>.Continuation
    ) {
        self.pool = pool
        self.configuration = configuration
        self.logger = logger
        self.appendSignal = appendSignal
        self.fanOutSignal = fanOutSignal
    }

    var isClosed: Bool { queue.withLock { $0.closed } }

    static let closedError = StorageError(code: .unavailable, message: "the store is closed")

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

    /// A write transaction; returns after it has committed.
    func write<T: Sendable>(
        _ operation: String, _ body: @Sendable (Database) throws -> T
    ) async throws(StorageError) -> T {
        guard !isClosed else { throw Self.closedError }
        do {
            return try await pool.write(body)
        } catch {
            throw StorageError(mapping: error, during: operation)
        }
    }
}

/// Appends waiting for the group-commit writer.
struct AppendQueue {
    struct Pending {
        var notification: EncodedAppend
        var continuation: CheckedContinuation<AppendOutcome, Never>
    }

    var pending: [Pending] = []
    /// Set by close: no append is accepted any more.
    var closed = false

    /// Takes up to `limit` appends, oldest first.
    mutating func take(_ limit: Int) -> [Pending] {
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
}

/// An append with everything that does not need the database already
/// computed, on the caller's task: the writer thread is the one serial
/// resource, so it only binds and steps statements. A class, so the queue
/// and the writer pass one reference instead of copying every field.
final class EncodedAppend: Sendable {
    let item: NewNotification
    let kind: String
    /// The content as `notifications.content` stores it.
    let json: String
    let createdAt: Int64
    let fingerprint: Data?

    init(_ item: NewNotification) {
        let (kind, json) = StoredContent.encode(item.content)
        self.kind = kind
        self.json = json
        self.item = item
        createdAt = item.createdAt.storedMicroseconds
        fingerprint = item.idempotencyKey.map { Data($0.fingerprint) }
    }
}

/// What the writer hands back for one append.
///
/// Small, so a batch's outcomes are one small array on the writer; the caller
/// builds its ``AppendResult`` from it and its own ``EncodedAppend``, on its task.
enum AppendOutcome: Sendable {
    case appended(recipients: Int64, first: (user: Int64, seq: Int64)?)
    /// Rare (a retried call): boxed, so it does not widen every outcome.
    case replayed(ReplayedAppend)
    case failed(StorageError)

    func result(for encoded: EncodedAppend) throws(StorageError) -> AppendResult {
        switch self {
        case .appended(let recipients, let first):
            let item = encoded.item
            let entry = first.map {
                NotifyDomain.Notification(
                    id: item.id, sequence: UInt64($0.seq), user: $0.user,
                    createdAt: Date(storedMicroseconds: encoded.createdAt), content: item.content.stored)
            }
            return AppendResult(id: item.id, recipients: UInt64(recipients), first: entry, replayed: false)
        case .replayed(let replayed):
            return replayed.result
        case .failed(let error):
            throw error
        }
    }
}

final class ReplayedAppend: Sendable {
    let result: AppendResult

    init(_ result: AppendResult) {
        self.result = result
    }
}
