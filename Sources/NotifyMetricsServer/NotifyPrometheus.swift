public import Prometheus

/// The Prometheus factory every layer's metrics are made with, and its
/// buckets, declared once.
public enum NotifyPrometheus {
    /// Latencies (calls, commits, delivery lag), in seconds: 100 µs to 10 s,
    /// about three buckets a decade, so that both a staged call (~1 ms under
    /// load) and a slow fan-out fall inside.
    public static let durationBuckets: [Duration] = [
        .microseconds(100), .microseconds(250), .microseconds(500), .milliseconds(1), .microseconds(2500),
        .milliseconds(5), .milliseconds(10), .milliseconds(25), .milliseconds(50), .milliseconds(100),
        .milliseconds(250), .milliseconds(500), .seconds(1), .milliseconds(2500), .seconds(5), .seconds(10),
    ]

    /// Counts (the writer's batch sizes): powers of two up to the batch limit.
    public static let sizeBuckets: [Double] = [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024]

    /// A new, empty registry: one per process (or per test).
    public static func registry() -> PrometheusCollectorRegistry {
        PrometheusCollectorRegistry()
    }

    /// A factory over `registry` with notify's buckets.
    public static func factory(registry: PrometheusCollectorRegistry) -> PrometheusMetricsFactory {
        var factory = PrometheusMetricsFactory(registry: registry)
        factory.defaultDurationHistogramBuckets = durationBuckets
        factory.defaultValueHistogramBuckets = sizeBuckets
        return factory
    }
}
