import Foundation
import NIOCore
import NIOPosix
import NotifyClient
import NotifyCore
import NotifyDomain
import NotifyMessages
import NotifyProtobuf
import NotifyServer
import NotifyStorageSQLite
import NotifyTesting
import NotifyWire
import Testing

/// The application of the contract's example.
private let sampleApp = "graphnotifications.sample.windows.com"

/// The contract's example body, its expiration moved a day ahead.
private func sampleRequest(expiration: Timestamp = Timestamp.now().adding(seconds: 24 * 3600)) -> SendNotificationRequest {
    SendNotificationRequest(
        targetHostName: sampleApp,
        appNotificationID: "testDirectToastNotification",
        groupName: "TestGroup",
        expirationDateTime: expiration.rfc3339,
        payload: PayloadInput(visualContent: VisualContentInput(title: "Hello World!", body: "Notifications are Great!")),
        platformTypes: ["windows", "ios", "android"],
        priority: "High",
        displayTimeToLive: 60
    )
}

@Suite("SendNotification over real TLS against the real server and SQLite")
struct SendNotificationCallTests {
    @Test("the contract's example is answered with the stored entity, which sits in the subscription user's feed")
    func example() async throws {
        try await withTestServer { server in
            let subscription = try await server.subscription(user: 2, app: sampleApp)
            let admin = Metadata.bearer(try await server.adminToken())
            let appToken = Metadata.bearer(try await server.token(for: .app(sampleApp), roles: [.app]))
            let client = server.client()
            let expiration = Timestamp.now().truncatedToMilliseconds.adding(seconds: 24 * 3600)
            let answer = try await client.sendNotification(
                sampleRequest(expiration: expiration), subscriptionID: subscription.id, metadata: appToken
            ).notification

            #expect(UUID(uuidString: answer.id) != nil, "\(answer.id)")
            #expect(answer.user == 2)
            #expect(answer.sequence == 1)
            #expect(abs(answer.createdAt.microseconds(since: .now())) < 60_000_000)
            let graph = try #require(graphContent(answer))
            #expect(graph.priority == .high)
            #expect(graph.groupName == "TestGroup")
            #expect(graph.displayTimeToLive == 60)
            #expect(graph.appNotificationID == "testDirectToastNotification")
            #expect(graph.targetHostName == sampleApp)
            #expect(graph.expiration == expiration)
            #expect(graph.platforms == [.windows, .ios, .android])
            #expect(graph.payload.visualContent == VisualContent(title: "Hello World!", body: "Notifications are Great!"))
            #expect(graph.payload.rawContent == nil)

            let feed = try await client.wholeFeed(of: 2, metadata: admin)
            #expect(feed == [answer])
            await client.close()
        }
    }

    @Test("defaults: no expiration is 7 days, no platforms is all four, no priority is None, and the subscription's app is the target")
    func defaults() async throws {
        try await withTestServer { server in
            let subscription = try await server.subscription(user: 2, app: sampleApp)
            let admin = Metadata.bearer(try await server.adminToken())
            let client = server.client()
            let request = SendNotificationRequest(payload: PayloadInput(rawContent: "opaque bytes for the app"))
            let answer = try await client.sendNotification(request, subscriptionID: subscription.id, metadata: admin)
                .notification
            let graph = try #require(graphContent(answer))
            #expect(abs(graph.expiration.microseconds(since: .now()) - 7 * 24 * 3600 * 1_000_000) < 60_000_000)
            #expect(Set(graph.platforms) == Set(Platform.allCases))
            #expect(graph.priority == Priority.none)
            #expect(graph.displayTimeToLive == 0)
            #expect(graph.targetHostName == sampleApp)
            #expect(graph.payload.rawContent == "opaque bytes for the app")
            await client.close()
        }
    }

