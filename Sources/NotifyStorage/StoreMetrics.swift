public import CoreMetrics

/// The store's metrics, made through the swift-metrics factory it is given
/// (no global bootstrap). Recorded once per writer batch, never per append,
/// so they cost the append path nothing it would notice.
///
/// Every backend reports the same names, labelled `store="sqlite"` or
/// `store="postgres"` (docs/OPERATIONS.md, "Metrics").
public struct StoreMetrics: Sendable {
    /// Appends and feed changes waiting when the writer took its last batch.
    public let queueDepth: Gauge
    /// Appends and changes committed per writer transaction.
    public let batchSize: Recorder
    /// One writer transaction, from its start to its commit.
    public let commitDuration: Timer
    /// Background fan-out jobs not yet finished (on PostgreSQL, by every
    /// instance sharing the database).
    public let fanOutBacklog: Gauge
    /// Times a lost LISTEN connection was opened again (PostgreSQL's
    /// listener of the other instances' commits).
    public let listenReconnects: Counter

    /// The metric names, declared once.
    public enum Name {
        public static let queueDepth = "notify_store_writer_queue_depth"
        public static let batchSize = "notify_store_writer_batch_size"
        public static let commitDuration = "notify_store_commit_duration_seconds"
        public static let fanOutBacklog = "notify_store_fanout_backlog"
        public static let listenReconnects = "notify_store_listen_reconnects_total"
    }

    /// - Parameters:
    ///   - factory: where the metrics are made.
    ///   - store: the `store` label: `sqlite` or `postgres`.
    public init(factory: any MetricsFactory, store: String) {
        let labels = [("store", store)]
        queueDepth = Gauge(label: Name.queueDepth, dimensions: labels, factory: factory)
        batchSize = Recorder(label: Name.batchSize, dimensions: labels, aggregate: true, factory: factory)
        commitDuration = Timer(label: Name.commitDuration, dimensions: labels, factory: factory)
        fanOutBacklog = Gauge(label: Name.fanOutBacklog, dimensions: labels, factory: factory)
        listenReconnects = Counter(label: Name.listenReconnects, dimensions: labels, factory: factory)
    }

    /// Metrics that go nowhere: a store built without a factory.
    public static let disabled = StoreMetrics(factory: NOOPMetricsHandler.instance, store: "none")

    /// Records one writer transaction of `size` appends and changes, begun at
    /// `start`, with `waiting` in the queue when its batch was taken.
    public func recordBatch(size: Int, waiting: Int, since start: ContinuousClock.Instant) {
        queueDepth.record(waiting)
        batchSize.record(size)
        commitDuration.recordNanoseconds(Self.nanoseconds(ContinuousClock.now - start))
    }

    /// Records the fan-out jobs not yet finished.
    public func recordFanOutBacklog(_ jobs: Int) {
        fanOutBacklog.record(jobs)
    }

    /// Counts one LISTEN connection opened again after it was lost.
    public func recordListenReconnect() {
        listenReconnects.increment()
    }

    private static func nanoseconds(_ duration: Duration) -> Int64 {
        let (seconds, attoseconds) = duration.components
        return seconds &* 1_000_000_000 &+ attoseconds / 1_000_000_000
    }
}
