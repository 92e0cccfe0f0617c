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
private let otherApp = "other.example.com"

/// A SendNotification body that passes validation, for `platforms` (nil: all).
private func graphRequest(_ title: String, platforms: [String]? = nil) -> SendNotificationRequest {
    SendNotificationRequest(
        payload: PayloadInput(visualContent: VisualContentInput(title: title, body: nil)), platformTypes: platforms)
}

/// The titles of a page's entries, Notify's and Graph's alike.
private func titles(_ notifications: [NotifyDomain.Notification]) -> [String] {
    notifications.map { entry in
        switch entry.content {
        case .custom(let custom): custom.title ?? ""
        case .graph(let graph): graph.payload.visualContent?.title ?? ""
        }
    }
}

/// Reads a Watch's pages until `count` entries came; the entries and the last cursor.
private func read(
    _ pages: inout FeedWatch.AsyncIterator, count: Int
) async throws -> (entries: [NotifyDomain.Notification], cursor: UInt64) {
    var entries: [NotifyDomain.Notification] = []
    var cursor: UInt64 = 0
    while entries.count < count, let page = try await pages.next() {
        entries += page.notifications
        cursor = page.nextAfterSequence
    }
    return (entries, cursor)
}

@Suite("Device endpoints: List and Watch by subscription over real TLS against the real server and SQLite")
struct DeviceEndpointTests {
    @Test("three endpoints of one user each get exactly what targets them; each resumes with exactly what it missed")
    func threeEndpoints() async throws {
        try await withTestServer { server in
            let windows = try await server.subscription(user: 2, app: app, platform: .windows)
            let ios = try await server.subscription(user: 2, app: app, platform: .ios)
            let android = try await server.subscription(user: 2, app: app, platform: .android)
            let elsewhere = try await server.subscription(user: 2, app: otherApp, platform: .ios)
            let admin = Metadata.bearer(try await server.adminToken())
            let appToken = Metadata.bearer(try await server.token(for: .app(app), roles: [.app]))
            let otherToken = Metadata.bearer(try await server.token(for: .app(otherApp), roles: [.app]))
            let owner = Metadata.bearer(try await server.token(for: .user(2), roles: [.user]))
            let client = server.client()

            var watches = [windows, ios, android].map { subscription in
                client.watchFeed(ListFeedRequest(subscription: subscription.id), metadata: owner).makeAsyncIterator()
            }
            for index in watches.indices {
                let marker = try #require(try await watches[index].next())
                #expect(marker.caughtUp && marker.notifications.isEmpty)
            }
            // Sent through the windows subscription, for ios only.
            _ = try await client.sendNotification(graphRequest("ios only", platforms: ["ios"]), subscriptionID: windows.id, metadata: appToken)
            // Another application's: none of the three.
            _ = try await client.sendNotification(graphRequest("other app"), subscriptionID: elsewhere.id, metadata: otherToken)
            // Notify: all three.
            _ = try await client.notify(notifyRequest(issuer: 2, title: "notify"), metadata: admin)
            _ = try await client.sendNotification(
                graphRequest("windows and android", platforms: ["android", "windows"]), subscriptionID: ios.id, metadata: appToken)

            var cursors: [UInt64] = []
            let expected = [["notify", "windows and android"], ["ios only", "notify"], ["notify", "windows and android"]]
            for index in watches.indices {
                let (entries, cursor) = try await read(&watches[index], count: expected[index].count)
                #expect(titles(entries) == expected[index], "endpoint \(index)")
                cursors.append(cursor)
            }
            // Each stops reading (its Watch ends); the feed moves on.
            watches.removeAll()
            _ = try await client.sendNotification(graphRequest("android 1", platforms: ["android"]), subscriptionID: ios.id, metadata: appToken)
            _ = try await client.sendNotification(graphRequest("other 2"), subscriptionID: elsewhere.id, metadata: otherToken)
            _ = try await client.notify(notifyRequest(issuer: 2, title: "notify 2"), metadata: admin)
            _ = try await client.sendNotification(graphRequest("ios 2", platforms: ["IOS"]), subscriptionID: android.id, metadata: appToken)
            _ = try await client.sendNotification(graphRequest("all 2"), subscriptionID: android.id, metadata: appToken)
            _ = try await client.sendNotification(graphRequest("other 3"), subscriptionID: elsewhere.id, metadata: otherToken)

            // Resumed from the cursor each had: exactly what it missed, then caught up.
            let missed = [["notify 2", "all 2"], ["notify 2", "ios 2", "all 2"], ["android 1", "notify 2", "all 2"]]
            for (index, subscription) in [windows, ios, android].enumerated() {
                var entries: [NotifyDomain.Notification] = []
                for try await page in client.watchFeed(
                    ListFeedRequest(afterSequence: cursors[index], subscription: subscription.id), metadata: owner
                ) {
                    entries += page.notifications
                    if page.caughtUp {
                        // Past the other application's last entry too: the cursor is the user's sequence.
                        #expect(page.nextAfterSequence == 10)
                        break
                    }
                }
                #expect(titles(entries) == missed[index], "endpoint \(index)")
                // List agrees, from the start.
                let listed = try await client.listFeed(ListFeedRequest(subscription: subscription.id), metadata: owner)
                #expect(titles(listed.notifications) == expected[index] + missed[index])
                #expect(listed.caughtUp && listed.nextAfterSequence == 10)
            }
            // The user's feed is as it was: every entry.
            #expect(try await client.wholeFeed(of: 2, metadata: owner).count == 10)
            await client.close()
        }
    }

