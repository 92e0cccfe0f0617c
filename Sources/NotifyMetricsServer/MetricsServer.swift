public import Logging
public import NIOCore
import NIOHTTP1
import NotifyCore
public import NIOPosix
public import Prometheus
public import ServiceLifecycle

/// Where `/metrics` and `/readyz` listen: `--metrics-host`, `--metrics-port`.
public struct MetricsConfiguration: Sendable {
    /// Loopback by default: the metrics tell an outsider how busy the
    /// service is and which methods it serves (docs/SECURITY.md's threat
    /// model); exposing them is an operator's choice.
    public static let defaultHost = "127.0.0.1"

    public var host: String
    /// The TCP port; 0 picks a free one (tests).
    public var port: Int

    public init(host: String = Self.defaultHost, port: Int) {
        self.host = host
        self.port = port
    }
}

/// A small HTTP/1.1 listener for operators, on a port of its own: the
/// Prometheus text exposition of a registry at `GET /metrics`, and
/// readiness at `GET /readyz` (200 `ready`, or 503 with a short reason).
///
/// Apart from the gateway so that metrics and readiness are there with
/// `--no-gateway`, on an address that need not be the clients' (loopback by
/// default), and so that a scrape never queues behind client requests. It
/// answers on the connection's event loop; nothing it does waits.
///
/// It is a `Service`. On graceful shutdown it keeps answering until the
/// services started after it have stopped (it is told last but the store),
/// so that `/readyz` says 503 while the server drains; then it closes.
public final class MetricsServer: Service, Sendable {
    /// Why the process is not ready, or nil when it is; read per `/readyz`.
    public typealias Readiness = @Sendable () -> String?

    private let configuration: MetricsConfiguration
    private let registry: PrometheusCollectorRegistry
    private let collect: @Sendable () -> Void
    private let readiness: Readiness
    private let group: any EventLoopGroup
    private let logger: Logger
    private let bound: ListeningAddress

    /// - Parameters:
    ///   - registry: what `/metrics` exposes.
    ///   - collect: sets the gauges read from live state, before each scrape.
    ///   - readiness: nil when ready, else why not (one short line).
    public init(
        configuration: MetricsConfiguration, registry: PrometheusCollectorRegistry,
        collect: @escaping @Sendable () -> Void = {}, readiness: @escaping Readiness,
        group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton, logger: Logger
    ) {
        self.configuration = configuration
        self.registry = registry
        self.collect = collect
        self.readiness = readiness
        self.group = group
        self.logger = logger
        self.bound = ListeningAddress(on: group.next())
    }

    /// The address it listens on, once bound.
    /// - Throws: the error that kept it from binding.
    public var localAddress: SocketAddress {
        get async throws { try await bound.value }
    }

    public func run() async throws {
        let responder = MetricsResponder(registry: registry, collect: collect, readiness: readiness)
        let listener: any Channel
        do {
            listener = try await ServerBootstrap(group: group)
                .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
                .childChannelInitializer { channel in
                    channel.eventLoop.makeCompletedFuture {
                        try channel.pipeline.syncOperations.configureHTTPServerPipeline(withErrorHandling: true)
                        try channel.pipeline.syncOperations.addHandler(MetricsHTTPHandler(responder: responder))
                    }
                }
                .bind(host: configuration.host, port: configuration.port)
                .get()
        } catch {
            bound.settle(.failure(error))
            throw error
        }
        if let address = listener.localAddress {
            logger.info("metrics listening", metadata: ["notify.metrics.address": "\(address)"])
            bound.settle(.success(address))
        }
        await withGracefulShutdownHandler {
            await withTaskCancellationHandler {
                try? await listener.closeFuture.get()
            } onCancel: {
                listener.close(promise: nil)
            }
        } onGracefulShutdown: {
            listener.close(promise: nil)
        }
    }

}

/// The answers, apart from the channel so that they are plain functions.
struct MetricsResponder: Sendable {
    let registry: PrometheusCollectorRegistry
    let collect: @Sendable () -> Void
    let readiness: MetricsServer.Readiness

    struct Answer {
        var status: HTTPResponseStatus
        var contentType: String
        var body: [UInt8]
    }

    func answer(method: HTTPMethod, path: Substring) -> Answer {
        guard method == .GET || method == .HEAD else {
            return Answer(status: .methodNotAllowed, contentType: Self.text, body: Array("GET only\n".utf8))
        }
        switch path {
        case "/metrics":
            collect()
            return Answer(status: .ok, contentType: "text/plain; version=0.0.4; charset=utf-8", body: registry.emitToBuffer())
        case "/readyz":
            if let reason = readiness() {
                return Answer(status: .serviceUnavailable, contentType: Self.text, body: Array("not ready: \(reason)\n".utf8))
            }
            return Answer(status: .ok, contentType: Self.text, body: Array("ready\n".utf8))
        default:
            return Answer(status: .notFound, contentType: Self.text, body: Array("not found: /metrics, /readyz\n".utf8))
        }
    }

    static let text = "text/plain; charset=utf-8"
}

/// One connection: answers each request once its end has arrived; request
/// bodies are ignored.
final class MetricsHTTPHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    private let responder: MetricsResponder
    private var head: HTTPRequestHead?

    init(responder: MetricsResponder) {
        self.responder = responder
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head):
            self.head = head
        case .body:
            break
        case .end:
            guard let head else { return }
            self.head = nil
            respond(to: head, context: context)
        }
    }

    private func respond(to head: HTTPRequestHead, context: ChannelHandlerContext) {
        let path = head.uri.split(separator: "?", maxSplits: 1, omittingEmptySubsequences: false).first ?? ""
        let answer = responder.answer(method: head.method, path: path)
        var headers = HTTPHeaders()
        headers.add(name: "Content-Type", value: answer.contentType)
        headers.add(name: "Content-Length", value: "\(answer.body.count)")
        headers.add(name: "Cache-Control", value: "no-store")
        if !head.isKeepAlive { headers.add(name: "Connection", value: "close") }
        context.write(wrapOutboundOut(.head(HTTPResponseHead(version: head.version, status: answer.status, headers: headers))), promise: nil)
        if head.method != .HEAD {
            var buffer = context.channel.allocator.buffer(capacity: answer.body.count)
            buffer.writeBytes(answer.body)
            context.write(wrapOutboundOut(.body(.byteBuffer(buffer))), promise: nil)
        }
        let (keepAlive, channel) = (head.isKeepAlive, context.channel)
        context.writeAndFlush(wrapOutboundOut(.end(nil))).whenComplete { _ in
            if !keepAlive { channel.close(promise: nil) }
        }
    }
}

@available(*, unavailable)
extension MetricsHTTPHandler: Sendable {}
