import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// An exclusive advisory lock (`flock`) on `<data-dir>/notifyd.lock`, held
/// by `notifyd serve` for its whole life.
///
/// Two servers on one data folder would each deliver live only what they
/// stored themselves (a feed's watchers are woken by their own process's
/// commits), so a second one must not start. `notifyd admin` does not take
/// the lock: it is safe beside a running server (SQLite's own locks). The
/// kernel drops the lock when the process ends, however it ends, so a crash
/// never leaves a stale lock behind; the file itself stays, holding the pid
/// of the last server for the error message.
final class DataDirectoryLock {
    struct Held: Error, CustomStringConvertible {
        var path: String
        var holder: String?

        var description: String {
            "another notifyd serve is running on this data folder (\(path) is locked"
                + (holder.map { " by pid \($0)" } ?? "") + "); stop it first, or pass another --data-dir"
        }
    }

    struct Failed: Error, CustomStringConvertible {
        var path: String
        var errno: Int32

        var description: String { "cannot lock \(path): \(String(cString: strerror(errno)))" }
    }

    private let descriptor: Int32
    let path: String

    /// Takes the lock, or throws ``Held`` at once when another process has it.
    init(dataDirectory: String) throws {
        path = dataDirectory + "/notifyd.lock"
        let descriptor = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        guard descriptor >= 0 else { throw Failed(path: path, errno: errno) }
        guard flock(descriptor, LOCK_EX | LOCK_NB) == 0 else {
            let error = errno
            var buffer = [UInt8](repeating: 0, count: 32)
            let count = read(descriptor, &buffer, buffer.count)
            close(descriptor)
            guard error == EWOULDBLOCK else { throw Failed(path: path, errno: error) }
            let pid = count > 0
                ? String(decoding: buffer[..<count], as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines) : ""
            throw Held(path: path, holder: pid.isEmpty ? nil : pid)
        }
        self.descriptor = descriptor
        // Best effort: the pid only improves the message a second server prints.
        let pid = Array("\(getpid())\n".utf8)
        if ftruncate(descriptor, 0) == 0 {
            _ = pid.withUnsafeBytes { pwrite(descriptor, $0.baseAddress, $0.count, 0) }
        }
    }

    deinit {
        // Closing the descriptor releases the lock.
        close(descriptor)
    }
}
