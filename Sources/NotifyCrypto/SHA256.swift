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

    private static func digest(of message: UnsafeRawBufferPointer) -> [UInt8] {
        var output = [UInt8](repeating: 0, count: digestByteCount)
        var length: UInt32 = 0
        let status = output.withUnsafeMutableBufferPointer { out in
            EVP_Digest(message.baseAddress, message.count, out.baseAddress, &length, EVP_sha256(), nil)
        }
        // EVP_Digest with the built-in SHA-256 only fails on allocation failure; there is no
        // sensible recovery from that and returning a wrong digest would be worse.
        precondition(status == 1 && length == UInt32(digestByteCount), "EVP_Digest(SHA-256) failed")
        return output
    }
}
