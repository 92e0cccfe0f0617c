import CompressNIO
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

@Suite("POST /me/notifications/ (Graph) through the gateway")
struct GraphTests {
    static let seedBody = """
        {
            "targetHostName": "graphnotifications.sample.windows.com",
            "appNotificationId": "testDirectToastNotification",
            "payload": {"visualContent": {"title": "Hello World!", "body": "Notifications are Great!"}},
            "targetPolicy": {"platformTypes": ["windows", "ios", "android"]},
            "priority": "High",
            "groupName": "TestGroup",
            "displayTimeToLive": "60"
        }
        """

    /// An admin's headers for bob's subscription.
    private func headers(_ harness: Harness, contentType: String = "application/json") async throws -> [(String, String)] {
        let uns = try await harness.subscription(user: 2)
        return [
            ("Authorization", "Bearer \(try await harness.server.adminToken())"), ("X-UNS-ID", uns), ("Content-Type", contentType),
        ]
    }

    @Test("the seed's request answers 201 with the seed's response shape, under every path spelling", arguments: [
        "/me/notifications/", "/me/notifications", "/beta/me/notifications/", "/beta/me/notifications",
        "/v1.0/me/notifications/", "/v1.0/me/notifications",
    ])
    func success(path: String) async throws {
        try await withHarness { harness in
            let sdkHeaders = [
                ("Accept", "application/json"), ("client-request-id", "71e62feb-8d72-4912-8b2c-4cee9d89e781"),
                ("SdkVersion", "Graph-dotnet-5.0.0"), ("User-Agent", "NativeHost"), ("Prefer", "return=representation"),
                ("Cache-Control", "no-cache"), ("Accept-Encoding", "gzip"),
            ]
            let headers = try await headers(harness, contentType: "application/json; charset=utf-8") + sdkHeaders
            let answer = try await harness.send(.POST, path, headers: headers, body: ByteBuffer(string: Self.seedBody))
            #expect(answer.status == 201, "\(answer.text)")
            #expect(answer.header("client-request-id") == "71e62feb-8d72-4912-8b2c-4cee9d89e781")
            #expect(answer.header("request-id")?.isEmpty == false)
            #expect(answer.header("Content-Type") == "application/json")
            let json = try #require(answer.json)
            let id = try #require(json["id"]?.string)
            #expect(answer.header("Location")?.hasSuffix("/me/notifications/\(id)") == true)
            #expect(json["@odata.context"]?.string?.contains("$metadata#users('2')/notifications/$entity") == true)
            #expect(json["displayTimeToLive"] == .integer(60))
            #expect(json["priority"]?.string == "High")
            #expect(json["groupName"]?.string == "TestGroup")
            #expect(json["payload"]?["visualContent"]?["title"]?.string == "Hello World!")
            #expect(json["expirationDateTime"]?.string.flatMap { Timestamp(rfc3339: $0) } != nil)
            let feed = try await harness.server.store.feed(user: 2, after: 0, limit: 10)
            #expect(feed.map(\.id) == [id])
        }
    }

    @Test("without client-request-id the gateway makes one and sends it back")
    func clientRequestID() async throws {
        try await withHarness { harness in
            let answer = try await harness.send(.POST, "/me/notifications/", headers: try await headers(harness), body: ByteBuffer(string: Self.seedBody))
            #expect(answer.status == 201)
            #expect(answer.header("client-request-id")?.count == 36)
        }
    }

    @Test("gzip and deflate bodies are decoded", arguments: ["gzip", "deflate"])
    func compressed(encoding: String) async throws {
        try await withHarness { harness in
            var plain = ByteBuffer(string: Self.seedBody)
            let compressed = try plain.compress(with: encoding == "gzip" ? .gzip() : .zlib())
            let answer = try await harness.send(
                .POST, "/me/notifications/", headers: try await headers(harness) + [("Content-Encoding", encoding)], body: compressed
            )
            #expect(answer.status == 201, "\(answer.text)")
        }
    }

    @Test("a decompression bomb answers 413, and the gateway keeps serving")
    func bomb() async throws {
        try await withHarness(gateway: { $0.maxDecompressedSize = 1024 * 1024 }) { harness in
            var zeros = ByteBuffer(repeating: UInt8(ascii: " "), count: 64 * 1024 * 1024)
            let bomb = try zeros.compress(with: .gzip())
            #expect(bomb.readableBytes < 1024 * 1024)
            let answer = try await harness.send(
                .POST, "/me/notifications/", headers: try await headers(harness) + [("Content-Encoding", "gzip")], body: bomb
            )
            #expect(answer.status == 413)
            #expect(answer.json?["error"]?["code"]?.string == "payloadTooLarge")
            let health = try await harness.send(.GET, "/healthz")
            #expect(health.status == 200)
        }
    }

