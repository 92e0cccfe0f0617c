import Foundation
import NIOCore
import NIOHTTP1
import NotifyServer
import NotifyStorageSQLite
import NotifyDomain
import NotifyJSON
import NotifyGateway
import NotifyTesting
import Testing

@Suite("POST /api/v2/notification/notify/ (SelfCommunity) through the gateway")
struct SelfCommunityTests {
    static let seedBody = """
        {"recipients_type": "user", "type": "wishlist", "embed": {"embed_type": "item", "embed_id": "42", \
        "url": "https://example.com", "metadata": "{}"}, "title": "string", "description": "string", "user": 7}
        """

    private func admin(_ harness: Harness) async throws -> [(String, String)] {
        try await harness.server.store.putUser(User(id: 7))
        return [("Authorization", "Bearer \(try await harness.server.adminToken())")]
    }

    @Test("the seed's body answers 204 with no body under JSON and under the documented form type, with or without the slash",
          arguments: [
            ("/api/v2/notification/notify/", "application/json"),
            ("/api/v2/notification/notify", "application/json; charset=utf-8"),
            ("/api/v2/notification/notify/", "application/x-www-form-urlencoded"),
          ])
    func success(path: String, contentType: String) async throws {
        try await withHarness { harness in
            let headers = try await admin(harness) + [("Content-Type", contentType), ("Accept", "application/json")]
            let answer = try await harness.send(.POST, path, headers: headers, body: ByteBuffer(string: Self.seedBody))
            #expect(answer.status == 204)
            #expect(answer.body.readableBytes == 0)
            let feed = try await harness.server.store.feed(user: 7, after: 0, limit: 10)
            #expect(feed.count == 1)
            guard case .custom(let custom)? = feed.first?.content else {
                Issue.record("no custom notification in the feed")
                return
            }
            #expect(custom.type == "wishlist")
            #expect(custom.embed?.embedID == "42")
        }
    }

    @Test("a truly form-encoded body, embed as JSON text, answers 204")
    func formEncoded() async throws {
        try await withHarness { harness in
            let headers = try await admin(harness) + [("Content-Type", "application/x-www-form-urlencoded")]
            let embed = #"{"embed_type":"item","embed_id":"9"}"#.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? ""
            let body = "recipients_type=user&type=wish+list&title=Hello%20there&description=&user=7&embed=\(embed)"
            let answer = try await harness.send(.POST, "/api/v2/notification/notify/", headers: headers, body: ByteBuffer(string: body))
            #expect(answer.status == 204, "\(answer.text)")
            let feed = try await harness.server.store.feed(user: 7, after: 0, limit: 10)
            guard case .custom(let custom)? = feed.first?.content else {
                Issue.record("no custom notification in the feed")
                return
            }
            #expect(custom.type == "wish list")
            #expect(custom.title == "Hello there")
            #expect(custom.embed?.embedID == "9")
        }
    }

    @Test("type errors and validation errors come back together, one entry per field")
    func fieldErrors() async throws {
        try await withHarness { harness in
            let headers = try await admin(harness) + [("Content-Type", "application/json")]
            let body = #"{"recipients_type": "everyone", "type": 5, "title": null, "user": "seven", "embed": {"embed_id": 3}}"#
            let answer = try await harness.send(.POST, "/api/v2/notification/notify/", headers: headers, body: ByteBuffer(string: body))
            #expect(answer.status == 400)
            let errors = try #require(answer.json?["errors"]?.array)
            let fields = errors.compactMap { $0["field"]?.string }
            #expect(Set(fields) == ["recipients_type", "type", "description", "user", "embed.embed_id", "embed.embed_type"])
            #expect(fields.count == Set(fields).count)
            #expect(errors.allSatisfy { ($0["messages"]?.array?.count ?? 0) == 1 })
            let user = errors.first { $0["field"]?.string == "user" }
            #expect(user?["messages"]?[0]?.string == "Expected an integer, got string.")
        }
    }

    @Test("a body that is not JSON answers 400 with a parse error code")
    func notJSON() async throws {
        try await withHarness { harness in
            let headers = try await admin(harness) + [("Content-Type", "application/json")]
            let answer = try await harness.send(.POST, "/api/v2/notification/notify/", headers: headers, body: ByteBuffer(string: "{nope"))
            #expect(answer.status == 400)
            #expect(answer.json?["errors"]?[0]?["code"]?.string == "parse_error")
        }
    }

