import Foundation
import Logging
import NotifyDomain
import NotifyStorage
import NotifyStorageSQLite

/// UnseenCount's cost against the size of the feed (issue 27: on a feed of
/// 1,000,000 entries within 10 % of its cost on an empty one), against a
/// real SQLite store (WAL, `synchronous = FULL`, the server's configuration
/// but no feed bound).
///
/// One user's feed is filled with `entries` notifications (200 appends in
/// flight, group-committed: tens of seconds for a million), another user's
/// stays empty; then samples alternate between the two users, each sample
/// `calls` sequential UnseenCount reads, and the medians are compared.
enum FeedStateBench {
    static let name = "unseen count"

    static func run(samples: Int, entries: Int) async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("notify-bench-state-\(getpid())").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let logger = Logger(label: "bench", factory: { _ in SwiftLogNoOpLogHandler() })
        try await SQLiteNotificationStore(
            path: directory + "/state.sqlite", configuration: SQLiteStoreConfiguration(maxFeedEntries: nil), logger: logger
        ).withRunning { store in
            let (full, empty): (Int64, Int64) = (1, 2)
            try await store.putUsers([User(id: full), User(id: empty)])
            let clock = ContinuousClock()
            let fillStart = clock.now
            let content = NotificationContent.custom(
                CustomNotification(type: "bench", embed: nil, title: "t", description: nil, issuer: full))
            let inFlight = 200
            try await withThrowingTaskGroup(of: Void.self) { group in
                for lane in 0..<inFlight {
                    group.addTask {
                        for _ in stride(from: lane, to: entries, by: inFlight) {
                            _ = try await store.append(NewNotification(
                                id: UUID().uuidString, createdAt: Timestamp.now().truncatedToMilliseconds, content: content,
                                recipients: .users([full]), idempotencyKey: nil))
                        }
                    }
                }
                try await group.waitForAll()
            }
            let unseen = try await store.unseenCount(user: full, view: .all) ?? 0
            print(
                "unseen count: user \(full)'s feed filled with \(entries) entries in \(fillStart.duration(to: clock.now)), "
                    + "\(unseen) unseen; user \(empty)'s is empty")

            let calls = 2_000
            var perCall: [Int64: [Double]] = [full: [], empty: []]
            // One untimed round each, then samples alternating between the two.
            for user in [full, empty] { for _ in 0..<calls { _ = try await store.unseenCount(user: user, view: .all) } }
            for _ in 0..<samples {
                for user in [empty, full] {
                    let start = clock.now
                    var sink: UInt64 = 0
                    for _ in 0..<calls { sink &+= try await store.unseenCount(user: user, view: .all) ?? 0 }
                    let elapsed = start.duration(to: clock.now)
                    if sink == 42 { print("", terminator: "") }
                    let (seconds, attoseconds) = elapsed.components
                    perCall[user, default: []].append((Double(seconds) * 1e9 + Double(attoseconds) / 1e9) / Double(calls))
                }
            }
            func median(_ values: [Double]) -> Double { values.sorted()[values.count / 2] }
            let onEmpty = median(perCall[empty] ?? [0])
            let onFull = median(perCall[full] ?? [0])
            for (label, values) in [("empty feed", perCall[empty] ?? []), ("\(entries) entries", perCall[full] ?? [])] {
                let sorted = values.sorted()
                print(String(
                    format: "unseen count, %@: median %.2f µs per call (%d samples of %d, %.2f-%.2f)", label,
                    median(values) / 1000, values.count, calls, (sorted.first ?? 0) / 1000, (sorted.last ?? 0) / 1000))
            }
            print(String(format: "unseen count: %d entries / empty = %.3f", entries, onFull / onEmpty))
        }
    }
}
