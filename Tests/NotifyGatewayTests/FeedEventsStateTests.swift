import Foundation
import NotifyDomain
import NotifyJSON
import NotifyStorage
import NotifyStorageSQLite
import NotifyTesting
import Testing

/// `/feed/events` carries state events (`event: state`) in order with the
/// notifications, live and on resume (docs/GATEWAY.md).
@Suite("The gateway's server-sent events: state events")
struct FeedEventsStateTests {
    @Test("a state change arrives as event: state, in sequence order, live and after Last-Event-ID", arguments: UpstreamKind.allCases)
    func stateEvents(upstream: UpstreamKind) async throws {
        try await withHarness(upstream: upstream) { harness in
            let store = harness.server.store
            let admin = try await harness.server.adminToken()
            try await store.putUser(User(id: 2))
            func append() async throws -> String {
                let id = UUID().uuidString.lowercased()
                _ = try await store.append(NewNotification(
                    id: id, createdAt: .now(),
                    content: .custom(CustomNotification(type: "t", embed: nil, title: "x", description: nil, issuer: 2)),
                    recipients: .users([2]), idempotencyKey: nil))
                return id
            }
            let first = try await append()
            _ = try await store.changeFeed(FeedChange(user: 2, kind: .markRead(ids: [first]), createdAt: .now()))
            let second = try await append()

            var events = try await harness.events("/feed/events?user=2&after=0", token: admin)
            let one = try #require(try await events.next())
            #expect(one.event == "notification" && one.id == "1")
            let read = try #require(try await events.next())
            #expect(read.event == "state")
            #expect(read.id == "2")
            #expect(read.json?["kind"]?.string == "read")
            #expect(read.json?["ids"] == .array([.string(first)]))
            #expect(read.json?["sequence"] == .integer(2))
            let two = try #require(try await events.next())
            #expect(two.event == "notification" && two.id == "3")
            let live = try #require(try await events.next())
            #expect(live.event == "live")

            // Live: a change made now arrives on the open stream.
            _ = try await store.changeFeed(
                FeedChange(user: 2, kind: .setActionState(id: second, .dismissed), createdAt: .now()))
            let state = try #require(try await events.next())
            #expect(state.event == "state")
            #expect(state.id == "4")
            #expect(state.json?["kind"]?.string == "actionState")
            #expect(state.json?["actionState"]?.string == "dismissed")

            // Resumed after 3: the missed state event comes first.
            var resumed = try await harness.events("/feed/events?user=2&after=3", token: admin)
            let missed = try #require(try await resumed.next())
            #expect(missed.event == "state")
            #expect(missed.id == "4")
        }
    }
}
