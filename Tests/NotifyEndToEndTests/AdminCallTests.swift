import Foundation
import NotifyClient
import NotifyCore
import NotifyDomain
import NotifyMessages
import NotifyServer
import NotifyStorageSQLite
import NotifyTesting
import Testing

private let app = "app.example.com"

@Suite("AdminService and FeedService over real TLS against the real server and SQLite")
struct AdminCallTests {
    @Test("users: PutUser creates and renames, DeleteUser removes, then answers USER_NOT_FOUND")
    func users() async throws {
        try await withTestServer { server in
            let admin = Metadata.bearer(try await server.adminToken())
            let client = server.client()
            let put = try await client.call(
                Methods.putUser, PutUserRequest(user: User(id: 10, name: "alice")), metadata: admin,
                as: PutUserResponse.self
            )
            #expect(put.user == User(id: 10, name: "alice"))
            _ = try await client.call(
                Methods.putUser, PutUserRequest(user: User(id: 10, name: "alice b")), metadata: admin,
                as: PutUserResponse.self
            )
            #expect(try await server.store.user(id: 10)?.name == "alice b")
            // The user now exists for Notify.
            _ = try await client.notify(notifyRequest(issuer: 10), metadata: admin)

            _ = try await client.call(Methods.deleteUser, DeleteUserRequest(id: 10), metadata: admin, as: DeleteUserResponse.self)
            #expect(try await server.store.user(id: 10) == nil)
            await expectFailure(.notFound, "USER_NOT_FOUND") {
                try await client.call(Methods.deleteUser, DeleteUserRequest(id: 10), metadata: admin, as: DeleteUserResponse.self)
            }
            await expectFailure(.notFound, "USER_NOT_FOUND") {
                try await client.notify(notifyRequest(issuer: 10), metadata: admin)
            }

            let missing = await expectFailure(.invalidArgument, "INVALID_FIELDS") {
                try await client.call(Methods.putUser, PutUserRequest(), metadata: admin, as: PutUserResponse.self)
            }
            #expect(missing?.fieldViolations.map(\.field) == ["user"])
            let zero = await expectFailure(.invalidArgument, "INVALID_FIELDS") {
                try await client.call(Methods.putUser, PutUserRequest(user: User(id: 0)), metadata: admin, as: PutUserResponse.self)
            }
            #expect(zero?.fieldViolations.map(\.field) == ["user.id"])
            await client.close()
        }
    }

    @Test("connections: PutConnection makes friends, DeleteConnection undoes it, then answers CONNECTION_NOT_FOUND")
    func connections() async throws {
        try await withTestServer { server in
            try await server.users(1, 2)
            let admin = Metadata.bearer(try await server.adminToken())
            let client = server.client()
            let friendship = ConnectionInput(user: 1, to: 2, kind: "friend")
            _ = try await client.call(
                Methods.putConnection, PutConnectionRequest(connection: friendship), metadata: admin,
                as: PutConnectionResponse.self
            )
            #expect(try await client.notify(notifyRequest(issuer: 1, recipients: "connections"), metadata: admin).recipients == 1)
            _ = try await client.call(
                Methods.deleteConnection, DeleteConnectionRequest(connection: friendship), metadata: admin,
                as: DeleteConnectionResponse.self
            )
            #expect(try await client.notify(notifyRequest(issuer: 1, recipients: "connections"), metadata: admin).recipients == 0)
            #expect(try await client.wholeFeed(of: 2, metadata: admin).count == 1)
            await expectFailure(.notFound, "CONNECTION_NOT_FOUND") {
                try await client.call(
                    Methods.deleteConnection, DeleteConnectionRequest(connection: friendship), metadata: admin,
                    as: DeleteConnectionResponse.self
                )
            }
            await expectFailure(.notFound, "USER_NOT_FOUND") {
                try await client.call(
                    Methods.putConnection, PutConnectionRequest(connection: ConnectionInput(user: 1, to: 99)),
                    metadata: admin, as: PutConnectionResponse.self
                )
            }
            for (input, field) in [
                (ConnectionInput(user: 1, to: 1), "connection.to"),
                (ConnectionInput(user: 1, to: 2, kind: "enemy"), "connection.kind"),
                (ConnectionInput(user: 1), "connection.to"),
            ] {
                let error = await expectFailure(.invalidArgument, "INVALID_FIELDS") {
                    try await client.call(
                        Methods.putConnection, PutConnectionRequest(connection: input), metadata: admin,
                        as: PutConnectionResponse.self
                    )
                }
                #expect(error?.fieldViolations.map(\.field) == [field])
            }
            await client.close()
        }
    }

