import Foundation

/// A fresh private directory under /tmp for one test, so tests running in parallel never share
/// files (certificates, databases, sockets).
public struct TemporaryDirectory: Sendable {
    /// The absolute path, without a trailing slash; created with mode 0700 by `mkdtemp`.
    public let path: String

    /// Creates the directory.
    ///
    /// - Parameter memoryBacked: under /dev/shm (tmpfs) instead of /tmp, when it exists: for a
    ///   test that writes megabytes and checks no durability, so that its writes do not hold up
    ///   the fsyncs of the tests running beside it (on ext4 one file's fsync can wait for
    ///   another's dirty pages).
    /// - Throws: A `CocoaError` carrying `errno` when `mkdtemp` fails.
    public init(memoryBacked: Bool = false) throws {
        let base = memoryBacked && FileManager.default.fileExists(atPath: "/dev/shm") ? "/dev/shm" : "/tmp"
        var template = Array("\(base)/notify-test-XXXXXX".utf8CString)
        let created = template.withUnsafeMutableBufferPointer { buffer -> UnsafeMutablePointer<CChar>? in
            guard let base = buffer.baseAddress else { return nil }
            return mkdtemp(base)
        }
        guard created != nil else {
            throw CocoaError(.fileWriteUnknown, userInfo: [NSLocalizedDescriptionKey: "mkdtemp failed: errno \(errno)"])
        }
        // mkdtemp rewrote the X's in place; the array is NUL-terminated (utf8CString).
        path = String(decoding: template.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// Deletes the directory and everything in it; errors are ignored (it is only a test's scratch space).
    public func remove() {
        try? FileManager.default.removeItem(atPath: path)
    }
}
