public import NIOCore

/// The deadlines of one connection's calls in flight, behind one event-loop
/// timer; the server's and the client's connection handlers keep one each.
///
/// A NIO timer per call cost about 12 % of the server's CPU when every client
/// set a deadline (scheduling and cancelling in the loop's timer heap), and
/// calls nearly always finish first. Here a finished call only leaves a
/// dictionary; the one timer is set for the earliest deadline, and when it
/// fires it finds which calls really expired (a scan over the calls in
/// flight, once per deadline reached) and is set again for the next.
/// Loop-confined, like the handler that owns it.
public struct CallDeadlines<Context> {
    private var pending: [UInt64: (deadline: NIODeadline, context: Context)] = [:]
    /// The armed timer and the deadline it fires at.
    private var timer: (deadline: NIODeadline, scheduled: Scheduled<Void>)?

    public init() {}

    /// Tracks a call's deadline; `context` comes back with it if it expires.
    /// - Returns: true when the timer must be armed for `deadline` (nothing
    ///   armed, or armed for later): call ``arm(_:at:)``.
    public mutating func add(callID: UInt64, deadline: NIODeadline, context: Context) -> Bool {
        pending[callID] = (deadline, context)
        if let timer, timer.deadline <= deadline { return false }
        return true
    }

    /// Forgets a call that was answered or cancelled; its deadline's timer
    /// stays armed and finds nothing when it fires.
    public mutating func remove(callID: UInt64) {
        pending.removeValue(forKey: callID)
    }

    /// Arms `scheduled`, which fires at `deadline`, in place of the current timer.
    public mutating func arm(_ scheduled: Scheduled<Void>, at deadline: NIODeadline) {
        timer?.scheduled.cancel()
        timer = (deadline, scheduled)
    }

    /// The timer fired: removes and returns the calls whose deadline passed,
    /// earliest deadline first, and the deadline to arm next, if any call is left.
    public mutating func fire(now: NIODeadline) -> (expired: [(callID: UInt64, context: Context)], next: NIODeadline?) {
        timer = nil
        var expired: [(deadline: NIODeadline, callID: UInt64, context: Context)] = []
        var next: NIODeadline?
        for (callID, entry) in pending {
            if entry.deadline <= now {
                expired.append((entry.deadline, callID, entry.context))
            } else if next.map({ entry.deadline < $0 }) ?? true {
                next = entry.deadline
            }
        }
        for entry in expired { pending.removeValue(forKey: entry.callID) }
        expired.sort { $0.deadline < $1.deadline }
        return (expired.map { ($0.callID, $0.context) }, next)
    }

    /// The connection closed: nothing will fire.
    public mutating func cancelAll() {
        timer?.scheduled.cancel()
        timer = nil
        pending.removeAll()
    }
}
