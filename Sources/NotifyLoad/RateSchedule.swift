/// The intended send times of an open-loop run.
///
/// Call number `n` (counted from 0 across all connections) is due at
/// `start + n / rate`; connection `k` of `N` takes calls `k, k + N, k + 2N`
/// and so on, so each carries an equal share of the rate.
/// Latency is measured from the due time, not from when the call actually
/// left: when the server stalls, the calls that could not leave on time are
/// charged for the wait (no coordinated omission).
struct RateSchedule: Hashable, Sendable {
    /// Calls per second, across all connections.
    let rate: Double
    let connections: Int
    /// Seconds of warm-up: calls due before it are sent but not counted.
    let warmup: Double

    /// Seconds after the start at which call `index` is due.
    func offset(ofCall index: Int) -> Double {
        Double(index) / rate
    }

    /// The first call that is counted: the first one due at or after the warm-up.
    var firstMeasuredCall: Int {
        Int((warmup * rate).rounded(.up))
    }

    /// Whether call `index` is counted.
    func isMeasured(_ index: Int) -> Bool {
        index >= firstMeasuredCall
    }

    /// The first call that is not sent at all: for a count, `count` calls
    /// after the warm-up; for a duration, the first call due at or after its end.
    func endCall(for stop: StopCondition) -> Int {
        switch stop {
        case .count(let count):
            return firstMeasuredCall + count
        case .duration(let seconds):
            return Int(((warmup + seconds) * rate).rounded(.up))
        }
    }

    /// The connection that sends call `index`.
    func connection(forCall index: Int) -> Int {
        index % connections
    }
}
