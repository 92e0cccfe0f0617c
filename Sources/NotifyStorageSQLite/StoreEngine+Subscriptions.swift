import GRDB
import Logging
import NotifyDomain
import NotifyStorage

extension StoreEngine {
    /// The subscription sweep: every
    /// ``SQLiteStoreConfiguration/subscriptionSweepInterval``, deletes the
    /// subscriptions expired longer ago than their renewal grace period, a
    /// bounded batch per transaction. Kept apart from the feed's sweeper:
    /// it touches another table, at another pace. Ends when cancelled or
    /// the store closes.
    func runSubscriptionSweeper() async {
        let interval = configuration.subscriptionSweepInterval
        guard interval > .zero else { return }
        let batch = max(1, configuration.subscriptionSweepBatchSize)
        while true {
            do {
                try await Task.sleep(for: interval)
            } catch {
                return
            }
            do {
                // Until a batch comes back short: each is its own transaction,
                // so appends wait for one batch at most.
                while !isClosed && !Task.isCancelled {
                    let cutoff = Timestamp.now().adding(seconds: -Subscription.renewalGraceSeconds)
                    guard try await sweepSubscriptions(expiredBefore: cutoff, limit: batch) >= batch else { break }
                }
            } catch {
                if isClosed || Task.isCancelled { return }
                // A full disk is logged once, by writability.
                if error.code != .unavailable {
                    logger.info("the subscription sweep failed; retrying at the next interval", metadata: ["error.type": "\(error)"])
                }
            }
            if isClosed || Task.isCancelled { return }
        }
    }

    /// Deletes up to `limit` subscriptions that expired before `expiredBefore`.
    func sweepSubscriptions(expiredBefore: Timestamp, limit: Int) async throws(StorageError) -> Int {
        guard limit > 0 else { return 0 }
        let cutoff = expiredBefore.storedMicroseconds
        return try await write("sweeping subscriptions") { db in
            try db.execute(
                sql: """
                    DELETE FROM subscriptions WHERE id IN (
                        SELECT id FROM subscriptions WHERE expires_at < ? ORDER BY expires_at LIMIT ?)
                    """,
                arguments: [cutoff, limit])
            return db.changesCount
        }
    }
}
