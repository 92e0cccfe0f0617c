import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
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
        let token = try await NotifydProcess.runLine(
            ["admin", "token", "create", "--user", "1", "--role", "admin", "--create-user", "--data-dir", data],
            executable: executable, scratch: scratch.path)
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
