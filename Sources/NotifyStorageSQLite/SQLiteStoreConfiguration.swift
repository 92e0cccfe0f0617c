/// Tuning for ``SQLiteNotificationStore``.
///
/// The defaults suit one server process on a local disk, and are the ones
/// `notifyd serve` uses (its `--max-feed-entries` default is read from here);
/// tests lower the limits to exercise the slow paths with small data.
public struct SQLiteStoreConfiguration: Hashable, Sendable {
    /// How long a statement waits for another process's lock (the bootstrap
    /// CLI writing to the same file) before the call fails with
    /// ``StorageError/Code/busy``.
    public var busyTimeout: Duration
    /// The most appends committed by one transaction: one fsync covers them all.
    public var maxAppendsPerTransaction: Int
    /// The most appends waiting for the writer. Past it ``SQLiteNotificationStore/append(_:)``
    /// throws ``StorageError/Code/busy`` at once instead of queueing without bound,
    /// so the server can answer RESOURCE_EXHAUSTED.
    public var maxPendingAppends: Int
    /// The largest connections audience written to feeds inside the append's own
    /// transaction. A larger audience is committed as a durable fan-out job that a
    /// background task materializes, so the call stays fast and its memory bounded.
    public var inlineFanOutLimit: Int
    /// The most feed rows the background fan-out writes per transaction
    /// (the writer's queue is first come, first served, so appends take
    /// their turn between two); each batch is sized by
    /// ``fanOutTransactionBudget`` below this.
    public var fanOutBatchSize: Int
    /// How long one fan-out transaction's statements should take while
    /// appends flow (at least 32 rows); the fan-out then rests as long as the
    /// transaction held the writer. Zero: every batch writes
    /// ``fanOutBatchSize`` rows. Less than the sweeper's: at 0.25 ms others'
    /// p99 during five 100k fan-outs was 2.68× their p99 without, at 0.1 ms
    /// 1.92×, every feed filled after 1.5 s and 4.4 s (docs/PERFORMANCE.md,
    /// "Fan-out to 100,000 followers").
    public var fanOutTransactionBudget: Duration = .microseconds(100)
    /// A further rest after each fan-out batch; zero: none (tests catch a
    /// job midway with it).
    public var fanOutPause: Duration = .zero
    /// How long an idempotency key replays its first answer.
    public var idempotencyRetention: Duration
    /// How often, at most, expired idempotency keys are purged (by the append writer).
    public var idempotencyPurgeInterval: Duration
    /// Concurrent read connections.
    public var maximumReaderCount: Int
    /// Whether this process writes pending fan-out jobs into feeds. The server
    /// does; a short-lived admin CLI sharing the file can leave them to it.
    public var runsBackgroundFanOut: Bool
    /// How often the append writer copies the WAL into the database (a
    /// PASSIVE checkpoint after a batch, on the writer's thread); zero never.
    ///
    /// Under a steady append load SQLite's automatic checkpoint copied
    /// nothing here: the WAL grew by 6 MB a second (190 MB in 30 s) while the
    /// database file stayed as it was, and commits stalled more and more.
    /// Why it did not run was not found; an explicit checkpoint copies
    /// everything. With this, the WAL stays near the size of one interval's
    /// writes. When appends stop, the last interval's frames wait in the WAL
    /// for the next batch (or for the store to stop).
    public var checkpointInterval: Duration
    /// The most entries one user's feed may hold (100,000 by default); nil: no bound.
    ///
    /// A notification for a full feed skips it: an append to several feeds
    /// (a connections notification, a fan-out job) writes the others and
    /// counts the skipped one in ``SQLiteStoreStatistics/feedsSkippedFull``,
    /// and its answer's `recipients` does not count it; an append whose only
    /// feeds are all full fails with ``StorageError/Code/feedFull``. Feeds are
    /// never trimmed to make room: an entry once acknowledged stays.
    public var maxFeedEntries: Int64?
    /// How often a store that cannot write (a full disk) tries a probe write
    /// to find out whether it can again.
    public var probeInterval: Duration
    /// Bytes the probe writes (then deletes): the room it wants before the
    /// store takes writes again.
    public var probeBytes: Int
    /// How long an entry without an expiration (Notify's) is kept; nil:
    /// for ever. The sweeper removes older ones, and a reader whose cursor
    /// was before them is told (``FeedPage/sweptThrough``).
    public var retention: Duration?
    /// How often the sweeper removes expired entries and those past the
    /// retention; zero: never (reads hide expired entries all the same).
    public var sweepInterval: Duration
    /// Rows the sweeper removes per transaction: the longest an append
    /// waits behind it is one such transaction.
    public var sweepBatchSize: Int
    /// How long one sweep transaction should hold the writer, from its first
    /// statement to its commit; zero: every transaction removes
    /// ``sweepBatchSize`` rows. With a budget each transaction's rows follow
    /// from how long the previous one took (at most ``sweepBatchSize``), and
    /// the sweep then leaves the writer to appends for as long as that
    /// transaction took. docs/PERFORMANCE.md, "The sweeper": 0.25 ms kept
    /// appends' p99 within 2× of its value without a sweep.
    public var sweepTransactionBudget: Duration = .microseconds(250)
    /// How long one sweep transaction's statements should take while no
    /// append flows (then no rest follows): the first append after a quiet
    /// spell waits behind one such transaction at most. Zero: whole
    /// ``sweepBatchSize`` transactions, which a mass expiry made about 27 ms
    /// long. Unused when ``sweepTransactionBudget`` is zero.
    public var sweepQuietBudget: Duration = .milliseconds(2)
    /// How often subscriptions expired longer ago than their renewal grace
    /// period (``Subscription/renewalGraceSeconds``) are deleted, at most
    /// ``subscriptionSweepBatchSize`` per transaction; zero: never.
    /// docs/OPERATIONS.md, "The sweeper".
    public var subscriptionSweepInterval: Duration = .seconds(60)
    /// Subscriptions one transaction of that sweep deletes, at most.
    public var subscriptionSweepBatchSize = 500
    /// How often a running store reads the directory changes (a revoked
    /// token, a block, a user deleted ...) that another process on the file
    /// made, `notifyd admin` beside a running server; zero: never, and
    /// servers keep what they cache 2 s rather than 60 (``StoreEngine/runDirectoryWatch()``).
    public var directoryPollInterval: Duration = .milliseconds(250)
    /// How many directory changes the file keeps for the stores reading
    /// them; one that fell further behind forgets everything it cached.
    public var directoryChangesKept = 1_024

