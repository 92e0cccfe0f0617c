import Foundation
import NIOPosix
import NotifyClient
import NotifyCore
import NotifyDomain
import NotifyMessages
import NotifyServer
import NotifyTesting
import Testing

@Suite("Notify over real TLS against the real server and SQLite")
struct NotifyCallTests {
    // MARK: Success and addressing

    @Test("connections in friendship mode reach exactly the issuer's friends, whichever side made the friendship")
    func connectionsReachFriends() async throws {
        try await withTestServer { server in
            try await server.users(1, 8)
            try await server.connect(1, to: 2, kind: .friend)
            try await server.connect(3, to: 1, kind: .friend)
            try await server.connect(4, to: 1, kind: .follow)
            try await server.connect(1, to: 5, kind: .follow)
            try await server.connect(2, to: 6, kind: .friend)
            let admin = Metadata.bearer(try await server.adminToken())
            let client = server.client()

            var toFriends: [String] = []
            var toIssuer: [String] = []
            // The third call leaves recipients_type out: "connections" is the default.
            for (index, recipients) in ["connections", "connections", nil].enumerated() {
                let answer = try await client.notify(
                    notifyRequest(issuer: 1, recipients: recipients, title: "item \(index + 1)"), metadata: admin
                )
                #expect(answer.recipients == 2)
                toFriends.append(answer.id)
                // Interleaved calls to the issuer must not leave gaps in the friends' feeds.
                if index < 2 {
                    let own = try await client.notify(notifyRequest(issuer: 1, recipients: "user"), metadata: admin)
                    #expect(own.recipients == 1)
                    toIssuer.append(own.id)
                }
            }
            #expect(Set(toFriends + toIssuer).count == 5)

            for friend: Int64 in [2, 3] {
                let feed = try await client.wholeFeed(of: friend, metadata: admin)
                #expect(feed.map(\.sequence) == [1, 2, 3], "user \(friend)")
                #expect(feed.map(\.id) == toFriends, "user \(friend)")
                #expect(feed.allSatisfy { $0.user == friend })
                let contents = feed.compactMap(customContent)
                #expect(contents.map(\.title) == ["item 1", "item 2", "item 3"])
                #expect(contents.allSatisfy { $0.issuer == 1 && $0.type == "wishlist" && $0.description == nil })
            }
            let issuerFeed = try await client.wholeFeed(of: 1, metadata: admin)
            #expect(issuerFeed.map(\.sequence) == [1, 2])
            #expect(issuerFeed.map(\.id) == toIssuer)
            for outsider: Int64 in [4, 5, 6, 8] {
                #expect(try await client.wholeFeed(of: outsider, metadata: admin).isEmpty, "user \(outsider)")
            }
            await client.close()
        }
    }

    @Test("connections in follow mode reach exactly the issuer's followers: not whom he follows, not his friends")
    func connectionsReachFollowers() async throws {
        try await withTestServer(configure: { $0.communityMode = .follow }) { server in
            try await server.users(1, 9)
            try await server.connect(4, to: 1, kind: .follow)
            try await server.connect(7, to: 1, kind: .follow)
            try await server.connect(1, to: 5, kind: .follow)
            try await server.connect(1, to: 2, kind: .friend)
            try await server.connect(3, to: 1, kind: .friend)
            try await server.connect(4, to: 9, kind: .follow)
            let admin = Metadata.bearer(try await server.adminToken())
            let client = server.client()

            var ids: [String] = []
            for index in 1...3 {
                let answer = try await client.notify(
                    notifyRequest(issuer: 1, recipients: "connections", title: "post \(index)"), metadata: admin
                )
                #expect(answer.recipients == 2)
                ids.append(answer.id)
            }
            for follower: Int64 in [4, 7] {
                let feed = try await client.wholeFeed(of: follower, metadata: admin)
                #expect(feed.map(\.sequence) == [1, 2, 3], "user \(follower)")
                #expect(feed.map(\.id) == ids, "user \(follower)")
                #expect(feed.compactMap(customContent).map(\.title) == ["post 1", "post 2", "post 3"])
            }
            for outsider: Int64 in [1, 2, 3, 5, 9] {
                #expect(try await client.wholeFeed(of: outsider, metadata: admin).isEmpty, "user \(outsider)")
            }
            await client.close()
        }
    }

