import Foundation
import NotifyClient
import NotifyCore
import NotifyDomain
import NotifyMessages
import NotifyServer
import NotifyTesting
import Testing

/// Abuse of credentials and lifetimes, over real TLS against the real server
/// and SQLite: durations that once crashed the process, tokens that outlived
/// their user.
@Suite("Tokens and lifetimes under abuse, over the wire")
struct AuthAbuseTests {
    @Test(
        "CreateToken with ttl_seconds 0, 9.3e12 or 2^64-1 answers INVALID_ARGUMENT naming ttl_seconds, and the server keeps answering",
        arguments: [UInt64(0), 9_300_000_000_000, UInt64.max, TokenIssuer.maximumLifetimeSeconds + 1]
    )
    func tokenLifetimeOutOfBounds(seconds: UInt64) async throws {
        try await withTestServer { server in
            try await server.users(1)
            let admin = Metadata.bearer(try await server.adminToken())
            let client = server.client()
            let refused = await expectFailure(.invalidArgument, "INVALID_FIELDS") {
                try await client.call(
                    Methods.createToken, CreateTokenRequest(principal: PrincipalInput(user: 1), ttlSeconds: seconds),
                    metadata: admin, as: CreateTokenResponse.self)
            }
            #expect(refused?.fieldViolations.map(\.field) == ["ttl_seconds"])
            // The process is alive and the same connection still answers.
            #expect(try await client.health().status == .serving)
            let longest = try await client.call(
                Methods.createToken,
                CreateTokenRequest(
                    principal: PrincipalInput(user: 1), roles: ["admin"], ttlSeconds: TokenIssuer.maximumLifetimeSeconds),
                metadata: admin, as: CreateTokenResponse.self)
            let expiry = try #require(Timestamps.parseRFC3339(longest.expirationDateTime))
            #expect(abs(expiry.timeIntervalSinceNow - TimeInterval(TokenIssuer.maximumLifetimeSeconds)) < 60)
            _ = try await client.notify(notifyRequest(issuer: 1), metadata: .bearer(longest.token))
            await client.close()
        }
    }

    @Test("RenewSubscription and CreateSubscription refuse ttl_seconds 0 and 2^64-1 naming the field, and the server keeps answering")
    func subscriptionLifetimeOutOfBounds() async throws {
        try await withTestServer { server in
            let admin = Metadata.bearer(try await server.adminToken())
            let subscription = try await server.subscription(user: 2, app: "app.example.com")
            let client = server.client()
            for seconds in [UInt64(0), UInt64.max] {
                let created = await expectFailure(.invalidArgument, "INVALID_FIELDS") {
                    try await client.call(
                        Methods.createSubscription,
                        CreateSubscriptionRequest(user: 2, app: "app.example.com", platform: "windows", ttlSeconds: seconds),
                        metadata: admin, as: CreateSubscriptionResponse.self)
                }
                #expect(created?.fieldViolations.map(\.field) == ["ttl_seconds"])
                let renewed = await expectFailure(.invalidArgument, "INVALID_FIELDS") {
                    try await client.call(
                        Methods.renewSubscription, RenewSubscriptionRequest(id: subscription.id, ttlSeconds: seconds),
                        metadata: admin, as: RenewSubscriptionResponse.self)
                }
                #expect(renewed?.fieldViolations.map(\.field) == ["ttl_seconds"])
            }
            #expect(try await client.health().status == .serving)
            await client.close()
        }
    }

    @Test("DeleteUser revokes the user's tokens at once: List answers TOKEN_REVOKED and a running Watch ends")
    func deleteUserEndsHisAccess() async throws {
        try await withTestServer { server in
            let admin = Metadata.bearer(try await server.adminToken())
            try await server.users(2)
            let client = server.client()
            _ = try await client.notify(notifyRequest(issuer: 2), metadata: admin)
            let created = try await client.call(
                Methods.createToken, CreateTokenRequest(principal: PrincipalInput(user: 2)), metadata: admin,
                as: CreateTokenResponse.self)
            let owner = Metadata.bearer(created.token)
            #expect(try await client.wholeFeed(of: 2, metadata: owner).count == 1)
            // A deadline, so that a watch left running fails the test instead of holding it.
            var watch = client.watchFeed(ListFeedRequest(user: 2), metadata: owner, timeout: .seconds(20))
                .makeAsyncIterator()
            #expect(try await watch.next()?.notifications.count == 1)

            _ = try await client.call(Methods.deleteUser, DeleteUserRequest(id: 2), metadata: admin, as: DeleteUserResponse.self)
            await expectFailure(.unauthenticated, "TOKEN_REVOKED") {
                while let page = try await watch.next() { Issue.record("a page after the deletion: \(page)") }
            }
            await expectFailure(.unauthenticated, "TOKEN_REVOKED") {
                try await client.listFeed(ListFeedRequest(user: 2), metadata: owner)
            }
            await client.close()
        }
    }