    @Test("who may send: the owning app, the user himself and an admin; nobody else", arguments: SenderCase.all)
    func authorization(sender: SenderCase) async throws {
        try await withTestServer { server in
            let subscription = try await server.subscription(user: 2, app: sampleApp)
            try await server.users(3)
            let admin = Metadata.bearer(try await server.adminToken())
            let token = Metadata.bearer(try await server.token(for: sender.principal, roles: sender.roles))
            let client = server.client()
            if let reason = sender.refusal {
                await expectFailure(.permissionDenied, reason) {
                    try await client.sendNotification(sampleRequest(), subscriptionID: subscription.id, metadata: token)
                }
                #expect(try await client.wholeFeed(of: 2, metadata: admin).isEmpty)
            } else {
                let answer = try await client.sendNotification(
                    sampleRequest(), subscriptionID: subscription.id, metadata: token
                )
                #expect(try await client.wholeFeed(of: 2, metadata: admin) == [answer.notification])
            }
            await client.close()
        }
    }

    @Test("a missing or empty X-UNS-ID answers INVALID_ARGUMENT MISSING_UNS_ID")
    func missingSubscriptionID() async throws {
        try await withTestServer { server in
            let admin = Metadata.bearer(try await server.adminToken())
            let client = server.client()
            let missing = await expectFailure(.invalidArgument, "MISSING_UNS_ID") {
                try await client.call(
                    Methods.sendNotification, sampleRequest(), metadata: admin, as: SendNotificationResponse.self
                )
            }
            // A metadata key is named as such over RPC; the gateway names the header X-UNS-ID.
            #expect(missing?.fieldViolations.map(\.field) == ["metadata[x-uns-id]"])
            await expectFailure(.invalidArgument, "MISSING_UNS_ID") {
                try await client.sendNotification(sampleRequest(), subscriptionID: "", metadata: admin)
            }
            await client.close()
        }
    }

    @Test("an unknown subscription answers NOT_FOUND SUBSCRIPTION_NOT_FOUND")
    func unknownSubscription() async throws {
        try await withTestServer { server in
            let admin = Metadata.bearer(try await server.adminToken())
            let client = server.client()
            await expectFailure(.notFound, "SUBSCRIPTION_NOT_FOUND") {
                try await client.sendNotification(sampleRequest(), subscriptionID: UUID().uuidString, metadata: admin)
            }
            await client.close()
        }
    }

    @Test("a subscription past its lifetime answers NOT_FOUND SUBSCRIPTION_EXPIRED, and renewing revives it")
    func expiredSubscription() async throws {
        try await withTestServer { server in
            try await server.users(2)
            let admin = Metadata.bearer(try await server.adminToken())
            let client = server.client()
            let created = try await client.call(
                Methods.createSubscription,
                CreateSubscriptionRequest(user: 2, app: sampleApp, platform: "windows", ttlSeconds: 1),
                metadata: admin, as: CreateSubscriptionResponse.self
            ).subscription
            try await Task.sleep(for: .milliseconds(1500))
            await expectFailure(.notFound, "SUBSCRIPTION_EXPIRED") {
                try await client.sendNotification(sampleRequest(), subscriptionID: created.id, metadata: admin)
            }
            #expect(try await client.wholeFeed(of: 2, metadata: admin).isEmpty)
            _ = try await client.call(
                Methods.renewSubscription, RenewSubscriptionRequest(id: created.id, ttlSeconds: 3600), metadata: admin,
                as: RenewSubscriptionResponse.self
            )
            _ = try await client.sendNotification(sampleRequest(), subscriptionID: created.id, metadata: admin)
            #expect(try await client.wholeFeed(of: 2, metadata: admin).count == 1)
            await client.close()
        }
    }

    @Test("a subscription deleted through the RPC is refused at once, though the server had it cached")
    func deletedSubscription() async throws {
        try await withTestServer { server in
            let created = try await server.subscription(user: 2, app: sampleApp)
            let admin = Metadata.bearer(try await server.adminToken())
            let client = server.client()
            _ = try await client.sendNotification(sampleRequest(), subscriptionID: created.id, metadata: admin)
            _ = try await client.call(
                Methods.deleteSubscription, DeleteSubscriptionRequest(id: created.id), metadata: admin,
                as: DeleteSubscriptionResponse.self
            )
            await expectFailure(.notFound, "SUBSCRIPTION_NOT_FOUND") {
                try await client.sendNotification(sampleRequest(), subscriptionID: created.id, metadata: admin)
            }
            #expect(try await client.wholeFeed(of: 2, metadata: admin).count == 1)
            await client.close()
        }
    }

