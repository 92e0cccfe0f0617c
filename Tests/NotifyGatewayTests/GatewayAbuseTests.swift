import CompressNIO
import Foundation
import NIOCore
import NIOHTTP1
import NIOPosix
import NotifyGateway
import NotifyStorageSQLite
import NotifyTesting
import Testing

/// The gateway against clients that hold connections without finishing a
/// request (slowloris) and against one address opening too many: bounded,
/// on loopback, with generous time bounds.
@Suite("Gateway abuse: slow heads are cut at the head timeout, one address cannot take every connection")
struct GatewayAbuseTests {
    static let healthz = "GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"

    @Test("slowloris: 40 connections trickling their heads fill the connection limit; each is cut with 408 at the head timeout, and a normal request is answered within seconds")
    func slowloris() async throws {
        let slow = 40
        try await withHarness(gateway: {
            $0.maxConnections = slow
            $0.maxConnectionsPerAddress = nil
            $0.headTimeout = .seconds(2)
            $0.idleTimeout = .seconds(60)
        }) { harness in
            let clock = ContinuousClock()
            let (text, waited, slowOnes) = try await withThrowingTaskGroup(of: SlowClient.Outcome.self) { group in
                for _ in 0..<slow {
                    group.addTask {
                        try await SlowClient.run(port: harness.port, interval: .milliseconds(500), limit: .seconds(40))
                    }
                }
                // Every place is taken before the normal client comes.
                try await Task.sleep(for: .seconds(1))
                let start = clock.now
                let text = try await rawExchange(port: harness.port, chunks: [(Self.healthz, .zero)], timeout: .seconds(45))
                let waited = clock.now - start
                var outcomes: [SlowClient.Outcome] = []
                for try await outcome in group { outcomes.append(outcome) }
                return (text, waited, outcomes)
            }
            print("figure: with \(slow) slow connections filling --http-max-connections, a normal request was answered after \(waited)")
            #expect(statuses(in: text) == [200], "\(text)")
            // Without the head timeout it waits for the idle timeout (60 s) and the exchange's 45 s run out.
            #expect(waited < .seconds(20))
            #expect(slowOnes.count == slow)
            for outcome in slowOnes {
                #expect(statuses(in: outcome.received) == [408], "\(outcome.received)")
                #expect(outcome.held >= .milliseconds(1900))
                #expect(outcome.held < .seconds(20))
            }
            let longest = slowOnes.map(\.held).max() ?? .zero
            print("figure: the slow connections were held at most \(longest) (head timeout 2 s)")
        }
    }

    @Test("a keep-alive connection idle longer than the head timeout is still served: between requests the idle timeout applies")
    func keepAliveKeepsIdleTimeout() async throws {
        try await withHarness(gateway: { $0.headTimeout = .seconds(1); $0.idleTimeout = .seconds(60) }) { harness in
            let text = try await rawExchange(port: harness.port, chunks: [
                ("GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n", .milliseconds(2500)), (Self.healthz, .zero),
            ], timeout: .seconds(20))
            #expect(statuses(in: text) == [200, 200], "\(text)")
        }
    }

    @Test("past --http-max-connections-per-address an address gets 503 with Retry-After and a close; another address is served; a place freed is taken again")
    func perAddressLimit() async throws {
        try await withHarness(gateway: {
            $0.maxConnectionsPerAddress = 4
            $0.maxConnections = 100
            $0.headTimeout = .seconds(60)
        }) { harness in
            var open: [any Channel] = []
            for _ in 0..<4 {
                open.append(try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
                    .bind(to: try SocketAddress(ipAddress: "127.0.0.2", port: 0))
                    .connect(host: "127.0.0.1", port: harness.port).get())
            }
            // Each connection is counted on its own event loop once accepted: give
            // the four time to be counted, so that the fifth is the one refused.
            try await Task.sleep(for: .seconds(1))
            let refused = try await rawExchange(
                port: harness.port, chunks: [(Self.healthz, .zero)], timeout: .seconds(15), source: "127.0.0.2"
            )
            #expect(statuses(in: refused) == [503], "\(refused)")
            #expect(refused.contains("Retry-After: 1"))
            let other = try await rawExchange(port: harness.port, chunks: [(Self.healthz, .zero)], timeout: .seconds(15), source: "127.0.0.1")
            #expect(statuses(in: other) == [200], "\(other)")

            try await open.removeFirst().close()
            // The gateway sees the close a moment later: try for up to 10 s.
            var again: [Int] = []
            for _ in 0..<100 {
                again = statuses(in: try await rawExchange(
                    port: harness.port, chunks: [(Self.healthz, .zero)], timeout: .seconds(15), source: "127.0.0.2"
                ))
                if again == [200] { break }
                try await Task.sleep(for: .milliseconds(100))
            }
            #expect(again == [200])
            for channel in open { try? await channel.close() }
        }
    }
}

/// A client that sends a request head one byte at a time and never finishes it.
enum SlowClient {
    struct Outcome: Sendable {
        /// What the gateway sent before it closed ("<timeout>" when it did not within the limit).
        let received: String
        /// From the connect to the close.
        let held: Duration
    }

