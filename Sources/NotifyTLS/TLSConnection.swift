internal import COpenSSL
internal import NIOCore

/// The outcome of one step of an OpenSSL operation over memory BIOs.
enum TLSOperationResult: Equatable {
    /// OpenSSL needs more bytes from the peer before it can go on.
    case incomplete
    case complete
    case failed(TLSError)
}

/// The outcome of one `SSL_read`.
enum TLSReadResult: Equatable {
    /// This many plaintext bytes were appended to the buffer.
    case read(Int)
    /// No complete record is buffered: wait for more ciphertext.
    case wantRead
    /// The peer sent close_notify.
    case closeNotify
    case failed(TLSError)
}

/// One TLS connection: an OpenSSL `SSL` plus the two memory BIOs that stand in for its socket.
///
/// It knows nothing of channels: the caller puts ciphertext from the network in with
/// ``consumeDataFromNetwork(_:)``, drives the handshake, reads and writes, and takes the
/// ciphertext OpenSSL produced with ``outboundCiphertext(allocator:)``. Not thread-safe; one
/// event loop owns it.
final class TLSConnection {
    /// Retained so the `SSL_CTX` and the ALPN callback data outlive this `SSL`.
    let context: TLSContext
    /// The `SSL*`; owns both BIOs, freed in `deinit`.
    private let ssl: OpaquePointer
    /// Ciphertext from the peer, read by OpenSSL. Owned by `ssl`.
    private var readBIO: OpaquePointer
    /// Ciphertext for the peer, written by OpenSSL. Owned by `ssl`.
    private var writeBIO: OpaquePointer

    /// A memory BIO keeps its largest-ever buffer; after holding more than this it is replaced
    /// by a fresh one once empty, so one large message does not pin memory on an idle connection.
    private static let bioRetentionLimit = 64 * 1024
    private var readBIOHighWater = 0

    /// Creates the `SSL` for `context`'s role, with SNI and host name checks for a client.
    ///
    /// - Throws: ``TLSError`` (``TLSError/Code/internalError`` on allocation failure,
    ///   ``TLSError/Code/configuration`` for a server name OpenSSL rejects).
    init(context: TLSContext) throws(TLSError) {
        self.context = context
        ERR_clear_error()
        guard let ssl = SSL_new(context.pointer) else {
            throw OpenSSLErrorQueue.error(.internalError, "SSL_new failed")
        }
        guard let readBIO = Self.makeMemoryBIO(), let writeBIO = Self.makeMemoryBIO() else {
            SSL_free(ssl)
            throw OpenSSLErrorQueue.error(.internalError, "BIO_new failed")
        }
        SSL_set_bio(ssl, readBIO, writeBIO)
        self.ssl = ssl
        self.readBIO = readBIO
        self.writeBIO = writeBIO

        switch context.configuration.role {
        case .server:
            SSL_set_accept_state(ssl)
        case .client:
            SSL_set_connect_state(ssl)
            if let name = context.configuration.serverName {
                try configureServerName(name)
            }
        }
    }

    deinit {
        SSL_free(ssl)
    }

    private static func makeMemoryBIO() -> OpaquePointer? {
        guard let bio = BIO_new(BIO_s_mem()) else { return nil }
        // An empty BIO means "no bytes yet" (retry), not end of file.
        _ = COpenSSL_BIO_set_mem_eof_return(bio, -1)
        return bio
    }

