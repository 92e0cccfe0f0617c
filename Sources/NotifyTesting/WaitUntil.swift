/// A condition a test waited for did not come true in time.
public struct TimedOut: Error, CustomStringConvertible {
    public let what: String
    public var description: String { "timed out waiting until \(what)" }
}

/// Polls `condition` every 20 ms until it holds.
///
/// - Throws: ``TimedOut`` after `timeout`: for what happens on another
///   thread soon after an event the test cannot await (a stream freed once
///   its reader left).
public func waitUntil(
    _ what: String, timeout: Duration = .seconds(10), _ condition: () -> Bool
) async throws {
    let deadline = ContinuousClock.now + timeout
    while !condition() {
        guard ContinuousClock.now < deadline else { throw TimedOut(what: what) }
        try await Task.sleep(for: .milliseconds(20))
    }
}
