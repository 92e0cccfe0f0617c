import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import NotifyClient
import NotifyCore
import NotifyDomain
import NotifyGateway
import NotifyMessages
import NotifyServer
import NotifyStorageSQLite
import NotifyTesting
import Testing

/// `GET /feed/events`: the feed as server-sent events, through FeedService/Watch.
@Suite("The gateway's server-sent events: the feed live over HTTP")
struct FeedEventsTests {
    @Test("backlog, the live marker, then each commit as it lands; ids are sequences", arguments: UpstreamKind.allCases)
    func backlogThenLive(upstream: UpstreamKind) async throws {
        try await withHarness(upstream: upstream) { harness in
            let owner = try await harness.userToken(2)
            let admin = try await harness.server.adminToken()
            let first = try await harness.notify(user: 2, admin: admin)
            var events = try await harness.events("/feed/events?user=2", token: owner)
            #expect(events.response.status == .ok)
            #expect(events.response.headers.first(name: "Content-Type") == "text/event-stream; charset=utf-8")
            #expect(events.response.headers.first(name: "Cache-Control") == "no-store")

            let backlog = try #require(try await events.next())
            #expect(backlog.event == "notification")
            #expect(backlog.id == "1")
            #expect(backlog.json?["id"]?.string == first)
            let live = try #require(try await events.next())
            #expect(live.event == "live")
            #expect(live.id == "1")
            #expect(live.json?["after"] == .integer(1))

            let second = try await harness.notify(user: 2, admin: admin)
            let next = try #require(try await events.next())
            #expect(next.event == "notification")
            #expect(next.id == "2")
            #expect(next.json?["id"]?.string == second)
            #expect(next.json?["user"] == .integer(2))
        }
    }

    @Test("Last-Event-ID resumes after that sequence, over ?after=, with no gap and no repeat", arguments: UpstreamKind.allCases)
    func resume(upstream: UpstreamKind) async throws {
        try await withHarness(upstream: upstream) { harness in
            let admin = try await harness.server.adminToken()
            try await harness.server.store.putUser(User(id: 2))
            var ids: [String] = []
            for _ in 0..<4 { ids.append(try await harness.notify(user: 2, admin: admin)) }
            var events = try await harness.events(
                "/feed/events?user=2&after=0&limit=1", token: admin, headers: [("Last-Event-ID", "2")]
            )
            var seen: [String] = []
            while seen.count < 2, let event = try await events.next() {
                if event.event == "notification", let id = event.json?["id"]?.string { seen.append(id) }
            }
            #expect(seen == Array(ids[2...]))
        }
    }

    @Test("a refused reader gets the gateway's error answer, not a stream", arguments: UpstreamKind.allCases)
    func refusals(upstream: UpstreamKind) async throws {
        try await withHarness(upstream: upstream) { harness in
            let stranger = try await harness.userToken(3)
            try await harness.server.store.putUser(User(id: 2))
            let cases: [(String, [(String, String)], Int, String)] = [
                ("/feed/events?user=2", [], 401, "InvalidAuthenticationToken"),
                ("/feed/events?user=2", [("Authorization", "Bearer \(stranger)")], 403, "accessDenied"),
                ("/feed/events?limit=5000", [("Authorization", "Bearer \(stranger)")], 400, "invalidRequest"),
                (
                    "/feed/events?user=2", [("Authorization", "Bearer \(stranger)"), ("Last-Event-ID", "x")], 400,
                    "invalidRequest"
                ),
            ]
            for (path, headers, status, code) in cases {
                let answer = try await harness.send(.GET, path, headers: headers)
                #expect(answer.status == status, "\(path) \(answer.text)")
                #expect(answer.header("Content-Type") == "application/json")
                #expect(answer.json?["error"]?["code"]?.string == code, "\(answer.text)")
            }
            let invalid = try await harness.send(.GET, "/feed/events?limit=5000", headers: [("Authorization", "Bearer \(stranger)")])
            let targets = invalid.json?["error"]?["details"]?.array?.compactMap { $0["target"]?.string }
            #expect(targets == ["limit", "user"])
            let post = try await harness.send(.POST, "/feed/events?user=2", headers: [("Authorization", "Bearer \(stranger)")])
            #expect(post.status == 405)
            #expect(post.header("Allow") == "GET")
        }
    }

