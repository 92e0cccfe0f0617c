import Atomics
public import CoreMetrics
import Logging
import NIOCore
import NotifyCore

/// The RPC server's metrics, made through the swift-metrics factory it is
/// given (no global bootstrap: each server, and each test, brings its own
/// registry).
///
/// Names and labels follow Prometheus' conventions (docs/OPERATIONS.md,
/// "Metrics"). What is counted per call is resolved once per method (its
/// ``CallObserver``, at registration) and per status (lazily, then cached in
/// an atomic reference), so a call records with an atomic increment and one
/// histogram sample: no string, no dictionary, no allocation. What is a
/// level (open connections, streams, calls in flight) is read when scraped
/// (``collect(from:)``), so it costs the calls nothing.
public final class ServerMetrics: Sendable {
    let factory: any MetricsFactory
    /// Calls refused at once for want of room: the server's limit
    /// (`OVERLOADED`) or the connection's (`TOO_MANY_CALLS`).
    let shed: Counter
    /// Calls refused by a caller's rate limit or its address's failed
    /// authentications (`THROTTLED`).
    let throttled: Counter
    /// From a notification's commit to its send on a live feed stream.
    let deliveryLag: Timer
    private let connections: Gauge
    private let streams: Gauge
    private let callsInFlight: Gauge

    /// The metric names, declared once (docs/OPERATIONS.md lists them).
    public enum Name {
        public static let calls = "notify_rpc_calls_total"
        public static let callDuration = "notify_rpc_call_duration_seconds"
        public static let shed = "notify_rpc_calls_shed_total"
        public static let throttled = "notify_rpc_calls_throttled_total"
        public static let connections = "notify_rpc_connections_open"
        public static let streams = "notify_rpc_streams_open"
        public static let callsInFlight = "notify_rpc_calls_in_flight"
        public static let deliveryLag = "notify_feed_delivery_lag_seconds"
    }

    /// - Parameter factory: where the metrics are made, e.g. a
    ///   `PrometheusMetricsFactory` over the registry `/metrics` serves.
    public init(factory: any MetricsFactory) {
        self.factory = factory
        shed = Counter(label: Name.shed, factory: factory)
        throttled = Counter(label: Name.throttled, factory: factory)
        deliveryLag = Timer(label: Name.deliveryLag, factory: factory)
        connections = Gauge(label: Name.connections, factory: factory)
        streams = Gauge(label: Name.streams, factory: factory)
        callsInFlight = Gauge(label: Name.callsInFlight, factory: factory)
    }

    /// Sets the levels from the server as it is now; the `/metrics`
    /// listener calls it before each scrape.
    public func collect(from server: RPCServer) {
        connections.record(server.openConnections)
        streams.record(server.openStreams)
        callsInFlight.record(server.callsInFlight)
    }

    /// Records one feed entry's lag from its commit (its `createdAt`, the
    /// writer's clock) to its send on a live stream.
    func recordDeliveryLag(microseconds: Int64) {
        deliveryLag.recordNanoseconds(max(0, microseconds) &* 1_000)
    }
}

/// What is observed of each call of one method when it ends: its count by
/// status and its latency (when metrics are on), and its debug log line.
///
/// One per registered method, made with the router, so that a call finds it
/// through the router entry it already looked up; calls refused before
/// routing share one whose method label is `unknown` (a client's method
/// string is never a label: it would let a client mint series).
final class CallObserver: Sendable {
    let method: String
    private let metrics: ServerMetrics?
    /// By status code: made on the first call that ends with it.
    private let calls: [ManagedAtomicLazyReference<Counter>]
    private let duration: Timer?

    init(method: String, metrics: ServerMetrics?) {
        self.method = method
        self.metrics = metrics
        calls = metrics == nil ? [] : StatusCode.allCases.map { _ in ManagedAtomicLazyReference<Counter>() }
        duration = metrics.map {
            Timer(label: ServerMetrics.Name.callDuration, dimensions: [("method", method)], factory: $0.factory)
        }
    }

    /// Counts a call that ended with `status`: by status, and as shed or
    /// throttled by its reason. Alone (untimed, unlogged) for a call its
    /// connection refused before it had a context (TOO_MANY_CALLS).
    func counted(status: StatusCode, reason: Reason?) {
        guard let metrics else { return }
        let index = Int(status.rawValue)
        if index < calls.count {
            let counter = calls[index].load() ?? calls[index].storeIfNilThenLoad(Counter(
                label: ServerMetrics.Name.calls, dimensions: [("method", method), ("status", status.name)],
                factory: metrics.factory
            ))
            counter.increment()
        }
        if let reason {
            if reason == .overloaded || reason == .tooManyCalls {
                metrics.shed.increment()
            } else if reason == .throttled {
                metrics.throttled.increment()
            }
        }
    }

    /// Whether a call's start must be timed: metrics are on, or its logger
    /// writes the debug line.
    func timesCall(logger: Logger) -> Bool {
        metrics != nil || logger.logLevel <= .debug
    }

    /// The call ended with `status`: counted, timed, and logged at debug.
    ///
    /// - Parameters:
    ///   - started: `NIODeadline.now().uptimeNanoseconds` when it was routed; 0 when not timed.
    func finished(status: StatusCode, reason: Reason?, started: UInt64, context: ServerContext) {
        let elapsed = started == 0 ? 0 : Int64(truncatingIfNeeded: NIODeadline.now().uptimeNanoseconds &- started)
        if metrics != nil {
            counted(status: status, reason: reason)
            duration?.recordNanoseconds(elapsed)
        }
        if context.loggerLevel <= .debug {
            // The method and the request id (a gateway request's own id, which
            // it sends as x-request-id) are the context logger's; never a
            // metadata value (a token is one of them).
            var logger = context.logger
            logger[metadataKey: "notify.rpc.status"] = "\(status.name)"
            if let reason { logger[metadataKey: "notify.rpc.reason"] = "\(reason.rawValue)" }
            if started != 0 { logger[metadataKey: "notify.duration_ms"] = "\(Double(elapsed) / 1_000_000)" }
            logger.debug("rpc call")
        }
    }
}
