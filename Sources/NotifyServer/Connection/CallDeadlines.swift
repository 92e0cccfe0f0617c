import NIOCore

/// The deadlines of one connection's calls in flight, behind one event-loop
/// timer.
///
/// A NIO timer per call cost about 12 % of the server's CPU when every client
/// set a deadline (scheduling and cancelling in the loop's timer heap), and
/// calls nearly always finish first. Here a finished call only leaves a
/// dictionary; the one timer is set for the earliest deadline, and when it
/// fires it finds which calls really expired (a scan over the calls in
/// flight, once per deadline reached) and is set again for the next.
/// Loop-confined, like its connection handler.
struct CallDeadlines {
    struct Expired {
        var callID: UInt64
        var requestID: String
    }

    private var pending: [UInt64: (deadline: NIODeadline, requestID: String)] = [:]
    /// The armed timer and the deadline it fires at.
    private var timer: (deadline: NIODeadline, scheduled: Scheduled<Void>)?

    /// Tracks a call's deadline.
    /// - Returns: true when the timer must be armed for `deadline` (nothing
    ///   armed, or armed for later).
    mutating func add(callID: UInt64, deadline: NIODeadline, requestID: String) -> Bool {
        pending[callID] = (deadline, requestID)
        if let timer, timer.deadline <= deadline { return false }
        return true
    }

    /// Forgets a call that was answered or cancelled; its deadline's timer
    /// stays armed and finds nothing when it fires.
    mutating func remove(callID: UInt64) {
        pending.removeValue(forKey: callID)
    }

    /// Arms `scheduled`, which fires at `deadline`, in place of the current timer.
    mutating func arm(_ scheduled: Scheduled<Void>, at deadline: NIODeadline) {
        timer?.scheduled.cancel()
        timer = (deadline, scheduled)
    }

    /// The timer fired: removes and returns the calls whose deadline passed,
    /// oldest first, and the deadline to arm next, if any call is left.
    mutating func fire(now: NIODeadline) -> (expired: [Expired], next: NIODeadline?) {
        timer = nil
        var expired: [(deadline: NIODeadline, call: Expired)] = []
        var next: NIODeadline?
        for (callID, entry) in pending {
            if entry.deadline <= now {
                expired.append((entry.deadline, Expired(callID: callID, requestID: entry.requestID)))
            } else if next.map({ entry.deadline < $0 }) ?? true {
                next = entry.deadline
            }
        }
        for entry in expired { pending.removeValue(forKey: entry.call.callID) }
        expired.sort { $0.deadline < $1.deadline }
        return (expired.map(\.call), next)
    }

    /// The connection closed: nothing will fire.
    mutating func cancelAll() {
        timer?.scheduled.cancel()
        timer = nil
        pending.removeAll()
    }
}
