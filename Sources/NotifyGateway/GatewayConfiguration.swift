public import NotifyClient
public import NotifyCore
public import NotifyTLS
public import NotifyTracing

/// How the REST gateway listens, what it bounds, and which RPC service it calls.
///
/// Every limit has a default that suits the two documented endpoints: their
/// bodies are small JSON documents, so a megabyte is generous, and the
/// defaults keep a slow or hostile client from holding memory or
/// connections for long. Each default is written once, in the initializer:
/// `notifyd` reads its `--http-*` flags' defaults (and their `--help` and
/// docs/OPERATIONS.md rows) from an instance made with it.
public struct GatewayConfiguration: Sendable {
    /// The listen address; loopback is the development default.
    public var host: String
    /// The TCP port; 0 picks a free one (``GatewayServer/localAddress`` tells which).
    public var port: Int
    /// HTTPS through NotifyTLS when set (a server configuration); plain HTTP when nil.
    public var tls: TLSConfiguration?
    /// The largest request body as sent on the wire, in bytes; larger gets 413.
    public var maxBodySize: Int
    /// The largest body after gzip or deflate decoding, in bytes; larger gets 413.
    public var maxDecompressedSize: Int
    /// The largest single header field (name and value), in bytes.
    public var maxHeaderFieldSize: Int
    /// The largest header section, in bytes.
    public var maxHeaderListSize: Int
    /// The most header fields a request may carry.
    public var maxHeaderFieldCount: Int
    /// A request's body must arrive within this time once its head has; otherwise 408 and close.
    public var readTimeout: Duration
    /// A request head must be complete within this time of its first byte,
    /// and a new connection's first head within this time of the accept;
    /// otherwise 408 and close (a plain close when nothing came). Bounds
    /// what a client trickling its head (slowloris) holds.
    public var headTimeout: Duration
    /// A keep-alive connection may wait this long after an answer for the
    /// first byte of its next request; then it is closed.
    public var idleTimeout: Duration
    /// Each accepted socket's SO_SNDBUF, in bytes; nil leaves it to the
    /// kernel, which grows it up to `net.ipv4.tcp_wmem` (4 MiB here). A
    /// smaller one bounds what the kernel holds for a client that does not
    /// read its answers (past it the connection stops reading, see
    /// docs/GATEWAY.md); the tests use one so that filling it costs little.
    public var socketSendBufferSize: Int?
    /// The most client connections open at once; further connections wait in the backlog.
    public var maxConnections: Int
    /// The most connections open at once from one client address (an IPv6
    /// client's /64); nil for no such limit. A connection past it is answered
    /// 503 with `Retry-After: 1` (over HTTPS: closed) and closed.
    public var maxConnectionsPerAddress: Int?
    /// The deadline of every RPC the gateway makes.
    public var rpcTimeout: Duration
    /// The RPC service the gateway calls.
    public var upstream: Upstream
    /// How many connections the gateway keeps to a remote RPC service; calls are spread over them.
    public var upstreamConnections: Int
    /// How often a server-sent-events answer with nothing new carries a
    /// comment line: it keeps proxies from closing it and finds readers that left.
    public var eventHeartbeat: Duration
    /// The origins (`scheme://host[:port]`, as browsers send them) whose
    /// pages may call the gateway: their preflights are answered and their
    /// answers carry CORS headers. Empty (the default): no CORS at all.
    public var corsOrigins: [String]
    /// The requests' spans (docs/GATEWAY.md, "Tracing"); off by default.
    public var tracer: CallTracer = .off
    /// Where requests and connections are counted; nil: nowhere.
    public var metrics: GatewayMetrics?

    /// Where the gateway's RPC calls go.
    public enum Upstream: Sendable {
        /// A service over TLS: address, the CA to trust, connect timeout and
        /// backoff; its `defaultTimeout` is ignored in favour of ``rpcTimeout``.
        case remote(ClientConfiguration)
        /// The RPC server of this process (`notifyd serve`), called with no connection.
        case local(any InProcessEndpoint)
    }

    /// - Parameters:
    ///   - upstream: the RPC service to call; its `defaultTimeout` is ignored in favour of ``rpcTimeout``.
    public init(host: String = "127.0.0.1", port: Int = 8080, tls: TLSConfiguration? = nil, upstream: ClientConfiguration) {
        self.init(host: host, port: port, tls: tls, upstream: .remote(upstream))
    }

    public init(host: String = "127.0.0.1", port: Int = 8080, tls: TLSConfiguration? = nil, upstream: Upstream) {
        self.host = host
        self.port = port
        self.tls = tls
        self.maxBodySize = 1024 * 1024
        self.maxDecompressedSize = 1024 * 1024
        self.maxHeaderFieldSize = 8 * 1024
        self.maxHeaderListSize = 32 * 1024
        self.maxHeaderFieldCount = 100
        self.readTimeout = .seconds(10)
        self.headTimeout = .seconds(10)
        self.idleTimeout = .seconds(60)
        self.maxConnections = 10_000
        self.maxConnectionsPerAddress = 1024
        self.rpcTimeout = .seconds(10)
        self.upstream = upstream
        self.upstreamConnections = 2
        self.eventHeartbeat = .seconds(15)
        self.corsOrigins = []
    }
}
