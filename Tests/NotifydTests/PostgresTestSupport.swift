import Foundation
import Logging
import NIOCore
import NIOPosix
import NotifyClient
import NotifyCore
import NotifyDomain
import NotifyStorage
import NotifyStoragePostgres
import NotifyTesting
import Testing

/// The test PostgreSQL server (`scripts/postgres.sh` sets NOTIFY_TEST_POSTGRES).
enum TestPostgres {
    static let url = ProcessInfo.processInfo.environment["NOTIFY_TEST_POSTGRES"].flatMap { $0.isEmpty ? nil : $0 }
    /// Under CI a missing server fails the tests rather than skipping them.
    static let runs = url != nil || ProcessInfo.processInfo.environment["CI"] == "true"
    static let missing = "NOTIFY_TEST_POSTGRES is not set: run the tests through scripts/postgres.sh"
    /// The `notifyd` built with the tests.
    static let notifyd = NotifydProcess.executable()

    /// The test server's URL with a schema of its own, so that tests run at once without meeting.
    static func location(host: String? = nil, port: Int? = nil) throws -> (url: String, schema: String) {
        let base = try #require(url, "\(missing)")
        var components = try #require(URLComponents(string: base))
        if let host { components.host = host }
        if let port { components.port = port }
        let schema = "n_" + UUID().uuidString.lowercased().replacingOccurrences(of: "-", with: "")
        components.queryItems = [URLQueryItem(name: "schema", value: schema)]
        return (try #require(components.string), schema)
    }

    /// The test server's host and port.
    static func target() throws -> (host: String, port: Int) {
        let base = try #require(url, "\(missing)")
        let components = try #require(URLComponents(string: base))
        return (try #require(components.host), try #require(components.port))
    }

    static func dropSchema(_ schema: String) async {
        guard let url else { return }
        try? await PostgresNotificationStore.dropSchema(url: url, schema: schema)
    }

    /// A client of a child notifyd.
    static func client(of server: NotifydProcess, timeout: Duration = .seconds(20)) -> NotifyClient {
        var configuration = ClientConfiguration(host: "127.0.0.1", port: server.port, trustRootsFile: server.caFile)
        configuration.defaultTimeout = timeout
        configuration.initialBackoff = .milliseconds(20)
        return NotifyClient(configuration: configuration)
    }

    /// A Notify that passes validation, into the issuer's own feed.
    static func notify(issuer: Int64, title: String) -> NotifyRequest {
        NotifyRequest(
            recipientsType: "user", type: "wishlist", title: .value(title), description: .null, user: issuer)
    }
}

/// One HTTP/1.1 request on a connection of its own (`Connection: close`):
/// the gateway's answer as a client sees it on the wire.
enum HTTPOnce {
    struct NotAnAnswer: Error {
        var text: String
    }

    struct Answer {
        var status: Int
        var body: String
    }

    static func request(
        port: Int, method: String, path: String, headers: [(String, String)] = [], body: String = ""
    ) async throws -> Answer {
        let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .connect(host: "127.0.0.1", port: port) { channel in
                channel.eventLoop.makeCompletedFuture {
                    try NIOAsyncChannel<ByteBuffer, ByteBuffer>(wrappingChannelSynchronously: channel)
                }
            }
        var head = "\(method) \(path) HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
        for (name, value) in headers { head += "\(name): \(value)\r\n" }
        head += "Content-Length: \(body.utf8.count)\r\n\r\n" + body
        var received = ByteBuffer()
        try await channel.executeThenClose { inbound, outbound in
            try await outbound.write(ByteBuffer(string: head))
            for try await var chunk in inbound {
                received.writeBuffer(&chunk)
                guard received.readableBytes < 1 << 20 else { break }
            }
        }
        let text = String(buffer: received)
        let statusLine = text.prefix { $0 != "\r" }.split(separator: " ")
        guard statusLine.count >= 2, let status = Int(statusLine[1]) else {
            throw NotAnAnswer(text: String(text.prefix(200)))
        }
        let body = text.range(of: "\r\n\r\n").map { String(text[$0.upperBound...]) } ?? ""
        return Answer(status: status, body: body)
    }
}
