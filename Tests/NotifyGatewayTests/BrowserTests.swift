import AsyncHTTPClient
import Foundation
import Logging
import NIOCore
import NIOHTTP1
import NotifyClient
import NotifyCore
import NotifyDomain
import NotifyJSON
@testable import NotifyGateway
import NotifyMessages
import NotifyServer
import NotifyStorageSQLite
import NotifyTesting
import Synchronization
import Testing

/// What browsers need: CORS for configured origins, and stream tickets for
/// an EventSource, which cannot send an Authorization header.
@Suite("Browsers: CORS for configured origins, and single-use stream tickets")
struct BrowserTests {
    static let page = "https://app.example.com"

    // MARK: CORS

    @Test("a preflight from a configured origin is answered 204 with the route's methods and the headers it reads")
    func preflightConfigured() async throws {
        try await withHarness(gateway: { $0.corsOrigins = [Self.page, "http://localhost:3000"] }) { harness in
            for path in ["/me/notifications/", "/feed/events", "/feed/tickets", "/api/v2/notification/notify/"] {
                let answer = try await harness.send(.OPTIONS, path, headers: [
                    ("Origin", Self.page), ("Access-Control-Request-Method", "POST"),
                    ("Access-Control-Request-Headers", "authorization, content-type"),
                ])
                #expect(answer.status == 204, "\(path)")
                #expect(answer.header("Access-Control-Allow-Origin") == Self.page)
                let route = try #require(GatewayRoutes.all.first { $0.path == path })
                #expect(answer.header("Access-Control-Allow-Methods") == route.methods.joined(separator: ", "))
                let allowed = answer.header("Access-Control-Allow-Headers")?.lowercased() ?? ""
                for header in ["authorization", "content-type", "content-encoding", "x-uns-id", "idempotency-key", "last-event-id"] {
                    #expect(allowed.contains(header), "\(header) in \(allowed)")
                }
                #expect(answer.header("Access-Control-Max-Age") == "600")
                #expect(answer.header("Vary") == "Origin")
                #expect(answer.body.readableBytes == 0)
            }
        }
    }

    @Test("an unconfigured origin's preflight is 403 originNotAllowed with no CORS headers; without CORS, OPTIONS stays 405")
    func preflightUnconfigured() async throws {
        try await withHarness(gateway: { $0.corsOrigins = [Self.page] }) { harness in
            let answer = try await harness.send(.OPTIONS, "/me/notifications/", headers: [
                ("Origin", "https://evil.example.net"), ("Access-Control-Request-Method", "POST"),
            ])
            #expect(answer.status == 403)
            #expect(answer.header("Access-Control-Allow-Origin") == nil)
            #expect(answer.json?["error"]?["code"]?.string == "originNotAllowed")
            // An OPTIONS that is no preflight (no Origin) is answered as before.
            let plain = try await harness.send(.OPTIONS, "/me/notifications/")
            #expect(plain.status == 405)
        }
        try await withHarness { harness in
            let answer = try await harness.send(.OPTIONS, "/me/notifications/", headers: [
                ("Origin", Self.page), ("Access-Control-Request-Method", "POST"),
            ])
            #expect(answer.status == 405)
            #expect(answer.header("Access-Control-Allow-Origin") == nil)
            #expect(answer.header("Vary") == nil)
        }
    }