    @Test("an embed with url and metadata is stored as sent; the answer echoes x-request-id")
    func embedStored() async throws {
        try await withTestServer { server in
            try await server.users(1)
            let admin = Metadata.bearer(try await server.adminToken())
            let client = server.client()
            var request = notifyRequest(issuer: 1, recipients: "user")
            request.embed = EmbedInput(
                embedType: " wishlist_item ", embedID: "42", url: "https://example.com/items/42",
                metadataJSON: #"{"price":10}"#
            )
            request.description = .value("Two words")
            let answer = try await client.notify(request, metadata: admin.adding("x-request-id", "req-notify-1"))
            let entry = try #require(try await client.wholeFeed(of: 1, metadata: admin).first)
            #expect(entry.id == answer.id)
            let content = try #require(customContent(entry))
            #expect(content.embed?.embedType == "wishlist_item")
            #expect(content.embed?.embedID == "42")
            #expect(content.embed?.url == "https://example.com/items/42")
            #expect(content.embed?.metadataJSON?.contains("10") == true)
            #expect(content.description == "Two words")

            // The request id comes back in the response metadata, seen here through a failure.
            let failure = await expectFailure(.notFound, "USER_NOT_FOUND") {
                try await client.notify(notifyRequest(issuer: 999), metadata: admin.adding("x-request-id", "req-notify-2"))
            }
            #expect(failure?.metadata["x-request-id"] == "req-notify-2")
            await client.close()
        }
    }

    // MARK: Authentication

    @Test("no token answers UNAUTHENTICATED MISSING_TOKEN")
    func missingToken() async throws {
        try await withTestServer { server in
            try await server.users(1)
            let client = server.client()
            await expectFailure(.unauthenticated, "MISSING_TOKEN") {
                try await client.notify(notifyRequest(issuer: 1), metadata: Metadata())
            }
            await client.close()
        }
    }

    @Test("a malformed or unknown token answers UNAUTHENTICATED INVALID_TOKEN", arguments: [
        "Bearer ntf_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", "Basic dXNlcjpwYXNz", "Bearer", "", "ntf_nobearer",
    ])
    func invalidToken(header: String) async throws {
        try await withTestServer { server in
            try await server.users(1)
            let client = server.client()
            await expectFailure(.unauthenticated, "INVALID_TOKEN") {
                try await client.notify(notifyRequest(issuer: 1), metadata: ["authorization": header])
            }
            await client.close()
        }
    }

    @Test("tokens that change from call to call on one connection are each checked")
    func tokensAlternateOnOneConnection() async throws {
        try await withTestServer { server in
            try await server.users(1)
            let token = try await server.token(for: .user(1), roles: [.admin])
            let client = server.client()
            // The connection keeps the last token's hash: every switch must be seen.
            for round in 0..<2 {
                _ = try await client.notify(notifyRequest(issuer: 1), metadata: .bearer(token))
                await expectFailure(.unauthenticated, "INVALID_TOKEN") {
                    try await client.notify(notifyRequest(issuer: 1), metadata: .bearer(token + "x"))
                }
                _ = try await client.notify(notifyRequest(issuer: 1), metadata: ["authorization": "bearer  \(token) "])
                await expectFailure(.unauthenticated, "INVALID_TOKEN") {
                    try await client.notify(notifyRequest(issuer: 1), metadata: ["authorization": "Basic \(token)"])
                }
                #expect(try await client.wholeFeed(of: 1, metadata: .bearer(token)).count == 2 * (round + 1))
            }
            await client.close()
        }
    }

