internal import COpenSSL
internal import Foundation

/// A private CA and certificates for local development and tests, made with OpenSSL's C API so
/// no `openssl` binary or network access is needed.
///
/// Keys are ECDSA P-256. The server certificate is valid for `localhost`, `127.0.0.1` and `::1`.
/// A server keeps no CA key (``ensure(in:keepingCAKey:)`` with `false`, as `notifyd serve` does):
/// whoever could read it could mint certificates that every client trusting the CA accepts.
/// Tests that mint client certificates for mTLS keep it, in a directory of their own.
/// Never use these for production.
public enum DevelopmentCertificates {
    /// Paths of the generated PEM files.
    public struct Files: Sendable {
        public var caCertificate: String
        public var serverCertificate: String
        public var serverKey: String
    }

    private static let caCertificateName = "ca.crt"
    private static let caKeyName = "ca.key"
    private static let serverCertificateName = "server.crt"
    private static let serverKeyName = "server.key"

    /// Generates (if missing) a CA and a server certificate for localhost, 127.0.0.1 and ::1.
    ///
    /// Idempotent: when all the files exist they are reused untouched. If any is missing, all
    /// are regenerated, since a server certificate must be signed by the CA next to it.
    ///
    /// - Parameters:
    ///   - directory: Created with mode 0700 if missing; keys are written 0600.
    ///   - keepingCAKey: whether `ca.key` is written, for ``issueClientCertificate(in:name:)``.
    ///     Without it the CA key signs the server certificate and is forgotten: nothing in the
    ///     directory can issue another certificate, and a `ca.key` an earlier run left there is
    ///     deleted. The price: a new server certificate (when one of the files is lost, or the
    ///     certificate expires after 365 days) comes with a new CA, which clients must trust anew.
    /// - Returns: The paths of the CA certificate, server certificate and server key.
    /// - Throws: ``TLSError`` with code ``TLSError/Code/configuration`` when generation or
    ///   writing fails.
    public static func ensure(in directory: String, keepingCAKey: Bool = true) throws(TLSError) -> Files {
        let files = Files(
            caCertificate: path(directory, caCertificateName),
            serverCertificate: path(directory, serverCertificateName),
            serverKey: path(directory, serverKeyName)
        )
        let caKeyPath = path(directory, caKeyName)
        let all = [files.caCertificate, files.serverCertificate, files.serverKey] + (keepingCAKey ? [caKeyPath] : [])
        if all.allSatisfy({ FileManager.default.fileExists(atPath: $0) }) {
            if !keepingCAKey, FileManager.default.fileExists(atPath: caKeyPath) {
                guard unlink(caKeyPath) == 0 else {
                    throw TLSError(code: .configuration, message: "cannot delete \(caKeyPath): errno \(errno)")
                }
            }
            return files
        }
        try createDirectory(directory)

        let caKey = try PrivateKey.generate()
        let ca = try Certificate.issue(
            commonName: "notify development CA",
            publicKey: caKey,
            issuer: nil,
            issuerKey: caKey,
            days: 3650,
            extensions: [
                (NID_basic_constraints, "critical,CA:TRUE,pathlen:0"),
                (NID_key_usage, "critical,keyCertSign,cRLSign"),
                (NID_subject_key_identifier, "hash"),
            ]
        )
        let serverKey = try PrivateKey.generate()
        let server = try Certificate.issue(
            commonName: "localhost",
            publicKey: serverKey,
            issuer: ca,
            issuerKey: caKey,
            days: 365,
            extensions: [
                (NID_basic_constraints, "critical,CA:FALSE"),
                (NID_key_usage, "critical,digitalSignature"),
                (NID_ext_key_usage, "serverAuth"),
                (NID_subject_alt_name, "DNS:localhost,IP:127.0.0.1,IP:::1"),
                (NID_subject_key_identifier, "hash"),
                (NID_authority_key_identifier, "keyid:always"),
            ]
        )
        // Keys first, certificates last: a crash in between leaves the set incomplete, and the
        // next call regenerates it.
        if keepingCAKey {
            try writeFile(caKeyPath, try caKey.pem(), mode: 0o600)
        } else if FileManager.default.fileExists(atPath: caKeyPath), unlink(caKeyPath) != 0 {
            throw TLSError(code: .configuration, message: "cannot delete \(caKeyPath): errno \(errno)")
        }
        try writeFile(files.serverKey, try serverKey.pem(), mode: 0o600)
        try writeFile(files.serverCertificate, try server.pem(), mode: 0o644)
        try writeFile(files.caCertificate, try ca.pem(), mode: 0o644)
        return files
    }

