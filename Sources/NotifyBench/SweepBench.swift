import Foundation
import Logging
import NotifyDomain
import NotifyStorage
import NotifyStoragePostgres
import NotifyStorageSQLite

/// The sweeper against a real store, SQLite or PostgreSQL (issue 27):
/// entries removed per second, and the latency of appends made at a fixed
/// rate while it runs against the same appends without it.
///
/// The store's own sweeper is off (`sweepInterval` zero) so that the sweep
/// runs exactly when measured; it is the store's own `sweep(now:)`, in
/// transactions of at most `batch` rows within its budget.
/// `entries` SendNotification entries expiring together are written over 100
/// users, then, once they expired, `rounds` rounds each of two runs of open-
/// loop appends at `rate` per second for `seconds`: one while the sweep removes
/// them (the round then writes the next expiring set), one without. Each
/// append's latency runs from its due time, so a stall is not hidden.
/// The appends go to a feed of their own (user 1000), or with `toSwept` to
/// the swept feeds in turn: on SQLite a sweep holds the one writer, on
/// PostgreSQL only the heads of the feeds it removes from.
enum SweepBench {
    static let name = "sweep"

    struct Options {
        var entries = 100_000
        var rate = 2_000
        var seconds = 3.0
        /// The store's defaults unless given.
        var batch: Int?
        var budget: Duration?
        var rounds = 2
        /// Seconds between two single appends made while the sweep runs,
        /// instead of the appends at `rate`: each comes after a quiet spell
        /// (none for a second), so it waits behind a quiet transaction. Zero:
        /// off. SQLite only.
        var probeInterval = 0.0
        var quietBudget = SQLiteStoreConfiguration().sweepQuietBudget
        /// A PostgreSQL store URL: the bench runs on a schema of its own
        /// there, dropped at the end, instead of on a SQLite file.
        var postgres: String?
        /// The appends go to the swept feeds rather than to one of their own.
        var toSwept = false
    }

    static func run(_ options: Options) async throws {
        let logger = Logger(label: "bench", factory: { _ in SwiftLogNoOpLogHandler() })
        if let url = options.postgres {
            guard options.probeInterval == 0 else {
                print("sweep: --sweep-probe runs on SQLite only")
                exit(2)
            }
            var configuration = try PostgresStoreConfiguration(url: url)
            configuration.maxFeedEntries = nil
            configuration.retention = nil
            configuration.sweepInterval = .zero
            if let batch = options.batch { configuration.sweepBatchSize = batch }
            if let budget = options.budget { configuration.sweepTransactionBudget = budget }
            print("sweep: PostgreSQL, --sweep-batch \(configuration.sweepBatchSize), --sweep-budget \(configuration.sweepTransactionBudget)")
            try await BenchPostgres.withStore(configuration, url: url, name: "sweep") { store in
                try await rounds(store, options) { try await store.sweep(now: .now()) }
            }
            return
        }
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("notify-bench-sweep-\(getpid())").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        var configuration = SQLiteStoreConfiguration(maxFeedEntries: nil, retention: nil, sweepInterval: .zero)
        if let batch = options.batch { configuration.sweepBatchSize = batch }
        if let budget = options.budget { configuration.sweepTransactionBudget = budget }
        configuration.sweepQuietBudget = options.quietBudget
        if options.probeInterval > 0 { return try await probe(options, directory: directory, configuration: configuration) }
        print("sweep: SQLite, --sweep-batch \(configuration.sweepBatchSize), --sweep-budget \(configuration.sweepTransactionBudget)")
        try await SQLiteNotificationStore(path: directory + "/sweep.sqlite", configuration: configuration, logger: logger)
            .withRunning { store in try await rounds(store, options) { try await store.sweep(now: .now()) } }
    }

