import Foundation
import NotifyClient
import NotifyCore
import NotifyDomain
import NotifyMessages
import NotifyServer
import NotifyTesting
import Testing

/// Notify and SendNotification run their checks on the connection's event loop
/// when every lookup they need is cached, and as a task that loads the missing
/// ones otherwise (the first call of a caller, or always with the cache off).
/// Both paths must give the same answers and take one rate-limit token per call,
/// though the task path runs the checks again after each load.
@Suite("Notify and SendNotification answer alike with their lookups cached or loaded")
struct CallPathTests {
    @Test(
        "the same answers, and one rate-limit token per call, whether lookups come from the cache or the store",
        arguments: [Duration.zero, .seconds(60)]
    )
    func samePath(cacheLifetime: Duration) async throws {
        try await withTestServer(configure: {
            $0.lookupCacheLifetime = cacheLifetime
            $0.rateLimitPerSecond = 0.01
            $0.rateLimitBurst = 3
        }) { server in
            try await server.users(1)
            let subscription = try await server.subscription(user: 2, app: "app.example.com")
            let admin = Metadata.bearer(try await server.adminToken())
            let other = Metadata.bearer(try await server.token(for: .user(3), roles: [.admin]))
            let app = Metadata.bearer(try await server.token(for: .app("app.example.com"), roles: [.app]))
            // Every caller has a bucket of three: this one reads the feeds at the end.
            let reader = Metadata.bearer(try await server.token(for: .user(4), roles: [.admin]))
            let client = server.client()

            // Three tokens in the bucket: the first call loads its lookups, the
            // next two find them cached (or load them again with the cache off).
            var ids: [String] = []
            for _ in 0..<3 {
                let answer = try await client.notify(notifyRequest(issuer: 1), metadata: admin)
                #expect(answer.recipients == 1)
                ids.append(answer.id)
            }
            await expectFailure(.resourceExhausted, "THROTTLED") {
                try await client.notify(notifyRequest(issuer: 1), metadata: admin)
            }

            // What is not found is never cached: the task path answers it each time.
            for _ in 0..<2 {
                await expectFailure(.notFound, "USER_NOT_FOUND") {
                    try await client.notify(notifyRequest(issuer: 424_242), metadata: other)
                }
            }
            await expectFailure(.notFound, "SUBSCRIPTION_NOT_FOUND") {
                try await client.sendNotification(
                    sendRequest(), subscriptionID: "no-such-subscription", metadata: other)
            }

            for _ in 0..<2 {
                let sent = try await client.sendNotification(sendRequest(), subscriptionID: subscription.id, metadata: app)
                #expect(sent.notification.user == 2)
                #expect(sent.notification.sequence >= 1)
            }
            #expect(try await client.wholeFeed(of: 1, metadata: reader).map(\.id) == ids)
            #expect(try await client.wholeFeed(of: 2, metadata: reader).count == 2)
            await client.close()
        }
    }
}

private func sendRequest() -> SendNotificationRequest {
    SendNotificationRequest(
        targetHostName: nil, appNotificationID: nil, groupName: "paths", expirationDateTime: nil,
        payload: PayloadInput(visualContent: VisualContentInput(title: "Hello", body: "World")),
        platformTypes: [], priority: "High", displayTimeToLive: 60
    )
}
