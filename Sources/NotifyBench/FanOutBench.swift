import Foundation
import Logging
import NotifyDomain
import NotifyStorage
import NotifyStoragePostgres
import NotifyStorageSQLite

/// The background fan-out against appends to the feeds it writes, on a real
/// store, SQLite or PostgreSQL: user 1 has `followers` followers (users 2
/// on); each round runs appends at `rate` per second, round robin over the
/// followers, for `seconds`, once while `count` Notify calls of user 1 to
/// all his followers go out a second apart, once without. Each append's
/// latency runs from its due time, so a stall is not hidden. On PostgreSQL a
/// fan-out transaction locks the heads of the feeds it writes until it
/// commits; on SQLite it holds the one writer.
///
/// `scripts/perf/fanout.sh` measures the server (SQLite) through the wire;
/// this measures the store, on either engine.
enum FanOutBench {
    static let name = "fan-out"

    struct Options {
        var followers = 10_000
        var rate = 2_000
        var seconds = 4.0
        var count = 3
        var rounds = 3
        /// The store's default unless given.
        var budget: Duration?
        /// A PostgreSQL store URL: the bench runs on a schema of its own
        /// there, dropped at the end, instead of on a SQLite file.
        var postgres: String?
    }

    static func run(_ options: Options) async throws {
        // An audience up to the inline limit is written by its append: no background job to wait for.
        guard options.followers > 1_000 else {
            print("fan-out: --fan-out-followers must be above 1000, the largest audience written inline")
            exit(2)
        }
        let logger = Logger(label: "bench", factory: { _ in SwiftLogNoOpLogHandler() })
        if let url = options.postgres {
            var configuration = try PostgresStoreConfiguration(url: url)
            configuration.maxFeedEntries = nil
            configuration.sweepInterval = .zero
            if let budget = options.budget { configuration.fanOutTransactionBudget = budget }
            print("fan-out: PostgreSQL, --fan-out-budget \(configuration.fanOutTransactionBudget)")
            try await BenchPostgres.withStore(configuration, url: url, name: "fanout") { store in
                try await rounds(store, options) { store.statistics.fanOutJobsCompleted }
            }
            return
        }
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("notify-bench-fanout-\(getpid())").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        var configuration = SQLiteStoreConfiguration(maxFeedEntries: nil, retention: nil, sweepInterval: .zero)
        if let budget = options.budget { configuration.fanOutTransactionBudget = budget }
        print("fan-out: SQLite, --fan-out-budget \(configuration.fanOutTransactionBudget)")
        try await SQLiteNotificationStore(path: directory + "/fanout.sqlite", configuration: configuration, logger: logger)
            .withRunning { store in try await rounds(store, options) { store.statistics.fanOutJobsCompleted } }
    }

    /// The measured rounds on `store`; `completed` counts the fan-out jobs it finished.
    private static func rounds<Store: NotificationStore>(
        _ store: Store, _ options: Options, completed: @escaping @Sendable () -> Int
    ) async throws {
        let followers = Int64(options.followers)
        try await store.putUser(User(id: 1))
        // Sixteen at a time: each is a transaction of its own.
        try await withThrowingTaskGroup(of: Void.self) { group in
            for lane in Int64(0)..<16 {
                group.addTask {
                    for id in stride(from: 2 + lane, through: followers + 1, by: 16) {
                        try await store.putUser(User(id: id))
                        try await store.putConnection(Connection(user: id, to: 1, kind: .follow))
                    }
                }
            }
            try await group.waitForAll()
        }
        print(
            "fan-out: user 1 with \(followers) followers; appends to them in turn at \(options.rate)/s for \(options.seconds) s, "
                + "with \(options.count) fan-outs a second apart and without")
        let recipient: @Sendable (Int) -> Int64 = { Int64($0) % followers + 2 }
        var withFanOut: [SweepBench.Latencies] = []
        var without: [SweepBench.Latencies] = []
        for round in 1...options.rounds {
            let before = completed()
            let clock = ContinuousClock()
            let start = clock.now
            async let fanOuts: Void = {
                for index in 0..<options.count {
                    try await Task.sleep(until: start + .seconds(0.2 + Double(index)), clock: clock)
                    _ = try await store.append(NewNotification(
                        id: UUID().uuidString, createdAt: Timestamp.now().truncatedToMilliseconds, content: content,
                        recipients: .connections(of: 1, mode: .follow), idempotencyKey: nil))
                }
            }()
            let during = try await SweepBench.appends(store, rate: options.rate, seconds: options.seconds, to: recipient)
            try await fanOuts
            // Until every fan-out of the round has written its last feed.
            while completed() < before + options.count { try await Task.sleep(for: .milliseconds(10)) }
            let finished = SweepBench.milliseconds(start.duration(to: clock.now)) / 1000
            let after = try await SweepBench.appends(store, rate: options.rate, seconds: options.seconds, to: recipient)
            withFanOut.append(during)
            without.append(after)
            print(String(
                format: "fan-out round %d: the fan-outs done %.2f s after the first; appends with them p50 %.2f p99 %.2f "
                    + "p99.9 %.2f ms, without p50 %.2f p99 %.2f p99.9 %.2f ms",
                round, finished - 0.2, during.percentile(50), during.percentile(99), during.percentile(99.9),
                after.percentile(50), after.percentile(99), after.percentile(99.9)))
        }
        func median(_ values: [Double]) -> Double { values.sorted()[values.count / 2] }
        let withP99 = median(withFanOut.map { $0.percentile(99) })
        let withoutP99 = median(without.map { $0.percentile(99) })
        print(String(
            format: "fan-out: appends' p99 with / without the fan-outs, median of %d rounds: %.2f / %.2f ms = %.2fx",
            options.rounds, withP99, withoutP99, withP99 / withoutP99))
    }

    private static let content = NotificationContent.custom(
        CustomNotification(type: "bench", embed: nil, title: "fan-out", description: nil, issuer: 1))
}
