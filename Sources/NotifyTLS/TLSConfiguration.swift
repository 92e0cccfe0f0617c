/// What a ``TLSContext`` is built from: the role, the PEM files and the application protocols.
///
/// The protocol version and cipher policy are not configurable on purpose: every context speaks
/// TLS 1.2 (ECDHE with AES-GCM or ChaCha20-Poly1305 only) and TLS 1.3, without compression or
/// renegotiation.
public struct TLSConfiguration: Sendable {
    public enum Role: Sendable { case server, client }

    public var role: Role
    /// PEM certificate chain, leaf first. Required for a server; a client sets it for mutual TLS.
    public var certificateChainFile: String?
    /// PEM private key matching the leaf of ``certificateChainFile``.
    public var privateKeyFile: String?
    /// PEM CA certificates. On a server, setting it makes a client certificate signed by one of
    /// them mandatory (mutual TLS). On a client it is required: the server is verified against it.
    public var trustRootsFile: String?
    /// ALPN protocol names in preference order. When non-empty, a peer that negotiates none of
    /// them (or offers no ALPN at all) is refused.
    public var applicationProtocols: [String]
    /// Client only: the name sent as SNI (host names only, not IP addresses) and the DNS name or
    /// IP address the server certificate must match. `nil` checks only the chain.
    public var serverName: String?

    public init(
        role: Role,
        certificateChainFile: String? = nil,
        privateKeyFile: String? = nil,
        trustRootsFile: String? = nil,
        applicationProtocols: [String] = [],
        serverName: String? = nil
    ) {
        self.role = role
        self.certificateChainFile = certificateChainFile
        self.privateKeyFile = privateKeyFile
        self.trustRootsFile = trustRootsFile
        self.applicationProtocols = applicationProtocols
        self.serverName = serverName
    }

    /// A server configuration.
    ///
    /// - Parameters:
    ///   - certificateChainFile: PEM chain, leaf first.
    ///   - privateKeyFile: PEM key of the leaf.
    ///   - clientCAFile: When set, clients must present a certificate issued by one of these CAs.
    ///   - applicationProtocols: ALPN names the server accepts, in preference order.
    public static func server(
        certificateChainFile: String,
        privateKeyFile: String,
        clientCAFile: String? = nil,
        applicationProtocols: [String]
    ) -> TLSConfiguration {
        TLSConfiguration(
            role: .server,
            certificateChainFile: certificateChainFile,
            privateKeyFile: privateKeyFile,
            trustRootsFile: clientCAFile,
            applicationProtocols: applicationProtocols
        )
    }

    /// A client configuration.
    ///
    /// - Parameters:
    ///   - trustRootsFile: PEM CAs the server certificate must chain to.
    ///   - serverName: Host name or IP address the server certificate must match (and SNI for names).
    ///   - applicationProtocols: ALPN names offered, in preference order.
    ///   - certificateChainFile: Client certificate for mutual TLS.
    ///   - privateKeyFile: Its key.
    public static func client(
        trustRootsFile: String,
        serverName: String?,
        applicationProtocols: [String],
        certificateChainFile: String? = nil,
        privateKeyFile: String? = nil
    ) -> TLSConfiguration {
        TLSConfiguration(
            role: .client,
            certificateChainFile: certificateChainFile,
            privateKeyFile: privateKeyFile,
            trustRootsFile: trustRootsFile,
            applicationProtocols: applicationProtocols,
            serverName: serverName
        )
    }
}
