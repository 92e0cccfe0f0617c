import Histogram

/// How one call ended, as the report counts it.
struct Outcome: Hashable, Sendable {
    /// `OK`, an RPC status name with its reason (`RESOURCE_EXHAUSTED/TOO_MANY_CALLS`),
    /// or an HTTP status (`HTTP 204`).
    var status: String
    var isSuccess: Bool
}

/// Latencies and outcomes of the counted calls of one connection.
///
/// Each connection records into its own recorder and the run merges them at
/// the end, so recording takes no lock shared by every connection.
/// Latencies are in microseconds.
struct LatencyRecorder: Sendable {
    /// Values above an hour are recorded as an hour: no call lives that long
    /// (each has a deadline), and a bound keeps the histogram's size fixed.
    static let highestMicroseconds: UInt64 = 3_600_000_000

    private(set) var all = LatencyRecorder.makeHistogram()
    private(set) var byOperation: [LoadOperation: Histogram<UInt64>] = [:]
    /// Every outcome, successes included.
    private(set) var statuses: [String: Int] = [:]
    private(set) var errorsByOperation: [LoadOperation: Int] = [:]
    private(set) var errors = 0

    var count: Int { Int(all.totalCount) }

    static func makeHistogram() -> Histogram<UInt64> {
        Histogram<UInt64>(lowestDiscernibleValue: 1, highestTrackableValue: highestMicroseconds, numberOfSignificantValueDigits: .three)
    }

    mutating func record(_ operation: LoadOperation, microseconds: UInt64, outcome: Outcome) {
        let value = min(max(microseconds, 1), LatencyRecorder.highestMicroseconds)
        _ = all.record(value)
        _ = byOperation[operation, default: LatencyRecorder.makeHistogram()].record(value)
        statuses[outcome.status, default: 0] += 1
        if !outcome.isSuccess {
            errors += 1
            errorsByOperation[operation, default: 0] += 1
        }
    }

    mutating func merge(_ other: LatencyRecorder) {
        all.add(other.all)
        for (operation, histogram) in other.byOperation {
            byOperation[operation, default: LatencyRecorder.makeHistogram()].add(histogram)
        }
        statuses.merge(other.statuses, uniquingKeysWith: +)
        errorsByOperation.merge(other.errorsByOperation, uniquingKeysWith: +)
        errors += other.errors
    }
}
