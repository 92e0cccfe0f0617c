import Foundation
import GRDB
import Synchronization
import Logging
import NotifyStorage

extension StoreEngine {
    /// The background fan-out: on each signal, writes feed rows for pending
    /// jobs, oldest job first, until none is left. Ends when cancelled.
    ///
    /// Each batch reads the job's state inside its own write transaction, so
    /// two processes (or a restart midway) never write a recipient twice.
    func runFanOut(_ signals: AsyncStream<Void>) async {
        for await _ in signals {
            while !Task.isCancelled {
                do {
                    guard try await materializeFanOutBatch() else { break }
                } catch {
                    if Task.isCancelled || isClosed { return }
                    if error.code != .unavailable {
                        logger.info("background fan-out failed; retrying", metadata: ["error.type": "\(error)"])
                    }
                    try? await Task.sleep(for: .seconds(1))
                }
            }
        }
    }

    /// Writes up to ``SQLiteStoreConfiguration/fanOutBatchSize`` feed rows of
    /// the oldest job in one transaction.
    /// - Returns: false when there was no job.
    func materializeFanOutBatch() async throws(StorageError) -> Bool {
        let batchSize = max(1, configuration.fanOutBatchSize)
        // Whom the batch reaches, read only when someone watches as it begins
        // (see wakeFeeds: nil wakes every watcher).
        let watched = feedAdvances.isWatched
        let feedLimit = configuration.maxFeedEntries
        let (found, written, completed, reached, skipped) = try await write("fan-out") {
            db -> (Bool, Int, Bool, [Int64]?, Int) in
            guard let job = try FanOutJobRow.order(Column("id")).fetchOne(db), let jobID = job.id else {
                return (false, 0, false, nil, 0)
            }
            // The last recipient of this batch: recipients are taken in id order.
            let end = try Int64.fetchOne(
                db, sql: "SELECT user FROM fanout_recipients WHERE job = ? ORDER BY user LIMIT 1 OFFSET ?",
                arguments: [jobID, batchSize - 1])
            let range = end == nil ? "" : " AND r.user <= :end"
            var arguments: StatementArguments = ["job": jobID]
            if let end { arguments += ["end": end] }
            // A recipient deleted since the snapshot gets no feed, nor does
            // one whose feed is full (skipped and counted).
            var audience = Audience(
                sql: """
                    SELECT r.user AS user FROM fanout_recipients r JOIN users u ON u.id = r.user
                    WHERE r.job = :job\(range)
                    """,
                arguments: arguments)
            var skipped = 0
            if let feedLimit {
                let everyone =
                    try Int64.fetchOne(db, sql: "SELECT COUNT(*) FROM (\(audience.sql))", arguments: audience.arguments) ?? 0
                audience = audience.bounded(by: feedLimit)
                let room =
                    try Int64.fetchOne(db, sql: "SELECT COUNT(*) FROM (\(audience.sql))", arguments: audience.arguments) ?? 0
                skipped = Int(clamping: max(0, everyone - room))
            }
            let graph = try String.fetchOne(
                db, sql: "SELECT kind FROM notifications WHERE serial = ?", arguments: [job.notification]) == ContentColumns.graphKind
            let reached = watched ? try Int64.fetchAll(db, sql: audience.sql, arguments: audience.arguments) : nil
            let written = try Self.writeFeedRows(
                db, audience: audience.sql, arguments: audience.arguments, notification: job.notification, graph: graph)
            if let end {
                try db.execute(
                    sql: "DELETE FROM fanout_recipients WHERE job = ? AND user <= ?", arguments: [jobID, end])
            }
            if end != nil, try !FanOutRecipientRow.filter(Column("job") == jobID).isEmpty(db) {
                return (true, written, false, reached, skipped)
            }
            // Deleting the job deletes any recipients left (by cascade).
            try FanOutJobRow.deleteOne(db, key: jobID)
            return (true, written, true, reached, skipped)
        }
        guard found else {
            metrics.recordFanOutBacklog(0)
            return false
        }
        if completed, let backlog = try? await read("fan-out backlog", { db in try FanOutJobRow.fetchCount(db) }) {
            metrics.recordFanOutBacklog(backlog)
        }
        if written > 0, feedAdvances.isWatched {
            if let reached { feedAdvances.advanced(users: reached) } else { feedAdvances.advancedAll() }
        }
        statistics.withLock {
            $0.fanOutTransactions += 1
            $0.fanOutRowsWritten += written
            $0.feedsSkippedFull += skipped
            if completed { $0.fanOutJobsCompleted += 1 }
        }
        if completed {
            logger.debug("fan-out job finished")
        }
        return true
    }
}
