import ArgumentParser
import Foundation
import Logging
import NotifyTracing
import OTel
import ServiceLifecycle

extension Setting {
    // MARK: tracing (serve and gateway)

    static let otlpEndpoint = Setting(
        "otlp-endpoint",
        "Export traces by OTLP/HTTP to this collector (http://HOST:4318; /v1/traces is added). Unset: no tracing, unless OTEL_EXPORTER_OTLP_ENDPOINT is set.",
        default: nil)

    /// The tracing settings, which `serve` and `gateway` share.
    static let tracing: [Setting] = [otlpEndpoint]
}

/// `--otlp-endpoint`, for `serve` and `gateway` alike.
struct TracingOptions: ParsableArguments {
    @Option(name: Setting.otlpEndpoint.name, help: Setting.otlpEndpoint.help) var otlpEndpoint: String?

    /// Adds the options given to `flags`.
    func add(to flags: inout FlagValues) {
        flags.set(.otlpEndpoint, otlpEndpoint)
    }
}

/// The process's tracer and the service that exports its spans, through
/// swift-otel's OTLP/HTTP exporter (docs/OPERATIONS.md, "Tracing").
///
/// Tracing is on when an endpoint is set: `--otlp-endpoint` (or
/// NOTIFY_OTLP_ENDPOINT), or OpenTelemetry's own OTEL_EXPORTER_OTLP_ENDPOINT
/// or OTEL_EXPORTER_OTLP_TRACES_ENDPOINT. Then swift-otel reads the standard
/// OTEL_* variables (service name, sampler, protocol `http/protobuf` or
/// `http/json`, headers, batching) over what is set here, as the OpenTelemetry
/// specification has it. OTEL_SDK_DISABLED=true turns it off again. Off, there
/// is no tracer at all: the servers' hooks are nil checks.
struct ProcessTracing {
    let tracer: CallTracer
    /// Exports the spans in batches; on graceful shutdown it exports what is
    /// left. Nil when tracing is off.
    let service: (any Service)?

    static let off = ProcessTracing(tracer: .off, service: nil)

    static func make(
        _ settings: Settings, serviceName: String, logger: Logger,
        environment: [String: String] = ProcessInfo.processInfo.environment
    ) throws -> ProcessTracing {
        let endpoint = try settings.string(.otlpEndpoint)
        let standardEndpoint = ["OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"].contains {
            !(environment[$0] ?? "").isEmpty
        }
        let disabled = environment["OTEL_SDK_DISABLED"]?.lowercased() == "true"
        guard endpoint != nil || standardEndpoint, !disabled else { return .off }

        // swift-otel traps on a gRPC selection when its OTLPGRPC trait is off: refuse it here instead.
        for variable in ["OTEL_EXPORTER_OTLP_PROTOCOL", "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL"]
        where environment[variable]?.lowercased() == "grpc" {
            throw ValidationError("\(variable)=grpc: this notifyd exports by OTLP/HTTP only (http/protobuf or http/json)")
        }
        var configuration = OTel.Configuration.default
        configuration.serviceName = serviceName
        configuration.diagnosticLogger = .custom(logger)
        configuration.diagnosticLogLevel = .warning
        configuration.metrics.enabled = false
        configuration.logs.enabled = false
        configuration.traces.exporter = .otlp
        if let endpoint {
            guard endpoint.hasPrefix("http://") || endpoint.hasPrefix("https://") else {
                throw ValidationError("--otlp-endpoint must be an http:// or https:// URL")
            }
            // A base URL, as OTEL_EXPORTER_OTLP_ENDPOINT is: the traces' path is added.
            configuration.traces.otlpExporter.endpoint = (endpoint.hasSuffix("/") ? endpoint : endpoint + "/") + "v1/traces"
        }
        do {
            let backend = try OTel.makeTracingBackend(configuration: configuration)
            logger.info("tracing on", metadata: ["otel.exporter": "otlp/http"])
            return ProcessTracing(tracer: CallTracer(backend.factory), service: backend.service)
        } catch {
            throw ValidationError("tracing cannot start: \(error)")
        }
    }
}
