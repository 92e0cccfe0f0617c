import Foundation
import NotifyClient
import NotifyCore
import NotifyDomain
import NotifyMessages
import NotifyServer
import NotifyStorageSQLite
import NotifyTesting
import Testing

/// Writes into one's own feed, bounded: the per-user feed bound over the
/// wire against the real server and SQLite.
@Suite("The per-user feed bound, over the wire")
struct FeedBoundAbuseTests {
    @Test("a full feed refuses a notification for it alone with FEED_FULL, and nothing of that call is stored")
    func fullFeedAlone() async throws {
        var store = SQLiteStoreConfiguration()
        store.maxFeedEntries = 3
        try await withTestServer(storeConfiguration: store) { server in
            try await server.users(2)
            let admin = Metadata.bearer(try await server.adminToken())
            let client = server.client()
            for _ in 0..<3 { _ = try await client.notify(notifyRequest(issuer: 2), metadata: admin) }
            let refused = await expectFailure(.resourceExhausted, "FEED_FULL") {
                try await client.notify(notifyRequest(issuer: 2), metadata: admin)
            }
            #expect(refused?.metadata["retry-after"] == nil)
            #expect(try await client.wholeFeed(of: 2, metadata: admin).map(\.sequence) == [1, 2, 3])
            // SendNotification into the user's own feed, with his own token: refused the same way.
            let subscription = try await server.subscription(user: 2, app: "app.example.com")
            let owner = Metadata.bearer(try await server.token(for: .user(2), roles: [.user]))
            await expectFailure(.resourceExhausted, "FEED_FULL") {
                try await client.sendNotification(
                    SendNotificationRequest(payload: PayloadInput(rawContent: "x")), subscriptionID: subscription.id,
                    metadata: owner)
            }
            #expect(try await client.health().status == .serving)
            await client.close()
        }
    }

    @Test(
        "a connections notification skips a full feed, writes the others, and counts the skipped one",
        arguments: [1_000, 1]  // written inline, and by the background fan-out
    )
    func fanOutSkipsFullFeed(inlineLimit: Int) async throws {
        var store = SQLiteStoreConfiguration()
        store.maxFeedEntries = 2
        store.inlineFanOutLimit = inlineLimit
        try await withTestServer(storeConfiguration: store) { server in
            try await server.users(1, 2, 3, 4)
            for friend: Int64 in [2, 3, 4] { try await server.connect(1, to: friend, kind: .friend) }
            let admin = Metadata.bearer(try await server.adminToken())
            let client = server.client()
            // User 3's feed is full.
            for _ in 0..<2 { _ = try await client.notify(notifyRequest(issuer: 3), metadata: admin) }
            let response = try await client.notify(notifyRequest(issuer: 1, recipients: "connections"), metadata: admin)
            // Written at once: the feeds written. A background job: the audience
            // at the call, the full feed included (docs/PROTOCOL.md, "Large audiences").
            #expect(response.recipients == (inlineLimit == 1 ? 3 : 2))
            #expect(try await eventually { try await client.wholeFeed(of: 4, metadata: admin).count == 1 })
            #expect(try await client.wholeFeed(of: 2, metadata: admin).count == 1)
            #expect(try await client.wholeFeed(of: 3, metadata: admin).count == 2)
            #expect(server.store.statistics.feedsSkippedFull == 1)
            // Feeds with room stay gapless past the skip.
            _ = try await client.notify(notifyRequest(issuer: 1, recipients: "connections"), metadata: admin)
            #expect(try await eventually { try await client.wholeFeed(of: 4, metadata: admin).map(\.sequence) == [1, 2] })
            #expect(try await client.wholeFeed(of: 2, metadata: admin).map(\.sequence) == [1, 2])
            #expect(server.store.statistics.feedsSkippedFull == 2)
            await client.close()
        }
    }
}

/// Polls `condition` every 50 ms for up to 30 s (the background fan-out
/// writes after the call answered); whether it became true.
private func eventually(_ condition: () async throws -> Bool) async throws -> Bool {
    let deadline = ContinuousClock.now + .seconds(30)
    while ContinuousClock.now < deadline {
        if try await condition() { return true }
        try await Task.sleep(for: .milliseconds(50))
    }
    return false
}

/// The `notifyd` built with the tests; the suite is skipped without it.
private let notifyd = NotifydProcess.executable()

@Suite(
    "notifyd's default limits on callers, against a child notifyd",
    .enabled(if: notifyd != nil, "no notifyd executable next to the test bundle (build it, or set NOTIFYD_PATH)")
)
struct CallerLimitAbuseTests {
    private struct Outcomes {
        var ok = 0
        var throttled = 0
        var other: [String] = []
    }