    @Test("DeleteUser then PutUser of the same id: the old token stays revoked, the old entries are gone, the sequence continues")
    func recreatedUserIsNotTheOldOne() async throws {
        try await withTestServer { server in
            let admin = Metadata.bearer(try await server.adminToken())
            try await server.users(2)
            let client = server.client()
            for _ in 0..<3 { _ = try await client.notify(notifyRequest(issuer: 2), metadata: admin) }
            let old = Metadata.bearer(try await server.token(for: .user(2), roles: [.user]))
            #expect(try await client.wholeFeed(of: 2, metadata: old).map(\.sequence) == [1, 2, 3])

            _ = try await client.call(Methods.deleteUser, DeleteUserRequest(id: 2), metadata: admin, as: DeleteUserResponse.self)
            _ = try await client.call(
                Methods.putUser, PutUserRequest(user: User(id: 2, name: "someone else")), metadata: admin,
                as: PutUserResponse.self)
            await expectFailure(.unauthenticated, "TOKEN_REVOKED") {
                try await client.listFeed(ListFeedRequest(user: 2), metadata: old)
            }
            // Erased: none of the old entries is readable, even by an admin.
            #expect(try await client.wholeFeed(of: 2, metadata: admin).isEmpty)
            // Kept: the head, so that the new user's first entry is 4, not 1.
            let entry = try await client.notify(notifyRequest(issuer: 2), metadata: admin)
            #expect(entry.recipients == 1)
            #expect(try await client.wholeFeed(of: 2, metadata: admin).map(\.sequence) == [4])
            let fresh = Metadata.bearer(try await server.token(for: .user(2), roles: [.user]))
            #expect(try await client.wholeFeed(of: 2, metadata: fresh).map(\.sequence) == [4])
            await client.close()
        }
    }
}

/// The `notifyd` built with the tests; the suite is skipped without it.
private let notifyd = NotifydProcess.executable()

@Suite(
    "notifyd admin: bounded lifetimes and no user created behind the operator's back",
    .enabled(if: notifyd != nil, "no notifyd executable next to the test bundle (build it, or set NOTIFYD_PATH)")
)
struct AdminCommandAbuseTests {
    @Test("token create --days 1000000000 is refused with a message and a running server on the folder keeps answering")
    func hugeDays() async throws {
        let executable = try #require(notifyd)
        let scratch = try TemporaryDirectory()
        defer { scratch.remove() }
        let data = scratch.path + "/data"
        let token = try await NotifydProcess.runLine(
            ["admin", "token", "create", "--data-dir", data, "--user", "1", "--role", "admin", "--create-user"],
            executable: executable, scratch: scratch.path)
        let server = try await NotifydProcess.serve(executable: executable, dataDirectory: data)
        defer { server.signal(SIGKILL) }
        for days in ["1000000000", "0", "3651", "-1"] {
            let outcome = try await NotifydProcess.run(
                ["admin", "token", "create", "--data-dir", data, "--user", "1", "--days=\(days)"],
                executable: executable, scratch: scratch.path)
            #expect(outcome.status != 0, "--days \(days): \(outcome)")
            #expect(outcome.standardError.contains("--days must be between 1 and 3650"), "\(outcome)")
            #expect(outcome.standardOutput.isEmpty)
        }
        let longest = try await NotifydProcess.runLine(
            ["admin", "token", "create", "--data-dir", data, "--user", "1", "--role", "admin", "--days", "3650"],
            executable: executable, scratch: scratch.path)
        var configuration = ClientConfiguration(host: "127.0.0.1", port: server.port, trustRootsFile: server.caFile)
        configuration.connectTimeout = .seconds(30)
        let client = NotifyClient(configuration: configuration)
        #expect(try await client.health().status == .serving)
        _ = try await client.notify(notifyRequest(issuer: 1), metadata: .bearer(token))
        _ = try await client.notify(notifyRequest(issuer: 1), metadata: .bearer(longest))
        await client.close()
    }

    @Test("token create, connection add and subscription create refuse an unknown user unless --create-user")
    func unknownUsers() async throws {
        let executable = try #require(notifyd)
        let scratch = try TemporaryDirectory()
        defer { scratch.remove() }
        let data = scratch.path + "/data"
        func run(_ arguments: [String]) async throws -> NotifydProcess.Outcome {
            try await NotifydProcess.run(
                ["admin"] + arguments + ["--data-dir", data], executable: executable, scratch: scratch.path)
        }
        let commands: [[String]] = [
            ["token", "create", "--user", "7"],
            ["connection", "add", "--user", "7", "--to", "8"],
            ["subscription", "create", "--user", "7", "--app", "app.example.com", "--platform", "windows"],
        ]
        for command in commands {
            let refused = try await run(command)
            #expect(refused.status == 1, "\(command): \(refused)")
            #expect(refused.standardError.contains("user 7 does not exist"), "\(refused)")
            #expect(refused.standardError.contains("--create-user"), "\(refused)")
            #expect(refused.standardOutput.isEmpty)
        }
        // Nothing was created by the refusals: the connection still names an unknown user.
        #expect(try await run(["connection", "add", "--user", "7", "--to", "8"]).status == 1)
        #expect(try await run(["user", "add", "--id", "7"]).status == 0)
        let second = try await run(["connection", "add", "--user", "7", "--to", "8"])
        #expect(second.standardError.contains("user 8 does not exist"), "\(second)")
        for command in commands {
            let created = try await run(command + ["--create-user"])
            #expect(created.status == 0, "\(command): \(created)")
        }
    }
}
