/// A small benchmark harness: fixed work per sample, several samples, the
/// median reported.
///
/// Each benchmark runs a warm-up, then `samples` timed samples of
/// `iterations` operations each. The median sample is reported as time per
/// operation and operations per second; min and max show the spread. Figures
/// are meant to be compared as ratios within one run, on one machine.
struct Harness {
    struct Result {
        var name: String
        var nanosecondsPerOperation: Double
        var minimum: Double
        var maximum: Double
        var operationsPerSecond: Double { 1e9 / nanosecondsPerOperation }
    }

    var samples = 7
    var filter: String?
    private(set) var results: [Result] = []

    /// Runs `body` `iterations` times per sample; `body` returns a value that
    /// is folded into a sink so the optimizer cannot drop the work. When one
    /// call of `body` does `operationsPerIteration` operations, the figure is
    /// per operation.
    mutating func measure(_ name: String, iterations: Int, operationsPerIteration: Int = 1, _ body: () throws -> Int) rethrows {
        if let filter, !name.contains(filter) { return }
        var sink = 0
        for _ in 0..<max(1, iterations / 10) { sink &+= try body() }
        var perOperation: [Double] = []
        for _ in 0..<samples {
            let elapsed = try ContinuousClock().measure {
                for _ in 0..<iterations { sink &+= try body() }
            }
            perOperation.append(Self.nanoseconds(elapsed) / Double(iterations * operationsPerIteration))
        }
        record(name, perOperation, sink: sink)
    }

    /// Runs an async body; for store and network benchmarks where one
    /// "operation" is a whole batch.
    mutating func measureAsync(
        _ name: String, iterations: Int, operationsPerIteration: Int = 1, _ body: @Sendable () async throws -> Int
    ) async rethrows {
        if let filter, !name.contains(filter) { return }
        var sink = 0
        var perOperation: [Double] = []
        for _ in 0..<samples {
            let start = ContinuousClock.now
            for _ in 0..<iterations { sink &+= try await body() }
            perOperation.append(Self.nanoseconds(.now - start) / Double(iterations * operationsPerIteration))
        }
        record(name, perOperation, sink: sink)
    }

    /// Keeps the median of the samples and prints it.
    private mutating func record(_ name: String, _ samples: [Double], sink: Int) {
        let sorted = samples.sorted()
        if sink == 42 { print("", terminator: "") }
        let result = Result(
            name: name, nanosecondsPerOperation: sorted[sorted.count / 2],
            minimum: sorted.first ?? 0, maximum: sorted.last ?? 0
        )
        results.append(result)
        print(Self.format(result))
    }

    private static func nanoseconds(_ duration: Duration) -> Double {
        let (seconds, attoseconds) = duration.components
        return Double(seconds) * 1e9 + Double(attoseconds) / 1e9
    }

    static func header() -> String {
        pad("benchmark", 46) + pad("median", 12) + pad("ops/s", 14) + "spread (min-max)"
    }

    static func format(_ result: Result) -> String {
        pad(result.name, 46) + pad(duration(result.nanosecondsPerOperation), 12)
            + pad(String(Int(result.operationsPerSecond.rounded())), 14)
            + "\(duration(result.minimum))-\(duration(result.maximum))"
    }

    private static func duration(_ nanoseconds: Double) -> String {
        if nanoseconds >= 1e6 { return String(format: "%.2f ms", nanoseconds / 1e6) }
        if nanoseconds >= 1e3 { return String(format: "%.2f µs", nanoseconds / 1e3) }
        return String(format: "%.0f ns", nanoseconds)
    }

    private static func pad(_ text: String, _ width: Int) -> String {
        text.count >= width ? text + " " : text + String(repeating: " ", count: width - text.count)
    }
}

import Foundation