    /// Makes `count` List calls at once and sorts their answers.
    private static func burst(_ count: Int, client: NotifyClient, metadata: Metadata) async -> Outcomes {
        await withTaskGroup(of: String?.self) { group in
            for _ in 0..<count {
                group.addTask {
                    do {
                        _ = try await client.listFeed(ListFeedRequest(user: 2, limit: 1), metadata: metadata)
                        return nil
                    } catch let error as RPCError {
                        return error.reason?.rawValue ?? "\(error)"
                    } catch {
                        return "\(error)"
                    }
                }
            }
            var outcomes = Outcomes()
            for await failure in group {
                switch failure {
                case nil: outcomes.ok += 1
                case "THROTTLED": outcomes.throttled += 1
                case let other?: outcomes.other.append(other)
                }
            }
            return outcomes
        }
    }

    private static func bootstrap(_ data: String, scratch: String, executable: URL) async throws -> (admin: String, user: String) {
        func admin(_ arguments: [String]) async throws -> String {
            try await NotifydProcess.runLine(["admin"] + arguments + ["--data-dir", data], executable: executable, scratch: scratch)
        }
        _ = try await admin(["user", "add", "--id", "2"])
        let adminToken = try await admin(["token", "create", "--user", "1", "--role", "admin", "--create-user"])
        let userToken = try await admin(["token", "create", "--user", "2"])
        return (adminToken, userToken)
    }

    private static func client(_ server: NotifydProcess) -> NotifyClient {
        var configuration = ClientConfiguration(host: "127.0.0.1", port: server.port, trustRootsFile: server.caFile)
        configuration.connectTimeout = .seconds(30)
        configuration.defaultTimeout = .seconds(30)
        return NotifyClient(configuration: configuration)
    }

    @Test("with no flags, 300 calls at once: a user's token is throttled past its burst, an admin's is not", .timeLimit(.minutes(2)))
    func defaultsPerRole() async throws {
        let executable = try #require(notifyd)
        let scratch = try TemporaryDirectory()
        defer { scratch.remove() }
        let data = scratch.path + "/data"
        let tokens = try await Self.bootstrap(data, scratch: scratch.path, executable: executable)
        let server = try await NotifydProcess.serve(executable: executable, dataDirectory: data)
        defer { server.signal(SIGKILL) }
        let client = Self.client(server)
        _ = try await client.health()
        let start = ContinuousClock.now
        let user = await Self.burst(300, client: client, metadata: .bearer(tokens.user))
        let elapsed = ContinuousClock.now - start
        let admin = await Self.burst(300, client: client, metadata: .bearer(tokens.admin))
        print("user burst: \(user.ok) OK, \(user.throttled) THROTTLED in \(elapsed); admin: \(admin.ok) OK, \(admin.throttled) THROTTLED")
        #expect(user.other.isEmpty, "\(user.other.prefix(3))")
        #expect(user.ok >= 40)
        // 40 at once, then 20 a second: generous for a slow machine.
        #expect(Double(user.ok) <= 40 + 20 * (elapsed / .seconds(1)) + 5)
        #expect(user.throttled > 0)
        #expect(admin.ok == 300, "\(admin)")
        await client.close()
    }

    @Test("with no flags, a user's token writing 60 KB entries into his own feed for 5 s stores at most his rate's worth", .timeLimit(.minutes(2)))
    func ownFeedWriteRate() async throws {
        let executable = try #require(notifyd)
        let scratch = try TemporaryDirectory()
        defer { scratch.remove() }
        let data = scratch.path + "/data"
        let tokens = try await Self.bootstrap(data, scratch: scratch.path, executable: executable)
        let subscription = try await NotifydProcess.runLine(
            ["admin", "subscription", "create", "--data-dir", data, "--user", "2", "--app", "app.example.com", "--platform", "windows"],
            executable: executable, scratch: scratch.path)
        let server = try await NotifydProcess.serve(executable: executable, dataDirectory: data)
        defer { server.signal(SIGKILL) }
        let client = Self.client(server)
        let request = SendNotificationRequest(payload: PayloadInput(rawContent: String(repeating: "x", count: 60_000)))
        let end = ContinuousClock.now + .seconds(5)
        let (stored, throttled) = await withTaskGroup(of: (Int, Int).self) { group in
            for _ in 0..<16 {
                group.addTask {
                    var (ok, refused) = (0, 0)
                    while ContinuousClock.now < end {
                        do {
                            _ = try await client.sendNotification(
                                request, subscriptionID: subscription, metadata: .bearer(tokens.user))
                            ok += 1
                        } catch {
                            refused += 1
                            // A throttled client that waits as told costs nothing; one that
                            // does not is refused at once, which is the point measured.
                        }
                    }
                    return (ok, refused)
                }
            }
            return await group.reduce((0, 0)) { ($0.0 + $1.0, $0.1 + $1.1) }
        }
        let bytes = stored * 60_000
        print("own-feed writes in 5 s by one user token: \(stored) stored (\(bytes / 1_000_000) MB), \(throttled) THROTTLED")
        // 40 at once, then 20 a second: 140 in 5 s, with room for a slow start.
        #expect(stored <= 40 + 20 * 6)
        #expect(throttled > 0)
        await client.close()
    }