    @Test("a token revoked through RevokeToken answers UNAUTHENTICATED TOKEN_REVOKED")
    func revokedToken() async throws {
        try await withTestServer { server in
            try await server.users(1)
            let admin = Metadata.bearer(try await server.adminToken())
            let client = server.client()
            let created = try await client.call(
                Methods.createToken,
                CreateTokenRequest(principal: PrincipalInput(user: 1), roles: ["admin"]),
                metadata: admin, as: CreateTokenResponse.self
            )
            let second = Metadata.bearer(created.token)
            _ = try await client.notify(notifyRequest(issuer: 1), metadata: second)
            _ = try await client.call(
                Methods.revokeToken, RevokeTokenRequest(tokenID: created.tokenID), metadata: admin,
                as: RevokeTokenResponse.self
            )
            await expectFailure(.unauthenticated, "TOKEN_REVOKED") {
                try await client.notify(notifyRequest(issuer: 1), metadata: second)
            }
            // Only the first call was stored.
            #expect(try await client.wholeFeed(of: 1, metadata: admin).count == 1)
            await client.close()
        }
    }

    @Test("an expired token answers UNAUTHENTICATED TOKEN_EXPIRED, whether issued directly or by CreateToken")
    func expiredToken() async throws {
        try await withTestServer { server in
            try await server.users(1)
            let admin = Metadata.bearer(try await server.adminToken())
            let client = server.client()
            let old = try await server.token(for: .user(1), roles: [.admin], lifetime: -60)
            await expectFailure(.unauthenticated, "TOKEN_EXPIRED") {
                try await client.notify(notifyRequest(issuer: 1), metadata: .bearer(old))
            }

            let created = try await client.call(
                Methods.createToken,
                CreateTokenRequest(principal: PrincipalInput(user: 1), roles: ["admin"], ttlSeconds: 1),
                metadata: admin, as: CreateTokenResponse.self
            )
            let expiry = try #require(Timestamps.parseRFC3339(created.expirationDateTime))
            #expect(abs(expiry.timeIntervalSinceNow - 1) < 5)
            try await Task.sleep(for: .milliseconds(1500))
            await expectFailure(.unauthenticated, "TOKEN_EXPIRED") {
                try await client.notify(notifyRequest(issuer: 1), metadata: .bearer(created.token))
            }
            #expect(try await client.wholeFeed(of: 1, metadata: admin).isEmpty)
            await client.close()
        }
    }

    // MARK: Authorization

    @Test("a caller without the admin role answers PERMISSION_DENIED ADMIN_ROLE_REQUIRED", arguments: [
        CallerCase(principal: .user(1), roles: [.user]),
        CallerCase(principal: .user(2), roles: [.user, .app]),
        CallerCase(principal: .app("graphnotifications.sample.windows.com"), roles: [.app]),
    ])
    func notAdmin(caller: CallerCase) async throws {
        try await withTestServer { server in
            try await server.users(1)
            let admin = Metadata.bearer(try await server.adminToken())
            let token = try await server.token(for: caller.principal, roles: caller.roles)
            let client = server.client()
            await expectFailure(.permissionDenied, "ADMIN_ROLE_REQUIRED") {
                try await client.notify(notifyRequest(issuer: 1), metadata: .bearer(token))
            }
            #expect(try await client.wholeFeed(of: 1, metadata: admin).isEmpty)
            await client.close()
        }
    }