    @Test("users, connections, blocks and tokens need the admin role", arguments: [
        CallerCase(principal: .user(1), roles: [.user]),
        CallerCase(principal: .app(app), roles: [.app]),
    ])
    func adminOnly(caller: CallerCase) async throws {
        try await withTestServer { server in
            try await server.users(1, 2)
            let token = Metadata.bearer(try await server.token(for: caller.principal, roles: caller.roles))
            let client = server.client()
            await expectFailure(.permissionDenied, "ADMIN_ROLE_REQUIRED") {
                try await client.call(Methods.putUser, PutUserRequest(user: User(id: 5)), metadata: token, as: PutUserResponse.self)
            }
            await expectFailure(.permissionDenied, "ADMIN_ROLE_REQUIRED") {
                try await client.call(Methods.deleteUser, DeleteUserRequest(id: 2), metadata: token, as: DeleteUserResponse.self)
            }
            let connection = PutConnectionRequest(connection: ConnectionInput(user: 1, to: 2))
            await expectFailure(.permissionDenied, "ADMIN_ROLE_REQUIRED") {
                try await client.call(Methods.putConnection, connection, metadata: token, as: PutConnectionResponse.self)
            }
            await expectFailure(.permissionDenied, "ADMIN_ROLE_REQUIRED") {
                try await client.call(
                    Methods.deleteConnection, DeleteConnectionRequest(connection: ConnectionInput(user: 1, to: 2)),
                    metadata: token, as: DeleteConnectionResponse.self
                )
            }
            let block = BlockRequest(caller: PrincipalInput(user: 2))
            await expectFailure(.permissionDenied, "ADMIN_ROLE_REQUIRED") {
                try await client.call(Methods.block, block, metadata: token, as: BlockResponse.self)
            }
            await expectFailure(.permissionDenied, "ADMIN_ROLE_REQUIRED") {
                try await client.call(Methods.unblock, block, metadata: token, as: BlockResponse.self)
            }
            await expectFailure(.permissionDenied, "ADMIN_ROLE_REQUIRED") {
                try await client.call(
                    Methods.createToken, CreateTokenRequest(principal: PrincipalInput(user: 1), roles: ["admin"]),
                    metadata: token, as: CreateTokenResponse.self
                )
            }
            await expectFailure(.permissionDenied, "ADMIN_ROLE_REQUIRED") {
                try await client.call(Methods.revokeToken, RevokeTokenRequest(tokenID: "tok_x"), metadata: token, as: RevokeTokenResponse.self)
            }
            // Nothing changed.
            #expect(try await server.store.user(id: 5) == nil)
            #expect(try await server.store.user(id: 2) != nil)
            #expect(try await server.store.isBlocked(.user(2)) == false)
            await client.close()
        }
    }

    @Test("CreateSubscription: the admin, the app itself and the user himself may; others may not", arguments: SubscriberCase.all)
    func createSubscription(subscriber: SubscriberCase) async throws {
        try await withTestServer { server in
            try await server.users(2, 3)
            let admin = Metadata.bearer(try await server.adminToken())
            let token = Metadata.bearer(try await server.token(for: subscriber.principal, roles: subscriber.roles))
            let client = server.client()
            let request = CreateSubscriptionRequest(user: 2, app: app, platform: "WebPush", deviceID: "d-1", ttlSeconds: 600)
            if let reason = subscriber.refusal {
                await expectFailure(.permissionDenied, reason) {
                    try await client.call(Methods.createSubscription, request, metadata: token, as: CreateSubscriptionResponse.self)
                }
                return
            }
            let created = try await client.call(
                Methods.createSubscription, request, metadata: token, as: CreateSubscriptionResponse.self
            ).subscription
            #expect(created.user == 2)
            #expect(created.app == app)
            #expect(created.platform == .webPush)
            #expect(created.deviceID == "d-1")
            #expect(abs(created.expiresAt.timeIntervalSinceNow - 600) < 60)
            #expect(try await server.store.subscription(id: created.id) != nil)
            // The new subscription is a working X-UNS-ID.
            let sent = try await client.sendNotification(
                SendNotificationRequest(payload: PayloadInput(rawContent: "x")), subscriptionID: created.id, metadata: admin
            )
            #expect(sent.notification.user == 2)
            await client.close()
        }
    }

