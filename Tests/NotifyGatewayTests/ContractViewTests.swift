import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import NotifyDomain
import NotifyJSON
import NotifyStorage
import NotifyStorageSQLite
import NotifyTesting
import Testing

/// The contracts' shapes at the edges of the two REST APIs: error bodies of
/// paths no route serves, and what a Graph entity shows of the platform
/// types and the fallbackPolicy it was sent (docs/GATEWAY.md).
@Suite("The gateway's views: errors under /api/v2/, Graph's platformTypes and fallbackPolicy")
struct ContractViewTests {
    @Test("an unknown path under /api/v2/ is 404 in SelfCommunity's {\"errors\": [...]} shape, any method", arguments: [
        // The list, read/ and unseen/count/ are served now (MeFeedTests); these paths are not.
        (HTTPMethod.GET, "/api/v2/notification/unseen/"), (.POST, "/api/v2/notification/read/extra"),
        (.GET, "/api/v2/notifications/"), (.DELETE, "/api/v2/nope"), (.GET, "/api/v2"),
        (.GET, "/api/v2/notification/notify/extra"),
    ])
    func unknownUnderSelfCommunity(method: HTTPMethod, path: String) async throws {
        try await withHarness { harness in
            let answer = try await harness.send(method, path, headers: [("Authorization", "Bearer x")])
            #expect(answer.status == 404, "\(answer.text)")
            #expect(answer.header("Content-Type") == "application/json")
            #expect(answer.header("X-Request-ID")?.isEmpty == false)
            #expect(answer.header("request-id") == nil)
            let errors = try #require(answer.json?["errors"]?.array, "\(answer.text)")
            #expect(errors.count == 1)
            #expect(errors.first?["code"]?.string == "not_found")
            #expect(errors.first?["message"]?.string?.contains(path) == true)
            #expect(answer.json?["error"] == nil)
        }
    }

    @Test("another method on SelfCommunity's route is 405 in its shape, with Allow; elsewhere Graph's shape stays")
    func methodAndOtherPaths() async throws {
        try await withHarness { harness in
            let wrong = try await harness.send(.GET, "/api/v2/notification/notify/")
            #expect(wrong.status == 405)
            #expect(wrong.header("Allow") == "POST")
            #expect(wrong.json?["errors"]?[0]?["code"]?.string == "method_not_allowed")
            // Not SelfCommunity's API: a lookalike prefix and Graph's own paths keep Graph's shape.
            // (`/me/notifications/{id}` is a route now: one segment after it, such as x/y, is not.)
            for path in ["/api/v2x/notification/", "/api/v1/notification/", "/me/notifications/x/y"] {
                let other = try await harness.send(.GET, path)
                #expect(other.status == 404, "\(path)")
                #expect(other.json?["error"]?["code"]?.string == "notFound", "\(path): \(other.text)")
                #expect(other.header("request-id")?.isEmpty == false)
            }
        }
    }

    /// An admin's headers for a fresh subscription of user 2.
    private func headers(_ harness: Harness) async throws -> [(String, String)] {
        let uns = try await harness.subscription(user: 2)
        return [
            ("Authorization", "Bearer \(try await harness.server.adminToken())"), ("X-UNS-ID", uns),
            ("Content-Type", "application/json"),
        ]
    }

    @Test("platformTypes: repeated ones folded in first-mention order, any case; the feed entry shows the folded list")
    func platformTypesFolded() async throws {
        try await withHarness { harness in
            let body = #"{"payload":{"rawContent":"x"},"targetPolicy":{"platformTypes":["ios","ios","Windows","IOS","windows"]}}"#
            let answer = try await harness.send(.POST, "/me/notifications", headers: try await headers(harness), body: ByteBuffer(string: body))
            #expect(answer.status == 201, "\(answer.text)")
            let feed = try await harness.server.store.feed(user: 2, after: 0, limit: 10)
            #expect(feed.count == 1)
            if case .graph(let graph)? = feed.first?.content {
                #expect(graph.platforms == [.ios, .windows])
            } else {
                Issue.record("not a Graph entry: \(feed)")
            }
            let entry = try #require(feed.first.flatMap { JSONValue.parse(text: $0.feedEntryText) })
            #expect(entry["targetPolicy"]?["platformTypes"] == .array([.string("ios"), .string("windows")]))
        }
    }

    @Test("platformTypes: an unknown value, in any case, is 400 naming its index; nothing is stored")
    func platformTypesUnknown() async throws {
        try await withHarness { harness in
            let body = #"{"payload":{"rawContent":"x"},"targetPolicy":{"platformTypes":["ios","MACOS"]}}"#
            let answer = try await harness.send(.POST, "/me/notifications/", headers: try await headers(harness), body: ByteBuffer(string: body))
            #expect(answer.status == 400, "\(answer.text)")
            #expect(answer.json?["error"]?["details"]?[0]?["target"]?.string == "targetPolicy.platformTypes[1]")
            #expect(try await harness.server.store.feed(user: 2, after: 0, limit: 10).isEmpty)
        }
    }

    @Test("fallbackPolicy is in the 201 entity and in the /feed/events entry, as the object sent; absent when none was")
    func fallbackPolicy() async throws {
        try await withHarness { harness in
            let headers = try await headers(harness)
            let sent = #"{"payload":{"rawContent":"x"},"targetPolicy":{"platformTypes":["ios"]},"fallbackPolicy":{"platformTypes":["windows"],"b":{"z":1,"a":[true,null]}}}"#
            let policy = try #require(JSONValue.parse(text: #"{"platformTypes":["windows"],"b":{"z":1,"a":[true,null]}}"#))
            let with = try await harness.send(.POST, "/beta/me/notifications/", headers: headers, body: ByteBuffer(string: sent))
            #expect(with.status == 201, "\(with.text)")
            #expect(with.json?["fallbackPolicy"] == policy)
            // Compact, keys sorted, between expirationDateTime and groupName.
            #expect(with.text.contains(#""fallbackPolicy":{"b":{"a":[true,null],"z":1},"platformTypes":["windows"]},"groupName":"#))
            let plain = #"{"payload":{"rawContent":"y"}}"#
            let without = try await harness.send(.POST, "/me/notifications/", headers: headers, body: ByteBuffer(string: plain))
            #expect(without.status == 201)
            #expect(without.json?["fallbackPolicy"] == nil)

            var events = try await harness.events("/feed/events?user=2", token: try await harness.server.adminToken())
            #expect(events.response.status == .ok)
            let first = try #require(try await events.next())
            #expect(first.event == "notification")
            #expect(first.json?["fallbackPolicy"] == policy)
            let second = try #require(try await events.next())
            #expect(second.event == "notification")
            #expect(second.json != nil)
            #expect(second.json?["fallbackPolicy"] == nil)
        }
    }
}
