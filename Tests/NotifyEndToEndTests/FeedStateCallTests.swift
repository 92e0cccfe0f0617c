import Foundation
import NotifyClient
import NotifyCore
import NotifyDomain
import NotifyMessages
import NotifyTesting
import Testing

/// The feed's state calls over real TLS frames (docs/PROTOCOL.md, "Feed state").
@Suite("Feed state over the wire: MarkRead, UnseenCount, SetActionState, Delete, DeleteGroup, Get")
struct FeedStateCallTests {
    @Test("marks read by ids and up to a sequence, counts per view, sets an action state idempotently, deletes, gets")
    func stateCalls() async throws {
        try await withTestServer { server in
            let admin = Metadata.bearer(try await server.adminToken())
            let client = server.client()
            try await server.users(2)
            let user = Metadata.bearer(try await server.token(for: .user(2), roles: [.user]))
            let subscription = try await server.subscription(user: 2, app: "app.example.com")
            var notifyIDs: [String] = []
            for index in 0..<3 {
                notifyIDs.append(try await client.notify(notifyRequest(issuer: 2, title: "n\(index)"), metadata: admin).id)
            }
            var graphIDs: [String] = []
            for group in ["g", "g", "h"] {
                graphIDs.append(try await client.sendNotification(
                    SendNotificationRequest(groupName: group, payload: PayloadInput(rawContent: "x")),
                    subscriptionID: subscription.id, metadata: admin
                ).notification.id)
            }
            #expect(try await client.unseenCount(user: 2, metadata: user) == 6)
            #expect(try await client.unseenCount(user: 2, source: "notify", metadata: user) == 3)
            #expect(try await client.unseenCount(user: 2, source: "graph", metadata: user) == 3)

            let byIDs = try await client.markRead(MarkReadRequest(user: 2, ids: [notifyIDs[0]]), metadata: user)
            #expect(byIDs == FeedChangeResponse(sequence: 7, unseenCount: 5))
            #expect(try await client.markRead(MarkReadRequest(user: 2, ids: [notifyIDs[0]]), metadata: user).sequence == 0)
            let upTo = try await client.markRead(
                MarkReadRequest(user: 2, upToSequence: 6, source: "notify"), metadata: user)
            #expect(upTo == FeedChangeResponse(sequence: 8, unseenCount: 0))
            #expect(try await client.unseenCount(user: 2, metadata: user) == 3)

            let dismissed = try await client.setActionState(user: 2, id: graphIDs[0], "DISMISSED", metadata: user)
            #expect(dismissed.sequence == 9)
            #expect(try await client.setActionState(user: 2, id: graphIDs[0], "dismissed", metadata: user).sequence == 0)
            let entry = try await client.getEntry(user: 2, id: graphIDs[0], metadata: user)
            #expect(entry.actionState == .dismissed)
            #expect(entry.read == false)
            #expect(try await client.getEntry(user: 2, id: notifyIDs[1], metadata: user).read)

            let deleted = try await client.deleteEntries(user: 2, ids: [graphIDs[2]], metadata: user)
            #expect(deleted == FeedChangeResponse(sequence: 10, unseenCount: 2))
            let group = try await client.deleteGroup(user: 2, groupName: "g", metadata: user)
            #expect(group == FeedChangeResponse(sequence: 11, unseenCount: 0))
            for id in [graphIDs[0], graphIDs[2]] {
                await expectFailure(.notFound, "NOTIFICATION_NOT_FOUND") {
                    try await client.getEntry(user: 2, id: id, metadata: user)
                }
            }

            // List: the notifications left, with their state, and every event in order.
            let page = try await client.listFeed(ListFeedRequest(user: 2), metadata: user)
            #expect(page.notifications.map(\.id) == notifyIDs)
            #expect(page.notifications.allSatisfy { $0.read })
            #expect(page.events.map(\.sequence) == [7, 8, 9, 10, 11])
            #expect(page.events.map(\.kind) == ["read", "read", "actionState", "removed", "removed"])
            #expect(page.events[1].readUpToSequence == 6)
            #expect(page.events[1].source == "notify")
            #expect(page.events[2].actionState == "dismissed")
            #expect(page.events[3].removedReason == "deleted")
            #expect(Set(page.events[4].ids) == [graphIDs[0], graphIDs[1]])
            #expect(page.nextAfterSequence == 11)
            #expect(page.caughtUp)
            await client.close()
        }
    }