    @Test("a blocked admin answers PERMISSION_DENIED CALLER_BLOCKED until unblocked")
    func blockedCaller() async throws {
        try await withTestServer { server in
            try await server.users(1)
            let admin = Metadata.bearer(try await server.adminToken())
            let blockedAdmin = Metadata.bearer(try await server.token(for: .user(77), roles: [.admin]))
            let client = server.client()
            _ = try await client.call(
                Methods.block, BlockRequest(caller: PrincipalInput(user: 77)), metadata: admin, as: BlockResponse.self
            )
            await expectFailure(.permissionDenied, "CALLER_BLOCKED") {
                try await client.notify(notifyRequest(issuer: 1), metadata: blockedAdmin)
            }
            #expect(try await client.wholeFeed(of: 1, metadata: admin).isEmpty)
            _ = try await client.call(
                Methods.unblock, BlockRequest(caller: PrincipalInput(user: 77)), metadata: admin, as: BlockResponse.self
            )
            let answer = try await client.notify(notifyRequest(issuer: 1), metadata: blockedAdmin)
            #expect(try await client.wholeFeed(of: 1, metadata: admin).map(\.id) == [answer.id])
            await client.close()
        }
    }

    // MARK: Validation and existence

    @Test("an invalid body answers INVALID_ARGUMENT INVALID_FIELDS naming each field", arguments: InvalidNotify.all)
    func invalidFields(invalid: InvalidNotify) async throws {
        try await withTestServer { server in
            try await server.users(1)
            let admin = Metadata.bearer(try await server.adminToken())
            let client = server.client()
            let error = await expectFailure(.invalidArgument, "INVALID_FIELDS") {
                try await client.notify(invalid.request, metadata: admin)
            }
            #expect(Set(error?.fieldViolations.map(\.field) ?? []) == invalid.fields)
            #expect(error?.fieldViolations.allSatisfy { !$0.description.isEmpty } == true)
            #expect(try await client.wholeFeed(of: 1, metadata: admin).isEmpty)
            await client.close()
        }
    }

    @Test("a string holding a NUL byte is refused by the client's call and start before anything is sent, and nothing is stored")
    func nulByteRefusedByClient() async throws {
        try await withTestServer { server in
            try await server.users(1)
            let admin = Metadata.bearer(try await server.adminToken())
            let client = server.client()
            // Sent, the title would arrive cut at the NUL and be stored as "abc".
            let request = notifyRequest(issuer: 1, recipients: "user", title: "abc\u{0}def")
            let error = await expectFailure(.invalidArgument, "UNDECODABLE_REQUEST") {
                try await client.notify(request, metadata: admin)
            }
            #expect(error?.message == "unencodable NotifyRequest: a string field contains a NUL byte")
            let started = await withCheckedContinuation { continuation in
                client.start(
                    Methods.notify, request, metadata: admin, as: NotifyResponse.self,
                    on: MultiThreadedEventLoopGroup.singleton.any()
                ) { continuation.resume(returning: $0) }
            }
            guard case .failure(let startError) = started else {
                Issue.record("start sent a request holding a NUL byte")
                return
            }
            #expect(startError.code == .invalidArgument && startError.reason == .undecodableRequest)
            #expect(try await client.wholeFeed(of: 1, metadata: admin).isEmpty)
            // The same request without the NUL goes through on the same client.
            _ = try await client.notify(notifyRequest(issuer: 1, recipients: "user", title: "abcdef"), metadata: admin)
            #expect(try await client.wholeFeed(of: 1, metadata: admin).compactMap(customContent).map(\.title) == ["abcdef"])
            await client.close()
        }
    }

    @Test("a reserved embed type answers INVALID_FIELDS on embed.embed_type", arguments: [
        "sc_link", "sc_shared_object", "sc_shared_event", "SC_Shared_Event",
    ])
    func reservedEmbedType(embedType: String) async throws {
        try await withTestServer { server in
            try await server.users(1)
            let admin = Metadata.bearer(try await server.adminToken())
            let client = server.client()
            var request = notifyRequest(issuer: 1)
            request.embed = EmbedInput(embedType: embedType, embedID: "1")
            let error = await expectFailure(.invalidArgument, "INVALID_FIELDS") {
                try await client.notify(request, metadata: admin)
            }
            #expect(error?.fieldViolations.map(\.field) == ["embed.embed_type"])
            #expect(error?.fieldViolations.first?.description.contains("reserved") == true)
            await client.close()
        }
    }

