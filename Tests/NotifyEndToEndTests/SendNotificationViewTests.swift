import Foundation
import NotifyClient
import NotifyCore
import NotifyDomain
import NotifyMessages
import NotifyTesting
import Testing

/// What SendNotification stores of `targetPolicy.platformTypes` and
/// `fallbackPolicy`, as the RPC answers and the feed show it
/// (docs/PROTOCOL.md, "SendNotification").
@Suite("SendNotification over real TLS: platform types folded and normalised, fallbackPolicy carried")
struct SendNotificationViewTests {
    private static let app = "graphnotifications.sample.windows.com"

    private static func request(platforms: [String]?, fallback: String? = nil) -> SendNotificationRequest {
        SendNotificationRequest(
            payload: PayloadInput(visualContent: VisualContentInput(title: "Hello")), platformTypes: platforms,
            fallbackPolicyJSON: fallback)
    }

    @Test("repeated platforms are folded in first-mention order, any case; the feed holds the folded list", arguments: [
        (["ios", "ios"], [Platform.ios]),
        (["IOS", "windows", "ios", "Windows", "WEBPUSH"], [.ios, .windows, .webPush]),
        (["Android", "android", "ANDROID"], [.android]),
    ])
    func folded(sent: [String], stored: [Platform]) async throws {
        try await withTestServer { server in
            let subscription = try await server.subscription(user: 2, app: Self.app)
            let admin = Metadata.bearer(try await server.adminToken())
            let client = server.client()
            let answer = try await client.sendNotification(
                Self.request(platforms: sent), subscriptionID: subscription.id, metadata: admin
            ).notification
            #expect(graphContent(answer)?.platforms == stored)
            let feed = try await client.wholeFeed(of: 2, metadata: admin)
            #expect(feed.map { graphContent($0)?.platforms } == [stored])
            await client.close()
        }
    }

    @Test("an unknown platform, in any case, is INVALID_FIELDS on its index; nothing is stored")
    func unknownPlatform() async throws {
        try await withTestServer { server in
            let subscription = try await server.subscription(user: 2, app: Self.app)
            let admin = Metadata.bearer(try await server.adminToken())
            let client = server.client()
            let error = await expectFailure(.invalidArgument, "INVALID_FIELDS") {
                try await client.sendNotification(
                    Self.request(platforms: ["ios", "MacOS", "ios"]), subscriptionID: subscription.id, metadata: admin)
            }
            #expect(error?.fieldViolations.map(\.field) == ["target_policy.platform_types[1]"])
            #expect(try await client.wholeFeed(of: 2, metadata: admin).isEmpty)
            await client.close()
        }
    }

    @Test("fallback_policy_json is in the answer, in List and in Watch, as sent; absent when none was sent")
    func fallbackPolicy() async throws {
        try await withTestServer { server in
            let subscription = try await server.subscription(user: 2, app: Self.app)
            let admin = Metadata.bearer(try await server.adminToken())
            let client = server.client()
            let policy = #"{"platformTypes": ["windows"], "extra": {"b": 1, "a": true}}"#
            let with = try await client.sendNotification(
                Self.request(platforms: ["ios", "windows"], fallback: policy), subscriptionID: subscription.id,
                metadata: admin
            ).notification
            #expect(graphContent(with)?.fallbackPolicyJSON == policy)
            let without = try await client.sendNotification(
                Self.request(platforms: ["ios"]), subscriptionID: subscription.id, metadata: admin
            ).notification
            #expect(graphContent(without)?.fallbackPolicyJSON == nil)

            let listed = try await client.wholeFeed(of: 2, metadata: admin)
            #expect(listed.map { graphContent($0)?.fallbackPolicyJSON } == [policy, nil])
            var pages = client.watchFeed(ListFeedRequest(user: 2, afterSequence: 0), metadata: admin).makeAsyncIterator()
            let page = try #require(try await pages.next())
            #expect(page.notifications.map { graphContent($0)?.fallbackPolicyJSON } == [policy, nil])
            await client.close()
        }
    }
}