    @Test("a reader that disconnects frees its stream on the service", arguments: UpstreamKind.allCases)
    func disconnectFreesStream(upstream: UpstreamKind) async throws {
        try await withHarness(upstream: upstream) { harness in
            let admin = try await harness.server.adminToken()
            try await harness.server.store.putUser(User(id: 2))
            let request = "GET /feed/events?user=2 HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer \(admin)\r\n\r\n"
            // Reads for a while, then closes its side: the stream had started by then.
            let text = try await rawExchange(
                port: harness.port, chunks: [(request, .zero)], timeout: .milliseconds(800)
            )
            #expect(text == "<timeout>")
            try await waitUntil("the service freed the stream") { harness.server.endpoint.openStreams == 0 }
        }
    }

    @Test("a token revoked mid-stream ends the stream with an error event carrying TOKEN_REVOKED", arguments: UpstreamKind.allCases)
    func revokedMidStream(upstream: UpstreamKind) async throws {
        try await withHarness(upstream: upstream) { harness in
            try await harness.server.store.putUser(User(id: 2))
            let admin = Metadata.bearer(try await harness.server.adminToken())
            let client = harness.server.client()
            let created = try await client.call(
                Methods.createToken, CreateTokenRequest(principal: PrincipalInput(user: 2), roles: ["user"]),
                metadata: admin, as: CreateTokenResponse.self)
            var events = try await harness.events("/feed/events?user=2", token: created.token)
            #expect(try await events.next()?.event == "live")
            _ = try await client.call(
                Methods.revokeToken, RevokeTokenRequest(tokenID: created.tokenID), metadata: admin,
                as: RevokeTokenResponse.self)
            let error = try #require(try await events.next())
            #expect(error.event == "error")
            #expect(error.json?["reason"]?.string == "TOKEN_REVOKED")
            #expect(try await events.next() == nil)
            await client.close()
        }
    }

    @Test("a token that expires mid-stream ends a quiet stream with an error event carrying TOKEN_EXPIRED")
    func expiredMidStream() async throws {
        try await withHarness(upstream: .local) { harness in
            try await harness.server.store.putUser(User(id: 2))
            let admin = Metadata.bearer(try await harness.server.adminToken())
            let client = harness.server.client()
            let created = try await client.call(
                Methods.createToken,
                // Long enough for the watch to start on a machine the parallel suites keep busy.
                CreateTokenRequest(principal: PrincipalInput(user: 2), roles: ["user"], ttlSeconds: 4),
                metadata: admin, as: CreateTokenResponse.self)
            let started = ContinuousClock.now
            var events = try await harness.events("/feed/events?user=2", token: created.token)
            #expect(try await events.next()?.event == "live")
            // Nothing is written to this feed: only the expiry can end the stream.
            let error = try #require(try await events.next())
            #expect(error.event == "error")
            #expect(error.json?["reason"]?.string == "TOKEN_EXPIRED")
            #expect(try await events.next() == nil)
            #expect(ContinuousClock.now - started < .seconds(10))
            await client.close()
        }
    }

    @Test("with nothing new, a heartbeat comment keeps the stream alive")
    func heartbeat() async throws {
        try await withHarness(gateway: { $0.eventHeartbeat = .milliseconds(100) }) { harness in
            let admin = try await harness.server.adminToken()
            try await harness.server.store.putUser(User(id: 2))
            var events = try await harness.events("/feed/events?user=2", token: admin)
            #expect(try await events.next()?.event == "live")
            let text = try await events.readUntil(": keep-alive")
            #expect(text.contains(": keep-alive\n\n"))
        }
    }