    @Test("a corrupt gzip body answers 400")
    func corrupt() async throws {
        try await withHarness { harness in
            let answer = try await harness.send(
                .POST, "/me/notifications/", headers: try await headers(harness) + [("Content-Encoding", "gzip")],
                body: ByteBuffer(string: "not gzip at all")
            )
            #expect(answer.status == 400)
        }
    }

    @Test(
        "an Idempotency-Key past 255 bytes answers 400 and stores nothing; one of 255 bytes replays",
        arguments: UpstreamKind.allCases)
    func longIdempotencyKey(upstream: UpstreamKind) async throws {
        try await withHarness(upstream: upstream) { harness in
            let headers = try await headers(harness)
            let long = try await harness.send(
                .POST, "/me/notifications/", headers: headers + [("Idempotency-Key", String(repeating: "k", count: 256))],
                body: ByteBuffer(string: Self.seedBody))
            #expect(long.status == 400, "\(long.text)")
            #expect(long.json?["error"]?["code"]?.string == "invalidRequest")
            #expect(long.json?["error"]?["message"]?.string?.contains("idempotency-key") == true)
            #expect(try await harness.server.store.feed(user: 2, after: 0, limit: 10).isEmpty)

            let key = [("Idempotency-Key", String(repeating: "k", count: 255))]
            let first = try await harness.send(.POST, "/me/notifications/", headers: headers + key, body: ByteBuffer(string: Self.seedBody))
            let again = try await harness.send(.POST, "/me/notifications/", headers: headers + key, body: ByteBuffer(string: Self.seedBody))
            #expect(first.status == 201 && again.status == 201)
            #expect(first.json?["id"] == again.json?["id"])
            #expect(try await harness.server.store.feed(user: 2, after: 0, limit: 10).count == 1)
        }
    }

    @Test("Content-Encoding other than gzip or deflate answers 415", arguments: ["br", "compress", "gzip, br"])
    func unsupportedEncoding(encoding: String) async throws {
        try await withHarness { harness in
            let answer = try await harness.send(
                .POST, "/me/notifications/", headers: try await headers(harness) + [("Content-Encoding", encoding)],
                body: ByteBuffer(string: Self.seedBody)
            )
            #expect(answer.status == 415)
            #expect(answer.json?["error"]?["code"]?.string == "unsupportedMediaType")
        }
    }

    @Test("If-Modified-Since and If-Range answer 400", arguments: ["If-Modified-Since", "If-Range"])
    func unsupportedHeaders(name: String) async throws {
        try await withHarness { harness in
            let answer = try await harness.send(
                .POST, "/me/notifications/", headers: try await headers(harness) + [(name, "Wed, 21 Oct 2015 07:28:00 GMT")],
                body: ByteBuffer(string: Self.seedBody)
            )
            #expect(answer.status == 400)
            #expect(answer.json?["error"]?["message"]?.string?.contains(name) == true)
        }
    }

    @Test("a JSON array answers 400")
    func array() async throws {
        try await withHarness { harness in
            let answer = try await harness.send(
                .POST, "/me/notifications/", headers: try await headers(harness), body: ByteBuffer(string: "[\(Self.seedBody)]")
            )
            #expect(answer.status == 400)
            #expect(answer.json?["error"]?["message"]?.string?.contains("array") == true)
        }
    }