    @Test("MarkRead by ids with a source reaches only that view: another view's id answers NOTIFICATION_NOT_FOUND and nothing changes")
    func markReadKeepsToItsView() async throws {
        try await withTestServer { server in
            let admin = Metadata.bearer(try await server.adminToken())
            let client = server.client()
            try await server.users(2)
            let user = Metadata.bearer(try await server.token(for: .user(2), roles: [.user]))
            let subscription = try await server.subscription(user: 2, app: "app.example.com")
            let notifyID = try await client.notify(notifyRequest(issuer: 2, title: "n"), metadata: admin).id
            let graphID = try await client.sendNotification(
                SendNotificationRequest(groupName: "g", payload: PayloadInput(rawContent: "x")),
                subscriptionID: subscription.id, metadata: admin
            ).notification.id
            for (ids, source) in [([graphID], "notify"), ([notifyID, graphID], "notify"), ([notifyID], "graph")] {
                await expectFailure(.notFound, "NOTIFICATION_NOT_FOUND") {
                    try await client.markRead(MarkReadRequest(user: 2, ids: ids, source: source), metadata: user)
                }
            }
            #expect(try await client.unseenCount(user: 2, metadata: user) == 2)
            #expect(try await client.listFeed(ListFeedRequest(user: 2), metadata: user).events.isEmpty)
            // Each view's own, then both through the whole feed (no source).
            #expect(try await client.markRead(MarkReadRequest(user: 2, ids: [graphID], source: "graph"), metadata: user)
                == FeedChangeResponse(sequence: 3, unseenCount: 0))
            #expect(try await client.markRead(MarkReadRequest(user: 2, ids: [notifyID, graphID]), metadata: user)
                == FeedChangeResponse(sequence: 4, unseenCount: 0))
            await client.close()
        }
    }

    @Test("the user, an admin, and an application for what it sent may change state; others are refused and nothing changes")
    func authorization() async throws {
        try await withTestServer { server in
            let admin = Metadata.bearer(try await server.adminToken())
            let client = server.client()
            try await server.users(2, 3)
            let owner = Metadata.bearer(try await server.token(for: .user(2), roles: [.user]))
            let other = Metadata.bearer(try await server.token(for: .user(3), roles: [.user]))
            let app = Metadata.bearer(try await server.token(for: .app("app.example.com"), roles: [.app]))
            let otherApp = Metadata.bearer(try await server.token(for: .app("other.example.com"), roles: [.app]))
            let subscription = try await server.subscription(user: 2, app: "app.example.com")
            let sent = try await client.sendNotification(
                SendNotificationRequest(payload: PayloadInput(rawContent: "x")), subscriptionID: subscription.id, metadata: admin
            ).notification.id
            let notified = try await client.notify(notifyRequest(issuer: 2), metadata: admin).id

            await expectFailure(.permissionDenied, "NOT_AUTHORIZED_FOR_USER") {
                try await client.markRead(MarkReadRequest(user: 2, ids: [sent]), metadata: other)
            }
            await expectFailure(.permissionDenied, "NOT_AUTHORIZED_FOR_USER") {
                try await client.unseenCount(user: 2, metadata: other)
            }
            await expectFailure(.permissionDenied, "NOT_AUTHORIZED_FOR_USER") {
                try await client.getEntry(user: 2, id: sent, metadata: other)
            }
            // Another user's id in one's own feed is not there.
            await expectFailure(.notFound, "NOTIFICATION_NOT_FOUND") {
                try await client.deleteEntries(user: 3, ids: [sent], metadata: other)
            }
            await expectFailure(.permissionDenied, "NOT_AUTHORIZED_FOR_APP") {
                try await client.setActionState(user: 2, id: sent, "activated", metadata: otherApp)
            }
            await expectFailure(.permissionDenied, "NOT_AUTHORIZED_FOR_APP") {
                try await client.markRead(MarkReadRequest(user: 2, ids: [sent, notified]), metadata: app)
            }
            await expectFailure(.permissionDenied, "NOT_AUTHORIZED_FOR_APP") {
                try await client.markRead(MarkReadRequest(user: 2, upToSequence: 2), metadata: app)
            }
            await expectFailure(.permissionDenied, "NOT_AUTHORIZED_FOR_APP") {
                try await client.getEntry(user: 2, id: notified, metadata: app)
            }
            #expect(try await client.unseenCount(user: 2, metadata: owner) == 2)

            #expect(try await client.setActionState(user: 2, id: sent, "activated", metadata: app).sequence == 3)
            #expect(try await client.getEntry(user: 2, id: sent, metadata: app).actionState == .activated)
            #expect(try await client.markRead(MarkReadRequest(user: 2, ids: [notified]), metadata: admin).sequence == 4)
            #expect(try await client.markRead(MarkReadRequest(user: 2, ids: [sent]), metadata: owner).sequence == 5)
            #expect(try await client.unseenCount(user: 2, metadata: owner) == 0)
            await client.close()
        }
    }

    @Test("malformed ids, too many ids, ids with up_to, neither, and unknown ids are refused with nothing changed")
    func badInput() async throws {
        try await withTestServer { server in
            let admin = Metadata.bearer(try await server.adminToken())
            let client = server.client()
            try await server.users(2)
            let user = Metadata.bearer(try await server.token(for: .user(2), roles: [.user]))
            let id = try await client.notify(notifyRequest(issuer: 2), metadata: admin).id

            let malformed = await expectFailure(.invalidArgument, "INVALID_FIELDS") {
                try await client.markRead(MarkReadRequest(user: 2, ids: [id, "not-a-uuid"]), metadata: user)
            }
            #expect(malformed?.fieldViolations.map(\.field) == ["ids[1]"])
            let many = (0...1_000).map { _ in UUID().uuidString.lowercased() }
            await expectFailure(.invalidArgument, "INVALID_FIELDS") {
                try await client.deleteEntries(user: 2, ids: many, metadata: user)
            }
            await expectFailure(.invalidArgument, "INVALID_FIELDS") {
                try await client.markRead(MarkReadRequest(user: 2, ids: [id], upToSequence: 1), metadata: user)
            }
            await expectFailure(.invalidArgument, "INVALID_FIELDS") {
                try await client.markRead(MarkReadRequest(user: 2), metadata: user)
            }
            await expectFailure(.invalidArgument, "INVALID_FIELDS") {
                try await client.setActionState(user: 2, id: id, "pinned", metadata: user)
            }
            await expectFailure(.invalidArgument, "INVALID_FIELDS") {
                try await client.unseenCount(user: 2, source: "mail", metadata: user)
            }
            await expectFailure(.notFound, "NOTIFICATION_NOT_FOUND") {
                try await client.markRead(MarkReadRequest(user: 2, ids: [id, UUID().uuidString.lowercased()]), metadata: user)
            }
            await expectFailure(.notFound, "NOTIFICATION_NOT_FOUND") {
                try await client.getEntry(user: 2, id: UUID().uuidString.lowercased(), metadata: user)
            }
            await expectFailure(.notFound, "USER_NOT_FOUND") {
                try await client.unseenCount(user: 9, metadata: admin)
            }
            #expect(try await client.unseenCount(user: 2, metadata: user) == 1)
            let page = try await client.listFeed(ListFeedRequest(user: 2), metadata: user)
            #expect(page.events.isEmpty)
            #expect(page.notifications.map(\.read) == [false])
            await client.close()
        }
    }

    @Test("UnseenCount agrees with List under concurrent appends")
    func countAgreesWithList() async throws {
        try await withTestServer { server in
            let admin = Metadata.bearer(try await server.adminToken())
            let client = server.client()
            try await server.users(2)
            let user = Metadata.bearer(try await server.token(for: .user(2), roles: [.user]))
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask {
                    for index in 0..<40 { _ = try await client.notify(notifyRequest(issuer: 2, title: "c\(index)"), metadata: admin) }
                }
                group.addTask {
                    for _ in 0..<10 {
                        let page = try await client.listFeed(ListFeedRequest(user: 2), metadata: user)
                        if let last = page.notifications.last {
                            _ = try await client.markRead(MarkReadRequest(user: 2, upToSequence: last.sequence), metadata: user)
                        }
                        _ = try await client.unseenCount(user: 2, metadata: user)
                    }
                }
                try await group.waitForAll()
            }
            let entries = try await client.wholeFeed(of: 2, metadata: user)
            #expect(entries.count == 40)
            #expect(try await client.unseenCount(user: 2, metadata: user) == UInt64(entries.filter { !$0.read }.count))
            await client.close()
        }
    }

    @Test("a change made on one connection arrives live on another's Watch, in order; a resume gets the missed events")
    func liveAndResume() async throws {
        try await withTestServer { server in
            let admin = Metadata.bearer(try await server.adminToken())
            let writer = server.client()
            let watcher = server.client()
            try await server.users(2)
            let user = Metadata.bearer(try await server.token(for: .user(2), roles: [.user]))
            let first = try await writer.notify(notifyRequest(issuer: 2, title: "one"), metadata: admin).id

            var pages = watcher.watchFeed(ListFeedRequest(user: 2), metadata: user).makeAsyncIterator()
            var cursor: UInt64 = 0
            var caughtUp = false
            while !caughtUp, let page = try await pages.next() {
                cursor = page.nextAfterSequence
                caughtUp = page.caughtUp
            }
            #expect(cursor == 1)
            _ = try await writer.markRead(MarkReadRequest(user: 2, ids: [first]), metadata: user)
            let second = try await writer.notify(notifyRequest(issuer: 2, title: "two"), metadata: admin).id
            var seen: [UInt64] = []
            var kinds: [String] = []
            while seen.count < 2, let page = try await pages.next() {
                seen += (page.notifications.map(\.sequence) + page.events.map(\.sequence)).sorted()
                kinds += page.events.map(\.kind)
                cursor = page.nextAfterSequence
            }
            #expect(seen == [2, 3])
            #expect(kinds == ["read"])
            #expect(cursor == 3)

            // The watcher goes away; changes it misses come on resume, in order.
            await watcher.close()
            _ = try await writer.setActionState(user: 2, id: second, "snoozed", metadata: user)
            _ = try await writer.deleteEntries(user: 2, ids: [first], metadata: user)
            let again = server.client()
            var resumed = again.watchFeed(ListFeedRequest(user: 2, afterSequence: cursor), metadata: user).makeAsyncIterator()
            var missed: [FeedEventMessage] = []
            while missed.count < 2, let page = try await resumed.next() {
                #expect(page.notifications.isEmpty)
                missed += page.events
            }
            #expect(missed.map(\.sequence) == [4, 5])
            #expect(missed.map(\.kind) == ["actionState", "removed"])
            #expect(missed.map(\.ids) == [[second], [first]])
            await again.close()
            await writer.close()
        }
    }
}