    @Test("a blocked application answers PERMISSION_DENIED CALLER_BLOCKED")
    func blockedApp() async throws {
        try await withTestServer { server in
            let subscription = try await server.subscription(user: 2, app: sampleApp)
            let admin = Metadata.bearer(try await server.adminToken())
            let app = Metadata.bearer(try await server.token(for: .app(sampleApp), roles: [.app]))
            let client = server.client()
            _ = try await client.call(
                Methods.block, BlockRequest(caller: PrincipalInput(app: sampleApp)), metadata: admin, as: BlockResponse.self
            )
            await expectFailure(.permissionDenied, "CALLER_BLOCKED") {
                try await client.sendNotification(sampleRequest(), subscriptionID: subscription.id, metadata: app)
            }
            #expect(try await client.wholeFeed(of: 2, metadata: admin).isEmpty)
            await client.close()
        }
    }

    @Test("an invalid body answers INVALID_ARGUMENT INVALID_FIELDS naming the field", arguments: InvalidSend.all)
    func invalidFields(invalid: InvalidSend) async throws {
        try await withTestServer { server in
            let subscription = try await server.subscription(user: 2, app: sampleApp)
            let admin = Metadata.bearer(try await server.adminToken())
            let client = server.client()
            let error = await expectFailure(.invalidArgument, "INVALID_FIELDS") {
                try await client.sendNotification(invalid.request, subscriptionID: subscription.id, metadata: admin)
            }
            // Over RPC a violation names the proto field path (docs/PROTOCOL.md, "Field violations").
            #expect(Set(error?.fieldViolations.map(\.field) ?? []) == Set(invalid.fields.map(FieldPath.rpc)))
            #expect(try await client.wholeFeed(of: 2, metadata: admin).isEmpty)
            await client.close()
        }
    }

    @Test("a retried call with the same idempotency key returns the same entity and stores once")
    func idempotentRetry() async throws {
        try await withTestServer { server in
            let subscription = try await server.subscription(user: 2, app: sampleApp)
            let other = try await server.subscription(user: 2, app: sampleApp, platform: .ios)
            let admin = Metadata.bearer(try await server.adminToken())
            let app = Metadata.bearer(try await server.token(for: .app(sampleApp), roles: [.app]))
            let client = server.client()
            let request = sampleRequest()
            let keyed = app.adding("idempotency-key", "graph-1")
            let first = try await client.sendNotification(request, subscriptionID: subscription.id, metadata: keyed)
            let again = try await client.sendNotification(request, subscriptionID: subscription.id, metadata: keyed)
            #expect(again == first)
            // The key with another target is another request.
            await expectFailure(.failedPrecondition, "IDEMPOTENCY_KEY_REUSED") {
                try await client.sendNotification(request, subscriptionID: other.id, metadata: keyed)
            }
            var changed = request
            changed.priority = "Low"
            await expectFailure(.failedPrecondition, "IDEMPOTENCY_KEY_REUSED") {
                try await client.sendNotification(changed, subscriptionID: subscription.id, metadata: keyed)
            }
            #expect(try await client.wholeFeed(of: 2, metadata: admin) == [first.notification])
            await client.close()
        }
    }
}

/// A caller of SendNotification on user 2's subscription for the sample app,
/// and the reason it is refused with (nil: allowed).
struct SenderCase: Sendable, CustomTestStringConvertible {
    var name: String
    var principal: Principal
    var roles: Set<Role>
    var refusal: String?

    var testDescription: String { name }