    @Test("wrong types and an unknown shape answer 400 with one detail per field")
    func contractMismatch() async throws {
        try await withHarness { harness in
            let headers = try await headers(harness)
            let wrong = try await harness.send(
                .POST, "/me/notifications/", headers: headers,
                body: ByteBuffer(string: #"{"payload": "hello", "priority": 5, "targetPolicy": {"platformTypes": ["windows", 3]}}"#)
            )
            #expect(wrong.status == 400)
            let error = try #require(wrong.json?["error"])
            #expect(error["code"]?.string == "invalidRequest")
            let targets = error["details"]?.array?.compactMap { $0["target"]?.string } ?? []
            #expect(Set(targets) == ["payload", "priority", "targetPolicy.platformTypes[1]"])
            #expect(error["innerError"]?["request-id"]?.string == wrong.header("request-id"))
            #expect(error["innerError"]?["date"]?.string != nil)
            let unknown = try await harness.send(.POST, "/me/notifications/", headers: headers, body: ByteBuffer(string: #"{"foo": 1}"#))
            #expect(unknown.status == 400)
            let notJSON = try await harness.send(.POST, "/me/notifications/", headers: headers, body: ByteBuffer(string: "<xml/>"))
            #expect(notJSON.status == 400)
        }
    }

    @Test("an invalid payload answers 400 Invalid payload")
    func invalidPayload() async throws {
        try await withHarness { harness in
            let answer = try await harness.send(
                .POST, "/me/notifications/", headers: try await headers(harness),
                body: ByteBuffer(string: #"{"payload": {"visualContent": {"body": "no title"}}}"#)
            )
            #expect(answer.status == 400)
            #expect(answer.json?["error"]?["message"]?.string == "Invalid payload.")
            #expect(answer.json?["error"]?["details"]?[0]?["target"]?.string == "payload.visualContent.title")
        }
    }

    @Test("a blocked caller answers 403 callerBlocked")
    func blocked() async throws {
        try await withHarness { harness in
            let headers = try await headers(harness)
            try await harness.server.store.block(.user(1_000_000))
            let answer = try await harness.send(.POST, "/me/notifications/", headers: headers, body: ByteBuffer(string: Self.seedBody))
            #expect(answer.status == 403)
            #expect(answer.json?["error"]?["code"]?.string == "callerBlocked")
        }
    }

    @Test("a caller not authorized for the user answers 403 accessDenied")
    func notAuthorized() async throws {
        try await withHarness { harness in
            let uns = try await harness.subscription(user: 2)
            let mallory = try await harness.userToken(3)
            let answer = try await harness.send(
                .POST, "/me/notifications/",
                headers: [("Authorization", "Bearer \(mallory)"), ("X-UNS-ID", uns), ("Content-Type", "application/json")],
                body: ByteBuffer(string: Self.seedBody)
            )
            #expect(answer.status == 403)
            #expect(answer.json?["error"]?["code"]?.string == "accessDenied")
        }
    }

    @Test("another method answers 405 with Allow: GET, POST")
    func methodNotAllowed() async throws {
        try await withHarness { harness in
            // GET lists the caller's notifications now (MeFeedTests); PUT is served nowhere.
            let answer = try await harness.send(.PUT, "/beta/me/notifications/")
            #expect(answer.status == 405)
            #expect(answer.header("Allow") == "GET, POST")
            #expect(answer.json?["error"]?["code"]?.string == "methodNotAllowed")
        }
    }

    @Test("a throttled caller answers 406 with Retry-After")
    func throttled() async throws {
        try await withHarness(server: { $0.rateLimitPerSecond = 0.01; $0.rateLimitBurst = 1 }) { harness in
            let headers = try await headers(harness)
            let first = try await harness.send(.POST, "/me/notifications/", headers: headers, body: ByteBuffer(string: Self.seedBody))
            #expect(first.status == 201)
            let second = try await harness.send(.POST, "/me/notifications/", headers: headers, body: ByteBuffer(string: Self.seedBody))
            #expect(second.status == 406)
            #expect(second.header("Retry-After") != nil)
        }
    }

    @Test("no token or an invalid one answers 401")
    func unauthenticated() async throws {
        try await withHarness { harness in
            let uns = try await harness.subscription(user: 2)
            let none = try await harness.send(
                .POST, "/me/notifications/", headers: [("X-UNS-ID", uns), ("Content-Type", "application/json")],
                body: ByteBuffer(string: Self.seedBody)
            )
            #expect(none.status == 401)
            #expect(none.json?["error"]?["code"]?.string == "InvalidAuthenticationToken")
            let bad = try await harness.send(
                .POST, "/me/notifications/", headers: [("Authorization", "Bearer x"), ("X-UNS-ID", uns), ("Content-Type", "application/json")],
                body: ByteBuffer(string: Self.seedBody)
            )
            #expect(bad.status == 401)
        }
    }

    @Test("an unknown X-UNS-ID answers 404 itemNotFound; a missing one 400")
    func subscriptionErrors() async throws {
        try await withHarness { harness in
            let token = try await harness.server.adminToken()
            let unknown = try await harness.send(
                .POST, "/me/notifications/", headers: [("Authorization", "Bearer \(token)"), ("X-UNS-ID", "nope"), ("Content-Type", "application/json")],
                body: ByteBuffer(string: Self.seedBody)
            )
            #expect(unknown.status == 404)
            #expect(unknown.json?["error"]?["code"]?.string == "itemNotFound")
            let missing = try await harness.send(
                .POST, "/me/notifications/", headers: [("Authorization", "Bearer \(token)"), ("Content-Type", "application/json")],
                body: ByteBuffer(string: Self.seedBody)
            )
            #expect(missing.status == 400)
            #expect(missing.json?["error"]?["details"]?[0]?["target"]?.string == "X-UNS-ID")
        }
    }

    @Test("a Content-Type other than JSON answers 415")
    func mediaType() async throws {
        try await withHarness { harness in
            let answer = try await harness.send(
                .POST, "/me/notifications/", headers: try await headers(harness, contentType: "text/plain"), body: ByteBuffer(string: Self.seedBody)
            )
            #expect(answer.status == 415)
        }
    }
}