    @Test("an issuer who does not exist answers NOT_FOUND USER_NOT_FOUND on user")
    func unknownIssuer() async throws {
        try await withTestServer { server in
            let admin = Metadata.bearer(try await server.adminToken())
            let client = server.client()
            for recipients in ["user", "connections"] {
                let error = await expectFailure(.notFound, "USER_NOT_FOUND") {
                    try await client.notify(notifyRequest(issuer: 424_242, recipients: recipients), metadata: admin)
                }
                #expect(error?.fieldViolations.map(\.field) == ["user"])
            }
            await client.close()
        }
    }

    // MARK: Throttling

    @Test("past the per-caller rate, calls answer RESOURCE_EXHAUSTED THROTTLED with retry-after; other callers are not held back")
    func throttled() async throws {
        // One call every 2 s: slow enough that the second call finds the bucket
        // empty even when a loaded machine delays it by a second.
        try await withTestServer(configure: {
            $0.rateLimitPerSecond = 0.5
            $0.rateLimitBurst = 1
        }) { server in
            try await server.users(1)
            let admin = Metadata.bearer(try await server.adminToken())
            let other = Metadata.bearer(try await server.token(for: .user(2), roles: [.admin]))
            // Reads the feed at the end with a bucket of its own: `other`'s may be
            // empty again by then, a moment under two seconds after its call.
            let reader = Metadata.bearer(try await server.token(for: .user(3), roles: [.admin]))
            let client = server.client()
            let first = try await client.notify(notifyRequest(issuer: 1), metadata: admin)
            let error = await expectFailure(.resourceExhausted, "THROTTLED") {
                try await client.notify(notifyRequest(issuer: 1), metadata: admin)
            }
            let retryAfter = try #require(error?.metadata["retry-after"].flatMap { Int($0) })
            #expect((1...2).contains(retryAfter))
            // Another caller has a bucket of its own.
            let second = try await client.notify(notifyRequest(issuer: 1), metadata: other)
            try await Task.sleep(for: .seconds(retryAfter) + .milliseconds(100))
            let third = try await client.notify(notifyRequest(issuer: 1), metadata: admin)
            // The throttled call stored nothing.
            let feed = try await client.wholeFeed(of: 1, metadata: reader)
            #expect(feed.map(\.id) == [first.id, second.id, third.id])
            await client.close()
        }
    }

    // MARK: Idempotency

    @Test("a retried call with the same idempotency key stores once and answers the same id")
    func idempotentRetry() async throws {
        try await withTestServer { server in
            try await server.connect(1, to: 2, kind: .friend)
            let admin = Metadata.bearer(try await server.adminToken())
            let client = server.client()
            let keyed = admin.adding("idempotency-key", "retry-1")
            let request = notifyRequest(issuer: 1, recipients: "connections")
            let first = try await client.notify(request, metadata: keyed)
            let again = try await client.notify(request, metadata: keyed)
            #expect(again == first)
            // Retries racing each other store once too.
            let raced = try await withThrowingTaskGroup(of: NotifyResponse.self) { group in
                for _ in 0..<20 {
                    group.addTask { try await client.notify(request, metadata: admin.adding("idempotency-key", "race")) }
                }
                var answers: [NotifyResponse] = []
                for try await answer in group { answers.append(answer) }
                return answers
            }
            #expect(Set(raced.map(\.id)).count == 1)
            #expect(raced.first?.id != first.id)
            // Without a key, the same body is a new notification.
            let unkeyed = try await client.notify(request, metadata: admin)
            let feed = try await client.wholeFeed(of: 2, metadata: admin)
            #expect(feed.map(\.id) == [first.id, raced.first?.id, unkeyed.id].compactMap { $0 })
            #expect(feed.map(\.sequence) == [1, 2, 3])
            #expect(try await client.wholeFeed(of: 1, metadata: admin).isEmpty)
            await client.close()
        }
    }

