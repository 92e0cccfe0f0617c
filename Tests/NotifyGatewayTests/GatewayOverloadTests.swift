import Foundation
import NIOCore
import NIOHTTP1
import NotifyDomain
import NotifyJSON
import NotifyServer
import NotifyStorageSQLite
import NotifyTesting
import Testing

/// The gateway under a burst far past what the RPC server admits: each
/// contract's documented "slow down" answer, and nothing acknowledged lost.
@Suite("The gateway sheds load with each contract's throttling answer and loses nothing it acknowledged")
struct GatewayOverloadTests {
    /// Requests sent at once per endpoint; the server runs at most
    /// `maxCallsInFlight` of them, so most are refused.
    /// Small enough not to starve the other suites running beside it.
    static let burst = 160
    static let maxCallsInFlight = 2

    @Test("SelfCommunity: every answer is 204 or 429 with Retry-After, and every 204 is in the feed",
          arguments: UpstreamKind.allCases)
    func selfCommunity(upstream: UpstreamKind) async throws {
        try await withHarness(upstream: upstream, server: { $0.maxCallsInFlight = Self.maxCallsInFlight }) { harness in
            try await harness.server.store.putUser(User(id: 7))
            let headers = [
                ("Authorization", "Bearer \(try await harness.server.adminToken())"),
                ("Content-Type", "application/x-www-form-urlencoded"),
            ]
            let answers = try await Self.burst(harness, path: "/api/v2/notification/notify/", headers: headers) { index in
                #"{"recipients_type":"user","type":"overload","title":"n\#(index)","description":null,"user":7}"#
            }
            let accepted = answers.filter { $0.status == 204 }
            let refused = answers.filter { $0.status != 204 }
            #expect(!accepted.isEmpty)
            #expect(!refused.isEmpty, "nothing was shed")
            for answer in refused {
                #expect(answer.status == 429, "\(answer.text)")
                #expect(answer.header("Retry-After") == "1")
                #expect(answer.json?["errors"]?[0]?["code"]?.string == "throttled")
            }
            // 204 carries no id: the titles tell which requests were stored.
            let feed = try await harness.server.store.feed(user: 7, after: 0, limit: 10_000)
            let stored = feed.compactMap { entry -> String? in
                guard case .custom(let custom) = entry.content else { return nil }
                return custom.title
            }
            #expect(stored.count == accepted.count)
            #expect(Set(stored) == Set(accepted.map(\.title)))
        }
    }

    @Test("Graph: every answer is 201 or 406 with Retry-After, and every 201's notification is in the feed",
          arguments: UpstreamKind.allCases)
    func graph(upstream: UpstreamKind) async throws {
        try await withHarness(upstream: upstream, server: { $0.maxCallsInFlight = Self.maxCallsInFlight }) { harness in
            let uns = try await harness.subscription(user: 2)
            let headers = [
                ("Authorization", "Bearer \(try await harness.server.adminToken())"), ("X-UNS-ID", uns),
                ("Content-Type", "application/json"),
            ]
            let answers = try await Self.burst(harness, path: "/me/notifications/", headers: headers) { index in
                #"{"payload":{"rawContent":"n\#(index)"},"priority":"High","displayTimeToLive":"60"}"#
            }
            let accepted = answers.filter { $0.status == 201 }
            let refused = answers.filter { $0.status != 201 }
            #expect(!accepted.isEmpty)
            #expect(!refused.isEmpty, "nothing was shed")
            for answer in refused {
                #expect(answer.status == 406, "\(answer.text)")
                #expect(answer.header("Retry-After") == "1")
                #expect(answer.json?["error"]?["code"]?.string == "activityLimitReached")
            }
            let acknowledged = Set(accepted.compactMap { $0.answer.json?["id"]?.string })
            #expect(acknowledged.count == accepted.count)
            let feed = try await harness.server.store.feed(user: 2, after: 0, limit: 10_000)
            #expect(Set(feed.map(\.id)) == acknowledged)
            #expect(feed.count == accepted.count)
        }
    }

    /// One answer of the burst, with the title its request carried.
    struct Sent: Sendable {
        let title: String
        let answer: Answer
        var status: Int { answer.status }
        var text: String { answer.text }
        var json: JSONValue? { answer.json }
        func header(_ name: String) -> String? { answer.header(name) }
    }

    /// Sends ``burst`` POSTs to `path` at once, each with the body `body(index)`.
    ///
    /// The store's write lock is held for the first second, so the calls
    /// admitted first stay in flight and the rest meet a full server however
    /// fast it commits, and however slowly a loaded machine sends the burst.
    static func burst(
        _ harness: Harness, path: String, headers: [(String, String)], body: @escaping @Sendable (Int) -> String
    ) async throws -> [Sent] {
        let release = try harness.server.holdWriteLock().release(after: .seconds(1))
        defer { release.cancel() }
        let answers = try await withThrowingTaskGroup(of: Sent.self) { group in
            for index in 0..<burst {
                group.addTask {
                    let answer = try await harness.send(.POST, path, headers: headers, body: ByteBuffer(string: body(index)))
                    return Sent(title: "n\(index)", answer: answer)
                }
            }
            var answers: [Sent] = []
            for try await answer in group { answers.append(answer) }
            #expect(answers.count == burst)
            return answers
        }
        try await release.value
        return answers
    }
}
