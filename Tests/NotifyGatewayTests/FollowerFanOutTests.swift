import AsyncHTTPClient
import Foundation
import NIOHTTP1
import NotifyClient
import NotifyCore
import NotifyDomain
import NotifyMessages
import NotifyServer
import NotifyStorageSQLite
import NotifyTesting
import Synchronization
import Testing

/// Notify to a user with 1,000 followers (issue 27), through the real server
/// and gateway over real TLS and HTTP: every feed holds each notification,
/// and every live endpoint among the followers gets each one exactly once, in
/// order, with no gap.
@Suite("Notify to 1,000 followers: every feed, every live endpoint")
struct FollowerFanOutTests {
    static let followers: [Int64] = Array(2...1_001)
    /// Followers holding a Watch over RPC, ten streams on each of ten connections.
    static let watched: [Int64] = Array(2...101)
    /// Followers whose device endpoint (a subscription) holds a Watch of its own part of the feed.
    static let devices: [Int64] = Array(102...111)
    /// Followers holding `/feed/events` through the gateway.
    static let streamed: [Int64] = [500, 750, 1_001]

    @Test(
        "four Notify calls of a user with 1,000 followers reach all 1,000 feeds, 100 RPC watches, 10 device endpoints and 3 SSE streams, each once, in order",
        arguments: [1_000, 100])
    func thousandFollowers(inlineFanOutLimit: Int) async throws {
        var storeConfiguration = SQLiteStoreConfiguration()
        // 1,000: the audience is written in the call's own transaction; 100:
        // by the background fan-out, in batches of 300, after the answer.
        storeConfiguration.inlineFanOutLimit = inlineFanOutLimit
        storeConfiguration.fanOutBatchSize = 300
        try await withHarness(server: { $0.communityMode = .follow }, store: storeConfiguration) { harness in
            let store = harness.server.store
            try await store.putUsers(([1] + Self.followers).map { User(id: $0) })
            try await store.putConnections(Self.followers.map { Connection(user: $0, to: 1, kind: .follow) })
            let admin = Metadata.bearer(try await harness.server.adminToken())

            try await withDeadline(.seconds(240)) {
                try await withThrowingTaskGroup(of: [Int64: [UInt64]].self) { group in
                    let ready = ReadyCount()
                    // 100 watches over RPC, ten per connection.
                    let clients = (0..<10).map { _ in harness.server.client() }
                    for (index, user) in Self.watched.enumerated() {
                        let client = clients[index % clients.count]
                        group.addTask {
                            [user: try await Self.watch(user, client: client, metadata: admin, ready: ready)]
                        }
                    }
                    // Ten device endpoints, each watching its subscription's part of the feed.
                    for (index, user) in Self.devices.enumerated() {
                        let subscription = try await harness.subscription(user: user)
                        let client = clients[index % clients.count]
                        group.addTask {
                            [-user: try await Self.watch(
                                user, subscription: subscription, client: client, metadata: admin, ready: ready)]
                        }
                    }
                    // Three readers of the gateway's server-sent events, each with its own user's token.
                    for user in Self.streamed {
                        let token = try await harness.userToken(user)
                        group.addTask {
                            [user: try await Self.stream(user, harness: harness, token: token, ready: ready)]
                        }
                    }
                    try await waitUntil("every reader is live", timeout: .seconds(120)) {
                        ready.count == Self.watched.count + Self.devices.count + Self.streamed.count
                    }

                    let client = harness.server.client()
                    var ids: [String] = []
                    for index in 1...4 {
                        let response = try await client.notify(
                            NotifyRequest(
                                recipientsType: "connections", type: "post", title: .value("post \(index)"),
                                description: .null, user: 1),
                            metadata: admin)
                        #expect(response.recipients == UInt64(Self.followers.count))
                        ids.append(response.id)
                    }
                    await client.close()

                    // Every endpoint: sequences 1 to 4, exactly once each, in order
                    // (keyed by user; a device endpoint by the user's negated id).
                    var seen: [Int64: [UInt64]] = [:]
                    for try await result in group { seen.merge(result) { $1 } }
                    #expect(seen.count == Self.watched.count + Self.devices.count + Self.streamed.count)
                    for (user, sequences) in seen {
                        #expect(sequences == [1, 2, 3, 4], "user \(user)")
                    }
                    for client in clients { await client.close() }

                    // Every feed: the four, in order, nothing else.
                    try await waitUntilFanOutDone(store)
                    for user in Self.followers {
                        let feed = try await store.feed(user: user, after: 0, limit: 10)
                        #expect(feed.map(\.id) == ids, "user \(user)")
                        #expect(feed.map(\.sequence) == [1, 2, 3, 4], "user \(user)")
                    }
                    #expect(try await store.feed(user: 1, after: 0, limit: 10).isEmpty)
                    let statistics = store.statistics
                    if inlineFanOutLimit < Self.followers.count {
                        #expect(statistics.fanOutJobsCompleted == 4)
                        #expect(statistics.fanOutRowsWritten >= 4 * (Self.followers.count - 1))
                    } else {
                        #expect(statistics.fanOutJobsCreated == 0)
                    }
                }
            }
        }
    }

