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

    @Test(
        "three endpoints, one over SSE: a state change reaches the endpoints that see its entry, a read up to reaches all, and each resumes with exactly what it missed, events included",
        arguments: UpstreamKind.allCases)
    func stateEventsPerEndpoint(upstream: UpstreamKind) async throws {
        try await withHarness(upstream: upstream) { harness in
            let server = harness.server
            let windows = try await server.subscription(user: 2, app: app, platform: .windows)
            let ios = try await server.subscription(user: 2, app: app, platform: .ios)
            let android = try await server.subscription(user: 2, app: app, platform: .android)
            let owner = try await harness.userToken(2)
            let user = Metadata.bearer(owner)
            let admin = Metadata.bearer(try await server.adminToken())
            let appToken = Metadata.bearer(try await server.token(for: .app(app), roles: [.app]))
            let client = server.client()
            // Titles by notification id, to read the events' ids.
            var titles: [String: String] = [:]
            func send(_ title: String, _ platforms: [String]) async throws -> String {
                let sent = try await client.sendNotification(
                    graphRequest(title, platforms: platforms), subscriptionID: windows.id, metadata: appToken)
                titles[sent.notification.id] = title
                return sent.notification.id
            }
            /// An event as the test compares it: its kind and its entries' titles.
            func label(kind: String, ids: [String], upTo: Bool) -> String {
                upTo ? "\(kind) up to" : "\(kind) " + ids.map { titles[$0] ?? $0 }.joined(separator: ",")
            }
            /// A Watch page's items: notifications' titles and events' labels, in sequence order.
            func items(_ page: ListFeedResponse) -> [String] {
                var ordered: [(UInt64, String)] = page.notifications.map { entry in
                    guard case .graph(let graph) = entry.content else { return (entry.sequence, "notify") }
                    return (entry.sequence, graph.payload.visualContent?.title ?? "?")
                }
                ordered += page.events.map {
                    ($0.sequence, label(kind: $0.kind, ids: $0.ids, upTo: $0.readUpToSequence != nil))
                }
                return ordered.sorted { $0.0 < $1.0 }.map(\.1)
            }
            /// Reads Watch pages until `count` items came.
            func read(_ pages: inout FeedWatch.AsyncIterator, count: Int) async throws -> (items: [String], cursor: UInt64) {
                var read: [String] = []
                var cursor: UInt64 = 0
                while read.count < count, let page = try await pages.next() {
                    read += items(page)
                    cursor = page.nextAfterSequence
                }
                return (read, cursor)
            }
            /// Reads SSE events until `count` items came (or `live`, when `untilLive`); the last id.
            func read(_ events: inout EventReader, count: Int, untilLive: Bool = false) async throws -> (items: [String], lastID: String?) {
                var items: [String] = []
                var lastID: String?
                while untilLive || items.count < count, let event = try await events.next() {
                    if event.id != nil { lastID = event.id }
                    switch event.event {
                    case "notification": items.append(title(event.json) ?? "notify")
                    case "state":
                        let ids = event.json?["ids"]?.array?.compactMap(\.string) ?? []
                        items.append(label(
                            kind: event.json?["kind"]?.string ?? "?", ids: ids, upTo: event.json?["readUpToSequence"] != nil))
                    case "live" where untilLive: return (items, lastID)
                    default: continue
                    }
                }
                return (items, lastID)
            }

            var iosOnly = ""
            // The three readers live in this scope: leaving it disconnects them.
            do {
                var rpc = [windows, ios].map {
                    client.watchFeed(ListFeedRequest(subscription: $0.id), metadata: user).makeAsyncIterator()
                }
                var sse = try await harness.events("/me/notifications/stream", token: owner, headers: [("X-UNS-ID", android.id)])
                #expect(try await sse.next()?.event == "live")
                for index in rpc.indices { _ = try #require(try await rpc[index].next()) }

                iosOnly = try await send("ios only", ["ios"])                                  // 1
                _ = try await send("android only", ["android"])                                // 2
                _ = try await client.notify(
                    NotifyRequest(recipientsType: "user", type: "t", title: .value("notify"), description: .null, user: 2),
                    metadata: admin)                                                             // 3
                // A state change of the ios entry: only the ios endpoint sees it.
                #expect(try await client.setActionState(user: 2, id: iosOnly, "activated", metadata: user).sequence == 4)
                // A read up to the head: every endpoint.
                #expect(try await client.markRead(MarkReadRequest(user: 2, upToSequence: 4), metadata: user).sequence == 5)

                let windowsSeen = try await read(&rpc[0], count: 2)
                #expect(windowsSeen.items == ["notify", "read up to"])
                let iosSeen = try await read(&rpc[1], count: 4)
                #expect(iosSeen.items == ["ios only", "notify", "actionState ios only", "read up to"])
                let androidSeen = try await read(&sse, count: 3)
                #expect(androidSeen.items == ["android only", "notify", "read up to"])
                #expect(androidSeen.lastID == "5")
                #expect(windowsSeen.cursor == 5 && iosSeen.cursor == 5)
            }
            // Every reader has gone; the feed moves on.
            let androidOnly = try #require(titles.first { $0.value == "android only" }?.key)
            _ = try await client.deleteEntries(user: 2, ids: [androidOnly], metadata: user)                // 6
            _ = try await send("windows 2", ["windows"])                                                    // 7
            _ = try await client.setActionState(user: 2, id: iosOnly, "dismissed", metadata: user)          // 8
            let notify = try #require(try await client.listFeed(ListFeedRequest(user: 2, source: "notify"), metadata: user)
                .notifications.first?.id)
            titles[notify] = "notify"
            _ = try await client.setActionState(user: 2, id: notify, "dismissed", metadata: user)           // 9

            // Each resumes from its cursor (5): exactly what it missed, events included, then caught up at the head.
            for (subscription, expected) in [
                (windows, ["windows 2", "actionState notify"]), (ios, ["actionState ios only", "actionState notify"]),
            ] {
                var pages = client.watchFeed(ListFeedRequest(afterSequence: 5, subscription: subscription.id), metadata: user)
                    .makeAsyncIterator()
                var resumed: [String] = []
                while let page = try await pages.next() {
                    resumed += items(page)
                    if page.caughtUp {
                        #expect(page.nextAfterSequence == 9)
                        break
                    }
                }
                #expect(resumed == expected, "\(subscription.platform)")
            }
            var resumed = try await harness.events(
                "/me/notifications/stream", token: owner, headers: [("X-UNS-ID", android.id), ("Last-Event-ID", "5")])
            let androidResumed = try await read(&resumed, count: 0, untilLive: true)
            #expect(androidResumed.items == ["removed android only", "actionState notify"])
            #expect(androidResumed.lastID == "9")
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
