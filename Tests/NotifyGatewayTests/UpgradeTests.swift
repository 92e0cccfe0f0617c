import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import NotifyClient
import NotifyDomain
import NotifyGateway
import NotifyJSON
import NotifyMessages
import NotifyStorageSQLite
import NotifyTesting
import NotifyWire
import Testing

/// A data folder written by the release before this one
/// (Tests/Fixtures/upgrade-v1, made by scripts/make-upgrade-fixture.sh) opens
/// and upgrades in place: every acknowledged notification reads back with the
/// same content through List, the gateway's event stream and a replay of its
/// idempotency key; its tokens still authenticate; new appends continue the
/// sequences. (NotifyStorageTests' `UpgradeContentTests` checks, column by
/// column, that the fixture's JSON content moved to typed columns whole.)
@Suite("A data folder from the previous release upgrades in place")
struct UpgradeTests {
    static let fixture = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("Fixtures/upgrade-v1")

    struct Call {
        let key, route, token, uns, contentType, body: String
        let status: Int
        let answer: String
    }

    static func lines(_ name: String) throws -> [String] {
        try String(contentsOf: fixture.appendingPathComponent(name), encoding: .utf8)
            .split(separator: "\n", omittingEmptySubsequences: true).map(String.init)
    }

    static func calls() throws -> [Call] {
        try lines("calls.jsonl").map { line in
            let json = try #require(JSONValue.parse(text: line))
            func text(_ key: String) throws -> String { try #require(json[key]?.string) }
            guard case .integer(let status)? = json["status"] else { throw FixtureError() }
            return Call(
                key: try text("key"), route: try text("route"), token: try text("token"), uns: try text("uns"),
                contentType: try text("contentType"), body: try text("body"), status: Int(status), answer: try text("answer"))
        }
    }

    static func tokens() throws -> [String: String] {
        var tokens: [String: String] = [:]
        for line in try lines("tokens.env") {
            let parts = line.split(separator: "=", maxSplits: 1).map(String.init)
            if parts.count == 2 { tokens[parts[0]] = parts[1] }
        }
        return tokens
    }

    struct FixtureError: Error {}

    /// The value with its times as this release prints them (three digits, the nearest millisecond)
    /// and `@odata.context`'s origin dropped: the previous release printed times from
    /// a `Double` (`...40.2079999Z`) and ran on another port. Everything else must be equal.
    static func normalised(_ value: JSONValue) -> JSONValue {
        switch value {
        case .object(var members):
            for key in ["createdDateTime", "expirationDateTime"] {
                if case .string(let text)? = members[key], let time = Timestamp(rfc3339: text) {
                    members[key] = .string(time.rfc3339)
                }
            }
            if case .string(let context)? = members["@odata.context"], let range = context.range(of: "/v1.0/") {
                members["@odata.context"] = .string(String(context[range.lowerBound...]))
            }
            return .object(members.mapValues(normalised))
        case .array(let values):
            return .array(values.map(normalised))
        default:
            return value
        }
    }

    /// A Graph entity or feed entry as the previous release showed it: without
    /// `fallbackPolicy`, which it stored but left out of every JSON view
    /// (issue 27); whatever else this release answers must be what it answered.
    static func previousView(_ value: JSONValue) -> JSONValue {
        guard case .object(var members) = value else { return value }
        if let policy = members.removeValue(forKey: "fallbackPolicy") {
            #expect({ if case .object = policy { true } else { false } }(), "fallbackPolicy is an object: \(policy)")
        }
        return .object(members)
    }

    /// The `data:` of each `notification` event of an SSE text.
    static func notificationEvents(_ text: String) -> [String] {
        text.components(separatedBy: "\n\n").compactMap { block in
            let lines = block.split(separator: "\n").map(String.init)
            guard lines.contains("event: notification") else { return nil }
            return lines.first { $0.hasPrefix("data: ") }.map { String($0.dropFirst(6)) }
        }
    }

    @Test("List, the event stream and replays answer what the previous release answered; tokens work; sequences continue")
    func upgradesInPlace() async throws {
        let tokens = try Self.tokens()
        let calls = try Self.calls()
        #expect(calls.count == 16)
        // Keys older than a day are kept for the replays (the default retention purges them).
        var store = SQLiteStoreConfiguration(idempotencyRetention: .seconds(3650 * 86_400))
        // The fixture's Notify entries are kept whatever day the test runs; its Graph entries
        // expire as they would anywhere, and are expected gone once they have (below).
        store.retention = nil
        try await withTestServer(
            storeConfiguration: store, database: Self.fixture.appendingPathComponent("data/notify.sqlite").path
        ) { server in
            var configuration = gatewayConfiguration(upstreamPort: server.port, caFile: server.caFile)
            configuration.upstream = .local(server.endpoint)
            try await withGateway(configuration) { port in
                let http = HTTPClient(eventLoopGroupProvider: .singleton)
                do {
                    try await Self.check(Harness(server: server, port: port, http: http), tokens: tokens, calls: calls)
                } catch {
                    try? await http.shutdown()
                    throw error
                }
                try? await http.shutdown()
            }
        }
    }

    static func check(_ harness: Harness, tokens: [String: String], calls: [Call]) async throws {
        let admin = try #require(tokens["ADMIN_TOKEN"])
        let client = harness.server.client()

        var lastSequence: [Int64: UInt64] = [:]
        var lastEntry: [Int64: UInt64] = [:]
        for user in Int64(1)...5 {
            // List over RPC, printed as notifyctl feed prints it.
            let page = try await client.listFeed(
                ListFeedRequest(user: user, limit: 1000), metadata: .bearer(admin))
            let listed = page.notifications.map(\.feedEntryText)
            // What the previous release listed, less the entries expired since (never read again).
            let before = try lines("feeds/\(user).jsonl").filter { line in
                guard case .string(let text)? = JSONValue.parse(text: line)?["expirationDateTime"],
                    let expiration = Timestamp(rfc3339: text)
                else { return true }
                return expiration > Timestamp.now()
            }
            #expect(listed.count == before.count, "user \(user)")
            for (new, old) in zip(listed, before) {
                let newValue = try #require(JSONValue.parse(text: new))
                let oldValue = try #require(JSONValue.parse(text: old))
                #expect(previousView(newValue) == normalised(oldValue), "user \(user): \(new) vs \(old)")
                // Printed once, at three digits: normalising changes nothing now.
                #expect(normalised(newValue) == newValue)
            }
            lastSequence[user] = page.nextAfterSequence
            lastEntry[user] = page.notifications.last?.sequence ?? 0

            // The gateway's event stream: the same entries, the same bytes as List.
            let oldEvents = notificationEvents(
                try String(contentsOf: fixture.appendingPathComponent("feeds/\(user).sse"), encoding: .utf8))
            #expect(oldEvents.count >= before.count)
            if !listed.isEmpty {
                var events = try await harness.events("/feed/events?user=\(user)&limit=1000", token: admin)
                for expected in listed {
                    var event = try #require(try await events.next())
                    // Once fixture entries have expired, the sweeper's removals are state events between them.
                    while event.event == "state" { event = try #require(try await events.next()) }
                    #expect(event.event == "notification")
                    #expect(event.data == expected)
                }
            }
        }

        // Replays: each call again with its Idempotency-Key answers as the first time.
        var replayed = 0
        for call in calls {
            if call.route.contains("/me/notifications") {
                // Graph's replay validates the body again: only while its expiration
                // (at most 30 days after the fixture was made) is still ahead.
                let answer = try #require(JSONValue.parse(text: call.answer))
                let expiration = try #require(answer["expirationDateTime"]?.string.flatMap { Timestamp(rfc3339: $0) })
                guard expiration > Timestamp.now().adding(seconds: 60) else { continue }
                if let body = JSONValue.parse(text: call.body), case .string(let text)? = body["expirationDateTime"],
                    let sent = Timestamp(rfc3339: text), sent <= Timestamp.now().adding(seconds: 60)
                { continue }
            }
            var headers = [
                ("Authorization", "Bearer \(call.token)"), ("Content-Type", call.contentType),
                ("Idempotency-Key", call.key),
            ]
            if !call.uns.isEmpty { headers.append(("X-UNS-ID", call.uns)) }
            let answer = try await harness.send(.POST, call.route, headers: headers, body: ByteBuffer(string: call.body))
            #expect(answer.status == call.status, "\(call.key): \(answer.text)")
            if call.answer.isEmpty {
                #expect(answer.text.isEmpty, "\(call.key)")
            } else {
                let old = try #require(JSONValue.parse(text: call.answer))
                #expect(answer.json.map { previousView(normalised($0)) } == normalised(old), "\(call.key): \(answer.text)")
            }
            replayed += 1
        }
        // The 8 Notify calls replay whatever the date.
        #expect(replayed >= 8)

        // Nothing was stored twice.
        for user in Int64(1)...5 {
            let page = try await client.listFeed(ListFeedRequest(user: user, limit: 1000), metadata: .bearer(admin))
            #expect(page.notifications.last?.sequence ?? 0 == lastEntry[user], "user \(user)")
        }

        // Every token still authenticates: the user's reads his feed, the app's sends.
        let userToken = try #require(tokens["USER_TOKEN"])
        let own = try await client.listFeed(ListFeedRequest(user: 3, limit: 1), metadata: .bearer(userToken))
        #expect(own.notifications.first?.sequence == 1)
        let app = try #require(tokens["APP_TOKEN"])
        let sub = try #require(tokens["SUB_WINDOWS"])
        let sent = try await harness.send(
            .POST, "/v1.0/me/notifications/",
            headers: [("Authorization", "Bearer \(app)"), ("X-UNS-ID", sub), ("Content-Type", "application/json")],
            body: ByteBuffer(string: #"{"payload":{"rawContent":"after the upgrade"}}"#))
        // The fixture's subscriptions last 30 days from 2026-12-06.
        // (and are swept a day after they expire).
        let subscription = try await harness.server.store.subscription(id: sub)
        if let subscription, Timestamp.now() < subscription.expiresAt {
            #expect(sent.status == 201, "\(sent.text)")
        } else {
            #expect(sent.status == 404, "\(sent.text)")
        }

        // New appends continue each feed's sequence.
        let notify = try await harness.send(
            .POST, "/api/v2/notification/notify/",
            headers: [("Authorization", "Bearer \(admin)"), ("Content-Type", "application/json")],
            body: ByteBuffer(string: #"{"type":"wishlist","title":"new","description":null,"user":2,"recipients_type":"user"}"#))
        #expect(notify.status == 204, "\(notify.text)")
        let after = try await client.listFeed(
            ListFeedRequest(user: 2, afterSequence: lastSequence[2], limit: 10), metadata: .bearer(admin))
        // (After the sweeper's removal events, if fixture entries expired meanwhile.)
        let appended = after.notifications.first?.sequence ?? 0
        let removals = UInt64(after.events.filter { $0.sequence < appended }.count)
        #expect(after.events.allSatisfy { $0.removedReason == "expired" })
        #expect(after.notifications.map(\.sequence) == [(lastSequence[2] ?? 0) + 1 + removals])
    }
}
