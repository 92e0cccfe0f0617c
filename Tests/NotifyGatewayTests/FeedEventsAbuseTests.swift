import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import NIOPosix
import NotifyClient
import NotifyCore
import NotifyDomain
import NotifyGateway
import NotifyMessages
import NotifyServer
import NotifyTesting
import Testing

/// `/feed/events` against feeds of large entries and readers that do not keep up.
@Suite("The gateway's server-sent events under abuse: large entries, stuck and slow readers", .serialized)
struct FeedEventsAbuseTests {
    struct LargeCase: Sendable, CustomTestStringConvertible {
        var upstream: UpstreamKind
        var limit: UInt32?
        var testDescription: String { "\(upstream.rawValue), limit \(limit.map(String.init) ?? "default")" }
    }

    static let largeCases: [LargeCase] = UpstreamKind.allCases.flatMap { upstream in
        [LargeCase(upstream: upstream, limit: nil), LargeCase(upstream: upstream, limit: 1000)]
    }

    @Test("a feed of 60 KB entries streams whole, then live, with the default and the maximum limit",
          arguments: largeCases)
    func largeEntries(_ large: LargeCase) async throws {
        try await withHarness(upstream: large.upstream, memoryBacked: true) { harness in
            // 100 of them (the default page) are 6 MB: more than the 4 MiB maximum message size.
            let ids = try await harness.server.largeEntries(user: 2, count: 120)
            let owner = try await harness.userToken(2)
            var events = try await harness.events(
                "/feed/events?user=2" + (large.limit.map { "&limit=\($0)" } ?? ""), token: owner)
            #expect(events.response.status == .ok)
            var seen: [String] = []
            var live: ServerSentEventReading?
            while live == nil, let event = try await events.next() {
                switch event.event {
                case "notification": seen.append(event.json?["id"]?.string ?? "?")
                case "live": live = event
                default: Issue.record("unexpected event \(event.event ?? "nil"): \(event.data.prefix(200))")
                }
            }
            #expect(seen.count == ids.count && seen.elementsEqual(ids))
            #expect(live?.id == "120")
        }
    }

    /// What one `/feed/events` stream may hold in the server's heap, by
    /// docs/GATEWAY.md: about 1.5 MiB; asserted with room for a noisy
    /// machine and the suites running beside this one.
    static let perStreamBound = 4 * 1024 * 1024
    static let slack = 24 * 1024 * 1024

    @Test("never-reading readers on a feed of large entries hold a bounded heap, and the gateway's other calls go on",
          arguments: UpstreamKind.allCases)
    func stuckReaders(upstream: UpstreamKind) async throws {
        try await withHarness(upstream: upstream, gateway: {
            $0.upstreamConnections = 1
            // Generous: the machine is busy with the stuck streams' entries.
            $0.rpcTimeout = .seconds(30)
        }, memoryBacked: true) { harness in
            let owner = try await harness.userToken(2)
            let admin = try await harness.server.adminToken()
            try await harness.server.largeEntries(user: 2, count: 150)
            // One whole read first, so that the store's caches are warm before the baseline.
            var warm = try await harness.events("/feed/events?user=2&limit=1000", token: owner)
            _ = try await warm.readUntil("event: live")
            let before = try #require(HeapStatistics.bytesInUse())

            let readers = 8
            var stuck: [any Channel] = []
            for index in 0..<readers {
                stuck.append(try await Self.neverReading(
                    port: harness.port, path: "/feed/events?user=2" + (index % 2 == 0 ? "&limit=1000" : ""), token: owner))
            }
            // More entries while they do not read.
            try await harness.server.largeEntries(user: 2, count: 50)
            try await Task.sleep(for: .seconds(3))
            let grown = try #require(HeapStatistics.bytesInUse()) - before
            print("stuck /feed/events readers (\(upstream.rawValue)): \(readers) held \(grown / 1024) KiB, \(grown / readers / 1024) KiB each")
            #expect(grown < readers * Self.perStreamBound + Self.slack, "\(grown) bytes for \(readers) stuck readers")

            // The gateway's other calls, over the same upstream connection, still answer.
            let body = #"{"recipients_type":"user","type":"wishlist","title":"still here","description":"d","user":2}"#
            let answer = try await harness.send(
                .POST, "/api/v2/notification/notify/",
                headers: [("Content-Type", "application/json"), ("Authorization", "Bearer \(admin)")],
                body: ByteBuffer(string: body))
            #expect(answer.status == 204, "\(answer.text)")
            var reader = try await harness.events("/feed/events?user=2&after=199", token: owner)
            #expect(reader.response.status == .ok)
            let text = try await reader.readUntil("event: live")
            #expect(text.contains("id: 201"))
            for channel in stuck { try? await channel.close() }
        }
    }

    @Test("a reader that reads slowly but steadily gets every entry, with no error event", arguments: UpstreamKind.allCases)
    func slowSteadyReader(upstream: UpstreamKind) async throws {
        try await withHarness(upstream: upstream, memoryBacked: true) { harness in
            let owner = try await harness.userToken(2)
            let ids = try await harness.server.largeEntries(user: 2, count: 60)
            var request = HTTPClientRequest(url: harness.base + "/feed/events?user=2&limit=1000")
            request.headers.add(name: "Authorization", value: "Bearer \(owner)")
            let response = try await harness.http.execute(request, timeout: .seconds(60))
            #expect(response.status == .ok)
            // The body is read a chunk at a time with a pause between: the
            // HTTP client reads the socket only as fast.
            var body = response.body.makeAsyncIterator()
            var text = ""
            var more: [String] = []
            var chunks = 0
            let end = ContinuousClock.now + .seconds(60)
            while ContinuousClock.now < end, let chunk = try await body.next() {
                text += String(buffer: chunk)
                chunks += 1
                if chunks == 20 { more = try await harness.server.largeEntries(user: 2, count: 40) }
                if text.contains("id: 100\n") { break }
                try await Task.sleep(for: .milliseconds(10))
            }
            #expect(!text.contains("event: error"), "\(text.suffix(300))")
            let missing = (ids + more).filter { !text.contains($0) }
            #expect(more.count == 40 && missing.isEmpty, "\(missing.count) entries missing")
        }
    }

    /// Opens `/feed/events` on a plain TCP connection that never reads.
    static func neverReading(port: Int, path: String, token: String) async throws -> any Channel {
        let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .channelOption(.autoRead, value: false)
            .channelOption(.socketOption(.so_rcvbuf), value: 4096)
            .connect(host: "127.0.0.1", port: port).get()
        let request = "GET \(path) HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer \(token)\r\n\r\n"
        try await channel.writeAndFlush(ByteBuffer(string: request))
        return channel
    }
}