    /// A Watch of `user`'s feed (or of one device endpoint's part of it) from its start until sequence 4: the
    /// sequences of the notifications that arrived, in arrival order.
    private static func watch(
        _ user: Int64, subscription: String? = nil, client: NotifyClient, metadata: Metadata, ready: ReadyCount
    ) async throws -> [UInt64] {
        var sequences: [UInt64] = []
        var live = false
        let request = ListFeedRequest(user: user, subscription: subscription)
        for try await page in client.watchFeed(request, metadata: metadata) {
            sequences += page.notifications.map(\.sequence)
            if page.caughtUp, !live {
                live = true
                ready.add()
            }
            if sequences.contains(where: { $0 >= 4 }) { break }
        }
        return sequences
    }

    /// `/feed/events?user=` through the gateway until the event of sequence 4:
    /// the ids (sequences) of the notification events, in arrival order.
    private static func stream(_ user: Int64, harness: Harness, token: String, ready: ReadyCount) async throws -> [UInt64] {
        var events = try await harness.events("/feed/events?user=\(user)", token: token)
        #expect(events.response.status == .ok)
        var sequences: [UInt64] = []
        while let event = try await events.next() {
            switch event.event {
            case "live":
                ready.add()
            case "notification":
                sequences.append(event.id.flatMap { UInt64($0) } ?? 0)
            default:
                break
            }
            if sequences.contains(where: { $0 >= 4 }) { break }
        }
        return sequences
    }

    private func waitUntilFanOutDone(_ store: SQLiteNotificationStore) async throws {
        let deadline = ContinuousClock.now + .seconds(120)
        while try await store.pendingFanOutRecipients() > 0 {
            guard ContinuousClock.now < deadline else { throw Overdue("the background fan-out finished") }
            try await Task.sleep(for: .milliseconds(50))
        }
    }
}

/// Readers that are live (caught up): counted from their tasks.
private final class ReadyCount: Sendable {
    private let value = Mutex(0)
    func add() { value.withLock { $0 += 1 } }
    var count: Int { value.withLock { $0 } }
}

/// Runs `body`, failing with ``Overdue`` when it takes longer than `limit`.
private func withDeadline<T: Sendable>(_ limit: Duration, _ body: @Sendable @escaping () async throws -> T) async throws -> T {
    try await withThrowingTaskGroup(of: T?.self) { group in
        group.addTask { try await body() }
        group.addTask {
            try await Task.sleep(for: limit)
            return nil
        }
        defer { group.cancelAll() }
        guard let first = try await group.next(), let value = first else {
            throw Overdue("the test's body finished within \(limit)")
        }
        return value
    }
}

/// What did not happen within its bound.
private struct Overdue: Error, CustomStringConvertible {
    let description: String
    init(_ what: String) { description = "timed out waiting until \(what)" }
}