    @Test("CreateSubscription refuses an unknown user, a bad platform and a bad lifetime")
    func createSubscriptionInvalid() async throws {
        try await withTestServer { server in
            try await server.users(2)
            let admin = Metadata.bearer(try await server.adminToken())
            let client = server.client()
            await expectFailure(.notFound, "USER_NOT_FOUND") {
                try await client.call(
                    Methods.createSubscription, CreateSubscriptionRequest(user: 404, app: app, platform: "ios"),
                    metadata: admin, as: CreateSubscriptionResponse.self
                )
            }
            for (request, field) in [
                (CreateSubscriptionRequest(user: 2, app: app, platform: "palm"), "platform"),
                (CreateSubscriptionRequest(user: 2, app: app, platform: "ios", ttlSeconds: 0), "ttl_seconds"),
                (CreateSubscriptionRequest(user: 2, app: app, platform: "ios", ttlSeconds: 31 * 24 * 3600), "ttl_seconds"),
                (CreateSubscriptionRequest(user: 2, platform: "ios"), "app"),
                (CreateSubscriptionRequest(app: app, platform: "ios"), "user"),
            ] {
                let error = await expectFailure(.invalidArgument, "INVALID_FIELDS") {
                    try await client.call(Methods.createSubscription, request, metadata: admin, as: CreateSubscriptionResponse.self)
                }
                #expect(error?.fieldViolations.map(\.field) == [field])
            }
            await client.close()
        }
    }

    @Test("RenewSubscription and DeleteSubscription: its app, its user and the admin may; others get NOT_SUBSCRIPTION_OWNER")
    func manageSubscription() async throws {
        try await withTestServer { server in
            try await server.users(3)
            let admin = Metadata.bearer(try await server.adminToken())
            let owners: [Metadata] = [
                .bearer(try await server.token(for: .app(app), roles: [.app])),
                .bearer(try await server.token(for: .user(2), roles: [.user])),
                admin,
            ]
            let strangers: [Metadata] = [
                .bearer(try await server.token(for: .app("other.example.com"), roles: [.app])),
                .bearer(try await server.token(for: .user(3), roles: [.user])),
            ]
            let client = server.client()
            for owner in owners {
                let subscription = try await server.subscription(user: 2, app: app, lifetime: 60)
                for stranger in strangers {
                    await expectFailure(.permissionDenied, "NOT_SUBSCRIPTION_OWNER") {
                        try await client.call(
                            Methods.renewSubscription, RenewSubscriptionRequest(id: subscription.id, ttlSeconds: 7200),
                            metadata: stranger, as: RenewSubscriptionResponse.self
                        )
                    }
                    await expectFailure(.permissionDenied, "NOT_SUBSCRIPTION_OWNER") {
                        try await client.call(
                            Methods.deleteSubscription, DeleteSubscriptionRequest(id: subscription.id), metadata: stranger,
                            as: DeleteSubscriptionResponse.self
                        )
                    }
                }
                let renewed = try await client.call(
                    Methods.renewSubscription, RenewSubscriptionRequest(id: subscription.id, ttlSeconds: 7200),
                    metadata: owner, as: RenewSubscriptionResponse.self
                ).subscription
                #expect(renewed.id == subscription.id)
                #expect(abs(renewed.expiresAt.timeIntervalSinceNow - 7200) < 60)
                // The wire carries milliseconds, the store microseconds.
                let stored = try #require(try await server.store.subscription(id: subscription.id))
                #expect(abs(stored.expiresAt.timeIntervalSince(renewed.expiresAt)) < 0.001)

                _ = try await client.call(
                    Methods.deleteSubscription, DeleteSubscriptionRequest(id: subscription.id), metadata: owner,
                    as: DeleteSubscriptionResponse.self
                )
                await expectFailure(.notFound, "SUBSCRIPTION_NOT_FOUND") {
                    try await client.sendNotification(
                        SendNotificationRequest(payload: PayloadInput(rawContent: "x")), subscriptionID: subscription.id,
                        metadata: admin
                    )
                }
                await expectFailure(.notFound, "SUBSCRIPTION_NOT_FOUND") {
                    try await client.call(
                        Methods.renewSubscription, RenewSubscriptionRequest(id: subscription.id), metadata: owner,
                        as: RenewSubscriptionResponse.self
                    )
                }
                await expectFailure(.notFound, "SUBSCRIPTION_NOT_FOUND") {
                    try await client.call(
                        Methods.deleteSubscription, DeleteSubscriptionRequest(id: subscription.id), metadata: owner,
                        as: DeleteSubscriptionResponse.self
                    )
                }
            }
            let missingID = await expectFailure(.invalidArgument, "INVALID_FIELDS") {
                try await client.call(
                    Methods.renewSubscription, RenewSubscriptionRequest(), metadata: admin, as: RenewSubscriptionResponse.self
                )
            }
            #expect(missingID?.fieldViolations.map(\.field) == ["id"])
            await client.close()
        }
    }