    @Test("with no flags, 500 guessed tokens from one address: only the burst and the rate are ever checked", .timeLimit(.minutes(2)))
    func guessingWithDefaults() async throws {
        let executable = try #require(notifyd)
        let scratch = try TemporaryDirectory()
        defer { scratch.remove() }
        let data = scratch.path + "/data"
        _ = try await Self.bootstrap(data, scratch: scratch.path, executable: executable)
        let server = try await NotifydProcess.serve(executable: executable, dataDirectory: data)
        defer { server.signal(SIGKILL) }
        let client = Self.client(server)
        let start = ContinuousClock.now
        var (checked, throttled) = (0, 0)
        for index in 0..<500 {
            let guess = Metadata.bearer("ntf_" + String(repeating: "A", count: 39) + String(format: "%04d", index))
            do {
                _ = try await client.listFeed(ListFeedRequest(user: 2), metadata: guess)
            } catch {
                if error.reason == .throttled { throttled += 1 } else { checked += 1 }
            }
        }
        let elapsed = (ContinuousClock.now - start) / .seconds(1)
        print("500 guesses in \(elapsed) s: \(checked) checked (INVALID_TOKEN), \(throttled) THROTTLED")
        #expect(Double(checked) <= 100 + 10 * elapsed + 2)
        #expect(throttled > 0)
        await client.close()
    }

    @Test("failed authentications: past the burst an address is refused THROTTLED even with a valid token, then recovers; failures are logged with their count", .timeLimit(.minutes(2)))
    func tokenGuessing() async throws {
        let executable = try #require(notifyd)
        let scratch = try TemporaryDirectory()
        defer { scratch.remove() }
        let data = scratch.path + "/data"
        let tokens = try await Self.bootstrap(data, scratch: scratch.path, executable: executable)
        let server = try await NotifydProcess.serve(
            executable: executable, dataDirectory: data, arguments: ["--auth-failure-limit", "1", "--auth-failure-burst", "5"])
        defer { server.signal(SIGKILL) }
        let client = Self.client(server)
        let guess = Metadata.bearer("ntf_" + String(repeating: "A", count: 43))
        // The burst of 5 is checked, then refused; on a slow host the bucket
        // refills by one a second meanwhile, so a few more may be checked.
        let start = ContinuousClock.now
        var checked = 0
        var throttled = false
        while !throttled, checked < 30 {
            do {
                _ = try await client.listFeed(ListFeedRequest(user: 2), metadata: guess)
                Issue.record("a guessed token was accepted")
                return
            } catch {
                if error.reason == .throttled { throttled = true } else {
                    #expect(error.reason == .invalidToken)
                    checked += 1
                }
            }
        }
        let elapsed = (ContinuousClock.now - start) / .seconds(1)
        #expect(throttled)
        #expect(checked >= 5 && Double(checked) <= 5 + elapsed + 1, "\(checked) checked in \(elapsed) s")
        let refused = await expectFailure(.resourceExhausted, "THROTTLED") {
            try await client.listFeed(ListFeedRequest(user: 2), metadata: .bearer(tokens.user))
        }
        let wait = Int(refused?.metadata["retry-after"] ?? "") ?? 0
        #expect((1...2).contains(wait), "\(String(describing: refused))")
        // The health check needs no token: never refused.
        #expect(try await client.health().status == .serving)
        try await Task.sleep(for: .seconds(wait) + .milliseconds(300))
        _ = try await client.listFeed(ListFeedRequest(user: 2), metadata: .bearer(tokens.user))
        let log = server.log
        #expect(log.contains("failed authentications"), "\(log.suffix(2000))")
        #expect(log.contains("notify.auth.failures.total=1"), "\(log.suffix(2000))")
        await client.close()
    }
}
