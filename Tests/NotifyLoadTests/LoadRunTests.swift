import Foundation
import NIOCore
import NIOHTTP1
import NIOPosix
import NotifyClient
import NotifyDomain
import NotifyMessages
import NotifyServer
import NotifyStorageSQLite
import NotifyTesting
import Synchronization
import Testing

@testable import NotifyLoad

/// Short bounded runs (counts, not durations) against real servers on
/// loopback. They assert what was counted, never how fast.
@Suite("Bounded runs on loopback")
struct LoadRunTests {
    private func rpcConfiguration(
        _ server: TestServer, token: String?, unsID: String?, mix: String, model: LoadModel, count: Int,
        client: RPCClientKind = .notifyClient
    ) throws -> LoadConfiguration {
        LoadConfiguration(
            target: .rpc, rpcClient: client, host: "127.0.0.1", port: server.port, caFile: server.caFile, token: token, unsID: unsID,
            user: 1_000_000, connections: 2, model: model, stop: .count(count), warmup: 0.1,
            mix: try Mix(parsing: mix), payloadBytes: 300, timeout: 10, maxErrorRate: 0
        )
    }

    @Test("a closed loop counts exactly --count calls of every kind in the mix, all OK", arguments: [RPCClientKind.notifyClient, .raw])
    func rpcClosedLoop(client: RPCClientKind) async throws {
        try await withTestServer { server in
            let token = try await server.adminToken()
            try await server.store.putUser(User(id: 5))
            try await server.store.putConnection(Connection(user: 1_000_000, to: 5, kind: .friend))
            let subscription = Subscription(
                id: UUID().uuidString.lowercased(), user: 5, app: "load.example.com", platform: .windows, deviceID: nil,
                expiresAt: Timestamp.now().adding(seconds: 86_400)
            )
            try await server.store.createSubscription(subscription)
            let configuration = try rpcConfiguration(
                server, token: token, unsID: subscription.id, mix: "notify-user=1,notify-connections=1,send=1,health=1",
                model: .closed(inFlightPerConnection: 4), count: 200, client: client
            )
            let summary = try await LoadRunner(configuration: configuration).run()
            #expect(summary.requests == 200)
            #expect(summary.errors == 0)
            #expect(summary.statuses == ["OK": 200])
            #expect(summary.client == client.rawValue)
            #expect(Set(summary.operations.keys) == ["notify-user", "notify-connections", "send", "health"])
            #expect(summary.operations.values.map(\.requests).reduce(0, +) == 200)
            #expect(summary.latencyMicroseconds.max >= summary.latencyMicroseconds.p50)
            #expect(!summary.exceeds(maxErrorRate: configuration.maxErrorRate))
        }
    }

    @Test("an open loop sends exactly the scheduled measured calls; refused calls are counted by status")
    func rpcOpenLoopWithErrors() async throws {
        try await withTestServer { server in
            let configuration = try rpcConfiguration(
                server, token: "not-a-token", unsID: nil, mix: "health=1,notify-user=1",
                model: .open(ratePerSecond: 400, maxOutstandingPerConnection: 16), count: 100
            )
            let summary = try await LoadRunner(configuration: configuration).run()
            #expect(summary.requests == 100)
            #expect(summary.model == "open")
            #expect(summary.statuses["OK"] == summary.operations["health"]?.requests)
            #expect(summary.statuses["UNAUTHENTICATED/INVALID_TOKEN"] == summary.operations["notify-user"]?.requests)
            #expect(summary.errors == summary.operations["notify-user"]?.requests)
            #expect(summary.errors > 0)
            #expect(summary.exceeds(maxErrorRate: configuration.maxErrorRate))
        }
    }

    @Test("--watchers reads the feed live during the run: every counted notification arrives, with no gap")
    func watchers() async throws {
        try await withTestServer { server in
            let token = try await server.adminToken()
            var configuration = try rpcConfiguration(
                server, token: token, unsID: nil, mix: "notify-user", model: .closed(inFlightPerConnection: 4), count: 300
            )
            configuration.watchers = 2
            let summary = try await LoadRunner(configuration: configuration).run()
            #expect(summary.statuses == ["OK": 300])
            let delivery = try #require(summary.delivery)
            #expect(delivery.failure == nil)
            #expect(delivery.watchers == 2)
            #expect(delivery.gaps == 0)
            // Each watcher reads the whole feed: the warm-up's calls and the 300 counted.
            let stored = try await server.store.feed(user: 1_000_000, after: 0, limit: 10_000).count
            #expect(stored >= 300)
            #expect(delivery.entries == 2 * stored)
            #expect(delivery.latencyMicroseconds.p50 > 0)
            #expect(delivery.latencyMicroseconds.max >= delivery.latencyMicroseconds.p50)
        }
    }