    @Test("the gateway's graceful shutdown ends a stream with an error event and the end of the body")
    func shutdownEndsStream() async throws {
        let (reader, bodyEnded) = try await withHarness(upstream: .local) { harness in
            let admin = try await harness.server.adminToken()
            try await harness.server.store.putUser(User(id: 2))
            let request = "GET /feed/events?user=2 HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer \(admin)\r\n\r\n"
            let port = harness.port
            let reader = Task { try await rawExchange(port: port, chunks: [(request, .zero)], timeout: .seconds(20)) }
            try await waitUntil("the stream started") { harness.server.endpoint.openStreams == 1 }
            return (reader, ContinuousClock.now)
        }
        let text = try await reader.value
        #expect(ContinuousClock.now - bodyEnded < .seconds(8))
        #expect(text.hasPrefix("HTTP/1.1 200 OK"))
        #expect(text.contains("event: live"))
        #expect(text.contains("\"reason\":\"GOING_AWAY\""))
        #expect(text.hasSuffix("0\r\n\r\n"))
    }
}

/// One server-sent event as a reader sees it.
struct ServerSentEventReading {
    var id: String?
    var event: String?
    var data = ""

    var json: JSONValue? { JSONValue.parse(Data(data.utf8)) }
}

/// The events of one streaming answer, read as they arrive.
struct EventReader {
    let response: HTTPClientResponse
    private var body: HTTPClientResponse.Body.AsyncIterator
    private var pending = ""

    init(_ response: HTTPClientResponse) {
        self.response = response
        self.body = response.body.makeAsyncIterator()
    }

    /// The next event, comments skipped; nil when the body ends.
    mutating func next() async throws -> ServerSentEventReading? {
        while true {
            if let end = pending.range(of: "\n\n") {
                let block = pending[..<end.lowerBound]
                pending = String(pending[end.upperBound...])
                var event = ServerSentEventReading()
                var sawField = false
                for line in block.split(separator: "\n") where !line.hasPrefix(":") {
                    sawField = true
                    let (name, value) = line.firstIndex(of: ":").map {
                        (line[..<$0], line[line.index(after: $0)...].drop { $0 == " " })
                    } ?? (line[...], ""[...])
                    switch name {
                    case "id": event.id = String(value)
                    case "event": event.event = String(value)
                    case "data": event.data += event.data.isEmpty ? String(value) : "\n" + value
                    default: break
                    }
                }
                if sawField { return event }
                continue
            }
            guard let buffer = try await body.next() else { return nil }
            pending += String(buffer: buffer)
        }
    }

    /// Reads raw text until it contains `marker`; the text read.
    mutating func readUntil(_ marker: String) async throws -> String {
        while !pending.contains(marker) {
            guard let buffer = try await body.next() else { break }
            pending += String(buffer: buffer)
        }
        return pending
    }
}

extension Harness {
    /// Opens `/feed/events` (or `path`) with a bearer token.
    func events(_ path: String, token: String, headers: [(String, String)] = []) async throws -> EventReader {
        var request = HTTPClientRequest(url: base + path)
        request.headers.add(name: "Authorization", value: "Bearer \(token)")
        request.headers.add(name: "Accept", value: "text/event-stream")
        for (name, value) in headers { request.headers.add(name: name, value: value) }
        return EventReader(try await http.execute(request, timeout: .seconds(30)))
    }

    /// Stores a notification to `user` through the RPC server; its id.
    func notify(user: Int64, admin: String) async throws -> String {
        let client = server.client()
        defer { Task { await client.close() } }
        return try await client.notify(
            NotifyRequest(recipientsType: "user", type: "wishlist", title: .value("hi"), description: .null, user: user),
            metadata: .bearer(admin)
        ).id
    }
}