    /// Issues a client certificate signed by the CA in `directory`, for mutual TLS.
    ///
    /// - Parameters:
    ///   - directory: A directory prepared by ``ensure(in:keepingCAKey:)`` keeping the CA key.
    ///   - name: The certificate's common name and file stem; letters, digits, `.`, `_` and `-` only.
    /// - Returns: The paths of `<name>.crt` and `<name>.key` (key mode 0600).
    /// - Throws: ``TLSError`` with code ``TLSError/Code/configuration`` when the name is invalid,
    ///   the CA cannot be read, or writing fails.
    public static func issueClientCertificate(in directory: String, name: String) throws(TLSError) -> (certificate: String, key: String) {
        let allowed = Set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-")
        guard !name.isEmpty, name.count <= 64, name.first != ".", name.allSatisfy(allowed.contains) else {
            throw TLSError(code: .configuration, message: "invalid client certificate name \"\(name)\"")
        }
        let ca = try Certificate.load(path(directory, caCertificateName))
        let caKey = try PrivateKey.load(path(directory, caKeyName))
        let key = try PrivateKey.generate()
        let certificate = try Certificate.issue(
            commonName: name,
            publicKey: key,
            issuer: ca,
            issuerKey: caKey,
            days: 365,
            extensions: [
                (NID_basic_constraints, "critical,CA:FALSE"),
                (NID_key_usage, "critical,digitalSignature"),
                (NID_ext_key_usage, "clientAuth"),
                (NID_subject_key_identifier, "hash"),
                (NID_authority_key_identifier, "keyid:always"),
            ]
        )
        let certificatePath = path(directory, "\(name).crt")
        let keyPath = path(directory, "\(name).key")
        try writeFile(keyPath, try key.pem(), mode: 0o600)
        try writeFile(certificatePath, try certificate.pem(), mode: 0o644)
        return (certificatePath, keyPath)
    }

    // MARK: Files

    private static func path(_ directory: String, _ name: String) -> String {
        directory.hasSuffix("/") ? directory + name : directory + "/" + name
    }

    private static func createDirectory(_ directory: String) throws(TLSError) {
        var isDirectory: ObjCBool = false
        if FileManager.default.fileExists(atPath: directory, isDirectory: &isDirectory) {
            guard isDirectory.boolValue else {
                throw TLSError(code: .configuration, message: "\(directory) exists and is not a directory")
            }
            return
        }
        do {
            try FileManager.default.createDirectory(
                atPath: directory,
                withIntermediateDirectories: true,
                attributes: [.posixPermissions: 0o700]
            )
        } catch {
            throw TLSError(code: .configuration, message: "cannot create \(directory): \(error)")
        }
    }

    /// Writes through a temporary file and a rename, so readers never see a half-written file,
    /// with the mode set at creation (a key is never world-readable, not even briefly).
    private static func writeFile(_ path: String, _ bytes: [UInt8], mode: mode_t) throws(TLSError) {
        let temporary = path + ".tmp-\(getpid())"
        let descriptor = open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode)
        guard descriptor >= 0 else {
            throw TLSError(code: .configuration, message: "cannot create \(temporary): errno \(errno)")
        }
        var offset = 0
        var failed = false
        while offset < bytes.count {
            let written = bytes[offset...].withUnsafeBytes { Foundation.write(descriptor, $0.baseAddress, $0.count) }
            if written < 0 {
                if errno == EINTR { continue }
                failed = true
                break
            }
            offset += written
        }
        if fchmod(descriptor, mode) != 0 { failed = true }
        if close(descriptor) != 0 { failed = true }
        guard !failed, rename(temporary, path) == 0 else {
            unlink(temporary)
            throw TLSError(code: .configuration, message: "cannot write \(path): errno \(errno)")
        }
    }
}

// MARK: OpenSSL objects

/// An `EVP_PKEY*`, freed with its owner.
private final class PrivateKey {
    let pointer: OpaquePointer

    private init(_ pointer: OpaquePointer) { self.pointer = pointer }
    deinit { EVP_PKEY_free(pointer) }

    static func generate() throws(TLSError) -> PrivateKey {
        ERR_clear_error()
        guard let key = COpenSSL_EVP_EC_gen("P-256") else {
            throw OpenSSLErrorQueue.error(.configuration, "generating a P-256 key")
        }
        return PrivateKey(key)
    }

    static func load(_ path: String) throws(TLSError) -> PrivateKey {
        ERR_clear_error()
        guard let bio = BIO_new_file(path, "r") else {
            throw OpenSSLErrorQueue.error(.configuration, "opening \(path)")
        }
        defer { BIO_free(bio) }
        guard let key = PEM_read_bio_PrivateKey(bio, nil, nil, nil) else {
            throw OpenSSLErrorQueue.error(.configuration, "reading a private key from \(path)")
        }
        return PrivateKey(key)
    }

