public import NotifyCore
import Synchronization
public import Tracing

/// One span in flight, with the tracer that made it, so that its children
/// and the context it hands on need nothing else.
///
/// A class, so that a ``NotifyCore/Metadata``-sized value carries it as one
/// optional reference (nil when tracing is off) and every copy of a call's
/// context ends the same span. ``end()`` runs once: a call's answer may be
/// built on more than one path (a deadline's, then the handler's).
public final class TraceSpan: Sendable {
    @usableFromInline let tracer: any Tracer
    @usableFromInline let span: any Span
    private let ended = Atomic<Bool>(false)

    @usableFromInline
    init(tracer: any Tracer, span: any Span) {
        self.tracer = tracer
        self.span = span
    }

    @usableFromInline
    static func start<Extract: Extractor>(
        _ tracer: any Tracer, _ name: String, kind: SpanKind, carrier: Extract.Carrier, extractor: Extract
    ) -> TraceSpan {
        var context = ServiceContext.topLevel
        tracer.extract(carrier, into: &context, using: extractor)
        let span = tracer.startSpan(name, context: context, ofKind: kind)
        return TraceSpan(tracer: tracer, span: span)
    }

    /// A child span: the same trace, this span its parent.
    public func child(_ name: String, kind: SpanKind = .internal) -> TraceSpan {
        TraceSpan(tracer: tracer, span: tracer.startSpan(name, context: span.context, ofKind: kind))
    }

    /// Writes this span's `traceparent` (and `tracestate`) into `carrier`,
    /// so that the callee's span is this one's child.
    public func inject<Inject: Injector>(into carrier: inout Inject.Carrier, using injector: Inject) {
        tracer.inject(span.context, into: &carrier, using: injector)
    }

    /// Writes this span's trace context into an RPC's metadata.
    public func inject(into metadata: inout Metadata) {
        inject(into: &metadata, using: MetadataCarrier())
    }

    /// Sets one attribute.
    public func set(_ key: String, _ value: some SpanAttributeConvertible) {
        span.attributes[key] = value.toSpanAttribute()
    }

    /// Marks the span failed, with `message` as its status's description.
    public func fail(_ message: String) {
        span.setStatus(SpanStatus(code: .error, message: message))
    }

    /// Ends the span, once; later calls do nothing.
    public func end() {
        guard !ended.exchange(true, ordering: .relaxed) else { return }
        span.end()
    }

    /// Whether the span has ended (for tests).
    public var hasEnded: Bool { ended.load(ordering: .relaxed) }
}

// MARK: RPC attributes

extension TraceSpan {
    /// OpenTelemetry's RPC attributes of a call: `rpc.system`, `rpc.service`, `rpc.method`.
    @usableFromInline
    func setRPCMethod(_ fullName: String) {
        let (service, method) = RPCNames.split(fullName)
        span.attributes["rpc.system"] = "notify"
        span.attributes["rpc.service"] = String(service)
        span.attributes["rpc.method"] = String(method)
    }

    /// Sets what identifies the call in logs and answers: its request id
    /// (`notify.request.id`, as in the logs) and the caller's address
    /// (`client.address`; none for an in-process caller).
    public func setCall(requestID: String, peer: String?) {
        span.attributes["notify.request.id"] = requestID
        if let peer { span.attributes["client.address"] = peer }
    }

    /// Ends an RPC's span with its answer: `rpc.notify.status_code` (the
    /// status's wire number), `rpc.notify.status` (its name) and, when there
    /// is one, `notify.reason`; a status other than OK marks the span failed.
    public func endRPC(status: StatusCode, reason: Reason?, message: String?) {
        guard !hasEnded else { return }
        span.attributes["rpc.notify.status_code"] = Int64(status.rawValue)
        span.attributes["rpc.notify.status"] = status.name
        if let reason { span.attributes["notify.reason"] = reason.rawValue }
        if status != .ok { fail(message ?? status.name) }
        end()
    }
}