    /// The measured rounds on `store`, whose sweep `sweep` runs once.
    private static func rounds<Store: NotificationStore>(
        _ store: Store, _ options: Options, sweep: @escaping @Sendable () async throws -> SweepOutcome
    ) async throws {
        let users = (1...Int64(100)).map { User(id: $0) }
        for user in users + [User(id: 1_000)] { try await store.putUser(user) }
        print(
            "sweep: \(options.entries) expiring entries over 100 users per round; appends to "
                + (options.toSwept ? "those users in turn" : "user 1000") + " at \(options.rate)/s for \(options.seconds) s")
        let toSwept = options.toSwept
        let recipient: @Sendable (Int) -> Int64 = { toSwept ? Int64($0 % 100) + 1 : 1_000 }
        var withSweep: [Latencies] = []
        var without: [Latencies] = []
        for round in 1...options.rounds {
            let expiry = try await fill(store, entries: options.entries, users: 100)
            // Until every one of them has expired.
            let wait = Double(expiry.microseconds(since: .now())) / 1e6 + 0.05
            if wait > 0 { try await Task.sleep(for: .seconds(wait)) }

            let clock = ContinuousClock()
            let sweepStart = clock.now
            async let sweeping: (SweepOutcome, Duration) = {
                let outcome = try await sweep()
                return (outcome, sweepStart.duration(to: clock.now))
            }()
            let during = try await appends(store, rate: options.rate, seconds: options.seconds, to: recipient)
            let (outcome, took) = try await sweeping
            let sweptSeconds = milliseconds(took) / 1000
            let after = try await appends(store, rate: options.rate, seconds: options.seconds, to: recipient)
            withSweep.append(during)
            without.append(after)
            print(String(
                format: "sweep round %d: removed %d entries and %d notifications in %.2f s (%.0f entries/s, %d transactions); "
                    + "appends with it p50 %.2f p99 %.2f p99.9 %.2f ms, without p50 %.2f p99 %.2f p99.9 %.2f ms",
                round, outcome.expiredEntries, outcome.notifications, sweptSeconds,
                Double(outcome.expiredEntries) / max(sweptSeconds, 1e-9), outcome.transactions,
                during.percentile(50), during.percentile(99), during.percentile(99.9),
                after.percentile(50), after.percentile(99), after.percentile(99.9)))
        }
        func median(_ values: [Double]) -> Double { values.sorted()[values.count / 2] }
        let withP99 = median(withSweep.map { $0.percentile(99) })
        let withoutP99 = median(without.map { $0.percentile(99) })
        print(String(
            format: "sweep: appends' p99 with / without the sweep, median of %d rounds: %.2f / %.2f ms = %.2fx",
            options.rounds, withP99, withoutP99, withP99 / withoutP99))
    }

    /// Rounds of a sweep with no appends but a probe every
    /// `probeInterval` seconds: the sweep's rate, and each probe's latency.
    private static func probe(
        _ options: Options, directory: String, configuration: SQLiteStoreConfiguration
    ) async throws {
        let logger = Logger(label: "bench", factory: { _ in SwiftLogNoOpLogHandler() })
        try await SQLiteNotificationStore(path: directory + "/probe.sqlite", configuration: configuration, logger: logger)
            .withRunning { store in
                try await store.putUsers((1...Int64(100)).map { User(id: $0) } + [User(id: 1_000)])
                print(
                    "sweep probes: \(options.entries) expiring entries over 100 users per round; one append every "
                        + "\(options.probeInterval) s while it sweeps; --sweep-batch \(configuration.sweepBatchSize), quiet budget \(options.quietBudget)")
                var probes = Latencies()
                for round in 1...options.rounds {
                    let expiry = try await fill(store, entries: options.entries, users: 100)
                    // Expired, and a second with no append: the sweep starts quiet.
                    let wait = max(Double(expiry.microseconds(since: .now())) / 1e6 + 0.05, 1.1)
                    try await Task.sleep(for: .seconds(wait))
                    let clock = ContinuousClock()
                    let sweepStart = clock.now
                    async let sweeping: (SweepOutcome, Duration) = {
                        let outcome = try await store.sweep(now: .now())
                        return (outcome, sweepStart.duration(to: clock.now))
                    }()
                    var next = sweepStart + .seconds(0.3)
                    while true {
                        try await Task.sleep(until: next, clock: clock)
                        // Probes only while the sweep runs.
                        if store.statistics.sweptExpiredEntries >= round * options.entries { break }
                        let started = clock.now
                        _ = try await store.append(NewNotification(
                            id: UUID().uuidString, createdAt: Timestamp.now().truncatedToMilliseconds, content: probeContent,
                            recipients: .users([1_000]), idempotencyKey: nil))
                        let latency = started.duration(to: clock.now)
                        probes.values.append(milliseconds(latency))
                        next = next + .seconds(options.probeInterval)
                    }
                    let (outcome, took) = try await sweeping
                    let sweptSeconds = milliseconds(took) / 1000
                    print(String(
                        format: "sweep probes round %d: removed %d entries in %.2f s (%.0f entries/s, %d transactions)",
                        round, outcome.expiredEntries, sweptSeconds, Double(outcome.expiredEntries) / max(sweptSeconds, 1e-9),
                        outcome.transactions))
                }
                print(String(
                    format: "sweep probes: %d probes, latency p50 %.2f, max %.2f ms; all: %@", probes.values.count,
                    probes.percentile(50), probes.percentile(100),
                    probes.values.map { String(format: "%.2f", $0) }.joined(separator: " ")))
            }
    }