    private func configureServerName(_ name: String) throws(TLSError) {
        ERR_clear_error()
        // X509_VERIFY_PARAM_set1_ip_asc accepts only an IPv4/IPv6 literal: that is our IP test.
        if X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), name) == 1 {
            return  // RFC 6066 forbids IP literals in SNI.
        }
        ERR_clear_error()
        guard SSL_set1_host(ssl, name) == 1 else {
            throw OpenSSLErrorQueue.error(.configuration, "invalid server name \"\(name)\"")
        }
        SSL_set_hostflags(ssl, UInt32(X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS))
        guard COpenSSL_SSL_set_tlsext_host_name(ssl, name) == 1 else {
            throw OpenSSLErrorQueue.error(.configuration, "invalid SNI name \"\(name)\"")
        }
    }

    // MARK: Ciphertext in and out

    /// Hands ciphertext from the peer to OpenSSL. Follow with a handshake, read or shutdown step.
    func consumeDataFromNetwork(_ buffer: ByteBuffer) {
        guard buffer.readableBytes > 0 else { return }
        let written = buffer.withUnsafeReadableBytes { bytes in
            BIO_write(readBIO, bytes.baseAddress, Int32(clamping: bytes.count))
        }
        // A memory BIO takes everything unless allocation fails; then OpenSSL reports a
        // truncated record on the next read, which fails the connection.
        _ = written
        readBIOHighWater = max(readBIOHighWater, Int(COpenSSL_BIO_pending(readBIO)))
    }

    /// Ciphertext bytes from the peer not yet consumed by OpenSSL.
    var pendingInboundBytes: Int { Int(COpenSSL_BIO_pending(readBIO)) }

    /// Whether OpenSSL produced ciphertext that has not been taken yet.
    var hasOutboundCiphertext: Bool { COpenSSL_BIO_pending(writeBIO) > 0 }

    /// Takes all ciphertext OpenSSL has produced, in one buffer, so a flush is one socket write.
    ///
    /// - Returns: `nil` when there is none.
    func outboundCiphertext(allocator: ByteBufferAllocator) -> ByteBuffer? {
        let pending = Int(COpenSSL_BIO_pending(writeBIO))
        guard pending > 0 else { return nil }
        var buffer = allocator.buffer(capacity: pending)
        buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: pending) { bytes in
            let read = BIO_read(writeBIO, bytes.baseAddress, Int32(clamping: pending))
            return max(0, Int(read))
        }
        if pending > Self.bioRetentionLimit, let fresh = Self.makeMemoryBIO() {
            SSL_set0_wbio(ssl, fresh)  // frees the old, now empty, BIO
            writeBIO = fresh
        }
        return buffer
    }

    /// Replaces an emptied read BIO that once held a lot (see ``bioRetentionLimit``).
    func releaseInboundBufferIfLarge() {
        guard readBIOHighWater > Self.bioRetentionLimit, COpenSSL_BIO_pending(readBIO) == 0,
            let fresh = Self.makeMemoryBIO()
        else { return }
        SSL_set0_rbio(ssl, fresh)
        readBIO = fresh
        readBIOHighWater = 0
    }

    // MARK: Operations

    /// Runs the handshake as far as the buffered ciphertext allows.
    func doHandshake() -> TLSOperationResult {
        ERR_clear_error()
        let rc = SSL_do_handshake(ssl)
        if rc == 1 { return .complete }
        let kind = SSL_get_error(ssl, rc)
        switch kind {
        case SSL_ERROR_WANT_READ, SSL_ERROR_WANT_WRITE, SSL_ERROR_WANT_X509_LOOKUP,
            SSL_ERROR_WANT_CLIENT_HELLO_CB:
            return .incomplete
        default:
            return .failed(handshakeError(kind))
        }
    }

    /// Decrypts at most one read's worth of application data into `buffer`'s writable bytes.
    func readApplicationData(into buffer: inout ByteBuffer, minimumWritableBytes: Int) -> TLSReadResult {
        var count = 0
        var ok: Int32 = 0
        ERR_clear_error()
        buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: minimumWritableBytes) { bytes in
            ok = SSL_read_ex(ssl, bytes.baseAddress, bytes.count, &count)
            return ok == 1 ? count : 0
        }
        if ok == 1 { return .read(count) }
        let kind = SSL_get_error(ssl, ok)
        switch kind {
        case SSL_ERROR_WANT_READ, SSL_ERROR_WANT_WRITE:
            return .wantRead
        case SSL_ERROR_ZERO_RETURN:
            return .closeNotify
        default:
            return .failed(recordError(kind, "read"))
        }
    }

    /// Encrypts all of `buffer` into the write BIO (a memory BIO never blocks, so it is all or nothing).
    func writeApplicationData(_ buffer: ByteBuffer) -> TLSOperationResult {
        guard buffer.readableBytes > 0 else { return .complete }
        var written = 0
        ERR_clear_error()
        let ok = buffer.withUnsafeReadableBytes { bytes in
            SSL_write_ex(ssl, bytes.baseAddress, bytes.count, &written)
        }
        if ok == 1 { return .complete }
        let kind = SSL_get_error(ssl, ok)
        switch kind {
        case SSL_ERROR_WANT_READ, SSL_ERROR_WANT_WRITE:
            return .incomplete
        default:
            return .failed(recordError(kind, "write"))
        }
    }

    /// Sends close_notify (first call) and reports whether the peer's close_notify arrived.
    func doShutdown() -> TLSOperationResult {
        ERR_clear_error()
        let rc = SSL_shutdown(ssl)
        switch rc {
        case 1:
            return .complete
        case 0:
            return .incomplete
        default:
            let kind = SSL_get_error(ssl, rc)
            switch kind {
            case SSL_ERROR_WANT_READ, SSL_ERROR_WANT_WRITE:
                return .incomplete
            default:
                return .failed(recordError(kind, "shutdown"))
            }
        }
    }

    /// Whether our close_notify has been queued (so a second shutdown call only waits for the peer's).
    var sentCloseNotify: Bool { (SSL_get_shutdown(ssl) & SSL_SENT_SHUTDOWN) != 0 }

    /// The ALPN protocol both sides agreed on, if any.
    var negotiatedProtocol: String? {
        var name: UnsafePointer<UInt8>? = nil
        var length: UInt32 = 0
        SSL_get0_alpn_selected(ssl, &name, &length)
        guard let name, length > 0 else { return nil }
        return String(decoding: UnsafeBufferPointer(start: name, count: Int(length)), as: UTF8.self)
    }

    /// The negotiated protocol version, e.g. "TLSv1.3".
    var protocolVersion: String {
        guard let version = SSL_get_version(ssl) else { return "unknown" }
        return String(cString: version)
    }

    /// The subject of the peer's verified certificate (one line, OpenSSL's format), if it sent one.
    var peerCertificateSubject: String? {
        guard let certificate = SSL_get1_peer_certificate(ssl) else { return nil }
        defer { X509_free(certificate) }
        guard let line = X509_NAME_oneline(X509_get_subject_name(certificate), nil, 0) else { return nil }
        defer { COpenSSL_OPENSSL_free(line) }
        return String(cString: line)
    }

    // MARK: Errors

    private static let alpnReasons: Set<Int32> = [
        SSL_R_NO_APPLICATION_PROTOCOL, SSL_R_TLSV1_ALERT_NO_APPLICATION_PROTOCOL,
        // Our ClientHello callback only refuses clients that offer no ALPN.
        SSL_R_CALLBACK_FAILED,
    ]
    private static let certificateReasons: Set<Int32> = [
        SSL_R_PEER_DID_NOT_RETURN_A_CERTIFICATE, SSL_R_TLSV13_ALERT_CERTIFICATE_REQUIRED,
        SSL_R_CERTIFICATE_VERIFY_FAILED, SSL_R_SSLV3_ALERT_BAD_CERTIFICATE, SSL_R_TLSV1_ALERT_UNKNOWN_CA,
        SSL_R_SSLV3_ALERT_CERTIFICATE_UNKNOWN, SSL_R_SSLV3_ALERT_CERTIFICATE_EXPIRED,
        SSL_R_SSLV3_ALERT_UNSUPPORTED_CERTIFICATE, SSL_R_TLSV1_ALERT_DECRYPT_ERROR,
    ]

    private func handshakeError(_ kind: Int32) -> TLSError {
        let (reasons, text) = OpenSSLErrorQueue.drain()
        let verify = SSL_get_verify_result(ssl)
        if verify != Int(X509_V_OK) {
            let reason = X509_verify_cert_error_string(verify).map { String(cString: $0) } ?? "error \(verify)"
            return TLSError(code: .certificate, message: "certificate verification failed: \(reason)")
        }
        let detail = text.isEmpty ? Self.describe(kind) : text
        if reasons.contains(where: Self.alpnReasons.contains) {
            return TLSError(code: .alpnMismatch, message: "no common application protocol (ALPN): \(detail)")
        }
        if reasons.contains(where: Self.certificateReasons.contains) {
            return TLSError(code: .certificate, message: "peer certificate refused: \(detail)")
        }
        return TLSError(code: .handshakeFailed, message: "handshake failed: \(detail)")
    }

    private func recordError(_ kind: Int32, _ operation: String) -> TLSError {
        let text = OpenSSLErrorQueue.drain().text
        return TLSError(code: .protocolFailure, message: "TLS \(operation) failed: \(text.isEmpty ? Self.describe(kind) : text)")
    }

    private static func describe(_ kind: Int32) -> String {
        switch kind {
        case SSL_ERROR_SYSCALL: "unexpected end of input"
        case SSL_ERROR_SSL: "protocol error"
        case SSL_ERROR_ZERO_RETURN: "peer closed the TLS session"
        default: "SSL_get_error \(kind)"
        }
    }
}
