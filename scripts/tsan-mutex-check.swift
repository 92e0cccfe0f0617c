// Shows that ThreadSanitizer on Linux does not see Synchronization.Mutex
// (Swift 6.3.1: it locks with a futex, which TSan has no interceptor for):
// four threads draw from one Mutex-protected buffer, correctly, and TSan
// reports "Swift access race" and "data race" inside withLock. The same code
// with NSLock (a pthread mutex) reports nothing. scripts/sanitize.sh's thread
// run reports such races in SecureRandom.Source.next and AnswerInbox.push;
// docs/SECURITY.md lists them as false positives.
//
//   swiftc -sanitize=thread -g scripts/tsan-mutex-check.swift -o /tmp/tsan-mutex-check
//   TSAN_OPTIONS=halt_on_error=0 /tmp/tsan-mutex-check
import Synchronization
import Foundation

final class Box: Sendable {
    struct S { var buffer = [UInt64](repeating: 0, count: 64); var used = 0 }
    let m = Mutex(S())
    func next() -> UInt64 {
        m.withLock { s in
            if s.used == s.buffer.count { s.used = 0 }
            defer { s.used += 1 }
            return s.buffer[s.used]
        }
    }
}
let box = Box()
let threads = (0..<4).map { _ in Thread { for _ in 0..<200_000 { _ = box.next() } } }
threads.forEach { $0.start() }
Thread.sleep(forTimeInterval: 3)
print("done", box.next())
