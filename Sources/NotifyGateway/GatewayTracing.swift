import NIOHTTP1
import NotifyTracing
import Tracing

// The gateway's spans (docs/GATEWAY.md, "Tracing"): one per request that a
// route serves, continuing the caller's W3C `traceparent`; its RPCs carry the
// span's context in their metadata (``GatewayResponder/metadata(_:identity:idempotent:)``),
// so that the service's span of each call is its child. Off, a request costs
// one check of the configuration.

extension GatewayResponder {
    /// Starts the span of a request that a route serves with its method,
    /// named `METHOD route`; nil for any other (404, 405, a CORS preflight),
    /// which the gateway answers at once.
    ///
    /// `url.path` and `http.route` are the route's template
    /// (`/me/notifications/{id}`), never the request's path: ids stay out of
    /// the traces, and spans group by route.
    func startSpan(_ request: GatewayRequest, requestID: String) -> TraceSpan? {
        let method = request.method.rawValue
        guard let route = GatewayRoutes.route(for: request.path), route.methods.contains(method),
            !(request.method == .OPTIONS)
        else { return nil }
        let span = configuration.tracer.startSpan(
            "\(method) \(route.path)", kind: .server, carrier: request.headers, using: TraceHeaders()
        )
        span?.set("http.request.method", method)
        span?.set("http.route", route.path)
        span?.set("url.path", route.path)
        span?.set("notify.request.id", requestID)
        return span
    }
}

extension TraceSpan {
    /// Ends a request's span with its answer's status; a 5xx marks it failed
    /// (a 4xx is the client's, as OpenTelemetry's HTTP conventions say for a server).
    func endHTTP(status: Int) {
        set("http.response.status_code", Int64(status))
        if status >= 500 { fail("HTTP \(status)") }
        end()
    }
}

/// Reads W3C Trace Context from a request's head, as ``RequestHeaders`` kept it.
struct TraceHeaders: Extractor {
    func extract(key: String, from carrier: RequestHeaders) -> String? {
        switch key {
        case TraceContextKeys.traceparent: carrier.traceparent
        case TraceContextKeys.tracestate: carrier.tracestate
        default: nil
        }
    }
}
