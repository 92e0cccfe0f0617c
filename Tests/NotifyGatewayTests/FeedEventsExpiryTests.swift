import Foundation
import NotifyDomain
import NotifyJSON
import NotifyStorage
import NotifyStorageSQLite
import NotifyTesting
import Testing

/// `/feed/events` and expiry: an expired entry is never sent; a cursor into
/// history removed by retention gets a `swept` event (docs/GATEWAY.md).
@Suite("The gateway's server-sent events: expiry and retention")
struct FeedEventsExpiryTests {
    private static func append(
        _ store: SQLiteNotificationStore, createdAt: Timestamp = .now(), expiring expiration: Timestamp? = nil
    ) async throws -> String {
        let id = UUID().uuidString.lowercased()
        let content: NotificationContent
        if let expiration {
            content = .graph(GraphNotification(
                targetHostName: "app.example.com", appNotificationID: nil, groupName: nil, expiration: expiration,
                payload: Payload(rawContent: "raw", visualContent: nil), platforms: [.windows], priority: .high,
                displayTimeToLive: 60, fallbackPolicyJSON: nil))
        } else {
            content = .custom(CustomNotification(type: "t", embed: nil, title: "x", description: nil, issuer: 2))
        }
        _ = try await store.append(NewNotification(
            id: id, createdAt: createdAt, content: content, recipients: .users([2]), idempotencyKey: nil))
        return id
    }

    @Test("an expired entry is not sent; entries removed by retention are announced by a swept event", arguments: UpstreamKind.allCases)
    func expiredAndSwept(upstream: UpstreamKind) async throws {
        try await withHarness(upstream: upstream) { harness in
            let store = harness.server.store
            let admin = try await harness.server.adminToken()
            try await store.putUser(User(id: 2))
            // Older than the default retention (30 days): swept, with the signal.
            let old = Timestamp.now().adding(seconds: -31 * 24 * 3600)
            _ = try await Self.append(store, createdAt: old)
            _ = try await Self.append(store, createdAt: old)
            // Expired: never sent, and its removal raises no signal; the
            // sweeper's removal is a state event of its own (5), after it
            // whenever the store's own sweeper runs.
            let kept = try await Self.append(store)
            let expired = try await Self.append(store, expiring: Timestamp.now().adding(seconds: -1))
            _ = try await store.sweep()

            var events = try await harness.events("/feed/events?user=2&after=0", token: admin)
            let swept = try #require(try await events.next())
            #expect(swept.event == "swept")
            #expect(swept.json?["through"] == .integer(2))
            let entry = try #require(try await events.next())
            #expect(entry.event == "notification")
            #expect(entry.id == "3")
            #expect(entry.json?["id"]?.string == kept)
            let removal = try #require(try await events.next())
            #expect(removal.event == "state")
            #expect(removal.id == "5")
            #expect(removal.json?["kind"]?.string == "removed")
            #expect(removal.json?["removedReason"]?.string == "expired")
            #expect(removal.json?["ids"] == .array([.string(expired)]))
            let live = try #require(try await events.next())
            #expect(live.event == "live")
            #expect(live.json?["after"] == .integer(5))

            // From a cursor past the swept history: no swept event, and the expired 4 is passed over.
            var resumed = try await harness.events("/feed/events?user=2&after=2", token: admin)
            let first = try #require(try await resumed.next())
            #expect(first.event == "notification")
            #expect(first.id == "3")
            #expect(try await resumed.next()?.id == "5")
        }
    }
}