    static let all: [SenderCase] = [
        SenderCase(name: "the owning app", principal: .app(sampleApp), roles: [.app], refusal: nil),
        SenderCase(name: "another app", principal: .app("other.example.com"), roles: [.app], refusal: "NOT_SUBSCRIPTION_OWNER"),
        SenderCase(name: "the owning app without the app role", principal: .app(sampleApp), roles: [.user], refusal: "NOT_SUBSCRIPTION_OWNER"),
        SenderCase(name: "the user himself", principal: .user(2), roles: [.user], refusal: nil),
        SenderCase(name: "another user", principal: .user(3), roles: [.user], refusal: "NOT_SUBSCRIPTION_OWNER"),
        SenderCase(name: "an admin", principal: .user(1_000), roles: [.admin], refusal: nil),
    ]
}

/// An invalid SendNotification body and the fields its answer must name.
struct InvalidSend: Sendable, CustomTestStringConvertible {
    var name: String
    var request: SendNotificationRequest
    var fields: Set<String>

    var testDescription: String { name }

    static var all: [InvalidSend] {
        func changed(_ change: (inout SendNotificationRequest) -> Void) -> SendNotificationRequest {
            var request = sampleRequest()
            change(&request)
            return request
        }
        return [
            InvalidSend(name: "no payload", request: changed { $0.payload = nil }, fields: ["payload"]),
            InvalidSend(name: "empty payload", request: changed { $0.payload = PayloadInput() }, fields: ["payload"]),
            InvalidSend(
                name: "visualContent without title",
                request: changed { $0.payload = PayloadInput(visualContent: VisualContentInput(body: "b")) },
                fields: ["payload.visualContent.title"]
            ),
            InvalidSend(name: "bad priority", request: changed { $0.priority = "Urgent" }, fields: ["priority"]),
            InvalidSend(
                name: "expiration 31 days ahead",
                request: changed { $0.expirationDateTime = Timestamp.now().adding(seconds: 31 * 24 * 3600).rfc3339 },
                fields: ["expirationDateTime"]
            ),
            InvalidSend(
                name: "expiration in the past", request: changed { $0.expirationDateTime = "2019-10-30T23:59:00.000Z" },
                fields: ["expirationDateTime"]
            ),
            InvalidSend(
                name: "expiration not RFC 3339", request: changed { $0.expirationDateTime = "tomorrow" },
                fields: ["expirationDateTime"]
            ),
            InvalidSend(
                name: "fallbackPolicy without ios",
                request: changed {
                    $0.platformTypes = ["windows"]
                    $0.fallbackPolicyJSON = #"{"fallback":"sms"}"#
                },
                fields: ["fallbackPolicy"]
            ),
            InvalidSend(
                name: "unknown platform", request: changed { $0.platformTypes = ["windows", "blackberry"] },
                fields: ["targetPolicy.platformTypes[1]"]
            ),
            InvalidSend(name: "negative displayTimeToLive", request: changed { $0.displayTimeToLive = -1 }, fields: ["displayTimeToLive"]),
            InvalidSend(
                name: "targetHostName of another app", request: changed { $0.targetHostName = "other.example.com" },
                fields: ["targetHostName"]
            ),
        ]
    }
}

/// The gateway inside `notifyd serve` hands its requests to the RPC server
/// as messages; these calls go through the same endpoint it uses.
@Suite("SendNotification in-process: a request handed over as a message")
struct InProcessSendNotificationTests {
    /// The sample app's bearer token and a subscription of user 2's in X-UNS-ID.
    private func sampleAppCall(_ server: TestServer) async throws -> Metadata {
        let subscription = try await server.subscription(user: 2, app: sampleApp)
        var metadata = Metadata.bearer(try await server.token(for: .app(sampleApp), roles: [.app]))
        metadata.replace("x-uns-id", subscription.id)
        return metadata
    }

