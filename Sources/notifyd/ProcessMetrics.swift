import ArgumentParser
import Logging
import NotifyMetricsServer
import NotifyServer
import NotifyStorage
import Prometheus

/// `notifyd serve`'s metrics: one registry for the process, the factory every
/// layer's metrics are made with, and the listener that serves them.
///
/// Made only when `--metrics-port` is set: without it nothing is recorded
/// (no factory, no clock read per call).
struct ServeMetrics {
    let configuration: MetricsConfiguration
    let registry = PrometheusCollectorRegistry()
    let factory: PrometheusMetricsFactory
    let server: ServerMetrics

    /// - Returns: nil when `--metrics-port` is unset or 0.
    /// - Throws: `ValidationError` for a port outside 0...65535.
    init?(_ settings: Settings) throws {
        let port = try settings.int(.metricsPort) ?? 0
        guard (0...65_535).contains(port) else { throw ValidationError("--metrics-port must be 0 (off) to 65535") }
        guard port > 0 else { return nil }
        configuration = MetricsConfiguration(
            host: try settings.string(.metricsHost, default: MetricsConfiguration.defaultHost), port: port)
        factory = NotifyPrometheus.factory(registry: registry)
        server = ServerMetrics(factory: factory)
    }

    /// The store's metrics, labelled `store=label`.
    func store(label: String) -> StoreMetrics {
        StoreMetrics(factory: factory, store: label)
    }

    /// The `/metrics` and `/readyz` listener over this registry.
    func listener(server rpcServer: RPCServer, readiness: @escaping MetricsServer.Readiness, logger: Logger) -> MetricsServer {
        let server = self.server
        return MetricsServer(
            configuration: configuration, registry: registry, collect: { server.collect(from: rpcServer) },
            readiness: readiness, logger: logger)
    }
}
