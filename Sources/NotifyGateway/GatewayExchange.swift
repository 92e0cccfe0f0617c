import NIOCore
import NIOHTTP1
import NotifyCore
import NotifyDomain

/// The request headers the gateway reads, found in one pass over the head.
///
/// Each lookup in a general header collection is a scan with a
/// case-insensitive compare; a request needs a dozen of them, so the head is
/// read once, here, instead. A header sent more than once keeps its first value.
struct RequestHeaders: Sendable {
    var authorization: String?
    var contentType: String?
    var contentEncoding: String?
    var contentLength: Int?
    var clientRequestID: String?
    var idempotencyKey: String?
    var unsID: String?
    /// What a reconnecting EventSource sends: the id of the last event it read.
    var lastEventID: String?
    /// A browser's: where the page that sent the request came from (CORS).
    var origin: String?
    /// A CORS preflight's `Access-Control-Request-Method`.
    var corsRequestMethod: String?
    var host: String?
    /// How many Host fields the head carries: HTTP/1.1 requires exactly one.
    var hostCount = 0
    /// Transfer-Encoding's codings, repeated fields joined into one list.
    var transferEncoding: String?
    /// The spelling of a conditional header Graph refuses (If-Modified-Since, If-Range), if any was sent.
    var refusedConditional: String?
    var expectsContinue = false
    /// W3C Trace Context: a caller's trace, which the request's span continues when tracing is on.
    var traceparent: String?
    var tracestate: String?

    init(_ headers: HTTPHeaders) {
        func matches(_ text: String, _ lowered: String) -> Bool { ASCII.equalsIgnoringCase(text.utf8, lowered.utf8) }
        for (name, value) in headers {
            switch name.utf8.count {
            case 4 where matches(name, "host"):
                host = host ?? value
                hostCount += 1
            case 6 where matches(name, "expect"): expectsContinue = matches(value, "100-continue")
            case 6 where matches(name, "origin"): origin = origin ?? value
            case 10 where matches(name, "tracestate"): tracestate = tracestate ?? value
            case 11 where matches(name, "traceparent"): traceparent = traceparent ?? value
            case 29 where matches(name, "access-control-request-method"): corsRequestMethod = corsRequestMethod ?? value
            case 8 where matches(name, "x-uns-id"): unsID = unsID ?? value
            case 8 where matches(name, "if-range"): refusedConditional = refusedConditional ?? "If-Range"
            case 12 where matches(name, "content-type"): contentType = contentType ?? value
            case 13 where matches(name, "authorization"): authorization = authorization ?? value
            case 13 where matches(name, "last-event-id"): lastEventID = lastEventID ?? value
            case 14 where matches(name, "content-length"): contentLength = contentLength ?? Int(value)
            case 15 where matches(name, "idempotency-key"): idempotencyKey = idempotencyKey ?? value
            case 16 where matches(name, "content-encoding"):
                // A list header: repeated fields are one comma-separated list.
                contentEncoding = contentEncoding.map { "\($0), \(value)" } ?? value
            case 17 where matches(name, "client-request-id"): clientRequestID = clientRequestID ?? value
            case 17 where matches(name, "transfer-encoding"):
                transferEncoding = transferEncoding.map { "\($0), \(value)" } ?? value
            case 17 where matches(name, "if-modified-since"): refusedConditional = refusedConditional ?? "If-Modified-Since"
            default: break
            }
        }
    }
}

/// A request's head, as the gateway reads it.
struct RequestHead: Sendable {
    var method: HTTPMethod
    /// The request target: path and query.
    var uri: String
    var headers: RequestHeaders
    /// False when the client asked to close the connection after this request
    /// (`Connection: close`, or HTTP/1.0 without keep-alive).
    var keepAlive: Bool
    /// The request line's version: 0.9 (no version), 1.0 or 1.1.
    var version: HTTPVersion = .http1_1

    /// The path without its query.
    var path: Substring {
        guard let query = uri.utf8.firstIndex(of: UInt8(ascii: "?")) else { return uri[...] }
        return uri[..<query]
    }
}

/// A whole request, as the endpoints see it: the connection reads the body
/// to its end, within the size limit, before an endpoint runs.
struct GatewayRequest: Sendable {
    var head: RequestHead
    var body: ByteBuffer
    /// The connection's last token and its hash, which its calls share as
    /// the calls on one RPC connection do.
    var memo: CallerMemo?

    var method: HTTPMethod { head.method }
    var headers: RequestHeaders { head.headers }
    var path: Substring { head.path }
}

/// Response header fields, in the order they are written.
struct ResponseHeaders: Sendable {
    private(set) var fields: [(name: String, value: String)] = []

    mutating func add(_ name: String, _ value: String) {
        fields.append((name, value))
    }
}

/// A whole answer: status, headers and body, written by the connection.
struct GatewayResponse: Sendable {
    var status: HTTPResponseStatus
    var headers: ResponseHeaders
    /// The body's bytes as the JSON writer leaves them: copied once, into
    /// the rendered answer, with no buffer of their own in between.
    var body: [UInt8] = []
    /// Oversized or slow bodies are answered with `Connection: close`, so that
    /// the rest of the body is never read.
    var closesConnection = false
    /// Set for server-sent events: `body` holds the first events, and the
    /// rest come through this link, as chunks, until the stream ends.
    var events: EventStreamLink?

    /// The response as it goes on the wire: one buffer, written at once.
    ///
    /// Content-Length is the body's (none for 204); `Connection: close` when
    /// `closes`; the body is left out for a HEAD request.
    func rendered(closes: Bool, date: String, omitBody: Bool, allocator: ByteBufferAllocator) -> ByteBuffer {
        var buffer = allocator.buffer(capacity: 160 + body.count + headers.fields.count * 48)
        writeStatusAndHeaders(date: date, into: &buffer)
        if status != .noContent {
            buffer.writeStaticString("\r\nContent-Length: ")
            buffer.writeString(String(body.count))
        }
        if closes {
            buffer.writeStaticString("\r\nConnection: close")
        }
        buffer.writeStaticString("\r\n\r\n")
        if !omitBody {
            buffer.writeBytes(body)
        }
        return buffer
    }

    /// The head of an endless answer, with its body chunked (its first
    /// chunk holds `body`); the connection closes when the stream ends.
    func renderedStreamHead(date: String, allocator: ByteBufferAllocator) -> ByteBuffer {
        var buffer = allocator.buffer(capacity: 200 + body.count + headers.fields.count * 48)
        writeStatusAndHeaders(date: date, into: &buffer)
        buffer.writeStaticString("\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n")
        var first = ServerSentEvent.chunk(body, allocator: allocator)
        buffer.writeBuffer(&first)
        return buffer
    }

    private func writeStatusAndHeaders(date: String, into buffer: inout ByteBuffer) {
        buffer.writeStaticString("HTTP/1.1 ")
        buffer.writeString(String(status.code))
        buffer.writeStaticString(" ")
        buffer.writeString(status.reasonPhrase)
        buffer.writeStaticString("\r\nDate: ")
        buffer.writeString(date)
        for (name, value) in headers.fields {
            buffer.writeStaticString("\r\n")
            buffer.writeString(name)
            buffer.writeStaticString(": ")
            buffer.writeString(value)
        }
    }
}