    @Test("the same idempotency key with another body answers FAILED_PRECONDITION IDEMPOTENCY_KEY_REUSED")
    func idempotencyKeyReused() async throws {
        try await withTestServer { server in
            try await server.users(1)
            let admin = Metadata.bearer(try await server.adminToken())
            let client = server.client()
            let keyed = admin.adding("idempotency-key", "k")
            let first = try await client.notify(notifyRequest(issuer: 1, title: "first"), metadata: keyed)
            await expectFailure(.failedPrecondition, "IDEMPOTENCY_KEY_REUSED") {
                try await client.notify(notifyRequest(issuer: 1, title: "second"), metadata: keyed)
            }
            // The key belongs to its caller: another admin may use the same key for another body.
            let other = Metadata.bearer(try await server.token(for: .user(5), roles: [.admin]))
            let theirs = try await client.notify(
                notifyRequest(issuer: 1, title: "second"), metadata: other.adding("idempotency-key", "k")
            )
            let feed = try await client.wholeFeed(of: 1, metadata: admin)
            #expect(feed.map(\.id) == [first.id, theirs.id])
            #expect(feed.compactMap(customContent).map(\.title) == ["first", "second"])
            await client.close()
        }
    }
}

/// A caller for parameterized authorization tests.
struct CallerCase: Sendable, CustomTestStringConvertible {
    var principal: Principal
    var roles: Set<Role>

    var testDescription: String { "\(principal) with \(roles.map(\.rawValue).sorted())" }
}

/// An invalid Notify body and the fields its answer must name.
struct InvalidNotify: Sendable, CustomTestStringConvertible {
    var name: String
    var request: NotifyRequest
    var fields: Set<String>

    var testDescription: String { name }

    static var all: [InvalidNotify] {
        func valid(_ change: (inout NotifyRequest) -> Void) -> NotifyRequest {
            var request = notifyRequest(issuer: 1)
            change(&request)
            return request
        }
        return [
            InvalidNotify(name: "empty body", request: NotifyRequest(), fields: ["type", "title", "description", "user"]),
            InvalidNotify(name: "unknown recipients_type", request: valid { $0.recipientsType = "everyone" }, fields: ["recipients_type"]),
            InvalidNotify(name: "blank type", request: valid { $0.type = "   " }, fields: ["type"]),
            InvalidNotify(name: "type too long", request: valid { $0.type = String(repeating: "t", count: 101) }, fields: ["type"]),
            InvalidNotify(name: "title missing", request: valid { $0.title = .missing }, fields: ["title"]),
            InvalidNotify(name: "title too long", request: valid { $0.title = .value(String(repeating: "é", count: 256)) }, fields: ["title"]),
            InvalidNotify(name: "description too long", request: valid { $0.description = .value(String(repeating: "d", count: 4097)) }, fields: ["description"]),
            InvalidNotify(name: "user zero", request: valid { $0.user = 0 }, fields: ["user"]),
            InvalidNotify(name: "embed without ids", request: valid { $0.embed = EmbedInput() }, fields: ["embed.embed_type", "embed.embed_id"]),
            InvalidNotify(name: "embed url not http", request: valid { $0.embed = EmbedInput(embedType: "a", embedID: "1", url: "ftp://example.com/x") }, fields: ["embed.url"]),
            InvalidNotify(name: "embed metadata not an object", request: valid { $0.embed = EmbedInput(embedType: "a", embedID: "1", metadataJSON: "[1, 2]") }, fields: ["embed.metadata"]),
            InvalidNotify(
                name: "several at once",
                request: NotifyRequest(recipientsType: "all", type: "", title: .null, description: .missing, user: -3),
                fields: ["recipients_type", "type", "description", "user"]
            ),
        ]
    }
}
