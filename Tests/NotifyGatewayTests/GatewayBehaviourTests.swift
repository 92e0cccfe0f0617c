import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import NIOPosix
import NotifyServer
import NotifyStorageSQLite
import NotifyClient
import NotifyDomain
import NotifyJSON
import NotifyGateway
import NotifyTLS
import NotifyTesting
import Testing

@Suite("The gateway's own behaviour: health, upstream loss, limits, keep-alive, TLS, spec")
struct GatewayBehaviourTests {
    @Test("/healthz is 200; /readyz is 200 while the RPC service serves")
    func health() async throws {
        try await withHarness { harness in
            let live = try await harness.send(.GET, "/healthz")
            #expect(live.status == 200)
            let ready = try await harness.send(.GET, "/readyz")
            #expect(ready.status == 200)
            #expect(ready.json?["upstream"]?.string == "SERVING")
        }
    }

    @Test("an unknown path answers 404 in Graph's error shape")
    func unknownPath() async throws {
        try await withHarness { harness in
            let answer = try await harness.send(.GET, "/nope")
            #expect(answer.status == 404)
            #expect(answer.json?["error"]?["code"]?.string == "notFound")
        }
    }

    @Test("with the RPC service down: 503 at once; when it comes back the gateway reconnects; when it goes again, 503")
    func upstreamDownAndBack() async throws {
        let port = try await unusedPortOutsideEphemeralRange()
        let tlsDirectory = try TemporaryDirectory()
        defer { tlsDirectory.remove() }
        // Certificates made before the service exists, so the gateway trusts the service that comes up later.
        let files = try DevelopmentCertificates.ensure(in: tlsDirectory.path)
        let http = HTTPClient(eventLoopGroupProvider: .singleton)
        let body = ByteBuffer(string: #"{"type": "t", "title": null, "description": null, "user": 1000000, "recipients_type": "user"}"#)
        let outcome: Result<Void, any Error>
        do {
            // Timeouts far above the bound below: a gateway that waited for the
            // service instead of answering at once would take 30 s, while a busy
            // machine (every suite starts at once) can take a few seconds anyway.
            var configuration = gatewayConfiguration(upstreamPort: port, caFile: files.caCertificate)
            configuration.rpcTimeout = .seconds(30)
            if case .remote(var upstream) = configuration.upstream {
                upstream.connectTimeout = .seconds(30)
                configuration.upstream = .remote(upstream)
            }
            try await withGateway(configuration) { gatewayPort in
                let url = "http://127.0.0.1:\(gatewayPort)/api/v2/notification/notify/"
                let clock = ContinuousClock()
                let start = clock.now
                let down = try await Harness.send(http, url: url, method: .POST, headers: [("Authorization", "Bearer x")], body: body)
                #expect(down.status == 503)
                #expect(down.json?["errors"]?[0]?["code"]?.string == "service_unavailable")
                #expect(clock.now - start < .seconds(10))
                let notReady = try await Harness.send(http, url: "http://127.0.0.1:\(gatewayPort)/readyz", method: .GET, headers: [], body: nil)
                #expect(notReady.status == 503)
                #expect(notReady.json?["error"]?["code"]?.string == "serviceNotAvailable")

                try await withTestServer(configure: {
                    $0.port = port
                    $0.tls = .server(
                        certificateChainFile: files.serverCertificate, privateKeyFile: files.serverKey, applicationProtocols: ["notify/1"]
                    )
                }) { server in
                    let headers = [("Authorization", "Bearer \(try await server.adminToken())"), ("Content-Type", "application/json")]
                    var status = 0
                    for _ in 0..<50 {
                        status = try await Harness.send(http, url: url, method: .POST, headers: headers, body: body).status
                        if status == 204 { break }
                        try await Task.sleep(for: .milliseconds(100))
                    }
                    #expect(status == 204)
                    // Readiness asks the service with a 2 s bound: a loaded host may need another try.
                    var ready = try await Harness.send(http, url: "http://127.0.0.1:\(gatewayPort)/readyz", method: .GET, headers: [], body: nil)
                    for _ in 0..<20 where ready.status != 200 {
                        try await Task.sleep(for: .milliseconds(250))
                        ready = try await Harness.send(http, url: "http://127.0.0.1:\(gatewayPort)/readyz", method: .GET, headers: [], body: nil)
                    }
                    #expect(ready.status == 200, "\(ready.json.map { "\($0)" } ?? "")")
                }
                let again = try await Harness.send(http, url: url, method: .POST, headers: [("Authorization", "Bearer x")], body: body)
                #expect(again.status == 503)
            }
            outcome = .success(())
        } catch {
            outcome = .failure(error)
        }
        try? await http.shutdown()
        try outcome.get()
    }

    /// A raw keep-alive POST of SelfCommunity's body to user 7, who exists, by an admin.
    private func rawNotify(_ harness: Harness) async throws -> String {
        try await harness.server.store.putUser(User(id: 7))
        let token = try await harness.server.adminToken()
        let body = #"{"type": "t", "title": null, "description": null, "user": 7, "recipients_type": "user"}"#
        return "POST /api/v2/notification/notify/ HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer \(token)\r\n"
            + "Content-Type: application/json\r\nContent-Length: \(body.utf8.count)\r\n\r\n\(body)"
    }

    @Test("pipelined keep-alive requests on one connection are all answered, in order")
    func pipelined() async throws {
        try await withHarness { harness in
            let post = try await rawNotify(harness)
            let health = "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"
            let bad = "GET /api/v2/notification/notify HTTP/1.1\r\nHost: x\r\n\r\n"
            let last = "GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
            let text = try await rawExchange(port: harness.port, chunks: [(post + health + post + bad + post + last, .zero)])
            #expect(statuses(in: text) == [204, 200, 204, 405, 204, 200])
            let feed = try await harness.server.store.feed(user: 7, after: 0, limit: 10)
            #expect(feed.count == 3)
        }
    }

    @Test("a thousand pipelined requests in one burst are all answered, in order, on one connection")
    func pipelinedBurst() async throws {
        try await withHarness { harness in
            let health = String(repeating: "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n", count: 1000)
            let bad = "POST /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n"
            let last = "GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
            let text = try await rawExchange(port: harness.port, chunks: [(health + bad + last, .zero)])
            #expect(statuses(in: text) == Array(repeating: 200, count: 1000) + [405, 200])
        }
    }

    @Test("a client that stops reading is no longer read from; once it reads again every request is answered and stored")
    func clientStopsReading() async throws {
        // The gateway's socket holds 64 KiB: a few answers of 16 KiB fill it.
        let requests = 200
        try await withHarness(upstream: .local, gateway: { $0.socketSendBufferSize = 64 * 1024 }, memoryBacked: true) { harness in
            let uns = try await harness.subscription(user: 2)
            let token = try await harness.server.adminToken()
            // Each answer is the whole entity, its 16 KiB of raw content included.
            let body = #"{"targetHostName": "graphnotifications.sample.windows.com", "payload": {"rawContent": ""#
                + String(repeating: "x", count: 16 * 1024) + #""}, "targetPolicy": {"platformTypes": ["windows"]}}"#
            let post = "POST /me/notifications/ HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer \(token)\r\nX-UNS-ID: \(uns)\r\n"
                + "Content-Type: application/json\r\nContent-Length: \(body.utf8.count)\r\n"
            let burst = String(repeating: post + "\r\n" + body, count: requests - 1) + post + "Connection: close\r\n\r\n" + body
            let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
                .channelOption(.socketOption(.so_rcvbuf), value: 64 * 1024)
                .connect(host: "127.0.0.1", port: harness.port) { channel in
                    channel.eventLoop.makeCompletedFuture {
                        try NIOAsyncChannel<ByteBuffer, ByteBuffer>(wrappingChannelSynchronously: channel)
                    }
                }
            let answers = try await channel.executeThenClose { inbound, outbound in
                try await withThrowingTaskGroup(of: Void.self) { writer in
                    // Written at once; whatever the gateway does not read waits
                    // in the sockets' buffers.
                    writer.addTask { try await outbound.write(ByteBuffer(string: burst)) }
                    // Nothing reads `inbound` yet, so the channel stops reading:
                    // the gateway's answers fill the sockets, then it stops reading.
                    let stalled = try await harness.server.settledAppendCount()
                    #expect(stalled < requests / 2, "the gateway read \(stalled) of \(requests) requests whose answers nobody read")
                    var received = ByteBuffer()
                    for try await var buffer in inbound { received.writeBuffer(&buffer) }
                    try await writer.waitForAll()
                    return received
                }
            }
            #expect(statuses(in: answers) == Array(repeating: 201, count: requests))
            #expect(try await harness.server.store.feed(user: 2, after: 0, limit: 10_000).count == requests)
        }
    }

    @Test("HEAD answers carry no body; Expect: 100-continue gets 100 first; every answer has a Date")
    func http11Details() async throws {
        try await withHarness { harness in
            let head = try await rawExchange(port: harness.port, chunks: [(
                "HEAD /healthz HTTP/1.1\r\nHost: x\r\n\r\nGET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", .zero
            )])
            #expect(statuses(in: head) == [405, 200])
            #expect(head.components(separatedBy: "\"status\":\"ok\"").count == 2)
            #expect(!head.contains("methodNotAllowed"))
            #expect(head.components(separatedBy: "\r\nDate: ").count == 3)

            let body = #"{"payload": {"visualContent": {"title": "t"}}}"#
            let continued = try await rawExchange(port: harness.port, chunks: [
                ("POST /me/notifications/ HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nExpect: 100-continue\r\n"
                    + "Connection: close\r\nContent-Length: \(body.utf8.count)\r\n\r\n", .milliseconds(300)),
                (body, .zero),
            ])
            #expect(statuses(in: continued) == [100, 401])
        }
    }

    @Test("a request the HTTP parser rejects answers 400 and the connection closes")
    func malformedRequest() async throws {
        try await withHarness { harness in
            let text = try await rawExchange(port: harness.port, chunks: [("GARBAGE\r\n\r\n", .zero)])
            #expect(statuses(in: text) == [400])
        }
    }

    @Test("a malformed request behind requests still being answered: their answers come first, then its 400, then the connection closes")
    func malformedBehindPending() async throws {
        try await withHarness { harness in
            let post = try await rawNotify(harness)
            // One request first, so that the next waits for the store only.
            #expect(statuses(in: try await rawExchange(port: harness.port, chunks: [(post.replacingOccurrences(
                of: "Content-Type", with: "Connection: close\r\nContent-Type"), .zero)])) == [204])

            // Another connection holds SQLite's write lock: the next Notify's answer waits for it.
            let release = try harness.server.holdWriteLock().release(after: .milliseconds(800))
            // The bytes after the malformed request arrive while the answer is still owed.
            let text = try await rawExchange(port: harness.port, chunks: [
                (post + post + "GARBAGE\r\n\r\n", .milliseconds(300)), ("more bytes\r\n", .zero),
            ], timeout: .seconds(10))
            try await release.value
            #expect(statuses(in: text) == [204, 204, 400], "\(text)")
            #expect(text.components(separatedBy: "HTTP/1.1 400").last?.contains("Connection: close") == true)
        }
    }

    @Test("no answer within the RPC deadline: 504 in the contract's form, and the connection serves the next request", arguments: UpstreamKind.allCases)
    func answerTimeout(upstream: UpstreamKind) async throws {
        try await withHarness(upstream: upstream, gateway: { $0.rpcTimeout = .seconds(2) }) { harness in
            let post = try await rawNotify(harness)
            // Another connection holds SQLite's write lock for 4.5 s (within the
            // store's 5 s busy timeout): the first Notify's append waits for it
            // past the 2 s deadline even when a loaded machine delivers the
            // request 2 s late. The second is sent after the lock is gone.
            let release = try harness.server.holdWriteLock().release(after: .milliseconds(4500))
            let last = post.replacingOccurrences(of: "Content-Type", with: "Connection: close\r\nContent-Type")
            let text = try await rawExchange(port: harness.port, chunks: [(post, .milliseconds(5500)), (last, .zero)], timeout: .seconds(20))
            try await release.value
            #expect(statuses(in: text) == [504, 204], "\(text)")
            #expect(text.contains("gateway_timeout"))
        }
    }

    @Test("200 requests over 40 connections at once are all answered correctly")
    func concurrent() async throws {
        try await withHarness { harness in
            let token = try await harness.server.adminToken()
            let uns = try await harness.subscription(user: 2)
            let headers = [("Authorization", "Bearer \(token)"), ("X-UNS-ID", uns), ("Content-Type", "application/json")]
            let ids = try await withThrowingTaskGroup(of: [String].self) { group in
                for connection in 0..<40 {
                    group.addTask {
                        // One client per task: 40 distinct keep-alive connections.
                        let http = HTTPClient(eventLoopGroupProvider: .singleton)
                        var ids: [String] = []
                        do {
                            for index in 0..<5 {
                                let body = #"{"payload": {"rawContent": "c\#(connection)-\#(index)"}}"#
                                let answer = try await Harness.send(
                                    http, url: harness.base + "/me/notifications/", method: .POST, headers: headers, body: ByteBuffer(string: body)
                                )
                                #expect(answer.status == 201)
                                #expect(answer.json?["payload"]?["rawContent"]?.string == "c\(connection)-\(index)")
                                if let id = answer.json?["id"]?.string { ids.append(id) }
                            }
                        } catch {
                            try? await http.shutdown()
                            throw error
                        }
                        try await http.shutdown()
                        return ids
                    }
                }
                var all: [String] = []
                for try await ids in group { all += ids }
                return all
            }
            #expect(ids.count == 200)
            #expect(Set(ids).count == 200)
            let feed = try await harness.server.store.feed(user: 2, after: 0, limit: 500)
            #expect(feed.count == 200)
        }
    }

    @Test("a body above the limit answers 413 and the connection closes")
    func bodyTooLarge() async throws {
        try await withHarness(gateway: { $0.maxBodySize = 1024 }) { harness in
            let big = String(repeating: "x", count: 4096)
            let declared = try await rawExchange(port: harness.port, chunks: [(
                "POST /me/notifications/ HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer t\r\nContent-Type: application/json\r\n"
                    + "Content-Length: 4096\r\n\r\n\(big)", .zero
            )])
            #expect(statuses(in: declared) == [413])
            // Chunked: the limit applies while reading.
            let chunk = String(repeating: "y", count: 800)
            let chunked = try await rawExchange(port: harness.port, chunks: [(
                "POST /api/v2/notification/notify/ HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer t\r\nContent-Type: application/json\r\n"
                    + "Transfer-Encoding: chunked\r\n\r\n320\r\n\(chunk)\r\n320\r\n\(chunk)\r\n320\r\n\(chunk)\r\n", .zero
            )])
            #expect(statuses(in: chunked) == [413])
            #expect(chunked.contains("payload_too_large"))
        }
    }

    @Test("a client that trickles its body gets 408 after the read timeout, and is disconnected")
    func slowBody() async throws {
        try await withHarness(gateway: { $0.readTimeout = .milliseconds(500) }) { harness in
            let text = try await rawExchange(port: harness.port, chunks: [
                ("POST /me/notifications/ HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer t\r\nContent-Type: application/json\r\n"
                    + "Content-Length: 100\r\n\r\n{", .milliseconds(300)),
                (" ", .milliseconds(300)),
                (" ", .milliseconds(300)),
                (" ", .zero),
            ], timeout: .seconds(5))
            // Without the read timeout the exchange would end at its own 5 s with no answer.
            #expect(statuses(in: text) == [408])
        }
    }

    @Test("a client that never finishes its head gets 408 after the head timeout, and is disconnected")
    func slowHead() async throws {
        try await withHarness(gateway: { $0.headTimeout = .milliseconds(500) }) { harness in
            let text = try await rawExchange(port: harness.port, chunks: [("POST /me/notifications/ HTTP/1.1\r\nHost: x\r\n", .zero)], timeout: .seconds(15))
            // Without the head timeout the connection would stay open past the exchange's 15 s.
            #expect(statuses(in: text) == [408], "\(text)")
        }
    }

    @Test("at the connection limit a new client waits in the backlog until a connection closes")
    func connectionLimit() async throws {
        try await withHarness(gateway: { $0.maxConnections = 2 }) { harness in
            var open: [any Channel] = []
            for _ in 0..<2 {
                open.append(try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton).connect(host: "127.0.0.1", port: harness.port).get())
            }
            let clock = ContinuousClock()
            let start = clock.now
            let third = Task {
                let text = try await rawExchange(
                    port: harness.port, chunks: [("GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", .zero)]
                )
                return (text, clock.now - start)
            }
            try await Task.sleep(for: .milliseconds(700))
            try await open[0].close()
            let (text, answeredAfter) = try await third.value
            #expect(statuses(in: text) == [200])
            #expect(answeredAfter >= .milliseconds(700))
            try await open[1].close()
        }
    }

    @Test("an oversized header section is refused with 400")
    func headerLimit() async throws {
        try await withHarness(gateway: { $0.maxHeaderListSize = 4096 }) { harness in
            let huge = String(repeating: "a", count: 8192)
            let text = try await rawExchange(port: harness.port, chunks: [("GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: \(huge)\r\n\r\n", .zero)])
            #expect(statuses(in: text) == [400])
        }
    }

    @Test("HTTPS through NotifyTLS: the gateway answers over TLS, verified against its CA")
    func https() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let files = try DevelopmentCertificates.ensure(in: directory.path)
        try await withHarness(gateway: {
            $0.tls = .server(certificateChainFile: files.serverCertificate, privateKeyFile: files.serverKey, applicationProtocols: [])
        }) { harness in
            let tls = try TLSContext(configuration: .client(trustRootsFile: files.caCertificate, serverName: "localhost", applicationProtocols: []))
            let text = try await rawExchange(
                port: harness.port, chunks: [("GET /healthz HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n", .zero)], tls: tls
            )
            #expect(statuses(in: text) == [200])
            #expect(text.contains(#""status":"ok""#))
            // A plain-HTTP client on the TLS port gets no HTTP answer.
            let plain = try await rawExchange(port: harness.port, chunks: [("GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n", .zero)], timeout: .seconds(5))
            #expect(statuses(in: plain).isEmpty)
        }
    }
}