    @Test("source narrows List and Watch to Notify's or SendNotification's entries; anything else is refused")
    func source() async throws {
        try await withTestServer { server in
            let windows = try await server.subscription(user: 2, app: app, platform: .windows)
            let admin = Metadata.bearer(try await server.adminToken())
            let client = server.client()
            _ = try await client.notify(notifyRequest(issuer: 2, title: "n1"), metadata: admin)
            _ = try await client.sendNotification(graphRequest("g1"), subscriptionID: windows.id, metadata: admin)
            _ = try await client.notify(notifyRequest(issuer: 2, title: "n2"), metadata: admin)

            let notify = try await client.listFeed(ListFeedRequest(user: 2, source: "notify"), metadata: admin)
            #expect(titles(notify.notifications) == ["n1", "n2"])
            let graph = try await client.listFeed(ListFeedRequest(user: 2, source: "graph"), metadata: admin)
            #expect(titles(graph.notifications) == ["g1"])
            #expect(graph.nextAfterSequence == 3 && graph.caughtUp)
            let all = try await client.listFeed(ListFeedRequest(user: 2, source: ""), metadata: admin)
            #expect(all.notifications.count == 3)
            let endpointNotify = try await client.listFeed(
                ListFeedRequest(subscription: windows.id, source: "notify"), metadata: admin)
            #expect(titles(endpointNotify.notifications) == ["n1", "n2"])
            var pages = client.watchFeed(ListFeedRequest(user: 2, source: "graph"), metadata: admin).makeAsyncIterator()
            #expect(titles(try await read(&pages, count: 1).entries) == ["g1"])

            let refused = await expectFailure(.invalidArgument, "INVALID_FIELDS") {
                try await client.listFeed(ListFeedRequest(user: 2, source: "send"), metadata: admin)
            }
            #expect(refused?.fieldViolations.map(\.field) == ["source"])
            await expectFailure(.invalidArgument, "INVALID_FIELDS") {
                var pages = client.watchFeed(ListFeedRequest(user: 2, source: "Notify"), metadata: admin).makeAsyncIterator()
                return try await pages.next()
            }
            await client.close()
        }
    }

    @Test("only the subscription's user, its application or an administrator may read it; an unknown one is not found")
    func authorization() async throws {
        try await withTestServer { server in
            let subscription = try await server.subscription(user: 2, app: app, platform: .ios)
            let client = server.client()
            let allowed = [
                try await server.adminToken(),
                try await server.token(for: .app(app), roles: [.app]),
                try await server.token(for: .user(2), roles: [.user]),
            ]
            for token in allowed {
                let page = try await client.listFeed(ListFeedRequest(subscription: subscription.id), metadata: .bearer(token))
                #expect(page.caughtUp)
            }
            let refused = [
                try await server.token(for: .user(3), roles: [.user]),
                try await server.token(for: .app(otherApp), roles: [.app]),
                // The right principal without its role.
                try await server.token(for: .app(app), roles: [.user]),
            ]
            for token in refused {
                await expectFailure(.permissionDenied, "NOT_SUBSCRIPTION_OWNER") {
                    try await client.listFeed(ListFeedRequest(subscription: subscription.id), metadata: .bearer(token))
                }
                await expectFailure(.permissionDenied, "NOT_SUBSCRIPTION_OWNER") {
                    var pages = client.watchFeed(ListFeedRequest(subscription: subscription.id), metadata: .bearer(token))
                        .makeAsyncIterator()
                    return try await pages.next()
                }
            }
            let owner = Metadata.bearer(allowed[2])
            await expectFailure(.notFound, "SUBSCRIPTION_NOT_FOUND") {
                try await client.listFeed(ListFeedRequest(subscription: UUID().uuidString.lowercased()), metadata: owner)
            }
            let mismatch = await expectFailure(.invalidArgument, "INVALID_FIELDS") {
                try await client.listFeed(ListFeedRequest(user: 3, subscription: subscription.id), metadata: .bearer(allowed[0]))
            }
            #expect(mismatch?.fieldViolations.map(\.field) == ["user"])
            // Naming its own user is fine.
            _ = try await client.listFeed(ListFeedRequest(user: 2, subscription: subscription.id), metadata: owner)
            await client.close()
        }
    }

