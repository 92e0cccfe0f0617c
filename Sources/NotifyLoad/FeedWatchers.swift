import Foundation
import Histogram
import NotifyClient
import NotifyCore
import NotifyDomain
import NotifyMessages
import Synchronization

/// Live readers of one user's feed during a run (`--watchers N`): each a
/// FeedService/Watch on a TLS connection of its own, as a device holds one.
///
/// They measure delivery, the product's own promise: from a notification's
/// creation on the server (its `created_date_time`, the same machine's clock
/// on loopback) to its arrival in a watcher, and whether each watcher saw the
/// feed's sequence with no gap. Only entries created after the warm-up count.
final class FeedWatchers: Sendable {
    /// What the watchers saw, merged.
    struct Report: Sendable {
        var watchers: Int
        /// Entries that arrived, counted or not (the warm-up's too).
        var entries = 0
        /// Times a watcher's next entry was not the one after its last.
        var gaps = 0
        /// Arrival minus creation, microseconds, of the entries created after the warm-up.
        var delivery = LatencyRecorder.makeHistogram()
        /// Why a watcher stopped before the run ended, if one did.
        var failure: String?
    }

    private let clients: [NotifyClient]
    private let user: Int64
    private let metadata: Metadata
    private let report: Mutex<Report>
    /// When the last entry arrived, for ``waitUntilQuiet(for:atMost:)``.
    private let lastArrival = Mutex(ContinuousClock.now)

    init?(configuration: LoadConfiguration) {
        guard configuration.watchers > 0, let user = configuration.user else { return nil }
        var clientConfiguration = ClientConfiguration(
            host: configuration.host, port: configuration.port, trustRootsFile: configuration.caFile ?? ""
        )
        clientConfiguration.connectTimeout = configuration.timeoutDuration
        clients = (0..<configuration.watchers).map { _ in NotifyClient(configuration: clientConfiguration) }
        self.user = user
        metadata = configuration.token.map { Metadata.bearer($0) } ?? Metadata()
        report = Mutex(Report(watchers: configuration.watchers))
    }

    /// Reads every watch, from the start of the feed, until the task is
    /// cancelled; entries created at or after `countingFrom` are timed.
    /// Start it with the load: the warm-up gives the watches time to read
    /// their backlog and go live before anything is counted.
    func watch(countingFrom: Date) async {
        await withTaskGroup(of: Void.self) { group in
            for client in clients {
                group.addTask { [self] in
                    do {
                        try await read(client, countingFrom: countingFrom)
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

    private func read(_ client: NotifyClient, countingFrom: Date) async throws {
        var last: UInt64?
        let pages = client.watchFeed(ListFeedRequest(user: user, limit: 1000), metadata: metadata)
        for try await page in pages {
            let now = Date()
            var seen = Report(watchers: 0)
            for entry in page.notifications {
                if let last, entry.sequence != last &+ 1 { seen.gaps += 1 }
                last = entry.sequence
                seen.entries += 1
                guard entry.createdAt >= countingFrom else { continue }
                let microseconds = UInt64(max(now.timeIntervalSince(entry.createdAt), 0) * 1_000_000)
                _ = seen.delivery.record(min(max(microseconds, 1), LatencyRecorder.highestMicroseconds))
            }
            guard seen.entries > 0 else { continue }
            report.withLock { report in
                report.entries += seen.entries
                report.gaps += seen.gaps
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

    var result: Report { report.withLock { $0 } }

    func close() async {
        for client in clients { await client.close() }
    }
}
