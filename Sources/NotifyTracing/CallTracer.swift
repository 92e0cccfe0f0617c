public import NotifyCore
public import Tracing

/// The tracer a process runs with, or none: what the layers hold instead of
/// reading `InstrumentationSystem`'s global.
///
/// Tracing is off unless an exporter was configured (`notifyd`'s
/// `--otlp-endpoint`); off, ``tracer`` is nil and every hook is one nil check:
/// no span, no service context, no allocation and no lock per call. (The
/// global tracer would cost a lock per read, and a `NoOpTracer` still builds a
/// context per call.) On, the tracer is an existential: its cost is the
/// spans', measured in docs/PERFORMANCE.md.
public struct CallTracer: Sendable {
    /// Nil when tracing is off.
    public let tracer: (any Tracer)?

    /// Tracing off.
    public static let off = CallTracer(nil)

    public init(_ tracer: (any Tracer)?) {
        self.tracer = tracer
    }

    public var isOn: Bool { tracer != nil }

    /// Starts a span that continues the trace `carrier` names (W3C
    /// `traceparent` and `tracestate`, read through `extractor`), or a new
    /// trace when it names none or a malformed one: the tracer's propagator
    /// ignores what it cannot parse, so a bad header is never an error.
    ///
    /// - Returns: nil when tracing is off.
    @inlinable
    public func startSpan<Extract: Extractor>(
        _ name: String, kind: SpanKind, carrier: Extract.Carrier, using extractor: Extract
    ) -> TraceSpan? {
        guard let tracer else { return nil }
        return TraceSpan.start(tracer, name, kind: kind, carrier: carrier, extractor: extractor)
    }

    /// A span for an RPC served here, continuing the caller's trace from its
    /// metadata (``TraceContextKeys``).
    ///
    /// - Returns: nil when tracing is off.
    @inlinable
    public func serverSpan(method: String, metadata: Metadata) -> TraceSpan? {
        guard tracer != nil else { return nil }
        return startRPC(method: method, metadata: metadata)
    }

    @usableFromInline
    func startRPC(method: String, metadata: Metadata) -> TraceSpan? {
        let span = startSpan(RPCNames.spanName(method), kind: .server, carrier: metadata, using: MetadataCarrier())
        span?.setRPCMethod(method)
        return span
    }
}

/// The metadata keys of W3C Trace Context (docs/PROTOCOL.md, "Tracing"): the
/// same names as the HTTP headers, lower-case as every key is.
public enum TraceContextKeys {
    public static let traceparent = "traceparent"
    public static let tracestate = "tracestate"
}

/// Reads and writes W3C Trace Context in RPC ``Metadata``: the first value of
/// a key wins, as for every key.
public struct MetadataCarrier: Extractor, Injector {
    public init() {}

    public func extract(key: String, from carrier: Metadata) -> String? {
        carrier[key]
    }

    public func inject(_ value: String, forKey key: String, into carrier: inout Metadata) {
        carrier.replace(key, value)
    }
}

/// The parts of an RPC's name its span carries: `/notify.v1.NotificationService/Notify`
/// is service `notify.v1.NotificationService`, method `Notify`.
@usableFromInline
enum RPCNames {
    /// The span's name, `service/method` without the leading slash, as
    /// OpenTelemetry's RPC conventions name spans.
    @usableFromInline
    static func spanName(_ method: String) -> String {
        method.hasPrefix("/") ? String(method.dropFirst()) : method
    }

    static func split(_ method: String) -> (service: Substring, method: Substring) {
        let name = method.hasPrefix("/") ? method.dropFirst() : method[...]
        guard let slash = name.lastIndex(of: "/") else { return ("", name) }
        return (name[..<slash], name[name.index(after: slash)...])
    }
}
