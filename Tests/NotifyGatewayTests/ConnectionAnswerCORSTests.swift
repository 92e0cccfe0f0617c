import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import NotifyDomain
import NotifyGateway
import NotifyStorageSQLite
import NotifyTesting
import Testing

@Suite("The answers the connection makes itself (408, 413, 504) carry CORS headers; a stream takes X-UNS-ID in its query")
struct ConnectionAnswerCORSTests {
    static let page = "https://app.example.com"

    private func expectCORS(_ text: String, status: Int, sourceLocation: SourceLocation = #_sourceLocation) {
        #expect(text.hasPrefix("HTTP/1.1 \(status) "), "\(text)", sourceLocation: sourceLocation)
        #expect(text.contains("Access-Control-Allow-Origin: \(Self.page)\r\n"), "\(text)", sourceLocation: sourceLocation)
        #expect(text.contains("Vary: Origin\r\n"), "\(text)", sourceLocation: sourceLocation)
        #expect(text.contains("Access-Control-Expose-Headers: "), "\(text)", sourceLocation: sourceLocation)
    }

    @Test("413 for a body over the limit and 408 for a slow body, to a listed origin")
    func refusals() async throws {
        try await withHarness(gateway: {
            $0.corsOrigins = [Self.page]
            $0.readTimeout = .milliseconds(500)
            $0.maxBodySize = 64
        }) { harness in
            let large = try await rawExchange(port: harness.port, chunks: [
                ("POST /me/notifications/ HTTP/1.1\r\nHost: x\r\nOrigin: \(Self.page)\r\nContent-Type: application/json\r\n"
                    + "Content-Length: 1000\r\n\r\n", .zero),
            ], timeout: .seconds(5))
            expectCORS(large, status: 413)
            let slow = try await rawExchange(port: harness.port, chunks: [
                ("POST /api/v2/notification/read/ HTTP/1.1\r\nHost: x\r\nOrigin: \(Self.page)\r\nContent-Type: application/json\r\n"
                    + "Content-Length: 50\r\n\r\n{", .milliseconds(300)),
                (" ", .milliseconds(300)),
                (" ", .milliseconds(300)),
            ], timeout: .seconds(5))
            expectCORS(slow, status: 408)
            // An unlisted origin: only Vary, as for every other answer.
            let other = try await rawExchange(port: harness.port, chunks: [
                ("POST /me/notifications/ HTTP/1.1\r\nHost: x\r\nOrigin: https://evil.example\r\n"
                    + "Content-Length: 1000\r\n\r\n", .zero),
            ], timeout: .seconds(5))
            #expect(other.hasPrefix("HTTP/1.1 413 ") && other.contains("Vary: Origin\r\n"))
            #expect(!other.contains("Access-Control-Allow-Origin"))
        }
    }

    @Test("504 past the RPC deadline, to a listed origin")
    func deadline() async throws {
        try await withHarness(gateway: {
            $0.corsOrigins = [Self.page]
            $0.rpcTimeout = .seconds(2)
        }) { harness in
            try await harness.server.store.putUser(User(id: 7))
            let token = try await harness.server.adminToken()
            let body = #"{"type": "t", "title": null, "description": null, "user": 7, "recipients_type": "user"}"#
            let post = "POST /api/v2/notification/notify/ HTTP/1.1\r\nHost: x\r\nOrigin: \(Self.page)\r\nAuthorization: Bearer \(token)\r\n"
                + "Connection: close\r\nContent-Type: application/json\r\nContent-Length: \(body.utf8.count)\r\n\r\n\(body)"
            // Another connection holds SQLite's write lock past the deadline (within the store's busy timeout).
            let release = try harness.server.holdWriteLock().release(after: .milliseconds(4500))
            let text = try await rawExchange(port: harness.port, chunks: [(post, .zero)], timeout: .seconds(20))
            try await release.value
            expectCORS(text, status: 504)
        }
    }

    @Test("/me/notifications/stream takes the subscription as ?X-UNS-ID= when no header names it")
    func unsIDInQuery() async throws {
        try await withHarness { harness in
            let uns = try await harness.subscription(user: 2)
            let owner = try await harness.userToken(2)
            var events = try await harness.events("/v1.0/me/notifications/stream?x-uns-id=\(uns)", token: owner)
            #expect(events.response.status == .ok)
            #expect(try await events.next()?.event == "live")
            let missing = try await harness.send(.GET, "/me/notifications/stream?X-UNS-ID=", headers: [("Authorization", "Bearer \(owner)")])
            #expect(missing.status == 400 && missing.json?["error"]?["details"]?[0]?["target"]?.string == "X-UNS-ID")
            let unknown = try await harness.send(
                .GET, "/me/notifications/stream?X-UNS-ID=\(UUID().uuidString.lowercased())", headers: [("Authorization", "Bearer \(owner)")])
            #expect(unknown.status == 404)
        }
    }
}