    @Test("Block and Unblock: a blocked user is refused everywhere; unblocking twice answers NOT_BLOCKED")
    func blockList() async throws {
        try await withTestServer { server in
            let subscription = try await server.subscription(user: 2, app: app)
            let admin = Metadata.bearer(try await server.adminToken())
            let user = Metadata.bearer(try await server.token(for: .user(2), roles: [.user]))
            let client = server.client()
            let block = BlockRequest(caller: PrincipalInput(user: 2))
            _ = try await client.call(Methods.block, block, metadata: admin, as: BlockResponse.self)
            // Blocking twice is harmless.
            _ = try await client.call(Methods.block, block, metadata: admin, as: BlockResponse.self)
            await expectFailure(.permissionDenied, "CALLER_BLOCKED") {
                try await client.wholeFeed(of: 2, metadata: user)
            }
            await expectFailure(.permissionDenied, "CALLER_BLOCKED") {
                try await client.sendNotification(
                    SendNotificationRequest(payload: PayloadInput(rawContent: "x")), subscriptionID: subscription.id,
                    metadata: user
                )
            }
            _ = try await client.call(Methods.unblock, block, metadata: admin, as: BlockResponse.self)
            #expect(try await client.wholeFeed(of: 2, metadata: user).isEmpty)
            await expectFailure(.notFound, "NOT_BLOCKED") {
                try await client.call(Methods.unblock, block, metadata: admin, as: BlockResponse.self)
            }
            for caller in [PrincipalInput(), PrincipalInput(app: app, user: 2), PrincipalInput(app: "")] {
                let error = await expectFailure(.invalidArgument, "INVALID_FIELDS") {
                    try await client.call(Methods.block, BlockRequest(caller: caller), metadata: admin, as: BlockResponse.self)
                }
                #expect(error?.fieldViolations.map(\.field) == ["caller"])
            }
            await client.close()
        }
    }

    @Test("CreateToken makes a working token with default roles; RevokeToken ends it; unknown ids answer TOKEN_NOT_FOUND")
    func tokens() async throws {
        try await withTestServer { server in
            let subscription = try await server.subscription(user: 2, app: app)
            let admin = Metadata.bearer(try await server.adminToken())
            let client = server.client()
            let created = try await client.call(
                Methods.createToken, CreateTokenRequest(principal: PrincipalInput(app: app)), metadata: admin,
                as: CreateTokenResponse.self
            )
            #expect(created.token.hasPrefix("ntf_"))
            #expect(created.tokenID.hasPrefix("tok_"))
            let expiry = try #require(Timestamps.parseRFC3339(created.expirationDateTime))
            #expect(abs(expiry.timeIntervalSinceNow - TokenIssuer.defaultLifetime) < 60)
            let appToken = Metadata.bearer(created.token)
            // The default role of an app token is app: it may send to its subscriptions, not Notify.
            _ = try await client.sendNotification(
                SendNotificationRequest(payload: PayloadInput(rawContent: "x")), subscriptionID: subscription.id,
                metadata: appToken
            )
            await expectFailure(.permissionDenied, "ADMIN_ROLE_REQUIRED") {
                try await client.notify(notifyRequest(issuer: 2), metadata: appToken)
            }
            _ = try await client.call(
                Methods.revokeToken, RevokeTokenRequest(tokenID: created.tokenID), metadata: admin,
                as: RevokeTokenResponse.self
            )
            await expectFailure(.unauthenticated, "TOKEN_REVOKED") {
                try await client.sendNotification(
                    SendNotificationRequest(payload: PayloadInput(rawContent: "x")), subscriptionID: subscription.id,
                    metadata: appToken
                )
            }
            await expectFailure(.notFound, "TOKEN_NOT_FOUND") {
                try await client.call(
                    Methods.revokeToken, RevokeTokenRequest(tokenID: "tok_0000000000000000"), metadata: admin,
                    as: RevokeTokenResponse.self
                )
            }
            let noID = await expectFailure(.invalidArgument, "INVALID_FIELDS") {
                try await client.call(Methods.revokeToken, RevokeTokenRequest(), metadata: admin, as: RevokeTokenResponse.self)
            }
            #expect(noID?.fieldViolations.map(\.field) == ["token_id"])
            let badRole = await expectFailure(.invalidArgument, "INVALID_FIELDS") {
                try await client.call(
                    Methods.createToken, CreateTokenRequest(principal: PrincipalInput(user: 2), roles: ["user", "root"]),
                    metadata: admin, as: CreateTokenResponse.self
                )
            }
            #expect(badRole?.fieldViolations.map(\.field) == ["roles[1]"])
            let noPrincipal = await expectFailure(.invalidArgument, "INVALID_FIELDS") {
                try await client.call(Methods.createToken, CreateTokenRequest(), metadata: admin, as: CreateTokenResponse.self)
            }
            #expect(noPrincipal?.fieldViolations.map(\.field) == ["principal"])
            await client.close()
        }
    }

