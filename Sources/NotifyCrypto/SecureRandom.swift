internal import COpenSSL
import Synchronization

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
    /// Random words drawn from the same DRBG a few kilobytes at a time, for
    /// ids made on every call.
    ///
    /// `SystemRandomNumberGenerator` makes one `getrandom` system call per 64
    /// bits, and each `RAND_bytes` call has a fixed cost of its own (a lock, a
    /// fork check, parameter lookups): at two UUIDs per call either showed as
    /// 4 % of the server's CPU. One source serves a whole server; a draw takes
    /// a lock for a few nanoseconds.
    public final class Source: Sendable {
        private struct Words {
            var buffer = [UInt64](repeating: 0, count: 512)
            var used = 512
        }

        private let words = Mutex(Words())

        public init() {}

        public func next() -> UInt64 {
            words.withLock { words in
                if words.used == words.buffer.count {
                    let status = words.buffer.withUnsafeMutableBytes { bytes in
                        RAND_bytes(bytes.baseAddress, Int32(bytes.count))
                    }
                    precondition(status == 1, "RAND_bytes failed")
                    words.used = 0
                }
                defer { words.used += 1 }
                return words.buffer[words.used]
            }
        }

        /// A `RandomNumberGenerator` drawing from this source.
        public var generator: Generator { Generator(source: self) }
    }

    public struct Generator: RandomNumberGenerator {
        let source: Source

        public mutating func next() -> UInt64 {
            source.next()
        }
    }
}
