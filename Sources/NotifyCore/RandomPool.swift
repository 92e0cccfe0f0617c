#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Synchronization

/// Random words from the kernel's generator, drawn a few kilobytes at a time,
/// for the ids made on every call (request ids, notification ids).
///
/// `SystemRandomNumberGenerator` makes one `getrandom` system call per 64
/// bits: at two UUIDs per call that showed as 4 % of the server's CPU. One
/// pool serves a whole server or gateway; a draw takes a lock for a few
/// nanoseconds. It lives in the core, apart from OpenSSL, so that the gateway
/// and the server draw ids the same way without the gateway linking the
/// crypto layer; secrets (tokens) come from `NotifyCrypto.SecureRandom`.
public final class RandomPool: Sendable {
    private struct Words {
        var buffer = [UInt64](repeating: 0, count: 512)
        var used = 512
    }

    private let words = Mutex(Words())

    public init() {}

    public func next() -> UInt64 {
        words.withLock { words in
            if words.used == words.buffer.count {
                words.buffer.withUnsafeMutableBytes { Self.fill($0) }
                words.used = 0
            }
            defer { words.used += 1 }
            return words.buffer[words.used]
        }
    }

    /// A `RandomNumberGenerator` drawing from this pool.
    public var generator: Generator { Generator(pool: self) }

    public struct Generator: RandomNumberGenerator {
        let pool: RandomPool

        public mutating func next() -> UInt64 {
            pool.next()
        }
    }

    /// Fills `bytes` from the kernel's generator: three system calls per
    /// refill (Swift's Glibc module does not export `getrandom`). It cannot
    /// fail on a working system; handing out predictable ids instead would
    /// be worse than stopping.
    private static func fill(_ bytes: UnsafeMutableRawBufferPointer) {
        #if canImport(Glibc)
        let fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC)
        precondition(fd >= 0, "cannot open /dev/urandom: errno \(errno)")
        defer { close(fd) }
        var filled = 0
        while filled < bytes.count {
            let count = read(fd, bytes.baseAddress! + filled, bytes.count - filled)
            if count < 0 {
                precondition(errno == EINTR, "cannot read /dev/urandom: errno \(errno)")
                continue
            }
            precondition(count > 0, "/dev/urandom ended")
            filled += count
        }
        #else
        arc4random_buf(bytes.baseAddress, bytes.count)
        #endif
    }
}
