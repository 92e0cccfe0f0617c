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

extension SecureRandom {
    /// A `RandomNumberGenerator` over the same DRBG.
    ///
    /// It runs in user space: `SystemRandomNumberGenerator` makes one
    /// `getrandom` system call per 64 bits, and the server's two UUIDs per
    /// call (request id, notification id) made that 4 % of its CPU. Each
    /// `RAND_bytes` call has a fixed cost of its own (a lock, a fork check), so
    /// the generator draws 32 bytes at a time: keep one where ids are made
    /// often.
    public struct Generator: RandomNumberGenerator {
        private var buffer: (UInt64, UInt64, UInt64, UInt64) = (0, 0, 0, 0)
        private var used = 4

        public init() {}

        public mutating func next() -> UInt64 {
            if used == 4 {
                let status = withUnsafeMutableBytes(of: &buffer) { bytes in
                    RAND_bytes(bytes.baseAddress, Int32(bytes.count))
                }
                precondition(status == 1, "RAND_bytes failed")
                used = 0
            }
            defer { used += 1 }
            return withUnsafeBytes(of: buffer) { $0.load(fromByteOffset: used * 8, as: UInt64.self) }
        }
    }
}