    @Test("watchers count no gap where read events share the sequence with notifications; mark-read and unseen-count are counted")
    func watchersWithEvents() async throws {
        try await withTestServer { server in
            let token = try await server.adminToken()
            var configuration = try rpcConfiguration(
                server, token: token, unsID: nil, mix: "notify-user=2,mark-read=1,unseen-count=1",
                model: .closed(inFlightPerConnection: 2), count: 400
            )
            configuration.watchers = 2
            let summary = try await LoadRunner(configuration: configuration).run()
            #expect(summary.statuses == ["OK": 400])
            // The lanes share the count, so each kind's share is about its weight's.
            #expect((summary.operations["mark-read"]?.requests ?? 0) > 50)
            #expect((summary.operations["unseen-count"]?.requests ?? 0) > 50)
            let delivery = try #require(summary.delivery)
            #expect(delivery.failure == nil)
            // Read events took sequence numbers between the notifications.
            #expect(delivery.events > 0)
            #expect(delivery.gaps == 0)
            let page = try await server.client().listFeed(
                ListFeedRequest(user: 1_000_000, limit: 1000), metadata: .bearer(token))
            #expect(delivery.entries + delivery.events >= 2 * (page.notifications.count + page.events.count))
        }
    }

    @Test("--users spreads the feed calls and the watchers over that many users; --fan-outs times each fan-out's last feed")
    func usersAndFanOuts() async throws {
        try await withTestServer(configure: { $0.communityMode = .follow }) { server in
            let token = try await server.adminToken()
            let users = (Int64(1_000_000)...1_000_004).map { User(id: $0) }
            try await server.store.putUsers(users + [User(id: 7)])
            try await server.store.putConnections(users.map { Connection(user: $0.id, to: 7, kind: .follow) })
            var configuration = try rpcConfiguration(
                server, token: token, unsID: nil, mix: "notify-user", model: .closed(inFlightPerConnection: 2), count: 200
            )
            configuration.users = 5
            configuration.watchers = 5
            configuration.fanOut = .init(issuer: 7, count: 2, spacing: 0.05, lastRecipient: 1_000_004)
            let summary = try await LoadRunner(configuration: configuration).run()
            #expect(summary.statuses == ["OK": 200])
            let delivery = try #require(summary.delivery)
            #expect(delivery.failure == nil)
            #expect(delivery.gaps == 0)
            for user in users {
                let feed = try await server.store.feed(user: user.id, after: 0, limit: 1_000)
                // 40 counted calls each, the warm-up's, and the two fan-outs.
                #expect(feed.count >= 42, "user \(user.id)")
            }
            let fanOuts = try #require(summary.fanOuts)
            #expect(fanOuts.failure == nil)
            #expect(fanOuts.timings.map(\.recipients) == [5, 5])
            #expect(fanOuts.timings.allSatisfy { $0.lastFeedMilliseconds != nil })
        }
    }

    @Test("an unreachable server fails before the run, with the reason")
    func unreachable() async throws {
        let configuration = LoadConfiguration(
            target: .http, host: "127.0.0.1", port: 1, caFile: nil, token: "t", unsID: nil, user: 1, connections: 1,
            model: .closed(inFlightPerConnection: 1), stop: .count(1), warmup: 0, mix: try Mix(parsing: "notify-user"),
            payloadBytes: 10, timeout: 5, maxErrorRate: nil
        )
        await #expect(throws: LoadConfigurationError.self) {
            _ = try await LoadRunner(configuration: configuration).run()
        }
    }

    @Test("HTTP keep-alive: one TCP connection per --connections, the documented bodies, statuses counted", arguments: [1, 4])
    func http(inFlight: Int) async throws {
        try await withGatewayStandIn { port, stats in
            let configuration = LoadConfiguration(
                target: .http, host: "127.0.0.1", port: port, caFile: nil, token: "good", unsID: "sub-1", user: 7,
                connections: 3, model: .closed(inFlightPerConnection: inFlight), stop: .count(90), warmup: 0,
                mix: try Mix(parsing: "notify-user=1,notify-connections=1,send=1"), payloadBytes: 4_000, timeout: 10,
                maxErrorRate: 0
            )
            let summary = try await LoadRunner(configuration: configuration).run()
            #expect(summary.requests == 90)
            #expect(summary.errors == 0)
            let notify = (summary.operations["notify-user"]?.requests ?? 0) + (summary.operations["notify-connections"]?.requests ?? 0)
            #expect(summary.statuses == ["HTTP 204": notify, "HTTP 201": summary.operations["send"]?.requests ?? -1])
            #expect(stats.connections.load(ordering: .relaxed) == 3)
            #expect(stats.malformed.load(ordering: .relaxed) == 0)
        }
    }

    @Test("a closed loop whose server hangs up on every request runs its duration, counting each call's failure")
    func closedLoopAgainstHangUps() async throws {
        try await withGatewayStandIn(hangUp: true) { port, stats in
            let configuration = LoadConfiguration(
                target: .http, host: "127.0.0.1", port: port, caFile: nil, token: "good", unsID: "sub-1", user: 7,
                connections: 2, model: .closed(inFlightPerConnection: 2), stop: .duration(1), warmup: 0,
                mix: try Mix(parsing: "notify-user"), payloadBytes: 10, timeout: 10, maxErrorRate: 0
            )
            let summary = try await LoadRunner(configuration: configuration).run()
            #expect(summary.requests > 0)
            #expect(summary.errors == summary.requests)
            #expect(Set(summary.statuses.keys).isSubset(of: ["CONNECTION_CLOSED", "CONNECTION_FAILED"]))
            // Each lane pauses after a failed connection instead of spinning:
            // 4 lanes, 50 ms apart at the most, for a second.
            #expect(summary.requests <= 4 * 21)
            #expect(stats.connections.load(ordering: .relaxed) > 2)
        }
    }

    @Test("HTTP 4xx answers are errors, counted under their status")
    func httpErrors() async throws {
        try await withGatewayStandIn { port, _ in
            let configuration = LoadConfiguration(
                target: .http, host: "127.0.0.1", port: port, caFile: nil, token: "bad", unsID: "sub-1", user: 7,
                connections: 1, model: .open(ratePerSecond: 500, maxOutstandingPerConnection: 1), stop: .count(20), warmup: 0,
                mix: try Mix(parsing: "send"), payloadBytes: 10, timeout: 10, maxErrorRate: 0.5
            )
            let summary = try await LoadRunner(configuration: configuration).run()
            #expect(summary.statuses == ["HTTP 401": 20])
            #expect(summary.errors == 20)
            #expect(summary.exceeds(maxErrorRate: 0.5))
        }
    }
}

