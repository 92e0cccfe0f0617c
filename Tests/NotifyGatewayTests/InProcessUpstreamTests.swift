import Foundation
import NIOCore
import NIOHTTP1
import NotifyDomain
import NotifyJSON
import NotifyServer
import NotifyStorageSQLite
import NotifyTesting
import Testing

/// The gateway as `notifyd serve` runs it: calling its RPC server in-process.
/// The answers must be the ones the TLS path gives (the other suites, and
/// the overload suite for both paths).
@Suite("The gateway over an in-process upstream answers as over TLS")
struct InProcessUpstreamTests {
    @Test("both seed requests succeed with their documented statuses, and both land in the feeds")
    func seeds() async throws {
        try await withHarness(upstream: .local) { harness in
            try await harness.server.store.putUser(User(id: 7))
            let admin = "Bearer \(try await harness.server.adminToken())"
            let notify = try await harness.send(
                .POST, "/api/v2/notification/notify/",
                headers: [("Authorization", admin), ("Content-Type", "application/x-www-form-urlencoded")],
                body: ByteBuffer(string: SelfCommunityTests.seedBody)
            )
            #expect(notify.status == 204, "\(notify.text)")
            #expect(try await harness.server.store.feed(user: 7, after: 0, limit: 10).count == 1)

            let uns = try await harness.subscription(user: 2)
            let send = try await harness.send(
                .POST, "/me/notifications/",
                headers: [("Authorization", admin), ("X-UNS-ID", uns), ("Content-Type", "application/json")],
                body: ByteBuffer(string: GraphTests.seedBody)
            )
            #expect(send.status == 201, "\(send.text)")
            let id = try #require(send.json?["id"]?.string)
            #expect(try await harness.server.store.feed(user: 2, after: 0, limit: 10).map(\.id) == [id])
        }
    }

    @Test("the caller's token is checked in-process too: none answers 401, an unknown subscription 404")
    func refusals() async throws {
        try await withHarness(upstream: .local) { harness in
            let none = try await harness.send(
                .POST, "/api/v2/notification/notify/", headers: [("Content-Type", "application/json")],
                body: ByteBuffer(string: SelfCommunityTests.seedBody)
            )
            #expect(none.status == 401)
            #expect(none.header("WWW-Authenticate") != nil)
            let admin = "Bearer \(try await harness.server.adminToken())"
            let unknown = try await harness.send(
                .POST, "/me/notifications/",
                headers: [("Authorization", admin), ("X-UNS-ID", UUID().uuidString), ("Content-Type", "application/json")],
                body: ByteBuffer(string: GraphTests.seedBody)
            )
            #expect(unknown.status == 404)
            #expect(unknown.json?["error"]?["code"]?.string == "itemNotFound")
        }
    }

    @Test("tokens that change from request to request on one HTTP connection are each checked")
    func tokensAlternateOnOneConnection() async throws {
        try await withHarness(upstream: .local) { harness in
            try await harness.server.store.putUser(User(id: 7))
            let token = try await harness.server.adminToken()
            let body = #"{"type": "t", "title": null, "description": null, "user": 7, "recipients_type": "user"}"#
            func post(_ authorization: String, last: Bool = false) -> String {
                "POST /api/v2/notification/notify/ HTTP/1.1\r\nHost: x\r\nAuthorization: \(authorization)\r\n"
                    + (last ? "Connection: close\r\n" : "")
                    + "Content-Type: application/json\r\nContent-Length: \(body.utf8.count)\r\n\r\n\(body)"
            }
            // The same length, one byte off.
            let near = token.dropLast() + (token.last == "A" ? "B" : "A")
            // The connection keeps the last token's hash: every switch must be seen.
            let requests = post("Bearer \(token)") + post("Bearer \(token)x") + post("bearer  \(token) ")
                + post("Basic \(token)") + post("Bearer \(token)") + post("Bearer \(near)", last: true)
            let text = try await rawExchange(port: harness.port, chunks: [(requests, .zero)])
            #expect(statuses(in: text) == [204, 401, 204, 401, 204, 401])
            #expect(try await harness.server.store.feed(user: 7, after: 0, limit: 10).count == 3)
        }
    }

    @Test("a JSON string holding U+0000 answers 400 on its field instead of being stored cut short", arguments: UpstreamKind.allCases)
    func nul(upstream: UpstreamKind) async throws {
        try await withHarness(upstream: upstream) { harness in
            try await harness.server.store.putUser(User(id: 7))
            let admin = "Bearer \(try await harness.server.adminToken())"
            let notify = try await harness.send(
                .POST, "/api/v2/notification/notify/", headers: [("Authorization", admin), ("Content-Type", "application/json")],
                body: ByteBuffer(string: #"{"recipients_type": "user", "user": 7, "type": "t", "title": "a\u0000b", "description": null}"#)
            )
            #expect(notify.status == 400, "\(notify.text)")
            let errors = notify.json?["errors"]?.array ?? []
            #expect(errors.compactMap { $0["field"]?.string } == ["title"])
            #expect(errors.first?["messages"]?[0]?.string == "Must not contain U+0000 (NUL).")

            let uns = try await harness.subscription(user: 2)
            let send = try await harness.send(
                .POST, "/me/notifications/",
                headers: [("Authorization", admin), ("X-UNS-ID", uns), ("Content-Type", "application/json")],
                body: ByteBuffer(string: #"{"targetHostName": "graphnotifications.sample.windows.com", "payload": {"rawContent": "abc\u0000def"}, "targetPolicy": {"platformTypes": ["windows", "io\u0000s"]}}"#)
            )
            #expect(send.status == 400, "\(send.text)")
            let targets = send.json?["error"]?["details"]?.array?.compactMap { $0["target"]?.string } ?? []
            // The payload is then left with no content, which validation names too.
            #expect(Set(targets) == ["payload.rawContent", "targetPolicy.platformTypes[1]", "payload"])
            #expect(try await harness.server.store.feed(user: 7, after: 0, limit: 10).isEmpty)
            #expect(try await harness.server.store.feed(user: 2, after: 0, limit: 10).isEmpty)
        }
    }

    @Test("/readyz asks the in-process server's health")
    func ready() async throws {
        try await withHarness(upstream: .local) { harness in
            let ready = try await harness.send(.GET, "/readyz")
            #expect(ready.status == 200)
            #expect(ready.json?["upstream"]?.string == "SERVING")
        }
    }
}