    @Test("a message is answered with the response message; an idempotency key sees it and a connection's bytes as one request")
    func messageAndBytes() async throws {
        try await withTestServer { server in
            let metadata = try await sampleAppCall(server)
            let eventLoop = MultiThreadedEventLoopGroup.singleton.any()
            func start(_ request: SendNotificationRequest, _ metadata: Metadata) async -> Result<SendNotificationResponse, RPCError> {
                await withCheckedContinuation { continuation in
                    server.endpoint.start(
                        NotifyMethods.sendNotification, request: request, metadata: metadata, deadline: nil,
                        memo: nil, on: eventLoop
                    ) { continuation.resume(returning: $0) }
                }
            }
            // In-process calls are typed only: the bytes come over a connection.
            let remote = server.client()
            func start(bytes request: SendNotificationRequest, _ metadata: Metadata) async throws -> NotifyDomain.Notification {
                let payload = try await remote.callRaw(
                    Methods.sendNotification, payload: request.serializedBuffer(), metadata: metadata)
                return try SendNotificationResponse(serializedBytes: payload).notification
            }
            let request = sampleRequest()
            // The first call loads its caller in a task, the next ones run
            // staged: both answer with the message itself.
            var calls = 0
            for _ in 0..<3 {
                calls += 1
                let answer = try await start(request, metadata).get()
                guard case .graph(let graph) = answer.notification.content else {
                    Issue.record("not a Graph notification")
                    return
                }
                #expect(graph.payload.visualContent == VisualContent(title: "Hello World!", body: "Notifications are Great!"))
            }
            _ = try await start(bytes: request, metadata)
            calls += 1

            // The fingerprint of a message is the encoding its bytes would have.
            let keyed = metadata.adding("idempotency-key", "in-process-1")
            let first = try await start(request, keyed).get().notification
            let retried = try await start(bytes: request, keyed)
            #expect(retried.id == first.id)
            var other = request
            other.groupName = "another"
            guard case .failure(let reused) = await start(other, keyed) else {
                Issue.record("a reused key was not refused")
                return
            }
            #expect(reused.code == .failedPrecondition)
            #expect(reused.reason == .idempotencyKeyReused)
            #expect(reused.metadata["x-request-id"] != nil)
            #expect(try await server.store.feed(user: 2, after: 0, limit: 100).count == calls + 1)
            await remote.close()
        }
    }

    @Test("a message handed over in-process with a NUL byte in a stored string is refused on that field, and nothing is stored")
    func nulInMessage() async throws {
        try await withTestServer { server in
            try await server.users(1)
            let graphMetadata = try await sampleAppCall(server)
            let admin = Metadata.bearer(try await server.adminToken())
            // Messages go over as they are: no encoding refuses them on the way.
            let client = NotifyClient(local: server.endpoint)
            let eventLoop = MultiThreadedEventLoopGroup.singleton.any()
            func violations<Request: WireMessage, Response: WireMessage>(
                _ method: MethodDescriptor<Request, Response>, _ request: Request, _ metadata: Metadata, as: Response.Type
            ) async -> [String] {
                let result = await withCheckedContinuation { continuation in
                    client.start(method, request, metadata: metadata, as: Response.self, on: eventLoop) {
                        continuation.resume(returning: $0)
                    }
                }
                guard case .failure(let error) = result else { return [] }
                #expect(error.code == .invalidArgument && error.reason == .invalidFields)
                #expect(error.fieldViolations.allSatisfy { $0.description == "Must not contain U+0000 (NUL)." })
                return error.fieldViolations.map(\.field)
            }
            var graph = sampleRequest()
            graph.groupName = "Test\u{0}Group"
            graph.payload = PayloadInput(rawContent: "raw\u{0}", visualContent: VisualContentInput(title: "Hi\u{0}"))
            #expect(await violations(NotifyMethods.sendNotification, graph, graphMetadata, as: SendNotificationResponse.self)
                == ["group_name", "payload.raw_content", "payload.visual_content.title"])
            let custom = NotifyRequest(
                recipientsType: "user", type: "wish\u{0}list", embed: EmbedInput(embedType: "x", embedID: "1\u{0}"),
                title: .value("a\u{0}b"), description: .null, user: 1)
            #expect(Set(await violations(NotifyMethods.notify, custom, admin, as: NotifyResponse.self))
                == ["type", "embed.embed_id", "title"])
            #expect(try await server.store.feed(user: 1, after: 0, limit: 10).isEmpty)
            #expect(try await server.store.feed(user: 2, after: 0, limit: 10).isEmpty)
            await client.close()
        }
    }
}