// MARK: A stand-in for the gateway

/// What the stand-in saw.
final class StandInStats: Sendable {
    let connections = Atomic<Int>(0)
    /// Requests whose path, headers or JSON body differ from the documented ones.
    let malformed = Atomic<Int>(0)
}

/// Answers the two documented gateway endpoints as the contracts say (204,
/// 201, 401 for a token other than "good"), after checking each request's
/// shape: it checks what notify-load sends without a whole service behind it.
private final class GatewayStandIn: ChannelInboundHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    private let stats: StandInStats
    /// Closes the connection on every request instead of answering it.
    private let hangUp: Bool
    private var head: HTTPRequestHead?
    private var body = ByteBuffer()

    init(stats: StandInStats, hangUp: Bool) {
        self.stats = stats
        self.hangUp = hangUp
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head):
            self.head = head
            body.clear()
        case .body(var chunk):
            body.writeBuffer(&chunk)
        case .end:
            guard let head else { return }
            if hangUp { return context.close(promise: nil) }
            let status = answer(head)
            var headers = HTTPHeaders()
            headers.add(name: "Content-Length", value: "0")
            context.write(wrapOutboundOut(.head(HTTPResponseHead(version: .http1_1, status: status, headers: headers))), promise: nil)
            context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
        }
    }

    private func answer(_ head: HTTPRequestHead) -> HTTPResponseStatus {
        let json = (try? JSONSerialization.jsonObject(with: Data(body.readableBytesView))) as? [String: Any]
        let wellFormed: Bool
        let success: HTTPResponseStatus
        switch head.uri {
        case HTTPWorkload.notifyPath:
            success = .noContent
            wellFormed = ["user", "connections"].contains(json?["recipients_type"] as? String ?? "")
                && json?["type"] as? String == "load" && json?["user"] as? Int == 7
                && (json?["title"] as? String)?.count == 255 && json?.keys.contains("description") == true
        case HTTPWorkload.sendPath:
            success = .created
            let payload = json?["payload"] as? [String: Any]
            wellFormed = head.headers["X-UNS-ID"].first == "sub-1" && json?["priority"] as? String == "High"
                && json?["groupName"] as? String == "load" && json?["displayTimeToLive"] as? String == "60"
                && (payload?["visualContent"] as? [String: Any])?["title"] is String
        default:
            success = .notFound
            wellFormed = false
        }
        if !wellFormed || head.method != .POST || head.headers["Content-Type"].first != "application/json" {
            stats.malformed.add(1, ordering: .relaxed)
            return .badRequest
        }
        return head.headers["Authorization"].first == "Bearer good" ? success : .unauthorized
    }
}

private func withGatewayStandIn(hangUp: Bool = false, _ body: (Int, StandInStats) async throws -> Void) async throws {
    let stats = StandInStats()
    let channel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
        .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
        .childChannelInitializer { channel in
            stats.connections.add(1, ordering: .relaxed)
            return channel.eventLoop.makeCompletedFuture {
                try channel.pipeline.syncOperations.configureHTTPServerPipeline(withPipeliningAssistance: true)
                try channel.pipeline.syncOperations.addHandler(GatewayStandIn(stats: stats, hangUp: hangUp))
            }
        }
        .bind(host: "127.0.0.1", port: 0)
        .get()
    do {
        try await body(channel.localAddress?.port ?? 0, stats)
    } catch {
        try? await channel.close()
        throw error
    }
    try await channel.close()
}
