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

    /// Sets a timer on the owner's event loop that calls ``fire(now:schedule:)``
    /// back at the given deadline; nil when the owner has no loop any more.
    public typealias Schedule = (NIODeadline) -> Scheduled<Void>?

    /// Tracks a call's deadline; `context` comes back with it if it expires.
    /// The timer is set again only when this deadline is the earliest.
    public mutating func add(callID: UInt64, deadline: NIODeadline, context: Context, schedule: Schedule) {
        pending[callID] = (deadline, context)
        if timer.map({ deadline < $0.deadline }) ?? true {
            arm(schedule(deadline), at: deadline)
        }
    }

    /// Forgets a call that was answered or cancelled; its deadline's timer
    /// stays armed and finds nothing when it fires.
    public mutating func remove(callID: UInt64) {
        pending.removeValue(forKey: callID)
    }

    /// The timer fired: removes and returns the calls whose deadline passed,
    /// earliest deadline first, and sets the timer for the next deadline, if
    /// any call is left.
    public mutating func fire(now: NIODeadline, schedule: Schedule) -> [(callID: UInt64, context: Context)] {
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
        if let next { arm(schedule(next), at: next) }
        expired.sort { $0.deadline < $1.deadline }
        return expired.map { ($0.callID, $0.context) }
    }

    private mutating func arm(_ scheduled: Scheduled<Void>?, at deadline: NIODeadline) {
        timer?.scheduled.cancel()
        timer = scheduled.map { (deadline, $0) }
    }

    /// The connection closed: nothing will fire.
    public mutating func cancelAll() {
        timer?.scheduled.cancel()
        timer = nil
        pending.removeAll()
    }
}