    @Test("FeedService/List: the user himself and an admin may read a feed; another user gets NOT_AUTHORIZED_FOR_USER")
    func feedAccess() async throws {
        try await withTestServer { server in
            try await server.users(2, 3)
            let admin = Metadata.bearer(try await server.adminToken())
            let owner = Metadata.bearer(try await server.token(for: .user(2), roles: [.user]))
            let stranger = Metadata.bearer(try await server.token(for: .user(3), roles: [.user]))
            let appToken = Metadata.bearer(try await server.token(for: .app(app), roles: [.app]))
            let client = server.client()
            var ids: [String] = []
            for _ in 0..<5 { ids.append(try await client.notify(notifyRequest(issuer: 2), metadata: admin).id) }
            #expect(try await client.wholeFeed(of: 2, metadata: owner).map(\.id) == ids)
            // Paging: two at a time, resuming after the last sequence seen.
            #expect(try await client.wholeFeed(of: 2, metadata: owner, pageSize: 2).map(\.sequence) == [1, 2, 3, 4, 5])
            let page = try await client.listFeed(ListFeedRequest(user: 2, afterSequence: 3), metadata: owner)
            #expect(page.notifications.map(\.sequence) == [4, 5])
            #expect(page.nextAfterSequence == 5)
            for other in [stranger, appToken] {
                await expectFailure(.permissionDenied, "NOT_AUTHORIZED_FOR_USER") {
                    try await client.listFeed(ListFeedRequest(user: 2), metadata: other)
                }
            }
            await expectFailure(.unauthenticated, "MISSING_TOKEN") {
                try await client.listFeed(ListFeedRequest(user: 2), metadata: Metadata())
            }
            let noUser = await expectFailure(.invalidArgument, "INVALID_FIELDS") {
                try await client.listFeed(ListFeedRequest(), metadata: admin)
            }
            #expect(noUser?.fieldViolations.map(\.field) == ["user"])
            await client.close()
        }
    }
}

/// A caller of CreateSubscription for user 2 and `app`, and the reason it is refused with (nil: allowed).
struct SubscriberCase: Sendable, CustomTestStringConvertible {
    var name: String
    var principal: Principal
    var roles: Set<Role>
    var refusal: String?

    var testDescription: String { name }

    static let all: [SubscriberCase] = [
        SubscriberCase(name: "an admin", principal: .user(1_000), roles: [.admin], refusal: nil),
        SubscriberCase(name: "the app itself", principal: .app(app), roles: [.app], refusal: nil),
        SubscriberCase(name: "the user himself", principal: .user(2), roles: [.user], refusal: nil),
        SubscriberCase(name: "another user", principal: .user(3), roles: [.user], refusal: "NOT_AUTHORIZED_FOR_USER"),
        SubscriberCase(name: "another app", principal: .app("other.example.com"), roles: [.app], refusal: "NOT_AUTHORIZED_FOR_APP"),
    ]
}