    @Test("an unknown issuer answers 400 on the field user")
    func unknownUser() async throws {
        try await withHarness { harness in
            let headers = try await admin(harness) + [("Content-Type", "application/json")]
            let body = #"{"type": "t", "title": null, "description": null, "user": 999}"#
            let answer = try await harness.send(.POST, "/api/v2/notification/notify/", headers: headers, body: ByteBuffer(string: body))
            #expect(answer.status == 400)
            #expect(answer.json?["errors"]?[0]?["field"]?.string == "user")
        }
    }

    @Test("no token answers 401 not_authenticated; a bad one 401 authentication_failed; both name the scheme")
    func unauthenticated() async throws {
        try await withHarness { harness in
            let body = ByteBuffer(string: Self.seedBody)
            let none = try await harness.send(.POST, "/api/v2/notification/notify/", headers: [("Content-Type", "application/json")], body: body)
            #expect(none.status == 401)
            #expect(none.json?["errors"]?[0]?["code"]?.string == "not_authenticated")
            #expect(none.header("WWW-Authenticate")?.hasPrefix("Bearer") == true)
            let bad = try await harness.send(
                .POST, "/api/v2/notification/notify/", headers: [("Content-Type", "application/json"), ("Authorization", "Bearer nope")], body: body
            )
            #expect(bad.status == 401)
            #expect(bad.json?["errors"]?[0]?["code"]?.string == "authentication_failed")
            // The caller is checked before the body: a bad body without a token is still 401.
            let both = try await harness.send(
                .POST, "/api/v2/notification/notify/", headers: [("Content-Type", "application/json"), ("Authorization", "Bearer nope")],
                body: ByteBuffer(string: "[1]")
            )
            #expect(both.status == 401)
        }
    }

    @Test("a caller who is not an admin answers 403 permission_denied")
    func notAdmin() async throws {
        try await withHarness { harness in
            let token = try await harness.userToken(7)
            let answer = try await harness.send(
                .POST, "/api/v2/notification/notify/", headers: [("Content-Type", "application/json"), ("Authorization", "Bearer \(token)")],
                body: ByteBuffer(string: Self.seedBody)
            )
            #expect(answer.status == 403)
            #expect(answer.json?["errors"]?[0]?["code"]?.string == "permission_denied")
        }
    }

    @Test("another method answers 405 with Allow: POST", arguments: ["GET", "PUT", "DELETE", "PATCH"])
    func methodNotAllowed(method: String) async throws {
        try await withHarness { harness in
            let answer = try await harness.send(.RAW(value: method), "/api/v2/notification/notify/")
            #expect(answer.status == 405)
            #expect(answer.header("Allow") == "POST")
            #expect(answer.json?["errors"]?[0]?["code"]?.string == "method_not_allowed")
        }
    }

    @Test("a throttled caller answers 429 with Retry-After")
    func throttled() async throws {
        try await withHarness(server: { $0.rateLimitPerSecond = 0.01; $0.rateLimitBurst = 1 }) { harness in
            let headers = try await admin(harness) + [("Content-Type", "application/json")]
            let first = try await harness.send(.POST, "/api/v2/notification/notify/", headers: headers, body: ByteBuffer(string: Self.seedBody))
            #expect(first.status == 204)
            let second = try await harness.send(.POST, "/api/v2/notification/notify/", headers: headers, body: ByteBuffer(string: Self.seedBody))
            #expect(second.status == 429)
            #expect(Int(second.header("Retry-After") ?? "") ?? 0 >= 1)
            #expect(second.json?["errors"]?[0]?["code"]?.string == "throttled")
        }
    }

    @Test("an unsupported media type answers 415")
    func unsupportedMediaType() async throws {
        try await withHarness { harness in
            let headers = try await admin(harness) + [("Content-Type", "text/plain")]
            let answer = try await harness.send(.POST, "/api/v2/notification/notify/", headers: headers, body: ByteBuffer(string: Self.seedBody))
            #expect(answer.status == 415)
        }
    }
}