    @Test("a configured origin's 201, error and event stream carry Allow-Origin, Vary and the exposed headers; others none")
    func actualAnswers() async throws {
        try await withHarness(gateway: { $0.corsOrigins = [Self.page] }) { harness in
            let uns = try await harness.subscription(user: 2)
            let admin = try await harness.server.adminToken()
            let body = ByteBuffer(
                string: #"{"targetHostName":"graphnotifications.sample.windows.com","payload":{"visualContent":{"title":"t","body":"b"}}}"#)
            let created = try await harness.send(.POST, "/me/notifications/", headers: [
                ("Origin", Self.page), ("Authorization", "Bearer \(admin)"), ("X-UNS-ID", uns), ("Content-Type", "application/json"),
            ], body: body)
            #expect(created.status == 201, "\(created.text)")
            Self.expectCORS(created)
            #expect(created.header("Location") != nil)

            let refused = try await harness.send(.POST, "/me/notifications/", headers: [
                ("Origin", Self.page), ("X-UNS-ID", uns), ("Content-Type", "application/json"),
            ], body: body)
            #expect(refused.status == 401)
            Self.expectCORS(refused)

            var events = try await harness.events("/feed/events?user=2", token: admin, headers: [("Origin", Self.page)])
            #expect(events.response.status == .ok)
            #expect(events.response.headers.first(name: "Access-Control-Allow-Origin") == Self.page)
            #expect(events.response.headers.first(name: "Vary") == "Origin")
            #expect(try await events.next()?.event == "notification")

            let stranger = try await harness.send(.POST, "/me/notifications/", headers: [
                ("Origin", "https://evil.example.net"), ("Authorization", "Bearer \(admin)"), ("X-UNS-ID", uns),
                ("Content-Type", "application/json"),
            ], body: body)
            #expect(stranger.status == 201)
            #expect(stranger.header("Access-Control-Allow-Origin") == nil)
            #expect(stranger.header("Vary") == "Origin")

            let noOrigin = try await harness.send(.GET, "/healthz")
            #expect(noOrigin.header("Access-Control-Allow-Origin") == nil)
            #expect(noOrigin.header("Vary") == nil)
        }
    }

    static func expectCORS(_ answer: Answer, sourceLocation: SourceLocation = #_sourceLocation) {
        #expect(answer.header("Access-Control-Allow-Origin") == page, sourceLocation: sourceLocation)
        #expect(answer.header("Vary") == "Origin", sourceLocation: sourceLocation)
        let exposed = answer.header("Access-Control-Expose-Headers")?.lowercased() ?? ""
        for header in ["location", "request-id", "retry-after"] {
            #expect(exposed.contains(header), "\(header) in \(exposed)", sourceLocation: sourceLocation)
        }
    }

    // MARK: Stream tickets

    @Test("a ticket opens one stream, as its token; used again it is refused 401 invalidStreamTicket", arguments: UpstreamKind.allCases)
    func ticketOpensOneStream(upstream: UpstreamKind) async throws {
        try await withHarness(upstream: upstream) { harness in
            let owner = try await harness.userToken(2)
            let admin = try await harness.server.adminToken()
            let first = try await harness.notify(user: 2, admin: admin)
            let ticket = try await harness.ticket(token: owner)
            #expect(ticket.hasPrefix("nst_"))

            var events = try await harness.streamWithTicket("/feed/events?user=2&ticket=\(ticket)")
            #expect(events.response.status == .ok)
            let backlog = try #require(try await events.next())
            #expect(backlog.json?["id"]?.string == first)
            #expect(try await events.next()?.event == "live")
            let second = try await harness.notify(user: 2, admin: admin)
            #expect(try await events.next()?.json?["id"]?.string == second)

            let again = try await harness.send(.GET, "/feed/events?user=2&ticket=\(ticket)")
            #expect(again.status == 401, "\(again.text)")
            #expect(again.json?["error"]?["code"]?.string == "invalidStreamTicket")
            #expect(again.header("WWW-Authenticate") == "Bearer")
            let unknown = try await harness.send(.GET, "/feed/events?user=2&ticket=nst_unknown")
            #expect(unknown.json?["error"]?["code"]?.string == "invalidStreamTicket")

            // The ticket's stream is authorized as its token: not another user's feed.
            try await harness.server.store.putUser(User(id: 3))
            let other = try await harness.send(.GET, "/feed/events?user=3&ticket=\(try await harness.ticket(token: owner))")
            #expect(other.status == 403)
        }
    }

    @Test("an expired ticket is refused: a ticket never outlives its token")
    func expiredTicket() async throws {
        try await withHarness(upstream: .local) { harness in
            let token = try await harness.server.token(for: .user(2), roles: [.user], lifetime: 6)
            let made = ContinuousClock.now
            let answer = try await harness.send(.POST, "/feed/tickets", headers: [("Authorization", "Bearer \(token)")])
            let expires = try #require(answer.json?["expiresDateTime"]?.string)
            let ticket = try #require(answer.json?["ticket"]?.string)
            // Capped at the token's expiry: about 6 s away, not 60.
            let expiry = try #require(Timestamp(rfc3339: expires))
            #expect(expiry.microseconds(since: .now()) < 7_000_000)
            try await Task.sleep(until: made + .seconds(7))
            let late = try await harness.send(.GET, "/feed/events?user=2&ticket=\(ticket)")
            #expect(late.status == 401)
            #expect(late.json?["error"]?["code"]?.string == "invalidStreamTicket")
        }
    }

    @Test("a ticket authorizes no other route: not as a bearer token, not in another route's query, not to get a ticket")
    func ticketIsNoToken() async throws {
        try await withHarness { harness in
            let owner = try await harness.userToken(2)
            let ticket = try await harness.ticket(token: owner)
            let asBearer = try await harness.send(.GET, "/feed/events?user=2", headers: [("Authorization", "Bearer \(ticket)")])
            #expect(asBearer.status == 401)
            #expect(asBearer.json?["error"]?["code"]?.string == "InvalidAuthenticationToken")
            let uns = try await harness.subscription(user: 2)
            let send = try await harness.send(.POST, "/me/notifications/?ticket=\(ticket)", headers: [
                ("X-UNS-ID", uns), ("Content-Type", "application/json"),
            ], body: ByteBuffer(string: #"{"payload":{"visualContent":{"title":"t","body":"b"}}}"#))
            #expect(send.status == 404 || send.status == 401, "\(send.text)")
            let notify = try await harness.send(.POST, "/api/v2/notification/notify/", headers: [
                ("Authorization", "Bearer \(ticket)"), ("Content-Type", "application/json"),
            ], body: ByteBuffer(string: #"{"recipients_type":"user","type":"t","title":"t","description":null,"user":2}"#))
            #expect(notify.status == 401)
            let another = try await harness.send(.POST, "/feed/tickets?ticket=\(ticket)")
            #expect(another.status == 401)
            let anotherAsBearer = try await harness.send(.POST, "/feed/tickets", headers: [("Authorization", "Bearer \(ticket)")])
            #expect(anotherAsBearer.status == 401)
            // None of those redeemed it: it still opens its one stream.
            var events = try await harness.streamWithTicket("/feed/events?user=2&ticket=\(ticket)")
            #expect(events.response.status == .ok)
            #expect(try await events.next()?.event == "live")
        }
    }

    @Test("revoking the token that obtained a ticket ends the ticket's stream with TOKEN_REVOKED", arguments: UpstreamKind.allCases)
    func revokedTokenEndsTicketStream(upstream: UpstreamKind) async throws {
        try await withHarness(upstream: upstream) { harness in
            try await harness.server.store.putUser(User(id: 2))
            let admin = Metadata.bearer(try await harness.server.adminToken())
            let client = harness.server.client()
            let created = try await client.call(
                Methods.createToken, CreateTokenRequest(principal: PrincipalInput(user: 2), roles: ["user"]),
                metadata: admin, as: CreateTokenResponse.self)
            let ticket = try await harness.ticket(token: created.token)
            var events = try await harness.streamWithTicket("/feed/events?user=2&ticket=\(ticket)")
            #expect(try await events.next()?.event == "live")
            _ = try await client.call(
                Methods.revokeToken, RevokeTokenRequest(tokenID: created.tokenID), metadata: admin, as: RevokeTokenResponse.self)
            let error = try #require(try await events.next())
            #expect(error.event == "error")
            #expect(error.json?["reason"]?.string == "TOKEN_REVOKED")
            #expect(try await events.next() == nil)
            await client.close()
        }
    }

    @Test("over RPC: CreateStreamTicket, then Watch with x-stream-ticket once; again INVALID_STREAM_TICKET")
    func overRPC() async throws {
        try await withTestServer { server in
            let owner = try await server.token(for: .user(4), roles: [.user])
            let client = server.client()
            let ticket = try await client.call(
                Methods.createStreamTicket, CreateStreamTicketRequest(), metadata: .bearer(owner), as: CreateStreamTicketResponse.self)
            var metadata = Metadata()
            metadata.add("x-stream-ticket", ticket.ticket)
            let first: ServerMessages<ListFeedResponse> = client.stream(
                Methods.watchFeed, ListFeedRequest(user: 4), metadata: metadata)
            var pages = first.makeAsyncIterator()
            #expect(try await pages.next()?.caughtUp == true)
            let second: ServerMessages<ListFeedResponse> = client.stream(
                Methods.watchFeed, ListFeedRequest(user: 4), metadata: metadata)
            var refused = second.makeAsyncIterator()
            let error = await #expect(throws: RPCError.self) { _ = try await refused.next() }
            #expect(error?.code == .unauthenticated)
            #expect(error?.reason == .invalidStreamTicket)
            // A ticket is no token: it cannot obtain another.
            let chained = await #expect(throws: RPCError.self) {
                _ = try await client.call(
                    Methods.createStreamTicket, CreateStreamTicketRequest(), metadata: metadata, as: CreateStreamTicketResponse.self)
            }
            #expect(chained?.reason == .missingToken)
            await client.close()
        }
    }

    @Test("a ticket never reaches the gateway's log: the logged target says ticket=[redacted]")
    func ticketNotLogged() async throws {
        let lines = LogLines()
        try await withTestServer { server in
            var configuration = gatewayConfiguration(upstreamPort: server.port, caFile: server.caFile)
            configuration.upstream = .local(server.endpoint)
            var logger = Logger(label: "notify.gateway.test", factory: { _ in RecordingLogHandler(lines: lines) })
            logger.logLevel = .trace
            let gateway = GatewayServer(configuration: configuration, logger: logger)
            try await withRunningGateway(gateway) { port in
                let http = HTTPClient(eventLoopGroupProvider: .singleton)
                let base = "http://127.0.0.1:\(port)"
                let owner = try await server.token(for: .user(2), roles: [.user])
                var request = HTTPClientRequest(url: base + "/feed/tickets")
                request.method = .POST
                request.headers.add(name: "Authorization", value: "Bearer \(owner)")
                let answer = try await http.execute(request, timeout: .seconds(30))
                let body = try await answer.body.collect(upTo: 1 << 16)
                let ticket = try #require(JSONValue.parse(Data(body.readableBytesView))?["ticket"]?.string)
                for _ in 0..<2 {
                    let stream = try await http.execute(
                        HTTPClientRequest(url: base + "/feed/events?user=2&after=0&ticket=\(ticket)"), timeout: .seconds(30))
                    if stream.status == .ok {
                        var chunks = stream.body.makeAsyncIterator()
                        _ = try await chunks.next()
                    } else {
                        _ = try await stream.body.collect(upTo: 1 << 16)
                    }
                }
                try await http.shutdown()
                let logged = lines.all.joined(separator: "\n")
                #expect(logged.contains("ticket=[redacted]"), "\(logged)")
                #expect(!logged.contains(ticket))
                #expect(!logged.contains(String(ticket.dropFirst(4))))
            }
        }
    }

    @Test("the logged target keeps every parameter but a ticket's value")
    func redaction() {
        #expect(StreamTicketQuery.redacted("/feed/events?user=2&ticket=nst_abc&after=3") == "/feed/events?user=2&ticket=[redacted]&after=3")
        #expect(StreamTicketQuery.redacted("/feed/events?ticket=a&ticket=b") == "/feed/events?ticket=[redacted]&ticket=[redacted]")
        #expect(StreamTicketQuery.redacted("/feed/events?user=2") == "/feed/events?user=2")
        #expect(StreamTicketQuery.redacted("/feed/events") == "/feed/events")
        #expect(StreamTicketQuery.ticket(in: "/feed/events?user=2&ticket=nst_x") == "nst_x")
        #expect(StreamTicketQuery.ticket(in: "/feed/events?ticket=") == nil)
        #expect(StreamTicketQuery.ticket(in: "/feed/events?tickets=x") == nil)
    }
}

extension Harness {
    /// A stream ticket for `token`, from `POST /feed/tickets`.
    func ticket(token: String) async throws -> String {
        let answer = try await send(.POST, "/feed/tickets", headers: [("Authorization", "Bearer \(token)")])
        #expect(answer.status == 200, "\(answer.text)")
        #expect(answer.header("Cache-Control") == "no-store")
        #expect(answer.json?["expiresDateTime"]?.string != nil)
        return try #require(answer.json?["ticket"]?.string)
    }

    /// A stream opened as a browser's EventSource opens it: no Authorization.
    func streamWithTicket(_ path: String) async throws -> EventReader {
        var request = HTTPClientRequest(url: base + path)
        request.headers.add(name: "Accept", value: "text/event-stream")
        return EventReader(try await http.execute(request, timeout: .seconds(30)))
    }
}

/// Runs `body` with `gateway` running, then shuts it down gracefully.
private func withRunningGateway(_ gateway: GatewayServer, _ body: (_ port: Int) async throws -> Void) async throws {
    try await withThrowingTaskGroup(of: Void.self) { tasks in
        tasks.addTask { try await gateway.run() }
        let outcome: Result<Void, any Error>
        do {
            outcome = .success(try await body(try await gateway.localAddress.port ?? 0))
        } catch {
            outcome = .failure(error)
        }
        tasks.cancelAll()
        try? await tasks.waitForAll()
        try outcome.get()
    }
}

/// Every line logged, with its metadata, as a stream handler would print it.
final class LogLines: Sendable {
    private let lines = Mutex<[String]>([])
    func append(_ line: String) { lines.withLock { $0.append(line) } }
    var all: [String] { lines.withLock { $0 } }
}

struct RecordingLogHandler: LogHandler {
    let lines: LogLines
    var metadata: Logger.Metadata = [:]
    var logLevel: Logger.Level = .trace

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        let all = metadata.merging(event.metadata ?? [:]) { $1 }
        lines.append("\(event.level) \(event.message) \(all.map { "\($0)=\($1)" }.sorted().joined(separator: " "))")
    }
}
