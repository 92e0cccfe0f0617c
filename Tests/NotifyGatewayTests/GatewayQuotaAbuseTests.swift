import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import NotifyDomain
import NotifyServer
import NotifyStorageSQLite
import NotifyTesting
import Testing

/// The `notifyd` built with the tests; the suite is skipped without it.
private let notifyd = NotifydProcess.executable()

@Suite(
    "The feed bound and the caller limits through the gateway of a child notifyd",
    .enabled(if: notifyd != nil, "no notifyd executable next to the test bundle (build it, or set NOTIFYD_PATH)")
)
struct GatewayQuotaAbuseTests {
    @Test("a Notify into a full feed answers 507 feed_full (not 500), and the gateway keeps serving", .timeLimit(.minutes(2)))
    func fullFeed() async throws {
        let executable = try #require(notifyd)
        let scratch = try TemporaryDirectory()
        defer { scratch.remove() }
        let data = scratch.path + "/data"
        let token = try await NotifydProcess.adminToken(dataDirectory: data, executable: executable, scratch: scratch.path)
        let server = try await NotifydProcess.serve(
            executable: executable, dataDirectory: data, arguments: ["--max-feed-entries", "2"], gateway: true)
        defer { server.signal(SIGKILL) }
        let base = "http://127.0.0.1:\(try #require(server.httpPort))"
        let http = HTTPClient(eventLoopGroupProvider: .singleton)
        func notify() async throws -> (UInt, String) {
            var request = HTTPClientRequest(url: base + "/api/v2/notification/notify/")
            request.method = .POST
            request.headers.add(name: "Authorization", value: "Bearer \(token)")
            request.headers.add(name: "Content-Type", value: "application/json")
            request.body = .bytes(ByteBuffer(
                string: #"{"recipients_type":"user","type":"quota","title":"t","description":null,"user":1}"#))
            let response = try await http.execute(request, timeout: .seconds(30))
            let body = try await response.body.collect(upTo: 1 << 20)
            return (response.status.code, String(buffer: body))
        }
        #expect(try await notify().0 == 204)
        #expect(try await notify().0 == 204)
        let (status, body) = try await notify()
        #expect(status == 507, "\(body)")
        #expect(body.contains("feed_full"), "\(body)")
        let health = try await http.execute(HTTPClientRequest(url: base + "/healthz"), timeout: .seconds(30))
        #expect(health.status.code == 200)
        try await http.shutdown()
    }
}

@Suite("Token guessing through the embedded gateway is limited per HTTP client address")
struct GatewayAuthFailureAbuseTests {
    static func notify(token: String) -> String {
        let body = #"{"recipients_type":"user","type":"t","title":null,"description":null,"user":7}"#
        return "POST /api/v2/notification/notify/ HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer \(token)\r\n"
            + "Content-Type: application/json\r\nContent-Length: \(body.utf8.count)\r\nConnection: close\r\n\r\n\(body)"
    }

    @Test("past the burst an address guessing tokens gets 429 before its token is checked; another address is served")
    func guessing() async throws {
        try await withHarness(upstream: .local, server: { $0.authFailureLimit = RateLimit(perSecond: 0.1, burst: 5) }) { harness in
            var guesses: [Int] = []
            for guess in 0..<8 {
                let text = try await rawExchange(
                    port: harness.port, chunks: [(Self.notify(token: "ntf_guess\(guess)"), .zero)], timeout: .seconds(15),
                    source: "127.0.0.2")
                guesses += statuses(in: text)
            }
            #expect(guesses == [401, 401, 401, 401, 401, 429, 429, 429], "\(guesses)")
            // Even a valid token from that address waits; from another address it is served.
            let admin = try await harness.server.adminToken()
            let blocked = try await rawExchange(
                port: harness.port, chunks: [(Self.notify(token: admin), .zero)], timeout: .seconds(15), source: "127.0.0.2")
            #expect(statuses(in: blocked) == [429], "\(blocked)")
            try await harness.server.store.putUser(User(id: 7))
            let served = try await rawExchange(
                port: harness.port, chunks: [(Self.notify(token: admin), .zero)], timeout: .seconds(15), source: "127.0.0.1")
            #expect(statuses(in: served) == [204], "\(served)")
        }
    }
}
