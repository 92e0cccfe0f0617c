import ArgumentParser
import Logging
import NotifyGateway
import NotifyMetricsServer
import NotifyServer
import NotifyStorage
import Prometheus

/// A process's metrics (`notifyd serve`, `notifyd gateway`): one registry,
/// the factory every layer's metrics are made with, and the listener that
/// serves them.
///
/// Made only when `--metrics-port` is set: without it nothing is recorded
/// (no factory, no clock read per call).
struct ProcessMetrics {
    let configuration: MetricsConfiguration
    let registry = PrometheusCollectorRegistry()
    let factory: PrometheusMetricsFactory
    /// The RPC server's; nil in `notifyd gateway`, which has none.
    let server: ServerMetrics?
    let gateway: GatewayMetrics

    /// - Parameter rpc: whether the process runs the RPC server.
    /// - Returns: nil when `--metrics-port` is unset or 0.
    /// - Throws: `ValidationError` for a port outside 0...65535.
    init?(_ settings: Settings, rpc: Bool) throws {
        let port = try settings.int(.metricsPort) ?? 0
        guard (0...65_535).contains(port) else { throw ValidationError("--metrics-port must be 0 (off) to 65535") }
        guard port > 0 else { return nil }
        configuration = MetricsConfiguration(
            host: try settings.string(.metricsHost, default: MetricsConfiguration.defaultHost), port: port)
        factory = NotifyPrometheus.factory(registry: registry)
        server = rpc ? ServerMetrics(factory: factory) : nil
        gateway = GatewayMetrics(factory: factory)
    }

    /// The store's metrics, labelled `store=label`.
    func store(label: String) -> StoreMetrics {
        StoreMetrics(factory: factory, store: label)
    }

    /// The `/metrics` and `/readyz` listener over this registry; the RPC
    /// server's levels are read from `rpcServer` before each scrape.
    func listener(server rpcServer: RPCServer?, readiness: @escaping MetricsServer.Readiness, logger: Logger) -> MetricsServer {
        let server = self.server
        return MetricsServer(
            configuration: configuration, registry: registry,
            collect: {
                if let server, let rpcServer { server.collect(from: rpcServer) }
            },
            readiness: readiness, logger: logger)
    }
}