    public init(
        busyTimeout: Duration = .seconds(5),
        maxAppendsPerTransaction: Int = 256,
        maxPendingAppends: Int = 10_000,
        inlineFanOutLimit: Int = 1_000,
        fanOutBatchSize: Int = 1_000,
        idempotencyRetention: Duration = .seconds(24 * 60 * 60),
        idempotencyPurgeInterval: Duration = .seconds(60),
        maximumReaderCount: Int = 5,
        runsBackgroundFanOut: Bool = true,
        checkpointInterval: Duration = .seconds(1),
        maxFeedEntries: Int64? = 100_000,
        probeInterval: Duration = .seconds(1),
        probeBytes: Int = 256 * 1024,
        retention: Duration? = .seconds(30 * 24 * 60 * 60),
        sweepInterval: Duration = .seconds(1),
        sweepBatchSize: Int = 1_000
    ) {
        self.busyTimeout = busyTimeout
        self.maxAppendsPerTransaction = maxAppendsPerTransaction
        self.maxPendingAppends = maxPendingAppends
        self.inlineFanOutLimit = inlineFanOutLimit
        self.fanOutBatchSize = fanOutBatchSize
        self.idempotencyRetention = idempotencyRetention
        self.idempotencyPurgeInterval = idempotencyPurgeInterval
        self.maximumReaderCount = maximumReaderCount
        self.runsBackgroundFanOut = runsBackgroundFanOut
        self.checkpointInterval = checkpointInterval
        self.maxFeedEntries = maxFeedEntries.map { max(1, $0) }
        self.probeInterval = probeInterval
        self.probeBytes = probeBytes
        self.retention = retention
        self.sweepInterval = sweepInterval
        self.sweepBatchSize = max(1, sweepBatchSize)
    }
}

/// Counters since the store opened, for tests and metrics.
public struct SQLiteStoreStatistics: Hashable, Sendable {
    /// Appends that reached the writer (committed or failed).
    public var appends: Int = 0
    /// Transactions the group-commit writer ran: fewer than ``appends`` when batching works.
    public var appendTransactions: Int = 0
    /// The most appends one transaction carried.
    public var largestAppendBatch: Int = 0
    /// Durable fan-out jobs created for audiences above the inline limit.
    public var fanOutJobsCreated: Int = 0
    /// Fan-out jobs this process finished.
    public var fanOutJobsCompleted: Int = 0
    /// Feed rows written by the background fan-out.
    public var fanOutRowsWritten: Int = 0
    /// Background fan-out transactions.
    public var fanOutTransactions: Int = 0
    /// WAL checkpoints run by the append writer.
    public var checkpoints: Int = 0
    /// Frames in the WAL, and frames copied into the database, at the last checkpoint.
    public var lastCheckpointWALFrames: Int = 0
    public var lastCheckpointCopiedFrames: Int = 0
    /// Feeds an append or a fan-out skipped because they held
    /// ``SQLiteStoreConfiguration/maxFeedEntries`` entries.
    public var feedsSkippedFull: Int = 0
    /// Removed by the sweeper: feed entries expired, feed entries past the
    /// retention, notification rows; and its transactions.
    public var sweptExpiredEntries: Int = 0
    public var sweptRetainedEntries: Int = 0
    public var sweptNotifications: Int = 0
    public var sweepTransactions: Int = 0

    public init() {}
}

extension Duration {
    /// Seconds as a floating-point number, for GRDB's busy timeout.
    var seconds: Double {
        let parts = components
        return Double(parts.seconds) + Double(parts.attoseconds) / 1e18
    }

    /// Whole microseconds, the store's time unit.
    var microseconds: Int64 {
        let parts = components
        return parts.seconds * 1_000_000 + parts.attoseconds / 1_000_000_000_000
    }
}
