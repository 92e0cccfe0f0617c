import NotifyCore
public import NotifyDomain
public import NotifyTLS
public import NotifyWire
public import NotifyTracing

/// Everything the RPC server needs to run, parsed once by the executable.
///
/// Each default is written once, here, as an argument of the initializer:
/// `notifyd serve` reads its flags' defaults (and its `--help` and
/// docs/OPERATIONS.md theirs) from an instance made with them. They are the
/// safe ones, hardening limits included (rate limits, failed-authentication
/// limit): a server built from this library is as guarded as `notifyd serve`,
/// and a test that wants a limit off says so.
public struct ServerConfiguration: Sendable {
    /// The address to listen on.
    public var host: String
    /// The TCP port; 0 picks a free one (tests).
    public var port: Int
    /// The server side of TLS: certificate, key, optional client CA.
    public var tls: TLSConfiguration
    /// Calls a client may have in flight on one connection; announced in the settings frame.
    public var maxConcurrentCallsPerConnection: Int
    /// Calls running at once across all connections; past it, calls are
    /// refused RESOURCE_EXHAUSTED (OVERLOADED) at once rather than queued.
    public var maxCallsInFlight: Int
    /// Server streams (live feeds) open at once across all connections,
    /// counted apart from ``maxCallsInFlight``: a stream lasts as long as its
    /// reader, and must not take the places of short calls. Past it, a new
    /// stream is refused RESOURCE_EXHAUSTED (OVERLOADED).
    public var maxStreams: Int
    /// The largest frame payload accepted or sent, in bytes.
    public var maxMessageSize: Int
    /// Each accepted socket's SO_SNDBUF, in bytes; nil leaves it to the
    /// kernel, which grows it up to `net.ipv4.tcp_wmem` (4 MiB here). A
    /// smaller one bounds what the kernel holds for a client that does not
    /// read its answers (past it the connection stops reading, see
    /// docs/PROTOCOL.md); the tests use one so that filling it costs little.
    public var socketSendBufferSize: Int?
    /// A connection with nothing in flight and no frame for this long is closed. Nil: never.
    public var idleTimeout: Duration?
    /// A connection that has sent no request this long after its TLS
    /// handshake is closed (goaway, status 0): an idle flood holds a socket
    /// for this long, not for ``idleTimeout``. Nil: only ``idleTimeout`` applies.
    public var firstCallTimeout: Duration?
    /// Client connections open at once, handshakes included. One past it is
    /// accepted and closed at once, before any TLS (docs/PROTOCOL.md): the
    /// listen backlog stays empty and existing connections keep their file
    /// descriptors and their event loops.
    public var maxConnections: Int
    /// The most metadata a request frame may carry (entries, encoded bytes),
    /// checked before the frame is unpacked; past it the connection gets a
    /// goaway RESOURCE_EXHAUSTED and is closed.
    public var frameLimits: FrameLimits
    /// How long graceful shutdown waits for in-flight calls before closing connections.
    public var drainTimeout: Duration
    /// A connection whose TLS handshake has not finished this long after it
    /// was accepted is closed: a client that connects and sends nothing holds
    /// no socket for longer.
    public var handshakeTimeout: Duration
    /// SelfCommunity's `follow_enabled` preference: who `connections` means.
    public var communityMode: CommunityMode
    /// Per-caller token buckets, by the caller's role (``RateLimits``);
    /// ``RateLimits/defaults`` unless set.
    public var rateLimits: RateLimits
    /// The same limit for every role: calls per second (0 disables it).
    public var rateLimitPerSecond: Double {
        get { rateLimits.user.perSecond }
        set {
            let burst = rateLimits.user.burst
            rateLimits = RateLimits(all: RateLimit(perSecond: newValue, burst: burst))
        }
    }
    /// The same burst for every role.
    public var rateLimitBurst: Double {
        get { rateLimits.user.burst }
        set {
            rateLimits.admin.burst = newValue
            rateLimits.app.burst = newValue
            rateLimits.user.burst = newValue
        }
    }
    /// Failed authentications allowed per peer address before its calls are
    /// refused THROTTLED until the bucket refills; by default 10 a second,
    /// bursts of 100.
    public var authFailureLimit: RateLimit
    /// How long a token, the blocked list and a user's existence are trusted
    /// without asking the store again while it does not hear the changes
    /// made elsewhere. Changes made through the RPCs apply at once. Zero:
    /// always ask.
    public var lookupCacheLifetime: Duration
    /// The same while the store hears every change made elsewhere
    /// (``Directory/hearsEveryDirectoryChange``: PostgreSQL while it
    /// listens, SQLite while it reads them from its file): each evicts at
    /// once, so this only bounds what a missed one could cost, and an entry
    /// in use is read again every half of it rather than every second.
    /// Never shorter than ``lookupCacheLifetime``.
    public var heardLookupCacheLifetime: Duration = .seconds(60)
    /// Where the server's metrics go (``ServerMetrics``); nil: none are
    /// recorded. Not a setting of its own: `notifyd` sets it when
    /// `--metrics-port` serves them.
    public var metrics: ServerMetrics?
    /// The tracer of the calls' spans (docs/OPERATIONS.md, "Tracing"); off by
    /// default, when a call costs one nil check.
    public var tracer: CallTracer = .off

    public init(
        host: String = "127.0.0.1",
        port: Int = 7443,
        tls: TLSConfiguration,
        maxConcurrentCallsPerConnection: Int = 256,
        maxCallsInFlight: Int = 1024,
        maxStreams: Int = 10_000,
        maxMessageSize: Int = 4 * 1024 * 1024,
        idleTimeout: Duration? = .seconds(300),
        firstCallTimeout: Duration? = .seconds(30),
        maxConnections: Int = 10_000,
        frameLimits: FrameLimits = FrameLimits(),
        drainTimeout: Duration = .seconds(30),
        handshakeTimeout: Duration = .seconds(10),
        communityMode: CommunityMode = .friendship,
        rateLimits: RateLimits = .defaults,
        authFailureLimit: RateLimit = RateLimit(perSecond: 10, burst: 100),
        lookupCacheLifetime: Duration = .seconds(2)
    ) {
        self.host = host
        self.port = port
        self.tls = tls
        self.maxConcurrentCallsPerConnection = maxConcurrentCallsPerConnection
        self.maxCallsInFlight = maxCallsInFlight
        self.maxStreams = maxStreams
        self.maxMessageSize = maxMessageSize
        self.idleTimeout = idleTimeout
        self.firstCallTimeout = firstCallTimeout
        self.maxConnections = maxConnections
        self.frameLimits = frameLimits
        self.drainTimeout = drainTimeout
        self.handshakeTimeout = handshakeTimeout
        self.communityMode = communityMode
        self.rateLimits = rateLimits
        self.authFailureLimit = authFailureLimit
        self.lookupCacheLifetime = lookupCacheLifetime
    }
}
