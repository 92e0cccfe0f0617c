import Foundation
import NotifyDomain
import NotifyStorage
import Testing

/// A Graph notification of `app` for `platforms`, expiring in a day.
private func graph(app: String, _ platforms: [Platform], title: String = "t") -> NotificationContent {
    .graph(GraphNotification(
        targetHostName: app, appNotificationID: nil, groupName: nil, expiration: Timestamp.now().adding(seconds: 86_400),
        payload: Payload(rawContent: nil, visualContent: VisualContent(title: title, body: nil)), platforms: platforms,
        priority: .none, displayTimeToLive: 0, fallbackPolicyJSON: nil))
}

/// The device endpoints' promises of ``NotificationLog`` (filtered reads) and
/// ``Directory`` (the subscription sweep), for every backend.
extension StoreConformanceTests {
    @Test("a filtered read returns exactly what the endpoint or source admits, and its cursor passes over the rest", arguments: StoreBackend.all)
    func filteredReads(backend: StoreBackend) async throws {
        try await backend.withStore { store in
            try await store.putUser(User(id: 1))
            let contents: [NotificationContent] = [
                Sample.custom(title: "n1"),                      // 1
                graph(app: "a", [.ios]),                         // 2
                graph(app: "a", [.windows, .android]),           // 3
                graph(app: "b", [.ios]),                         // 4
                Sample.custom(title: "n2"),                      // 5
                graph(app: "b", Platform.allCases),              // 6
            ]
            for content in contents { _ = try await store.append(Sample.notification(content: content, to: .users([1]))) }
            func sequences(_ filter: FeedFilter, after: UInt64 = 0, limit: Int = 100) async throws -> FeedPage {
                try await store.feedPage(user: 1, after: after, limit: limit, maxBytes: .max, filter: filter)
            }
            let ios = FeedFilter(endpoint: .init(app: "a", platform: .ios))
            let windows = FeedFilter(endpoint: .init(app: "a", platform: .windows))
            let otherIOS = FeedFilter(endpoint: .init(app: "b", platform: .ios))
            let cases: [(FeedFilter, [UInt64])] = [
                (.all, [1, 2, 3, 4, 5, 6]), (ios, [1, 2, 5]), (windows, [1, 3, 5]),
                (FeedFilter(endpoint: .init(app: "a", platform: .webPush)), [1, 5]), (otherIOS, [1, 4, 5, 6]),
                (FeedFilter(source: .notify), [1, 5]), (FeedFilter(source: .graph), [2, 3, 4, 6]),
                (FeedFilter(source: .graph, endpoint: .init(app: "a", platform: .ios)), [2]),
            ]
            for (filter, expected) in cases {
                let page = try await sequences(filter)
                #expect(page.entries.map(\.sequence) == expected, "\(filter)")
                // Caught up, and past the feed's last entry whether or not it was admitted.
                #expect(page.caughtUp && page.nextAfter == 6, "\(filter)")
                // The Swift statement of the rule agrees with the store's.
                let admitted = contents.enumerated().filter { filter.admits($0.element) }.map { UInt64($0.offset + 1) }
                #expect(admitted == expected, "\(filter)")
            }
            // Page by page: the cursor passes over what is not admitted, no skip, no repeat.
            let first = try await sequences(ios, limit: 2)
            #expect(first.entries.map(\.sequence) == [1, 2])
            // Its cursor may pass over the hidden 3 and 4 (read on the way to 5), never 5.
            #expect(!first.caughtUp && (2...4).contains(first.nextAfter))
            let second = try await sequences(ios, after: first.nextAfter, limit: 2)
            #expect(second.entries.map(\.sequence) == [5])
            #expect(second.caughtUp && second.nextAfter == 6)
            // Only entries it may not see after the cursor: an empty page that still moves it.
            let tail = try await sequences(windows, after: 5)
            #expect(tail.entries.isEmpty && tail.caughtUp && tail.nextAfter == 6)
            #expect(tail.end == .head(6))
        }
    }

    @Test("a long run of entries an endpoint may not see is crossed in bounded pages", arguments: StoreBackend.all)
    func filteredRunsAreBounded(backend: StoreBackend) async throws {
        try await backend.withStore { store in
            let hidden = FeedPage.maxPassedOver + 10
            try await withThrowingTaskGroup(of: Void.self) { group in
                for _ in 0..<hidden {
                    group.addTask { _ = try await store.append(Sample.notification(content: graph(app: "b", [.ios]), to: .users([1]))) }
                }
                try await group.waitForAll()
            }
            _ = try await store.append(Sample.notification(content: Sample.custom(title: "seen"), to: .users([1])))
            let filter = FeedFilter(endpoint: .init(app: "a", platform: .ios))
            let first = try await store.feedPage(user: 1, after: 0, limit: 100, maxBytes: .max, filter: filter)
            #expect(first.entries.isEmpty)
            #expect(!first.caughtUp)
            #expect(first.nextAfter == UInt64(FeedPage.maxPassedOver))
            let second = try await store.feedPage(user: 1, after: first.nextAfter, limit: 100, maxBytes: .max, filter: filter)
            #expect(second.entries.map(\.sequence) == [UInt64(hidden + 1)])
            #expect(second.caughtUp)
        }
    }

    @Test("the subscription sweep deletes those expired before its cutoff, a bounded batch at a time", arguments: StoreBackend.all)
    func subscriptionSweep(backend: StoreBackend) async throws {
        try await backend.withStore { store in
            try await store.putUser(User(id: 1))
            let now = Timestamp.now().truncatedToMilliseconds
            func make(_ seconds: Int64) async throws -> String {
                let id = UUID().uuidString.lowercased()
                try await store.createSubscription(Subscription(
                    id: id, user: 1, app: "a", platform: .ios, deviceID: nil, expiresAt: now.adding(seconds: seconds)))
                return id
            }
            var old: [String] = []
            for _ in 0..<3 { old.append(try await make(-(2 * 86_400))) }
            let withinGrace = try await make(-3600)
            let valid = try await make(3600)
            let cutoff = now.adding(seconds: -Subscription.renewalGraceSeconds)
            #expect(try await store.sweepSubscriptions(expiredBefore: cutoff, limit: 2) == 2)
            #expect(try await store.sweepSubscriptions(expiredBefore: cutoff, limit: 2) == 1)
            #expect(try await store.sweepSubscriptions(expiredBefore: cutoff, limit: 2) == 0)
            for id in old { #expect(try await store.subscription(id: id) == nil) }
            #expect(try await store.subscription(id: withinGrace) != nil)
            #expect(try await store.subscription(id: valid) != nil)
            #expect(try await store.sweepSubscriptions(expiredBefore: cutoff, limit: 0) == 0)
        }
    }
}