    static func run(port: Int, interval: Duration, limit: Duration) async throws -> Outcome {
        let channel = try await connectRaw(port: port)
        let clock = ContinuousClock()
        let start = clock.now
        let head = Array("GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ".utf8) + Array(repeating: UInt8(ascii: "a"), count: 1000)
        let received = try await channel.executeThenClose { inbound, outbound in
            try await withThrowingTaskGroup(of: String?.self) { group in
                group.addTask {
                    var received = ""
                    do {
                        for try await buffer in inbound { received += String(buffer: buffer) }
                    } catch {}
                    return received
                }
                group.addTask {
                    for byte in head where clock.now - start < limit {
                        do { try await outbound.write(ByteBuffer(bytes: [byte])) } catch { break }
                        try await Task.sleep(for: interval)
                    }
                    let left = limit - (clock.now - start)
                    if left > .zero { try await Task.sleep(for: left) }
                    return nil
                }
                let first = try await group.next() ?? nil
                group.cancelAll()
                return first ?? "<timeout>"
            }
        }
        return Outcome(received: received, held: clock.now - start)
    }
}

/// What RFC 9112 makes a server refuse, over a real socket.
@Suite("Gateway HTTP/1.1 conformance: Host, transfer codings, HTTP/0.9, whole compressed bodies")
struct GatewayConformanceTests {
    @Test("HTTP/1.1 with no Host or two Host headers answers 400 and closes; HTTP/1.0 without Host is served")
    func host() async throws {
        try await withHarness { harness in
            let none = try await rawExchange(port: harness.port, chunks: [("GET /healthz HTTP/1.1\r\n\r\n", .zero)], timeout: .seconds(15))
            #expect(statuses(in: none) == [400], "\(none)")
            #expect(none.contains("Connection: close"))
            let two = try await rawExchange(
                port: harness.port, chunks: [("GET /healthz HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", .zero)], timeout: .seconds(15)
            )
            #expect(statuses(in: two) == [400], "\(two)")
            let old = try await rawExchange(port: harness.port, chunks: [("GET /healthz HTTP/1.0\r\n\r\n", .zero)], timeout: .seconds(15))
            #expect(statuses(in: old) == [200], "\(old)")
        }
    }

    @Test("Transfer-Encoding with a coding other than chunked answers 501 and closes")
    func transferCoding() async throws {
        try await withHarness { harness in
            let text = try await rawExchange(port: harness.port, chunks: [(
                "POST /me/notifications/ HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer t\r\nContent-Type: application/json\r\n"
                    + "Transfer-Encoding: gzip, chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n", .zero
            )], timeout: .seconds(15))
            #expect(statuses(in: text) == [501], "\(text)")
            #expect(text.contains("Connection: close"))
            // A last coding other than chunked leaves the body's length unknown: the parser refuses it.
            let notLast = try await rawExchange(port: harness.port, chunks: [(
                "POST /me/notifications/ HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                    + "Transfer-Encoding: chunked, gzip\r\n\r\n2\r\n{}\r\n0\r\n\r\n", .zero
            )], timeout: .seconds(15))
            #expect(statuses(in: notLast) == [400], "\(notLast)")
        }
    }

    @Test("an HTTP/0.9 request line answers 400 at once, not after a timeout")
    func http09() async throws {
        try await withHarness { harness in
            let clock = ContinuousClock()
            let start = clock.now
            // The exchange gives up after 8 s, before the head timeout's 10 s.
            let text = try await rawExchange(port: harness.port, chunks: [("GET /\r\n", .zero)], timeout: .seconds(8))
            #expect(statuses(in: text) == [400], "\(text)")
            #expect(clock.now - start < .seconds(8))
        }
    }

    @Test("a gzip or deflate body cut short, without its trailer, or followed by more bytes answers 400; the whole one 201",
          arguments: ["gzip", "deflate"])
    func wholeCompressedBody(encoding: String) async throws {
        try await withHarness { harness in
            let uns = try await harness.subscription(user: 2)
            let headers = [
                ("Authorization", "Bearer \(try await harness.server.adminToken())"), ("X-UNS-ID", uns),
                ("Content-Type", "application/json"), ("Content-Encoding", encoding),
            ]
            var plain = ByteBuffer(string: #"{"payload": {"rawContent": "\#(String(repeating: "whole ", count: 50))"}}"#)
            let whole = try plain.compress(with: encoding == "gzip" ? .gzip() : .zlib())
            // gzip ends with an 8-byte trailer (CRC-32, length), zlib with a 4-byte Adler-32.
            let trailer = encoding == "gzip" ? 8 : 4
            let cuts: [(String, ByteBuffer)] = [
                ("no trailer", whole.getSlice(at: whole.readerIndex, length: whole.readableBytes - trailer) ?? whole),
                ("half", whole.getSlice(at: whole.readerIndex, length: whole.readableBytes / 2) ?? whole),
                ("bytes after", {
                    var longer = whole
                    longer.writeImmutableBuffer(whole)
                    return longer
                }()),
            ]
            for (name, body) in cuts {
                let answer = try await harness.send(.POST, "/me/notifications/", headers: headers, body: body)
                #expect(answer.status == 400, "\(name): \(answer.text)")
            }
            let answer = try await harness.send(.POST, "/me/notifications/", headers: headers, body: whole)
            #expect(answer.status == 201, "\(answer.text)")
            let feed = try await harness.server.store.feed(user: 2, after: 0, limit: 10)
            #expect(feed.count == 1)
        }
    }
}
