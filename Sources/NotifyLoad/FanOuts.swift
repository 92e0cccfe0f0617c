import Foundation
import NotifyClient
import NotifyCore
import NotifyDomain
import NotifyMessages
import Synchronization

/// `--fan-outs K`: Notify calls to a user's whole audience (his friends, or
/// his followers under `--follow-enabled`) made during the measured time,
/// beside the mix, on a connection of their own: the mix's latencies are then
/// other callers' latencies during those fan-outs.
///
/// With a watched last recipient, each one's arrival in that feed is timed
/// from its call's sending: the background fan-out writes feeds in user id
/// order, so that is when every feed holds it.
final class FanOuts: Sendable {
    /// One fan-out's times, milliseconds from its call's sending.
    struct Timing: Hashable, Sendable {
        var recipients: UInt64
        /// Until the call's answer: the notification and its fan-out job committed.
        var answeredMilliseconds: Double
        /// Until it arrived in the last recipient's feed; nil when it did not within the run.
        var lastFeedMilliseconds: Double?
    }

    /// What the fan-outs did, in the order they were sent.
    struct Report: Hashable, Sendable {
        var timings: [Timing] = []
        var failure: String?
    }

    private let plan: LoadConfiguration.FanOutPlan
    private let client: NotifyClient
    private let watchClient: NotifyClient
    private let metadata: Metadata
    /// Sent calls by notification id: when, and what the answer said.
    private let sent = Mutex<[(id: String, at: ContinuousClock.Instant, timing: Timing)]>([])
    /// Arrivals in the last recipient's feed by notification id.
    private let arrived = Mutex<[String: ContinuousClock.Instant]>([:])
    private let failure = Mutex<String?>(nil)

    init?(configuration: LoadConfiguration) {
        guard let plan = configuration.fanOut else { return nil }
        var clientConfiguration = ClientConfiguration(
            host: configuration.host, port: configuration.port, trustRootsFile: configuration.caFile ?? ""
        )
        clientConfiguration.connectTimeout = configuration.timeoutDuration
        clientConfiguration.defaultTimeout = configuration.timeoutDuration
        self.plan = plan
        client = NotifyClient(configuration: clientConfiguration)
        watchClient = NotifyClient(configuration: clientConfiguration)
        metadata = configuration.token.map { Metadata.bearer($0) } ?? Metadata()
    }

    /// Watches the last recipient's feed until cancelled: start it with the
    /// run, so that its backlog is read before the first fan-out.
    func watchLastRecipient() async {
        guard let last = plan.lastRecipient else { return }
        do {
            // From the start: a follower's feed holds the earlier runs' few fan-outs.
            for try await page in watchClient.watchFeed(ListFeedRequest(user: last, limit: 1000), metadata: metadata) {
                let now = ContinuousClock.now
                arrived.withLock { arrived in
                    for entry in page.notifications where arrived[entry.id] == nil { arrived[entry.id] = now }
                }
            }
        } catch {
            guard !Task.isCancelled else { return }
            failure.withLock { $0 = $0 ?? "watching user \(last): \(error)" }
        }
    }

    /// Sends the fan-outs from `start`, `spacing` apart, each as its own task
    /// so that a slow answer does not delay the next.
    func send(from start: ContinuousClock.Instant) async {
        await withTaskGroup(of: Void.self) { group in
            for index in 0..<plan.count {
                group.addTask { [self] in
                    let due = start + .seconds(plan.spacing * Double(index))
                    try? await Task.sleep(until: due, clock: .continuous)
                    if Task.isCancelled { return }
                    let at = ContinuousClock.now
                    do {
                        let response = try await client.notify(
                            NotifyRequest(
                                recipientsType: "connections", type: "fan-out", title: .value("fan-out \(index + 1)"),
                                description: .null, user: plan.issuer),
                            metadata: metadata)
                        let answered = (ContinuousClock.now - at).seconds * 1000
                        sent.withLock {
                            $0.append((
                                response.id, at,
                                Timing(recipients: response.recipients, answeredMilliseconds: answered, lastFeedMilliseconds: nil)
                            ))
                        }
                    } catch {
                        failure.withLock { $0 = $0 ?? "fan-out \(index + 1): \(error)" }
                    }
                }
            }
        }
    }

    /// Waits until every answered fan-out reached the last recipient, or `atMost`.
    func waitForArrivals(atMost: Duration) async {
        guard plan.lastRecipient != nil else { return }
        let end = ContinuousClock.now + atMost
        while ContinuousClock.now < end {
            let ids = sent.withLock { $0.map(\.id) }
            if arrived.withLock({ arrived in ids.allSatisfy { arrived[$0] != nil } }) { return }
            try? await Task.sleep(for: .milliseconds(20))
        }
    }

    var result: Report {
        let arrivals = arrived.withLock { $0 }
        let timings = sent.withLock { $0 }.sorted { $0.at < $1.at }.map { call in
            var timing = call.timing
            timing.lastFeedMilliseconds = arrivals[call.id].map { ($0 - call.at).seconds * 1000 }
            return timing
        }
        return Report(timings: timings, failure: failure.withLock { $0 })
    }

    func close() async {
        await client.close()
        await watchClient.close()
    }
}
