import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import NotifyClient
import NotifyDomain
import NotifyGateway
import NotifyMessages
import NotifyServer
import NotifyTesting
import NotifyWire
import Testing

/// `/feed/events` against feeds of large entries and readers that do not keep up.
@Suite("The gateway's server-sent events under abuse: large entries, stuck and slow readers")
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
}