    /// Writes `entries` SendNotification entries expiring together, spread
    /// over `users` feeds, 200 appends in flight; returns their expiry.
    private static func fill<Store: NotificationStore>(_ store: Store, entries: Int, users: Int64) async throws -> Timestamp {
        let start = Timestamp.now()
        // Long enough for the fill itself at 4,000 appends a second (a loaded
        // machine's rate); the round then waits for the rest.
        let expiry = start.adding(seconds: Int64(max(2, entries / 4_000))).truncatedToMilliseconds
        let content = NotificationContent.graph(
            GraphNotification(
                targetHostName: "bench.example.com", appNotificationID: nil, groupName: "bench", expiration: expiry,
                payload: Payload(rawContent: nil, visualContent: VisualContent(title: "t", body: nil)),
                platforms: [.windows], priority: .high, displayTimeToLive: 60, fallbackPolicyJSON: nil))
        let inFlight = 200
        try await withThrowingTaskGroup(of: Void.self) { group in
            for lane in 0..<inFlight {
                group.addTask {
                    for index in stride(from: lane, to: entries, by: inFlight) {
                        _ = try await store.append(NewNotification(
                            id: UUID().uuidString, createdAt: Timestamp.now().truncatedToMilliseconds, content: content,
                            recipients: .users([Int64(index) % users + 1]), idempotencyKey: nil))
                    }
                }
            }
            try await group.waitForAll()
        }
        if Timestamp.now() >= expiry { print("sweep: the fill took longer than the entries lived; some sweeps may overlap it") }
        return expiry
    }

    /// Appends, one a `1 / rate` seconds, for `seconds`, append number `n` to
    /// user `recipient(n)`; each latency from its due time.
    static func appends<Store: NotificationStore>(
        _ store: Store, rate: Int, seconds: Double, to recipient: @escaping @Sendable (Int) -> Int64
    ) async throws -> Latencies {
        let clock = ContinuousClock()
        let start = clock.now
        let total = Int(Double(rate) * seconds)
        return try await withThrowingTaskGroup(of: Double.self) { group in
            var sent = 0
            while sent < total {
                // Every call due by now, then sleep until the next one is due (at least 0.5 ms).
                let elapsed = start.duration(to: clock.now)
                let dueCount = min(total, Int(Double(elapsed.components.seconds) * Double(rate)
                    + Double(elapsed.components.attoseconds) / 1e18 * Double(rate)) + 1)
                while sent < dueCount {
                    let due = start + .seconds(Double(sent) / Double(rate))
                    let user = recipient(sent)
                    group.addTask {
                        _ = try await store.append(NewNotification(
                            id: UUID().uuidString, createdAt: Timestamp.now().truncatedToMilliseconds, content: probeContent,
                            recipients: .users([user]), idempotencyKey: nil))
                        let latency = due.duration(to: clock.now)
                        return milliseconds(latency)
                    }
                    sent += 1
                }
                try await Task.sleep(for: .microseconds(500))
            }
            var latencies = Latencies()
            for try await milliseconds in group { latencies.values.append(milliseconds) }
            return latencies
        }
    }

    /// What the measured appends carry.
    private static let probeContent = NotificationContent.custom(
        CustomNotification(type: "bench", embed: nil, title: "t", description: nil, issuer: 1_000))

    static func milliseconds(_ duration: Duration) -> Double {
        Double(duration.components.seconds) * 1000 + Double(duration.components.attoseconds) / 1e15
    }

    /// Milliseconds, one per append.
    struct Latencies {
        var values: [Double] = []

        func percentile(_ p: Double) -> Double {
            guard !values.isEmpty else { return 0 }
            let sorted = values.sorted()
            let rank = Int((p / 100 * Double(sorted.count)).rounded(.up)) - 1
            return sorted[min(max(rank, 0), sorted.count - 1)]
        }
    }
}