    @Test("an expired subscription gets nothing; a running Watch ends when it expires, or at once when it is deleted")
    func expiry() async throws {
        try await withTestServer { server in
            let expired = try await server.subscription(user: 2, app: app, platform: .ios, lifetime: -5)
            let owner = Metadata.bearer(try await server.token(for: .user(2), roles: [.user]))
            let admin = Metadata.bearer(try await server.adminToken())
            let client = server.client()
            _ = try await client.notify(notifyRequest(issuer: 2), metadata: admin)
            await expectFailure(.notFound, "SUBSCRIPTION_EXPIRED") {
                try await client.listFeed(ListFeedRequest(subscription: expired.id), metadata: owner)
            }
            await expectFailure(.notFound, "SUBSCRIPTION_EXPIRED") {
                var pages = client.watchFeed(ListFeedRequest(subscription: expired.id), metadata: owner).makeAsyncIterator()
                return try await pages.next()
            }

            // Expiring in 3 s: delivered before, then the Watch ends with it.
            let short = try await server.subscription(user: 2, app: app, platform: .ios, lifetime: 3)
            var pages = client.watchFeed(ListFeedRequest(subscription: short.id), metadata: owner).makeAsyncIterator()
            let backlog = try #require(try await pages.next())
            #expect(backlog.notifications.count == 1 && backlog.caughtUp)
            let started = ContinuousClock.now
            await expectFailure(.notFound, "SUBSCRIPTION_EXPIRED") {
                while try await pages.next() != nil {}
            }
            #expect(ContinuousClock.now - started < .seconds(30))

            // Deleted while watched: the Watch ends at once (deleting wakes it).
            let deleted = try await server.subscription(user: 2, app: app, platform: .windows)
            var watch = client.watchFeed(ListFeedRequest(subscription: deleted.id), metadata: owner).makeAsyncIterator()
            _ = try #require(try await watch.next())
            _ = try await client.call(
                Methods.deleteSubscription, DeleteSubscriptionRequest(id: deleted.id), metadata: owner,
                as: DeleteSubscriptionResponse.self)
            await expectFailure(.notFound, "SUBSCRIPTION_NOT_FOUND") {
                while try await watch.next() != nil {}
            }
            await client.close()
        }
    }

    @Test("renewal keeps the id and revives an expired subscription within the 24 h grace period, not after it")
    func renewalGrace() async throws {
        try await withTestServer { server in
            let recent = try await server.subscription(user: 2, app: app, platform: .ios, lifetime: -3600)
            let old = try await server.subscription(user: 2, app: app, platform: .ios, lifetime: -(25 * 3600))
            let owner = Metadata.bearer(try await server.token(for: .user(2), roles: [.user]))
            let admin = Metadata.bearer(try await server.adminToken())
            let client = server.client()
            _ = try await client.notify(notifyRequest(issuer: 2, title: "kept"), metadata: admin)

            let renewed = try await client.call(
                Methods.renewSubscription, RenewSubscriptionRequest(id: recent.id, ttlSeconds: 3600), metadata: owner,
                as: RenewSubscriptionResponse.self
            ).subscription
            #expect(renewed.id == recent.id)
            #expect(renewed.expiresAt > .now())
            let page = try await client.listFeed(ListFeedRequest(subscription: recent.id), metadata: owner)
            #expect(titles(page.notifications) == ["kept"])

            let refused = await expectFailure(.notFound, "SUBSCRIPTION_EXPIRED") {
                try await client.call(
                    Methods.renewSubscription, RenewSubscriptionRequest(id: old.id), metadata: admin,
                    as: RenewSubscriptionResponse.self)
            }
            #expect(refused?.message.contains("grace") == true, "\(String(describing: refused))")
            // Nothing changed.
            #expect(try await server.store.subscription(id: old.id)?.expiresAt == old.expiresAt)
            await client.close()
        }
    }

    @Test("the store sweeps subscriptions past their grace period, in its run(); the others stay")
    func sweep() async throws {
        var storeConfiguration = SQLiteStoreConfiguration()
        storeConfiguration.subscriptionSweepInterval = .milliseconds(200)
        storeConfiguration.subscriptionSweepBatchSize = 2
        try await withTestServer(storeConfiguration: storeConfiguration) { server in
            var old: [Subscription] = []
            for _ in 0..<5 { old.append(try await server.subscription(user: 2, app: app, lifetime: -(25 * 3600))) }
            let recent = try await server.subscription(user: 2, app: app, lifetime: -3600)
            let live = try await server.subscription(user: 2, app: app)
            let deadline = ContinuousClock.now + .seconds(30)
            var left = old.count
            while left > 0, ContinuousClock.now < deadline {
                try await Task.sleep(for: .milliseconds(100))
                left = 0
                for subscription in old where try await server.store.subscription(id: subscription.id) != nil { left += 1 }
            }
            #expect(left == 0)
            #expect(try await server.store.subscription(id: recent.id) != nil)
            #expect(try await server.store.subscription(id: live.id) != nil)
            let admin = Metadata.bearer(try await server.adminToken())
            let client = server.client()
            await expectFailure(.notFound, "SUBSCRIPTION_NOT_FOUND") {
                try await client.call(
                    Methods.renewSubscription, RenewSubscriptionRequest(id: old[0].id), metadata: admin,
                    as: RenewSubscriptionResponse.self)
            }
            await client.close()
        }
    }
}
