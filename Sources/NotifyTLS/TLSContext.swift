internal import COpenSSL

/// An OpenSSL `SSL_CTX` built once from a ``TLSConfiguration`` and shared by every connection.
///
/// Building it reads the certificate, key and CA files, so do it at startup, off the event loop.
///
/// `@unchecked Sendable` is safe because the `SSL_CTX` is fully configured in `init` and never
/// mutated afterwards: connections only call `SSL_new` on it, which takes OpenSSL's internal
/// locks for the reference count and shared caches, and the server's session cache is off.
/// The ALPN list read by the callbacks is an immutable `let`.
public final class TLSContext: @unchecked Sendable {
    let configuration: TLSConfiguration
    /// The `SSL_CTX*`; owned, freed in `deinit`. Each `SSL` also holds a reference of its own.
    let pointer: OpaquePointer
    /// Read by the ALPN callbacks through their `arg`; kept alive as long as `pointer` is used,
    /// because every ``TLSConnection`` retains its context.
    private let protocols: ApplicationProtocols

    /// TLS 1.2 suites: forward-secret ECDHE with AEAD ciphers only.
    private static let tls12Ciphers = "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"
        + "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"
        + "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305"
    private static let tls13Suites = "TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256"

    /// Builds the context.
    ///
    /// - Parameter configuration: Role, files and ALPN names.
    /// - Throws: ``TLSError`` with code ``TLSError/Code/configuration`` when a file cannot be read,
    ///   the key does not match the certificate, a required file is missing for the role, or an
    ///   ALPN name is empty or longer than 255 bytes.
    public init(configuration: TLSConfiguration) throws(TLSError) {
        let protocols = try ApplicationProtocols(configuration.applicationProtocols)
        switch configuration.role {
        case .server:
            guard configuration.certificateChainFile != nil, configuration.privateKeyFile != nil else {
                throw TLSError(code: .configuration, message: "a server needs a certificate chain and a private key")
            }
        case .client:
            guard configuration.trustRootsFile != nil else {
                throw TLSError(code: .configuration, message: "a client needs trust roots to verify the server")
            }
            guard (configuration.certificateChainFile == nil) == (configuration.privateKeyFile == nil) else {
                throw TLSError(code: .configuration, message: "a client certificate needs its private key (and vice versa)")
            }
        }

        ERR_clear_error()
        guard let pointer = SSL_CTX_new(TLS_method()) else {
            throw OpenSSLErrorQueue.error(.configuration, "SSL_CTX_new failed")
        }
        self.configuration = configuration
        self.pointer = pointer
        self.protocols = protocols
        // From here on `deinit` frees `pointer` if a step below throws.
        try self.configure()
    }

    deinit {
        SSL_CTX_free(pointer)
    }

    private func configure() throws(TLSError) {
        let ctx = pointer
        try check(COpenSSL_SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) == 1, "setting the minimum version")
        try check(COpenSSL_SSL_CTX_set_max_proto_version(ctx, TLS1_3_VERSION) == 1, "setting the maximum version")
        try check(SSL_CTX_set_cipher_list(ctx, Self.tls12Ciphers) == 1, "setting TLS 1.2 ciphers")
        try check(SSL_CTX_set_ciphersuites(ctx, Self.tls13Suites) == 1, "setting TLS 1.3 suites")
        _ = COpenSSL_SSL_CTX_set_options(
            ctx,
            COpenSSL_SSL_OP_NO_COMPRESSION() | COpenSSL_SSL_OP_NO_RENEGOTIATION()
                | COpenSSL_SSL_OP_NO_CLIENT_RENEGOTIATION() | COpenSSL_SSL_OP_CIPHER_SERVER_PREFERENCE()
        )
        // Idle connections are the common case: let OpenSSL free its record buffers between
        // records instead of keeping ~34 KiB per connection.
        _ = COpenSSL_SSL_CTX_set_mode(ctx, Int(SSL_MODE_RELEASE_BUFFERS))

