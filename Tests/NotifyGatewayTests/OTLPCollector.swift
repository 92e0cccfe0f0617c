import Foundation
import NIOCore
import NIOHTTP1
import NIOPosix
import Synchronization

/// A loopback OpenTelemetry collector for the tests: it takes OTLP/HTTP
/// exports in JSON (`OTEL_EXPORTER_OTLP_PROTOCOL=http/json`) at `/v1/traces`,
/// answers 200, and keeps the spans.
final class OTLPCollector: Sendable {
    /// One exported span, as the tests read it.
    struct Span: Sendable, CustomStringConvertible {
        var traceID: String
        var spanID: String
        /// Empty for a root span.
        var parentSpanID: String
        var name: String
        var attributes: [String: String]

        var description: String { "\(name) trace \(traceID) span \(spanID) parent \(parentSpanID) \(attributes)" }
    }

    private let channel: any Channel
    private let received = Received()

    var port: Int { channel.localAddress?.port ?? 0 }
    var spans: [Span] { received.state.withLock { $0.spans } }
    /// Every request received, whatever its path.
    var requests: Int { received.state.withLock { $0.requests } }
    var paths: [String] { received.state.withLock { $0.paths } }

    init() async throws {
        let received = self.received
        channel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.configureHTTPServerPipeline()
                    try channel.pipeline.syncOperations.addHandler(Handler(received: { path, body in received.add(path, body) }))
                }
            }
            .bind(host: "127.0.0.1", port: 0).get()
    }

    func stop() async {
        try? await channel.close()
    }

    /// The spans of an `ExportTraceServiceRequest` in OTLP's JSON encoding.
    static func spans(in body: Data) -> [Span] {
        guard let root = try? JSONSerialization.jsonObject(with: body) as? [String: Any] else { return [] }
        var spans: [Span] = []
        for resource in root["resourceSpans"] as? [[String: Any]] ?? [] {
            for scope in resource["scopeSpans"] as? [[String: Any]] ?? [] {
                for span in scope["spans"] as? [[String: Any]] ?? [] {
                    var attributes: [String: String] = [:]
                    for attribute in span["attributes"] as? [[String: Any]] ?? [] {
                        guard let key = attribute["key"] as? String, let value = attribute["value"] as? [String: Any],
                            let first = value.values.first
                        else { continue }
                        attributes[key] = "\(first)"
                    }
                    spans.append(Span(
                        traceID: hex(span["traceId"]), spanID: hex(span["spanId"]), parentSpanID: hex(span["parentSpanId"]),
                        name: span["name"] as? String ?? "", attributes: attributes
                    ))
                }
            }
        }
        return spans
    }

    /// An id as lower-case hex: OTLP's JSON writes ids in hex, the protobuf
    /// JSON mapping in base64; either is read.
    static func hex(_ value: Any?) -> String {
        guard let text = value as? String, !text.isEmpty else { return "" }
        if text.utf8.allSatisfy({ $0 < 0x80 && ($0 >= 0x30 && $0 <= 0x39 || $0 >= 0x61 && $0 <= 0x66 || $0 >= 0x41 && $0 <= 0x46) }),
            text.utf8.count == 32 || text.utf8.count == 16
        {
            return text.lowercased()
        }
        guard let bytes = Data(base64Encoded: text) else { return text }
        return bytes.map { String(format: "%02x", $0) }.joined()
    }

    /// What the collector's connections received.
    private final class Received: Sendable {
        let state = Mutex<(requests: Int, paths: [String], spans: [Span])>((0, [], []))

        func add(_ path: String, _ body: Data) {
            let spans = OTLPCollector.spans(in: body)
            state.withLock {
                $0.requests += 1
                $0.paths.append(path)
                $0.spans += spans
            }
        }
    }

    private final class Handler: ChannelInboundHandler {
        typealias InboundIn = HTTPServerRequestPart
        typealias OutboundOut = HTTPServerResponsePart

        let received: @Sendable (String, Data) -> Void
        var path = ""
        var body = Data()

        init(received: @escaping @Sendable (String, Data) -> Void) {
            self.received = received
        }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            switch unwrapInboundIn(data) {
            case .head(let head):
                path = head.uri
                body = Data()
            case .body(let buffer):
                body.append(contentsOf: buffer.readableBytesView)
            case .end:
                received(path, body)
                var headers = HTTPHeaders()
                headers.add(name: "Content-Type", value: "application/json")
                headers.add(name: "Content-Length", value: "2")
                context.write(wrapOutboundOut(.head(HTTPResponseHead(version: .http1_1, status: .ok, headers: headers))), promise: nil)
                context.write(wrapOutboundOut(.body(.byteBuffer(ByteBuffer(string: "{}")))), promise: nil)
                context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
            }
        }
    }
}
