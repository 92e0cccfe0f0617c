import Foundation
import Histogram
import NotifyClient
import NotifyCore
import NotifyDomain
import NotifyMessages
import Synchronization

/// Live readers of users' feeds during a run (`--watchers N`, over `--users`
/// users in turn): each a FeedService/Watch on a TLS connection of its own,
/// as a device holds one.
///
/// They measure delivery, the product's own promise: from a notification's
/// creation on the server (its `created_date_time`, the same machine's clock
/// on loopback) to its arrival in a watcher, and whether each watcher saw its
/// feed with no gap. Only entries created after the warm-up are timed.
///
/// A gap is what docs/PROTOCOL.md promises never happens: "a reader resuming
/// after its cursor is never skipped past an entry it may see that is still
/// kept". Notifications and state events share one sequence, and expired or
/// deleted entries leave holes in it, so a jump in the sequence is no gap.
/// Once the run is over, each feed is listed from its start to the last
/// sequence its watchers received (``FeedCheck``): an entry listed there (so
/// still kept, and one the reader may see) that a watcher did not receive is
/// a gap, and so is an entry that arrived twice or out of order.
final class FeedWatchers: Sendable {
    /// What the watchers saw, merged.
    struct Report: Sendable {
        var watchers: Int
        /// Notifications that arrived, counted or not (the warm-up's too).
        var entries = 0
        /// State events that arrived.
        var events = 0
        /// Kept entries a watcher was skipped past, plus entries that came
        /// twice or out of order: 0 is the promise.
        var gaps = 0
        /// Arrival minus creation, microseconds, of the entries created after the warm-up.
        var delivery = LatencyRecorder.makeHistogram()
        /// Why a watcher stopped before the run ended, if one did.
        var failure: String?
    }

    private let clients: [NotifyClient]
    /// The feed each watcher reads, by index.
    private let users: [Int64]
    private let metadata: Metadata
    private let report: Mutex<Report>
    /// What each watcher received, in arrival order, for the check after the run.
    private let received: [Received]
    /// When the last entry arrived, for ``waitUntilQuiet(for:atMost:)``.
    private let lastArrival = Mutex(ContinuousClock.now)

    init?(configuration: LoadConfiguration) {
        guard configuration.watchers > 0, let user = configuration.user else { return nil }
        var clientConfiguration = ClientConfiguration(
            host: configuration.host, port: configuration.watchPort ?? configuration.port, trustRootsFile: configuration.caFile ?? ""
        )
        clientConfiguration.connectTimeout = configuration.timeoutDuration
        clientConfiguration.defaultTimeout = configuration.timeoutDuration
        clients = (0..<configuration.watchers).map { _ in NotifyClient(configuration: clientConfiguration) }
        users = (0..<configuration.watchers).map { user + Int64($0 % configuration.users) }
        received = (0..<configuration.watchers).map { _ in Received() }
        metadata = configuration.token.map { Metadata.bearer($0) } ?? Metadata()
        report = Mutex(Report(watchers: configuration.watchers))
    }

    /// Reads every watch, from the start of the feed, until the task is
    /// cancelled; entries created at or after `countingFrom` are timed.
    /// Start it with the load: the warm-up gives the watches time to read
    /// their backlog and go live before anything is counted.
    func watch(countingFrom: Timestamp) async {
        await withTaskGroup(of: Void.self) { group in
            for index in clients.indices {
                group.addTask { [self] in
                    do {
                        try await read(index, countingFrom: countingFrom)
                    } catch {
                        // Cancelled: the run is over. Anything else ends this
                        // watcher, and the report says why.
                        guard !Task.isCancelled else { return }
                        report.withLock { $0.failure = $0.failure ?? "\(error)" }
                    }
                }
            }
        }
    }

    private func read(_ index: Int, countingFrom: Timestamp) async throws {
        let pages = clients[index].watchFeed(ListFeedRequest(user: users[index], limit: 1000), metadata: metadata)
        for try await page in pages {
            let now = Timestamp.now()
            var seen = Report(watchers: 0)
            received[index].check.withLock { check in
                check.receive(page.notifications.map(\.sequence), events: page.events.map(\.sequence))
            }
            for entry in page.notifications {
                seen.entries += 1
                guard entry.createdAt >= countingFrom else { continue }
                let microseconds = UInt64(max(now.microseconds(since: entry.createdAt), 0))
                _ = seen.delivery.record(min(max(microseconds, 1), LatencyRecorder.highestMicroseconds))
            }
            seen.events = page.events.count
            guard seen.entries + seen.events > 0 else { continue }
            report.withLock { report in
                report.entries += seen.entries
                report.events += seen.events
                report.delivery.add(seen.delivery)
            }
            lastArrival.withLock { $0 = .now }
        }
    }

