import Foundation
import NIOCore
import NIOHTTP1
import NotifyClient
import NotifyCore
import NotifyDomain
import NotifyJSON
import NotifyMessages
import NotifyTesting
import Testing

private let app = "graphnotifications.sample.windows.com"

/// A Graph notification of `title` through the gateway's POST: its id and Location.
private func post(_ harness: Harness, title: String, uns: String, token: String, path: String = "/me/notifications") async throws
    -> (id: String, location: String)
{
    let body = #"{"targetHostName":"\#(app)","payload":{"visualContent":{"title":"\#(title)"}},"groupName":"g"}"#
    let answer = try await harness.send(
        .POST, path, headers: [("Authorization", "Bearer \(token)"), ("X-UNS-ID", uns), ("Content-Type", "application/json")],
        body: ByteBuffer(string: body))
    #expect(answer.status == 201, "\(answer.text)")
    return (try #require(answer.json?["id"]?.string), try #require(answer.header("Location")))
}

/// A Notify entry for `user` through the RPC server; its id.
private func notify(_ client: NotifyClient, user: Int64, title: String, admin: Metadata) async throws -> String {
    try await client.notify(
        NotifyRequest(recipientsType: "user", type: "wishlist", title: .value(title), description: .null, user: user),
        metadata: admin
    ).id
}

private func bearer(_ token: String) -> [(String, String)] { [("Authorization", "Bearer \(token)")] }

/// The path and query of an absolute link, to send it again through the harness.
private func pathAndQuery(_ link: String?) -> String? {
    guard let link, let url = URL(string: link) else { return nil }
    return url.path + (url.query.map { "?\($0)" } ?? "")
}

@Suite("GET/PATCH/DELETE /me/notifications (Graph) and SelfCommunity's list, read and unseen count through the gateway")
struct MeFeedTests {
    @Test("Graph: list newest first with $top and @odata.nextLink; Location resolves; PATCH and DELETE; Notify entries are not Graph's", arguments: ["", "/beta", "/v1.0"])
    func graphViews(prefix: String) async throws {
        try await withHarness { harness in
            let uns = try await harness.subscription(user: 2)
            let owner = try await harness.userToken(2)
            let admin = Metadata.bearer(try await harness.server.adminToken())
            let client = harness.server.client()
            var ids: [String] = []
            var locations: [String] = []
            for index in 1...3 {
                let (id, location) = try await post(harness, title: "g\(index)", uns: uns, token: owner, path: "\(prefix)/me/notifications/")
                ids.append(id)
                locations.append(location)
                _ = try await notify(client, user: 2, title: "n\(index)", admin: admin)
            }
            // Two at a time, newest first, each spelling.
            for spelling in ["\(prefix)/me/notifications", "\(prefix)/me/notifications/"] {
                let first = try await harness.send(.GET, "\(spelling)?%24top=2", headers: bearer(owner))
                #expect(first.status == 200, "\(first.text)")
                #expect(first.json?["value"]?.array?.compactMap { $0["id"]?.string } == [ids[2], ids[1]])
                #expect(first.json?["@odata.context"]?.string?.hasPrefix("http://") == true)
                let value = try #require(first.json?["value"]?[0])
                #expect(value["isRead"] == .bool(false) && value["userActionState"]?.string == "noInteraction")
                let next = try #require(first.json?["@odata.nextLink"]?.string)
                #expect(next.hasPrefix("http://127.0.0.1:\(harness.port)\(spelling)?"))
                let second = try await harness.send(.GET, try #require(pathAndQuery(next)), headers: bearer(owner))
                #expect(second.json?["value"]?.array?.compactMap { $0["id"]?.string } == [ids[0]])
                #expect(second.json?["@odata.nextLink"] == nil)
            }
            // The 201's Location resolves, for the user and for an admin.
            let location = try #require(pathAndQuery(locations[0]))
            let got = try await harness.send(.GET, location, headers: bearer(owner))
            #expect(got.status == 200, "\(got.text)")
            #expect(got.json?["id"]?.string == ids[0])
            #expect(got.json?["@odata.context"]?.string?.hasSuffix("$metadata#users('2')/notifications/$entity") == true)
            // PATCH: 200 with the entity in its new state; any case in, canonical out.
            let patched = try await harness.send(
                .PATCH, location + "/", headers: bearer(owner) + [("Content-Type", "application/json")],
                body: ByteBuffer(string: #"{"userActionState":"DISMISSED"}"#))
            #expect(patched.status == 200, "\(patched.text)")
            #expect(patched.json?["userActionState"]?.string == "dismissed")
            #expect(try await harness.send(.GET, location, headers: bearer(owner)).json?["userActionState"]?.string == "dismissed")
            // DELETE: 204, then gone.
            let deleted = try await harness.send(.DELETE, location, headers: bearer(owner))
            #expect(deleted.status == 204)
            let gone = try await harness.send(.GET, location, headers: bearer(owner))
            #expect(gone.status == 404 && gone.json?["error"]?["code"]?.string == "itemNotFound")
            let list = try await harness.send(.GET, "\(prefix)/me/notifications", headers: bearer(owner))
            #expect(list.json?["value"]?.array?.compactMap { $0["id"]?.string } == [ids[2], ids[1]])
            await client.close()
        }
    }

    @Test("Graph: bad input answers in Graph's shape and changes nothing")
    func graphBadInput() async throws {
        try await withHarness { harness in
            let uns = try await harness.subscription(user: 2)
            let owner = try await harness.userToken(2)
            let stranger = try await harness.userToken(3)
            let adminToken = try await harness.server.adminToken()
            let appToken = try await harness.server.token(for: .app(app), roles: [.app])
            let client = harness.server.client()
            let (id, _) = try await post(harness, title: "g", uns: uns, token: owner)
            let notifyID = try await notify(client, user: 2, title: "n", admin: .bearer(adminToken))
            func expectError(
                _ answer: Answer, _ status: Int, _ code: String, target: String? = nil, sourceLocation: SourceLocation = #_sourceLocation
            ) {
                #expect(answer.status == status, "\(answer.text)", sourceLocation: sourceLocation)
                #expect(answer.json?["error"]?["code"]?.string == code, "\(answer.text)", sourceLocation: sourceLocation)
                if let target {
                    #expect(answer.json?["error"]?["details"]?[0]?["target"]?.string == target, "\(answer.text)", sourceLocation: sourceLocation)
                }
            }
            expectError(try await harness.send(.GET, "/me/notifications?$top=0", headers: bearer(owner)), 400, "invalidRequest", target: "$top")
            expectError(try await harness.send(.GET, "/me/notifications?$top=101", headers: bearer(owner)), 400, "invalidRequest", target: "$top")
            expectError(try await harness.send(.GET, "/me/notifications?$skiptoken=x", headers: bearer(owner)), 400, "invalidRequest", target: "$skiptoken")
            expectError(try await harness.send(.GET, "/me/notifications/not-a-uuid", headers: bearer(owner)), 400, "invalidRequest", target: "id")
            expectError(try await harness.send(.GET, "/me/notifications/\(UUID().uuidString.lowercased())", headers: bearer(owner)), 404, "itemNotFound")
            // Another user's id, and a Notify entry's: not in this caller's Graph collection.
            expectError(try await harness.send(.GET, "/me/notifications/\(id)", headers: bearer(stranger)), 404, "itemNotFound")
            expectError(try await harness.send(.DELETE, "/me/notifications/\(id)", headers: bearer(stranger)), 404, "itemNotFound")
            expectError(try await harness.send(.GET, "/me/notifications/\(notifyID)", headers: bearer(owner)), 404, "itemNotFound")
            expectError(try await harness.send(.DELETE, "/me/notifications/\(notifyID)", headers: bearer(owner)), 404, "itemNotFound")
            expectError(
                try await harness.send(
                    .PATCH, "/me/notifications/\(notifyID)", headers: bearer(owner) + [("Content-Type", "application/json")],
                    body: ByteBuffer(string: #"{"userActionState":"dismissed"}"#)),
                404, "itemNotFound")
            #expect(try await client.getEntry(user: 2, id: notifyID, metadata: .bearer(adminToken)).actionState == .noInteraction)
            // An application's or an administrator's token has no /me feed.
            for token in [adminToken, appToken] {
                expectError(try await harness.send(.GET, "/me/notifications", headers: bearer(token)), 403, "Forbidden")
                expectError(try await harness.send(.GET, "/beta/me/notifications/\(id)", headers: bearer(token)), 403, "Forbidden")
            }
            expectError(try await harness.send(.GET, "/me/notifications"), 401, "InvalidAuthenticationToken")
            // PATCH bodies: wrong type, unknown state, not JSON, wrong media type.
            let json = bearer(owner) + [("Content-Type", "application/json")]
            for (body, target) in [(#"{"userActionState":3}"#, "userActionState"), (#"{"userActionState":"asleep"}"#, "userActionState"), ("{}", "userActionState")] {
                expectError(try await harness.send(.PATCH, "/me/notifications/\(id)", headers: json, body: ByteBuffer(string: body)), 400, "invalidRequest", target: target)
            }
            expectError(try await harness.send(.PATCH, "/me/notifications/\(id)", headers: json, body: ByteBuffer(string: "[")), 400, "invalidRequest")
            expectError(try await harness.send(
                .PATCH, "/me/notifications/\(id)", headers: bearer(owner) + [("Content-Type", "text/plain")],
                body: ByteBuffer(string: "x")), 415, "unsupportedMediaType")
            // Another user's PATCH answers 404 before its body is judged.
            expectError(try await harness.send(
                .PATCH, "/me/notifications/\(id)", headers: bearer(stranger) + [("Content-Type", "application/json")],
                body: ByteBuffer(string: #"{"userActionState":"dismissed"}"#)), 404, "itemNotFound")
            let method = try await harness.send(.PUT, "/me/notifications/\(id)", headers: bearer(owner))
            #expect(method.status == 405 && method.header("Allow") == "GET, PATCH, DELETE")
            // Nothing changed: no event appended, the entry as it was.
            let entry = try await harness.send(.GET, "/me/notifications/\(id)", headers: bearer(owner))
            #expect(entry.json?["userActionState"]?.string == "noInteraction" && entry.json?["isRead"] == .bool(false))
            let feed = try await client.listFeed(ListFeedRequest(user: 2), metadata: .bearer(owner))
            #expect(feed.events.isEmpty && feed.notifications.count == 2)
            await client.close()
        }
    }

    @Test("SelfCommunity: 20 a page newest first with absolute next and previous; listing marks read once; read/ and unseen/count/")
    func selfCommunityViews() async throws {
        try await withHarness { harness in
            let owner = try await harness.userToken(2)
            let uns = try await harness.subscription(user: 2)
            let admin = Metadata.bearer(try await harness.server.adminToken())
            let client = harness.server.client()
            var ids: [String] = []
            for index in 1...25 { ids.append(try await notify(client, user: 2, title: "n\(index)", admin: admin)) }
            // A Graph entry is not SelfCommunity's.
            _ = try await post(harness, title: "graph", uns: uns, token: owner)
            func count() async throws -> Int64? {
                let answer = try await harness.send(.GET, "/api/v2/notification/unseen/count/", headers: bearer(owner))
                #expect(answer.status == 200)
                if case .integer(let count)? = answer.json?["count"] { return count }
                return nil
            }
            #expect(try await count() == 25)
            let first = try await harness.send(.GET, "/api/v2/notification/", headers: bearer(owner))
            #expect(first.status == 200, "\(first.text)")
            let results = try #require(first.json?["results"]?.array)
            #expect(results.count == 20)
            #expect(results.compactMap { $0["sid"]?.string } == Array(ids[5...].reversed()))
            let block = results[0]
            #expect(block["is_new"] == .bool(true))
            #expect(block["aggregated"]?.array?.count == 1)
            let item = try #require(block["aggregated"]?[0])
            #expect(item["type"]?.string == "custom_notification" && item["sid"]?.string == ids[24])
            #expect(item["custom_notification"]?["title"]?.string == "n25")
            #expect(item["custom_notification"]?["type"]?.string == "wishlist")
            #expect(item["active_at"]?.string.flatMap { Timestamp(rfc3339: $0) } != nil)
            // The issuer, with no name in the directory yet.
            #expect(item["user"]?["id"] == .integer(2))
            #expect(item["user"]?["username"] == .null)
            #expect(first.json?["previous"] == .null)
            let next = try #require(first.json?["next"]?.string)
            #expect(next.hasPrefix("http://127.0.0.1:\(harness.port)/api/v2/notification/?next_id="))
            // Listing marked the listed ones read (and those below them): one event.
            #expect(try await count() == 0)
            let events = try await client.listFeed(ListFeedRequest(user: 2, afterSequence: 26), metadata: admin).events
            #expect(events.count == 1 && events.first?.kind == "read")

            let second = try await harness.send(.GET, try #require(pathAndQuery(next)), headers: bearer(owner))
            let older = try #require(second.json?["results"]?.array)
            #expect(older.compactMap { $0["sid"]?.string } == Array(ids[..<5].reversed()))
            #expect(older.allSatisfy { $0["is_new"] == .bool(false) })
            #expect(second.json?["next"] == .null)
            let previous = try #require(second.json?["previous"]?.string)
            let back = try await harness.send(.GET, try #require(pathAndQuery(previous)), headers: bearer(owner))
            #expect(back.json?["results"]?.array?.compactMap { $0["sid"]?.string } == Array(ids[5...].reversed()))
            #expect(back.json?["previous"] == .null)
            // previous_id wins over next_id.
            let both = try await harness.send(.GET, "/api/v2/notification?next_id=3&previous_id=20", headers: bearer(owner))
            #expect(both.json?["results"]?.array?.compactMap { $0["sid"]?.string } == Array(ids[20...].reversed()))

            // read/: a new one, marked by sid.
            let fresh = try await notify(client, user: 2, title: "fresh", admin: admin)
            #expect(try await count() == 1)
            let read = try await harness.send(
                .POST, "/api/v2/notification/read/", headers: bearer(owner) + [("Content-Type", "application/json")],
                body: ByteBuffer(string: #"{"sids":["\#(fresh)"]}"#))
            #expect(read.status == 204, "\(read.text)")
            #expect(try await count() == 0)
            await client.close()
        }
    }

    @Test("SelfCommunity: user.username is the issuer's name as the directory holds it (renamed: the new name), null without one")
    func selfCommunityUsername() async throws {
        try await withHarness { harness in
            let owner = try await harness.userToken(2)
            let admin = Metadata.bearer(try await harness.server.adminToken())
            let client = harness.server.client()
            _ = try await client.call(NotifyMethods.putUser, PutUserRequest(user: User(id: 2, name: "ana")), metadata: admin)
            _ = try await notify(client, user: 2, title: "named", admin: admin)
            func usernames() async throws -> [JSONValue?] {
                let answer = try await harness.send(.GET, "/api/v2/notification/", headers: bearer(owner))
                #expect(answer.status == 200, "\(answer.text)")
                return try #require(answer.json?["results"]?.array).map { $0["aggregated"]?[0]?["user"]?["username"] }
            }
            #expect(try await usernames() == [.string("ana")])
            _ = try await client.call(NotifyMethods.putUser, PutUserRequest(user: User(id: 2, name: "ana b")), metadata: admin)
            #expect(try await usernames() == [.string("ana b")])
            _ = try await client.call(NotifyMethods.putUser, PutUserRequest(user: User(id: 2)), metadata: admin)
            #expect(try await usernames() == [.null])

            // Over RPC: issuers only when asked for, each once.
            _ = try await client.call(NotifyMethods.putUser, PutUserRequest(user: User(id: 2, name: "ana")), metadata: admin)
            _ = try await notify(client, user: 2, title: "again", admin: admin)
            let plain = try await client.listFeed(ListFeedRequest(user: 2), metadata: admin)
            #expect(plain.notifications.count == 2 && plain.issuers.isEmpty)
            let named = try await client.listFeed(ListFeedRequest(user: 2, withIssuers: true), metadata: admin)
            #expect(named.issuers == [User(id: 2, name: "ana")])
            let newest = try await client.listFeed(ListFeedRequest(user: 2, beforeSequence: 0, withIssuers: true), metadata: admin)
            #expect(newest.issuers == [User(id: 2, name: "ana")])
            await client.close()
        }
    }

    @Test("SelfCommunity: bad input answers in its {\"errors\": [...]} shape and changes nothing")
    func selfCommunityBadInput() async throws {
        try await withHarness { harness in
            let owner = try await harness.userToken(2)
            let stranger = try await harness.userToken(3)
            let adminToken = try await harness.server.adminToken()
            let admin = Metadata.bearer(adminToken)
            let client = harness.server.client()
            let id = try await notify(client, user: 2, title: "n", admin: admin)
            let (graphID, _) = try await post(harness, title: "g", uns: try await harness.subscription(user: 2), token: owner)
            let json = bearer(owner) + [("Content-Type", "application/json")]
            func read(_ body: String, headers: [(String, String)]? = nil) async throws -> Answer {
                try await harness.send(.POST, "/api/v2/notification/read/", headers: headers ?? json, body: ByteBuffer(string: body))
            }
            func field(_ answer: Answer) -> String? { answer.json?["errors"]?[0]?["field"]?.string }
            func code(_ answer: Answer) -> String? { answer.json?["errors"]?[0]?["code"]?.string }
            let malformed = try await read(#"{"sids":["\#(id)","nope"]}"#)
            #expect(malformed.status == 400 && field(malformed) == "sids[1]", "\(malformed.text)")
            let huge = try await read(#"{"sids":[\#(Array(repeating: "\"\(id)\"", count: 1_001).joined(separator: ","))]}"#)
            #expect(huge.status == 400 && field(huge) == "sids", "\(huge.text)")
            for body in [#"{"sids":"x"}"#, #"{"sids":[1]}"#, #"{"sids":[]}"#, "{}"] {
                let answer = try await read(body)
                #expect(answer.status == 400 && field(answer)?.hasPrefix("sids") == true, "\(body): \(answer.text)")
            }
            let notJSON = try await read("{")
            #expect(notJSON.status == 400 && code(notJSON) == "parse_error")
            let unknown = try await read(#"{"sids":["\#(UUID().uuidString.lowercased())","\#(id)"]}"#)
            #expect(unknown.status == 404 && code(unknown) == "not_found", "\(unknown.text)")
            // A Graph entry's id is not SelfCommunity's: unknown, alone or beside one of its own.
            for body in [#"{"sids":["\#(graphID)"]}"#, #"{"sids":["\#(id)","\#(graphID)"]}"#] {
                let graph = try await read(body)
                #expect(graph.status == 404 && code(graph) == "not_found", "\(graph.text)")
            }
            // Another user's sid is unknown to this feed.
            let other = try await read(#"{"sids":["\#(id)"]}"#, headers: bearer(stranger) + [("Content-Type", "application/json")])
            #expect(other.status == 404 && code(other) == "not_found", "\(other.text)")
            // A token with no feed of its own, before its body is judged.
            for path in ["/api/v2/notification/", "/api/v2/notification/unseen/count/"] {
                let answer = try await harness.send(.GET, path, headers: bearer(adminToken))
                #expect(answer.status == 403 && code(answer) == "permission_denied", "\(answer.text)")
            }
            let adminRead = try await read("{", headers: bearer(adminToken) + [("Content-Type", "application/json")])
            #expect(adminRead.status == 403 && code(adminRead) == "permission_denied")
            let cursor = try await harness.send(.GET, "/api/v2/notification/?next_id=x", headers: bearer(owner))
            #expect(cursor.status == 400 && field(cursor) == "next_id")
            let anonymous = try await harness.send(.GET, "/api/v2/notification/unseen/count")
            #expect(anonymous.status == 401 && code(anonymous) == "not_authenticated")
            let method = try await harness.send(.DELETE, "/api/v2/notification/read", headers: bearer(owner))
            #expect(method.status == 405 && code(method) == "method_not_allowed")
            // Nothing changed: still unread, no event.
            #expect(try await client.unseenCount(user: 2, source: "notify", metadata: admin) == 1)
            #expect(try await client.unseenCount(user: 2, source: "graph", metadata: admin) == 1)
            #expect(try await client.listFeed(ListFeedRequest(user: 2), metadata: admin).events.isEmpty)
            await client.close()
        }
    }

    @Test("list, unseen count and mark read agree in both REST shapes and over RPC while appends run", arguments: UpstreamKind.allCases)
    func agreeUnderAppends(upstream: UpstreamKind) async throws {
        try await withHarness(upstream: upstream) { harness in
            let owner = try await harness.userToken(2)
            let uns = try await harness.subscription(user: 2)
            let admin = Metadata.bearer(try await harness.server.adminToken())
            let client = harness.server.client()
            let appender = Task {
                for index in 0..<30 {
                    _ = try await notify(client, user: 2, title: "a\(index)", admin: admin)
                    if index % 3 == 0 { _ = try await post(harness, title: "g\(index)", uns: uns, token: owner) }
                }
            }
            for round in 0..<4 {
                // SelfCommunity: what a listing showed as new is read afterwards, and the count never goes below what RPC says.
                let listed = try await harness.send(.GET, "/api/v2/notification/", headers: bearer(owner))
                #expect(listed.status == 200, "\(listed.text)")
                let sids = listed.json?["results"]?.array?.compactMap { $0["sid"]?.string } ?? []
                for sid in sids {
                    #expect(try await client.getEntry(user: 2, id: sid, metadata: .bearer(owner)).read, "round \(round)")
                }
                // Graph: mark one read by RPC; the REST entity and the counts agree.
                let graph = try await harness.send(.GET, "/v1.0/me/notifications?$top=100", headers: bearer(owner))
                if let first = graph.json?["value"]?[0]?["id"]?.string {
                    _ = try await client.markRead(MarkReadRequest(ids: [first]), metadata: .bearer(owner))
                    let entity = try await harness.send(.GET, "/v1.0/me/notifications/\(first)", headers: bearer(owner))
                    #expect(entity.json?["isRead"] == .bool(true))
                }
                let graphUnread = try await client.listFeed(ListFeedRequest(user: 2, source: "graph", beforeSequence: 0), metadata: .bearer(owner))
                _ = graphUnread
            }
            try await appender.value
            // Quiet now: every view agrees exactly.
            let rest = try await harness.send(.GET, "/api/v2/notification/unseen/count/", headers: bearer(owner))
            let notifyUnseen = try await client.unseenCount(user: 2, source: "notify", metadata: .bearer(owner))
            #expect(rest.json?["count"] == .integer(Int64(notifyUnseen)))
            var notifyUnread = 0
            var graphUnread = 0
            var cursor: UInt64 = 0
            while true {
                let page = try await client.listFeed(ListFeedRequest(user: 2, afterSequence: cursor, limit: 1000), metadata: admin)
                for entry in page.notifications where !entry.read {
                    if case .graph = entry.content { graphUnread += 1 } else { notifyUnread += 1 }
                }
                cursor = page.nextAfterSequence
                if page.caughtUp { break }
            }
            #expect(UInt64(notifyUnread) == notifyUnseen)
            #expect(try await client.unseenCount(user: 2, source: "graph", metadata: .bearer(owner)) == UInt64(graphUnread))
            let graphList = try await harness.send(.GET, "/me/notifications?$top=100", headers: bearer(owner))
            let restGraphUnread = graphList.json?["value"]?.array?.filter { $0["isRead"] == .bool(false) }.count
            #expect(restGraphUnread == graphUnread)
            // One listing reads everything listed; then SelfCommunity's count and RPC's agree at 0 below the newest.
            _ = try await harness.send(.GET, "/api/v2/notification/", headers: bearer(owner))
            #expect(try await client.unseenCount(user: 2, source: "notify", metadata: .bearer(owner)) == 0)
            #expect(try await harness.send(.GET, "/api/v2/notification/unseen/count", headers: bearer(owner)).json?["count"] == .integer(0))
            await client.close()
        }
    }
}
