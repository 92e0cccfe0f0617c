import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import NotifyClient
import NotifyCore
import NotifyDomain
import NotifyJSON
import NotifyMessages
import NotifyTesting
import Testing

private let app = "graphnotifications.sample.windows.com"
private let otherApp = "other.example.com"

/// A SendNotification body for `platforms` (nil: all), titled `title`.
private func graphRequest(_ title: String, platforms: [String]? = nil) -> SendNotificationRequest {
    SendNotificationRequest(
        payload: PayloadInput(visualContent: VisualContentInput(title: title, body: nil)), platformTypes: platforms)
}

/// The title of a feed entry as the events carry it (Notify's or Graph's).
private func title(_ json: JSONValue?) -> String? {
    json?["title"]?.string ?? json?["payload"]?["visualContent"]?["title"]?.string
}

/// Reads `notification` events until `count` came; their titles and the last id.
private func read(_ events: inout EventReader, count: Int) async throws -> (titles: [String], lastID: String?) {
    var titles: [String] = []
    var lastID: String?
    while titles.count < count, let event = try await events.next() {
        if event.id != nil { lastID = event.id }
        guard event.event == "notification" else { continue }
        titles.append(title(event.json) ?? "?")
    }
    return (titles, lastID)
}

/// `GET /me/notifications/stream`: one device endpoint's feed as server-sent events.
@Suite("The gateway's device endpoint stream: Watch by subscription over HTTP")
struct NotificationStreamTests {
    @Test(
        "three endpoints, one over SSE: each gets exactly what targets it, and the SSE one resumes with Last-Event-ID",
        arguments: UpstreamKind.allCases)
    func threeEndpoints(upstream: UpstreamKind) async throws {
        try await withHarness(upstream: upstream) { harness in
            let server = harness.server
            let windows = try await server.subscription(user: 2, app: app, platform: .windows)
            let ios = try await server.subscription(user: 2, app: app, platform: .ios)
            let android = try await server.subscription(user: 2, app: app, platform: .android)
            let elsewhere = try await server.subscription(user: 2, app: otherApp, platform: .android)
            let owner = try await harness.userToken(2)
            let admin = Metadata.bearer(try await server.adminToken())
            let appToken = Metadata.bearer(try await server.token(for: .app(app), roles: [.app]))
            let client = server.client()

            // windows and ios over RPC, android over SSE (Graph's headers, the /beta spelling).
            var rpc = [windows, ios].map {
                client.watchFeed(ListFeedRequest(subscription: $0.id), metadata: .bearer(owner)).makeAsyncIterator()
            }
            var sse = try await harness.events(
                "/beta/me/notifications/stream/", token: owner, headers: [("X-UNS-ID", android.id)])
            #expect(sse.response.status == .ok)
            #expect(sse.response.headers.first(name: "Content-Type") == "text/event-stream; charset=utf-8")
            #expect(sse.response.headers.first(name: "request-id") != nil)
            let live = try #require(try await sse.next())
            #expect(live.event == "live")
            for index in rpc.indices { _ = try #require(try await rpc[index].next()) }

            _ = try await client.sendNotification(graphRequest("ios only", platforms: ["ios"]), subscriptionID: windows.id, metadata: appToken)
            _ = try await client.sendNotification(graphRequest("other app"), subscriptionID: elsewhere.id, metadata: admin)
            _ = try await client.notify(
                NotifyRequest(recipientsType: "user", type: "t", title: .value("notify"), description: .null, user: 2),
                metadata: admin)
            _ = try await client.sendNotification(graphRequest("android", platforms: ["android"]), subscriptionID: ios.id, metadata: appToken)

            let expected = [["notify"], ["ios only", "notify"]]
            for index in rpc.indices {
                var titles: [String] = []
                while titles.count < expected[index].count, let page = try await rpc[index].next() {
                    for entry in page.notifications {
                        switch entry.content {
                        case .custom(let custom): titles.append(custom.title ?? "")
                        case .graph(let graph): titles.append(graph.payload.visualContent?.title ?? "")
                        }
                    }
                }
                #expect(titles == expected[index], "endpoint \(index)")
            }
            let (seen, lastID) = try await read(&sse, count: 2)
            #expect(seen == ["notify", "android"])
            #expect(lastID == "4")

            // The reader goes; the feed moves on; a new request names the last id it saw.
            _ = try await client.sendNotification(graphRequest("ios 2", platforms: ["ios"]), subscriptionID: ios.id, metadata: appToken)
            _ = try await client.sendNotification(graphRequest("android 2", platforms: ["windows", "android"]), subscriptionID: ios.id, metadata: appToken)
            _ = try await client.sendNotification(graphRequest("other 2"), subscriptionID: elsewhere.id, metadata: admin)
            _ = try await client.sendNotification(graphRequest("all 2"), subscriptionID: ios.id, metadata: appToken)
            var resumed = try await harness.events(
                "/v1.0/me/notifications/stream", token: owner, headers: [("X-UNS-ID", android.id), ("Last-Event-ID", "4")])
            #expect(resumed.response.status == .ok)
            var titles: [String] = []
            var liveAfter: JSONValue?
            while liveAfter == nil, let event = try await resumed.next() {
                if event.event == "notification" { titles.append(title(event.json) ?? "?") }
                if event.event == "live" { liveAfter = event.json?["after"] }
            }
            #expect(titles == ["android 2", "all 2"])
            // Caught up past the other application's entry: the cursor is the user's sequence.
            #expect(liveAfter == .integer(8))
            await client.close()
        }
    }

    @Test("refusals come in Graph's error shape, before any stream")
    func refusals() async throws {
        try await withHarness { harness in
            let server = harness.server
            let subscription = try await server.subscription(user: 2, app: app, platform: .ios)
            let expired = try await server.subscription(user: 2, app: app, platform: .ios, lifetime: -10)
            let owner = try await harness.userToken(2)
            let stranger = try await harness.userToken(3)
            let cases: [(String, [(String, String)], Int, String)] = [
                ("/me/notifications/stream", [("X-UNS-ID", subscription.id)], 401, "InvalidAuthenticationToken"),
                ("/me/notifications/stream", [("Authorization", "Bearer \(owner)")], 400, "invalidRequest"),
                (
                    "/me/notifications/stream/",
                    [("Authorization", "Bearer \(stranger)"), ("X-UNS-ID", subscription.id)], 403, "accessDenied"
                ),
                (
                    "/beta/me/notifications/stream",
                    [("Authorization", "Bearer \(owner)"), ("X-UNS-ID", UUID().uuidString.lowercased())], 404, "itemNotFound"
                ),
                ("/v1.0/me/notifications/stream", [("Authorization", "Bearer \(owner)"), ("X-UNS-ID", expired.id)], 404, "itemNotFound"),
                (
                    "/me/notifications/stream",
                    [("Authorization", "Bearer \(owner)"), ("X-UNS-ID", subscription.id), ("Last-Event-ID", "x")], 400,
                    "invalidRequest"
                ),
                (
                    "/me/notifications/stream",
                    [("Authorization", "Bearer \(owner)"), ("X-UNS-ID", subscription.id), ("Last-Event-ID", "99")], 400,
                    "invalidRequest"
                ),
            ]
            for (path, headers, status, code) in cases {
                let answer = try await harness.send(.GET, path, headers: headers)
                #expect(answer.status == status, "\(path) \(headers) \(answer.text)")
                #expect(answer.header("Content-Type") == "application/json")
                #expect(answer.json?["error"]?["code"]?.string == code, "\(answer.text)")
            }
            let expiredAnswer = try await harness.send(
                .GET, "/me/notifications/stream", headers: [("Authorization", "Bearer \(owner)"), ("X-UNS-ID", expired.id)])
            #expect(expiredAnswer.json?["error"]?["message"]?.string?.contains("expired") == true)
            let post = try await harness.send(
                .PUT, "/me/notifications/stream", headers: [("Authorization", "Bearer \(owner)"), ("X-UNS-ID", subscription.id)])
            #expect(post.status == 405)
            #expect(post.header("Allow") == "GET")
        }
    }
}
