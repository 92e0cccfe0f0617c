import Foundation
import NotifyClient
import NotifyCore
import NotifyDomain
import NotifyMessages
import NotifyStorage
import NotifyStorageSQLite
import NotifyTesting
import Testing

/// Expiry and retention as a client sees them, over real TLS against the
/// real server and SQLite (docs/PROTOCOL.md, "Expiry and retention").
@Suite("The feed's expiry and retention, over the wire")
struct FeedExpiryTests {
    private static let app = "graphnotifications.sample.windows.com"

    private static func request(expiring expiration: Timestamp) -> SendNotificationRequest {
        SendNotificationRequest(
            targetHostName: app, expirationDateTime: expiration.rfc3339,
            payload: PayloadInput(visualContent: VisualContentInput(title: "soon gone", body: nil)),
            platformTypes: ["windows"], priority: "High", displayTimeToLive: 60)
    }

    @Test("Watch delivers an entry expiring in 3 s live; once it has expired, neither Watch nor List returns it, and the cursor passes over it; its removal arrives live as an event, on the endpoint's Watch too")
    func watchAndListAroundExpiry() async throws {
        try await withTestServer { server in
            let subscription = try await server.subscription(user: 2, app: Self.app)
            let admin = Metadata.bearer(try await server.adminToken())
            let client = server.client()
            var pages = client.watchFeed(ListFeedRequest(user: 2), metadata: admin).makeAsyncIterator()
            let marker = try #require(try await pages.next())
            #expect(marker.caughtUp && marker.notifications.isEmpty)
            var endpoint = client.watchFeed(ListFeedRequest(subscription: subscription.id), metadata: admin).makeAsyncIterator()
            _ = try #require(try await endpoint.next())

            let expiration = Timestamp.now().truncatedToMilliseconds.adding(seconds: 3)
            let sent = try await client.sendNotification(
                Self.request(expiring: expiration), subscriptionID: subscription.id, metadata: admin
            ).notification
            let live = try #require(try await pages.next())
            #expect(live.notifications.map(\.id) == [sent.id])
            let kept = try await client.notify(notifyRequest(issuer: 2), metadata: admin).id
            let next = try #require(try await pages.next())
            #expect(next.notifications.map(\.id) == [kept])

            var seenByEndpoint: [String] = []
            while seenByEndpoint.count < 2, let page = try await endpoint.next() {
                seenByEndpoint += page.notifications.map(\.id)
            }
            #expect(seenByEndpoint == [sent.id, kept])

            // The sweeper removes it (about a second after it expires): its
            // removal comes live, as an event of its own, to both readers.
            for watch in [0, 1] {
                let page = try #require(try await (watch == 0 ? pages.next() : endpoint.next()))
                #expect(page.notifications.isEmpty)
                #expect(page.events.map(\.sequence) == [3])
                #expect(page.events.first?.kind == "removed")
                #expect(page.events.first?.removedReason == "expired")
                #expect(page.events.first?.ids == [sent.id])
                #expect(Timestamp.now() > expiration)
            }
            // A new Watch from the start, and a List: the expired entry is gone.
            var resumed = client.watchFeed(ListFeedRequest(user: 2, afterSequence: 0), metadata: admin).makeAsyncIterator()
            let first = try #require(try await resumed.next())
            #expect(first.notifications.map(\.id) == [kept])
            #expect(first.events.map(\.sequence) == [3])
            #expect(first.nextAfterSequence == 3)
            #expect(first.caughtUp)
            #expect(first.sweptThrough == nil)
            let listed = try await client.listFeed(ListFeedRequest(user: 2, afterSequence: 0), metadata: admin)
            #expect(listed.notifications.map(\.id) == [kept])
            // After only the expired entry: an empty page whose cursor passes over it.
            let after = try await client.listFeed(ListFeedRequest(user: 2, afterSequence: 1, limit: 1), metadata: admin)
            #expect(after.notifications.map(\.id) == [kept])
            let onlyExpired = try await client.listFeed(ListFeedRequest(user: 2, afterSequence: 0, limit: 1), metadata: admin)
            #expect(onlyExpired.notifications.map(\.id) == [kept])
            #expect(onlyExpired.nextAfterSequence == 2)
            await client.close()
        }
    }

    @Test("a cursor into history removed by retention reads from the oldest kept entry, and the page says swept_through")
    func sweptThroughOnTheWire() async throws {
        var store = SQLiteStoreConfiguration()
        store.retention = .seconds(60)
        store.sweepInterval = .milliseconds(100)
        try await withTestServer(storeConfiguration: store) { server in
            try await server.users(2)
            let admin = Metadata.bearer(try await server.adminToken())
            let client = server.client()
            for index in 1...2 {
                _ = try await server.store.append(NewNotification(
                    id: UUID().uuidString.lowercased(), createdAt: Timestamp.now().adding(seconds: -3600),
                    content: .custom(CustomNotification(type: "old", embed: nil, title: "old \(index)", description: nil, issuer: 2)),
                    recipients: .users([2]), idempotencyKey: nil))
            }
            let kept = try await client.notify(notifyRequest(issuer: 2), metadata: admin).id
            let deadline = ContinuousClock.now + .seconds(60)
            while try await server.store.storedRowCounts().feedEntries > 1, ContinuousClock.now < deadline {
                try await Task.sleep(for: .milliseconds(50))
            }
            let page = try await client.listFeed(ListFeedRequest(user: 2, afterSequence: 0), metadata: admin)
            #expect(page.notifications.map(\.id) == [kept])
            #expect(page.sweptThrough == 2)
            #expect(page.nextAfterSequence == 3)
            var pages = client.watchFeed(ListFeedRequest(user: 2, afterSequence: 1), metadata: admin).makeAsyncIterator()
            let watched = try #require(try await pages.next())
            #expect(watched.notifications.map(\.id) == [kept])
            #expect(watched.sweptThrough == 2)
            let current = try await client.listFeed(ListFeedRequest(user: 2, afterSequence: 2), metadata: admin)
            #expect(current.sweptThrough == nil)
            // Sequence numbers go on from the head.
            let next = try await client.notify(notifyRequest(issuer: 2), metadata: admin)
            #expect(try await client.listFeed(ListFeedRequest(user: 2, afterSequence: 3), metadata: admin)
                .notifications.map(\.id) == [next.id])
            await client.close()
        }
    }
}
