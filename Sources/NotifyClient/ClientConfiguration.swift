public import NotifyTLS

/// How a ``NotifyClient`` reaches the service.
public struct ClientConfiguration: Sendable {
    public var host: String
    public var port: Int
    /// The client side of TLS: the CA to trust, the server name, an optional client certificate.
    public var tls: TLSConfiguration
    /// How long a TCP connect plus the TLS handshake and settings frame may take.
    public var connectTimeout: Duration
    /// The deadline of a call that names none; nil: no deadline.
    public var defaultTimeout: Duration?
    /// A ping is sent this often on an open connection, and a connection
    /// whose last ping is still unanswered after one interval is closed; nil: never.
    public var keepaliveInterval: Duration?
    /// The first wait after a failed connect; it doubles up to ``maximumBackoff``.
    public var initialBackoff: Duration
    public var maximumBackoff: Duration
    /// Calls queued on the client while the connection is at the server's
    /// concurrency limit; beyond this a call fails RESOURCE_EXHAUSTED at once.
    public var maximumQueuedCalls: Int

    /// - Parameters:
    ///   - trustRootsFile: the PEM CA file that signed the server's certificate
    ///     (`notifyd serve` prints where its development CA is).
    ///   - serverName: the name the certificate must carry; defaults to `host`.
    public init(
        host: String = "127.0.0.1",
        port: Int = 7443,
        trustRootsFile: String,
        serverName: String? = nil,
        certificateChainFile: String? = nil,
        privateKeyFile: String? = nil
    ) {
        self.host = host
        self.port = port
        self.tls = .client(
            trustRootsFile: trustRootsFile, serverName: serverName ?? host, applicationProtocols: ["notify/1"],
            certificateChainFile: certificateChainFile, privateKeyFile: privateKeyFile
        )
        self.connectTimeout = .seconds(5)
        self.defaultTimeout = .seconds(30)
        self.keepaliveInterval = .seconds(30)
        self.initialBackoff = .milliseconds(100)
        self.maximumBackoff = .seconds(5)
        self.maximumQueuedCalls = 4096
    }
}