    /// Returns once no entry has arrived for `quiet`, or after `atMost`: the
    /// entries of the last calls are still on their way when the load stops.
    func waitUntilQuiet(for quiet: Duration, atMost: Duration) async {
        let end = ContinuousClock.now + atMost
        while ContinuousClock.now < end {
            let since = ContinuousClock.now - lastArrival.withLock { $0 }
            if since >= quiet { return }
            try? await Task.sleep(for: quiet - since)
        }
    }

    /// Lists each watched feed up to the last sequence its watchers received
    /// and counts the gaps (``FeedCheck``). Call it after the watches ended.
    func checkGaps() async {
        var byUser: [Int64: [Int]] = [:]
        for index in users.indices { byUser[users[index], default: []].append(index) }
        var gaps = 0
        for (user, indices) in byUser {
            let through = indices.map { received[$0].check.withLock { $0.last } }.max() ?? 0
            guard through > 0, let client = clients.first else { continue }
            do {
                let kept = try await listed(user: user, through: through, client: client)
                for index in indices { gaps += received[index].check.withLock { $0.gaps(kept: kept) } }
            } catch {
                report.withLock { $0.failure = $0.failure ?? "listing feed \(user) for the gap check: \(error)" }
            }
        }
        report.withLock { $0.gaps = gaps }
    }

    /// The sequences of `user`'s feed, notifications and events, up to `through`.
    private func listed(user: Int64, through: UInt64, client: NotifyClient) async throws -> [UInt64] {
        var sequences: [UInt64] = []
        var after: UInt64 = 0
        while after < through {
            let page = try await client.listFeed(ListFeedRequest(user: user, afterSequence: after, limit: 1000), metadata: metadata)
            sequences += FeedCheck.merged(page.notifications.map(\.sequence), events: page.events.map(\.sequence))
            guard page.nextAfterSequence > after else { break }
            after = page.nextAfterSequence
            if page.caughtUp { break }
        }
        return sequences.filter { $0 <= through }
    }

    var result: Report { report.withLock { $0 } }

    func close() async {
        for client in clients { await client.close() }
    }

    /// One watcher's ``FeedCheck``, written by its task and read after the run.
    private final class Received: Sendable {
        let check = Mutex(FeedCheck())
    }
}

/// What one watcher received, and the gap check against the feed as listed
/// afterwards.
struct FeedCheck: Hashable, Sendable {
    /// Sequences received, notifications and events, in arrival order.
    private(set) var sequences: [UInt64] = []
    /// Entries that came twice or out of order.
    private(set) var disorder = 0

    /// The last sequence received.
    var last: UInt64 { sequences.last ?? 0 }

    /// Takes one page: its notifications and events, merged by sequence.
    mutating func receive(_ notifications: [UInt64], events: [UInt64]) {
        for sequence in Self.merged(notifications, events: events) {
            if let previous = sequences.last, sequence <= previous {
                disorder += 1
                continue
            }
            sequences.append(sequence)
        }
    }

    /// Gaps, given the kept sequences a reader of the feed may see, ascending
    /// (a later listing of it): each kept one up to ``last`` not received,
    /// plus ``disorder``. A jump over a sequence not listed (an event of
    /// another view, an entry expired or deleted since) is no gap.
    func gaps(kept: [UInt64]) -> Int {
        var missed = 0
        var index = sequences.startIndex
        for sequence in kept where sequence <= last {
            while index < sequences.endIndex, sequences[index] < sequence { index += 1 }
            if index == sequences.endIndex || sequences[index] != sequence { missed += 1 }
        }
        return missed + disorder
    }

    /// Two ascending lists merged into one.
    static func merged(_ notifications: [UInt64], events: [UInt64]) -> [UInt64] {
        guard !events.isEmpty else { return notifications }
        return (notifications + events).sorted()
    }
}