    func pem() throws(TLSError) -> [UInt8] {
        try withMemoryBIO { bio in PEM_write_bio_PrivateKey(bio, pointer, nil, nil, 0, nil, nil) == 1 }
    }
}

/// An `X509*`, freed with its owner.
private final class Certificate {
    let pointer: OpaquePointer

    private init(_ pointer: OpaquePointer) { self.pointer = pointer }
    deinit { X509_free(pointer) }

    static func load(_ path: String) throws(TLSError) -> Certificate {
        ERR_clear_error()
        guard let bio = BIO_new_file(path, "r") else {
            throw OpenSSLErrorQueue.error(.configuration, "opening \(path)")
        }
        defer { BIO_free(bio) }
        guard let certificate = PEM_read_bio_X509(bio, nil, nil, nil) else {
            throw OpenSSLErrorQueue.error(.configuration, "reading a certificate from \(path)")
        }
        return Certificate(certificate)
    }

    /// Builds and signs an X.509 v3 certificate; `issuer == nil` makes it self-signed.
    static func issue(
        commonName: String,
        publicKey: PrivateKey,
        issuer: Certificate?,
        issuerKey: PrivateKey,
        days: Int,
        extensions: [(Int32, String)]
    ) throws(TLSError) -> Certificate {
        ERR_clear_error()
        guard let x509 = X509_new() else {
            throw OpenSSLErrorQueue.error(.configuration, "X509_new")
        }
        let certificate = Certificate(x509)
        func check(_ ok: Bool, _ what: String) throws(TLSError) {
            guard ok else { throw OpenSSLErrorQueue.error(.configuration, "building certificate: \(what)") }
        }
        try check(X509_set_version(x509, 2) == 1, "version")

        // A random 127-bit serial: unique without any state to keep.
        var serialBytes = SecureRandomBytes.make(count: 16)
        serialBytes[0] &= 0x7F
        let serial = serialBytes.withUnsafeBufferPointer { BN_bin2bn($0.baseAddress, Int32($0.count), nil) }
        try check(serial != nil, "serial")
        defer { BN_free(serial) }
        try check(BN_to_ASN1_INTEGER(serial, X509_get_serialNumber(x509)) != nil, "serial")

        try check(X509_gmtime_adj(X509_getm_notBefore(x509), -3600) != nil, "notBefore")
        try check(X509_gmtime_adj(X509_getm_notAfter(x509), days * 86_400) != nil, "notAfter")
        try check(X509_set_pubkey(x509, publicKey.pointer) == 1, "public key")

        guard let name = X509_get_subject_name(x509) else { throw OpenSSLErrorQueue.error(.configuration, "subject") }
        let commonNameBytes = Array(commonName.utf8)
        let added = commonNameBytes.withUnsafeBufferPointer {
            X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8, $0.baseAddress, Int32($0.count), -1, 0)
        }
        try check(added == 1, "common name")
        let issuerName = issuer.map { X509_get_subject_name($0.pointer) } ?? name
        try check(X509_set_issuer_name(x509, issuerName) == 1, "issuer")

        for (nid, value) in extensions {
            try check(COpenSSL_X509_add_extension(issuer?.pointer ?? x509, x509, nid, value) == 1, "extension \(value)")
        }
        try check(X509_sign(x509, issuerKey.pointer, EVP_sha256()) > 0, "signature")
        return certificate
    }

    func pem() throws(TLSError) -> [UInt8] {
        try withMemoryBIO { bio in PEM_write_bio_X509(bio, pointer) == 1 }
    }
}

/// Runs `write` against a fresh memory BIO and returns what it wrote.
private func withMemoryBIO(_ write: (OpaquePointer) -> Bool) throws(TLSError) -> [UInt8] {
    ERR_clear_error()
    guard let bio = BIO_new(BIO_s_mem()) else { throw OpenSSLErrorQueue.error(.configuration, "BIO_new") }
    defer { BIO_free(bio) }
    guard write(bio) else { throw OpenSSLErrorQueue.error(.configuration, "PEM encoding") }
    var data: UnsafeMutablePointer<CChar>? = nil
    let length = COpenSSL_BIO_get_mem_data(bio, &data)
    guard let data, length > 0 else { throw OpenSSLErrorQueue.error(.configuration, "PEM encoding") }
    return Array(UnsafeRawBufferPointer(start: data, count: Int(length)))
}

/// Random bytes for serial numbers (NotifyTLS does not depend on NotifyCrypto).
private enum SecureRandomBytes {
    static func make(count: Int) -> [UInt8] {
        var bytes = [UInt8](repeating: 0, count: count)
        let status = bytes.withUnsafeMutableBufferPointer { RAND_bytes($0.baseAddress, Int32($0.count)) }
        // Without a seeded DRBG no key could have been generated either.
        precondition(status == 1, "RAND_bytes failed")
        return bytes
    }
}
