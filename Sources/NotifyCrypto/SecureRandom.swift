internal import COpenSSL

/// Cryptographically secure random bytes from OpenSSL's DRBG (seeded from the kernel), for tokens,
/// salts and identifiers that must not be guessable.
public enum SecureRandom {
    /// Returns `count` random bytes.
    ///
    /// - Parameter count: How many bytes; zero or less yields an empty array.
    /// - Returns: The bytes.
    public static func bytes(count: Int) -> [UInt8] {
        guard count > 0 else { return [] }
        var output = [UInt8](repeating: 0, count: count)
        let status = output.withUnsafeMutableBufferPointer { buffer in
            RAND_bytes(buffer.baseAddress, Int32(clamping: buffer.count))
        }
        // RAND_bytes only fails when the DRBG cannot be seeded; handing out predictable bytes
        // instead would silently break every secret derived from them.
        precondition(status == 1 && count <= Int(Int32.max), "RAND_bytes failed")
        return output
    }
}