        if let chain = configuration.certificateChainFile, let key = configuration.privateKeyFile {
            ERR_clear_error()
            try check(SSL_CTX_use_certificate_chain_file(ctx, chain) == 1, "loading certificate chain \(chain)")
            ERR_clear_error()
            try check(SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) == 1, "loading private key \(key)")
            ERR_clear_error()
            try check(SSL_CTX_check_private_key(ctx) == 1, "the private key does not match the certificate")
        }
        if let roots = configuration.trustRootsFile {
            ERR_clear_error()
            try check(SSL_CTX_load_verify_locations(ctx, roots, nil) == 1, "loading trust roots \(roots)")
        }

        let arg = Unmanaged.passUnretained(protocols).toOpaque()
        switch configuration.role {
        case .server:
            // Connections are short-lived RPC channels from our own clients, which never resume:
            // a session cache and tickets would only cost memory and bytes on the wire.
            _ = COpenSSL_SSL_CTX_set_session_cache_mode(ctx, Int(SSL_SESS_CACHE_OFF))
            _ = COpenSSL_SSL_CTX_set_options(ctx, COpenSSL_SSL_OP_NO_TICKET())
            _ = SSL_CTX_set_num_tickets(ctx, 0)
            if let roots = configuration.trustRootsFile {
                SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, nil)
                ERR_clear_error()
                guard let names = SSL_load_client_CA_file(roots) else {
                    throw OpenSSLErrorQueue.error(.configuration, "reading client CA names from \(roots)")
                }
                SSL_CTX_set_client_CA_list(ctx, names)
            } else {
                SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, nil)
            }
            if !protocols.names.isEmpty {
                SSL_CTX_set_alpn_select_cb(ctx, { _, out, outLength, offered, offeredLength, arg in
                    guard let arg, let out, let outLength, let offered else { return SSL_TLSEXT_ERR_ALERT_FATAL }
                    let protocols = Unmanaged<ApplicationProtocols>.fromOpaque(arg).takeUnretainedValue()
                    let offeredList = UnsafeBufferPointer(start: offered, count: Int(offeredLength))
                    guard let range = protocols.select(from: offeredList) else {
                        // A fatal no_application_protocol alert (RFC 7301 §3.2).
                        return SSL_TLSEXT_ERR_ALERT_FATAL
                    }
                    // Point into the client's list, which OpenSSL keeps for the whole handshake.
                    out.pointee = offered + range.lowerBound
                    outLength.pointee = UInt8(range.count)
                    return SSL_TLSEXT_ERR_OK
                }, arg)
                // A client that sends no ALPN extension never reaches the select callback;
                // refuse it while reading its ClientHello, with the same alert.
                SSL_CTX_set_client_hello_cb(ctx, { ssl, alert, _ in
                    var data: UnsafePointer<UInt8>? = nil
                    var length = 0
                    if SSL_client_hello_get0_ext(ssl, UInt32(TLSEXT_TYPE_application_layer_protocol_negotiation), &data, &length) == 1 {
                        return SSL_CLIENT_HELLO_SUCCESS
                    }
                    alert?.pointee = SSL_AD_NO_APPLICATION_PROTOCOL
                    return SSL_CLIENT_HELLO_ERROR
                }, nil)
            }
        case .client:
            SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, nil)
            if !protocols.wire.isEmpty {
                // SSL_CTX_set_alpn_protos returns 0 on success.
                let status = protocols.wire.withUnsafeBufferPointer {
                    SSL_CTX_set_alpn_protos(ctx, $0.baseAddress, UInt32($0.count))
                }
                try check(status == 0, "setting ALPN protocols")
            }
        }
    }

    private func check(_ ok: Bool, _ what: String) throws(TLSError) {
        guard ok else { throw OpenSSLErrorQueue.error(.configuration, what) }
    }
}

/// ALPN names in wire form, shared with OpenSSL's C callbacks through an unretained pointer.
final class ApplicationProtocols {
    /// The names in preference order, as bytes.
    let names: [[UInt8]]
    /// The names as ALPN's wire list: each prefixed with its one-byte length.
    let wire: [UInt8]

    init(_ names: [String]) throws(TLSError) {
        var wire: [UInt8] = []
        var bytes: [[UInt8]] = []
        for name in names {
            let utf8 = Array(name.utf8)
            guard (1...255).contains(utf8.count) else {
                throw TLSError(code: .configuration, message: "ALPN protocol names must be 1 to 255 bytes: \"\(name)\"")
            }
            wire.append(UInt8(utf8.count))
            wire.append(contentsOf: utf8)
            bytes.append(utf8)
        }
        self.names = bytes
        self.wire = wire
    }

    /// Chooses our most preferred protocol that the client offered.
    ///
    /// - Parameter offered: The client's wire list.
    /// - Returns: The byte range of the chosen name inside `offered`, or `nil` when there is no overlap
    ///   or the list is malformed.
    func select(from offered: UnsafeBufferPointer<UInt8>) -> Range<Int>? {
        var candidates: [Range<Int>] = []
        var index = 0
        // Each entry takes at least two bytes, so this loop is bounded by the list's length.
        while index < offered.count {
            let length = Int(offered[index])
            let start = index + 1
            guard length > 0, start + length <= offered.count else { return nil }
            candidates.append(start..<(start + length))
            index = start + length
        }
        for name in names {
            for candidate in candidates where candidate.count == name.count {
                if offered[candidate].elementsEqual(name) { return candidate }
            }
        }
        return nil
    }
}
