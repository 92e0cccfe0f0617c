import Foundation
import NIOCore
import NIOHTTP1
import NotifyDomain
import NotifyGateway
import NotifyJSON
import NotifyStorageSQLite
import NotifyTesting
import Testing

/// docs/GATEWAY.md, "Times": one instant prints one string in every view, and a
/// replayed SendNotification answers byte for byte what the first call answered.
@Suite("Times through the gateway")
struct TimesTests {
    /// A body whose expiration has 7 fraction digits, the last ones not a whole
    /// millisecond: what a Double used to print as `...208Z` in one view and
    /// `...2079999Z` in another.
    static func body(expiration: String) -> String {
        #"{"payload":{"rawContent":"times"},"expirationDateTime":"\#(expiration)","priority":"high"}"#
    }

    @Test(
        "a replayed SendNotification (same Idempotency-Key) answers the first answer's bytes; the feed prints the same instants",
        arguments: UpstreamKind.allCases)
    func replayIsByteForByte(upstream: UpstreamKind) async throws {
        try await withHarness(upstream: upstream) { harness in
            let uns = try await harness.subscription(user: 2)
            let admin = try await harness.server.adminToken()
            let expiration = Timestamp.now().adding(seconds: 86_400)
            // ".2079999": seven digits, truncated to .207 whatever the instant.
            let text = String(expiration.rfc3339.dropLast(4)) + "2079999Z"
            let headers = [
                ("Authorization", "Bearer \(admin)"), ("X-UNS-ID", uns), ("Content-Type", "application/json"),
                ("Idempotency-Key", "replay-1"),
            ]
            let first = try await harness.send(.POST, "/v1.0/me/notifications/", headers: headers, body: ByteBuffer(string: Self.body(expiration: text)))
            #expect(first.status == 201, "\(first.text)")
            let replay = try await harness.send(.POST, "/v1.0/me/notifications/", headers: headers, body: ByteBuffer(string: Self.body(expiration: text)))
            #expect(replay.status == 201, "\(replay.text)")
            #expect(Array(replay.body.readableBytesView) == Array(first.body.readableBytesView))

            let json = try #require(first.json)
            let printed = try #require(json["expirationDateTime"]?.string)
            #expect(printed == String(text.dropLast(5)) + "Z")
            #expect(printed.count == 24)

            // The feed entry (the gateway's event stream) prints the same string.
            var events = try await harness.events("/feed/events?user=2", token: admin)
            let entry = try #require(try await events.next())
            #expect(entry.json?["expirationDateTime"]?.string == printed)
            #expect(entry.json?["id"] == json["id"])
            let created = try #require(entry.json?["createdDateTime"]?.string)
            #expect(created.count == 24 && created.hasSuffix("Z"))

            // And the store holds exactly the printed instant.
            let stored = try await harness.server.store.feed(user: 2, after: 0, limit: 10)
            guard case .graph(let graph)? = stored.first?.content else {
                Issue.record("no Graph entry stored")
                return
            }
            #expect(graph.expiration.rfc3339 == printed)
            #expect(graph.expiration == graph.expiration.truncatedToMilliseconds)
            #expect(stored.first?.createdAt.rfc3339 == created)
        }
    }
}
