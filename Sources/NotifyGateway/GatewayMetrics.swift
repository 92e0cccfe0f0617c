public import CoreMetrics
import Synchronization

/// The gateway's metrics, made through the swift-metrics factory it is given
/// (docs/OPERATIONS.md, "Metrics"): every answer by route and status, its
/// latency by route, and the connections open.
///
/// The same in `notifyd serve` (beside the RPC server's, whose calls its
/// requests become) and in `notifyd gateway` alone, where they are the
/// process's only ones. Labels stay few: `route` is a route's path as
/// ``GatewayRoutes`` lists it (never the request's own, whose ids would make
/// a series each), or `unmatched`.
public final class GatewayMetrics: Sendable {
    /// The metric names, declared once.
    public enum Name {
        public static let requests = "notify_http_requests_total"
        public static let requestDuration = "notify_http_request_duration_seconds"
        public static let connections = "notify_http_connections_open"
    }

    /// The route label of a path no route serves.
    static let unmatched = "unmatched"

    private struct Series: Hashable {
        var route: String
        var status: Int
    }

    private let factory: any MetricsFactory
    private let connections: Meter
    /// Made with a series' first answer, then found under a lock: one
    /// dictionary lookup per request, against the HTTP parsing and the JSON
    /// a request costs anyway.
    private let counters = Mutex<[Series: Counter]>([:])
    private let timers = Mutex<[String: Timer]>([:])

    /// - Parameter factory: where the metrics are made, e.g. a
    ///   `PrometheusMetricsFactory` over the registry `/metrics` serves.
    public init(factory: any MetricsFactory) {
        self.factory = factory
        connections = Meter(label: Name.connections, factory: factory)
    }

    /// One answer of `route`'s (``unmatched`` when none), sent
    /// `nanoseconds` after its request was read (nil: an answer the
    /// connection made on a timer or a limit, counted but not timed).
    func answered(route: String, status: Int, nanoseconds: Int64?) {
        let series = Series(route: route, status: status)
        let counter = counters.withLock { counters in
            if let counter = counters[series] { return counter }
            let counter = Counter(
                label: Name.requests, dimensions: [("route", route), ("status", String(status))], factory: factory)
            counters[series] = counter
            return counter
        }
        counter.increment()
        guard let nanoseconds else { return }
        let timer = timers.withLock { timers in
            if let timer = timers[route] { return timer }
            let timer = Timer(label: Name.requestDuration, dimensions: [("route", route)], factory: factory)
            timers[route] = timer
            return timer
        }
        timer.recordNanoseconds(nanoseconds)
    }

    /// A client connection opened (accepted, before any TLS handshake).
    func connectionOpened() {
        connections.increment()
    }

    func connectionClosed() {
        connections.decrement()
    }
}
