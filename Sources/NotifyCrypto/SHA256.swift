internal import COpenSSL

/// SHA-256 through OpenSSL's EVP interface, so the digest uses the same vetted (and CPU-accelerated)
/// code as TLS instead of a second implementation.
public enum SHA256 {
    /// The size of a digest in bytes.
    public static let digestByteCount = 32

    /// Hashes `bytes` in one call.
    ///
    /// - Parameter bytes: The message; any collection of bytes (contiguous storage avoids a copy).
    /// - Returns: The 32-byte digest.
    public static func hash(_ bytes: some Collection<UInt8>) -> [UInt8] {
        if let digest = bytes.withContiguousStorageIfAvailable({ digest(of: UnsafeRawBufferPointer($0)) }) {
            return digest
        }
        return Array(bytes).withUnsafeBytes { digest(of: $0) }
    }

    /// The algorithm, fetched from OpenSSL's default provider once.
    ///
    /// `EVP_sha256()` is a legacy handle that OpenSSL 3 resolves to its
    /// provider's implementation again on every digest (`EVP_MD_fetch`, a
    /// lock and a name lookup): that was a third of hashing a token. The
    /// fetched algorithm is immutable and may be shared by every thread.
    private struct Algorithm: @unchecked Sendable {
        let md: OpaquePointer

        init() {
            guard let fetched = EVP_MD_fetch(nil, "SHA256", nil) else {
                // Only a broken OpenSSL installation lacks SHA-256; the
                // legacy handle then fails the same way at each digest.
                md = EVP_sha256()
                return
            }
            md = fetched
        }
    }

    private static let algorithm = Algorithm()

    private static func digest(of message: UnsafeRawBufferPointer) -> [UInt8] {
        var output = [UInt8](repeating: 0, count: digestByteCount)
        var length: UInt32 = 0
        let status = output.withUnsafeMutableBufferPointer { out in
            EVP_Digest(message.baseAddress, message.count, out.baseAddress, &length, algorithm.md, nil)
        }
        // EVP_Digest with the built-in SHA-256 only fails on allocation failure; there is no
        // sensible recovery from that and returning a wrong digest would be worse.
        precondition(status == 1 && length == UInt32(digestByteCount), "EVP_Digest(SHA-256) failed")
        return output
    }
}
