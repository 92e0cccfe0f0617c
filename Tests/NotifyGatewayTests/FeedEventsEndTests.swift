import AsyncHTTPClient
import Foundation
import NIOHTTP1
import NotifyDomain
import NotifyStorageSQLite
import NotifyTesting
import Testing

/// `/feed/events` where there is nothing to read, as FeedService answers it
/// (docs/GATEWAY.md): 400 naming the parameter, never an endless empty stream.
@Suite("The gateway's server-sent events: a cursor past the end, a user who does not exist")
struct FeedEventsEndTests {
    @Test("a cursor past the end, by after= or Last-Event-ID, is 400 naming that parameter; at the end the stream waits", arguments: UpstreamKind.allCases)
    func pastTheEnd(upstream: UpstreamKind) async throws {
        try await withHarness(upstream: upstream) { harness in
            let admin = try await harness.server.adminToken()
            try await harness.server.store.putUser(User(id: 2))
            for _ in 0..<2 { _ = try await harness.notify(user: 2, admin: admin) }
            let auth = ("Authorization", "Bearer \(admin)")
            for (path, headers, target) in [
                ("/feed/events?user=2&after=3", [auth], "after"),
                ("/feed/events?user=2&after=0", [auth, ("Last-Event-ID", "9")], "Last-Event-ID"),
            ] {
                let answer = try await harness.send(.GET, path, headers: headers)
                #expect(answer.status == 400, "\(path) \(answer.text)")
                #expect(answer.json?["error"]?["code"]?.string == "invalidRequest", "\(answer.text)")
                let details = answer.json?["error"]?["details"]?.array
                #expect(details?.compactMap { $0["target"]?.string } == [target], "\(answer.text)")
                #expect(details?.first?["message"]?.string?.contains("last sequence is 2") == true, "\(answer.text)")
            }
            var events = try await harness.events("/feed/events?user=2&after=2", token: admin)
            #expect(events.response.status == .ok)
            #expect(try await events.next()?.event == "live")
            let third = try await harness.notify(user: 2, admin: admin)
            let next = try #require(try await events.next())
            #expect(next.id == "3")
            #expect(next.json?["id"]?.string == third)
        }
    }

    @Test("a user who does not exist is 400 naming user, at once", arguments: UpstreamKind.allCases)
    func unknownUser(upstream: UpstreamKind) async throws {
        try await withHarness(upstream: upstream) { harness in
            let admin = try await harness.server.adminToken()
            let answer = try await harness.send(.GET, "/feed/events?user=99", headers: [("Authorization", "Bearer \(admin)")])
            #expect(answer.status == 400, "\(answer.text)")
            #expect(answer.json?["error"]?["code"]?.string == "invalidRequest")
            #expect(answer.json?["error"]?["details"]?.array?.compactMap { $0["target"]?.string } == ["user"], "\(answer.text)")
        }
    }
}
