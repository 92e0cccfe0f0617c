import Foundation
import NIOCore
import NIOPosix
import NotifyClient
import NotifyCore
import NotifyMessages
import NotifyTesting
import NotifyWire
import Testing

/// The `notifyd` built with the tests; the suite is skipped without it.
private let notifyd = NotifydProcess.executable()

/// A child notifyd with a small `--max-connections`: connections past it are
/// accepted and closed at once, while the connections already open and the
/// gateway's health keep answering.
@Suite(
    "RPC listener abuse: the connection cap and the first-call timeout (child notifyd)",
    .enabled(if: notifyd != nil, "no notifyd executable next to the test bundle (build it, or set NOTIFYD_PATH)")
)
struct ConnectionCapAbuseTests {
    static func serve(_ arguments: [String], gateway: Bool = false) async throws -> (NotifydProcess, TemporaryDirectory) {
        let scratch = try TemporaryDirectory()
        let server = try await NotifydProcess.serve(
            executable: try #require(notifyd), dataDirectory: scratch.path + "/data", arguments: arguments, gateway: gateway
        )
        return (server, scratch)
    }

    static func client(of server: NotifydProcess) -> NotifyClient {
        var configuration = ClientConfiguration(host: "127.0.0.1", port: server.port, trustRootsFile: server.caFile)
        configuration.defaultTimeout = .seconds(20)
        configuration.connectTimeout = .seconds(20)
        return NotifyClient(configuration: configuration)
    }

    /// A connection that completed TLS and read its settings frame, or nil
    /// when the server closed it first.
    static func settled(_ server: NotifydProcess) async -> RawConnection? {
        guard let connection = try? await RawConnection.connect(port: server.port, caFile: server.caFile) else { return nil }
        guard case .settings = try? await connection.next() else {
            await connection.close()
            return nil
        }
        return connection
    }

    /// GET /healthz over plain HTTP/1.1; the status line and how long it took.
    static func healthz(port: Int) async throws -> (String, Duration) {
        let started = ContinuousClock.now
        let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .connect(host: "127.0.0.1", port: port) { channel in
                channel.eventLoop.makeCompletedFuture {
                    try NIOAsyncChannel<ByteBuffer, ByteBuffer>(wrappingChannelSynchronously: channel)
                }
            }
        let text = try await channel.executeThenClose { inbound, outbound in
            try await outbound.write(ByteBuffer(string: "GET /healthz HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"))
            var text = ""
            for try await chunk in inbound { text += String(buffer: chunk) }
            return text
        }
        // "\r\n" is one Character: split on the unicode scalars.
        let statusLine = String(String.UnicodeScalarView(text.unicodeScalars.prefix { $0 != "\r" }))
        return (statusLine, ContinuousClock.now - started)
    }

    @Test("past --max-connections a connection is accepted and closed at once; the open ones and /healthz keep answering", .timeLimit(.minutes(2)))
    func capRefusesAndKeepsServing() async throws {
        let cap = 6
        let (server, scratch) = try await Self.serve(["--max-connections", "\(cap)"], gateway: true)
        defer { scratch.remove() }
        // One connection in use by a client, and the rest of the cap held idle.
        let client = Self.client(of: server)
        #expect(try await client.health().status == .serving)
        var held: [RawConnection] = []
        for _ in 0..<(cap - 1) {
            held.append(try #require(await Self.settled(server), "connection \(held.count + 2) of \(cap) was refused"))
        }
        // Past the cap: every one is closed before any TLS.
        var refused = 0
        let started = ContinuousClock.now
        for _ in 0..<20 where await Self.settled(server) == nil { refused += 1 }
        let refusing = ContinuousClock.now - started
        print("ConnectionCapAbuseTests: 20 connections past a cap of \(cap) refused in \(refusing)")
        #expect(refused == 20)
        #expect(refusing < .seconds(20), "a refused connection is closed at once, not left to time out")
        // The connection already open still answers, and so does the gateway.
        #expect(try await client.health().status == .serving)
        let (status, took) = try await Self.healthz(port: try #require(server.httpPort))
        print("ConnectionCapAbuseTests: /healthz at the cap: \(status) in \(took)")
        #expect(status.hasPrefix("HTTP/1.1 200"))
        #expect(took < .seconds(5))
        // A place freed is taken again.
        await held.removeLast().close()
        var readmitted: RawConnection?
        let deadline = ContinuousClock.now + .seconds(20)
        while readmitted == nil, ContinuousClock.now < deadline {
            readmitted = await Self.settled(server)
            if readmitted == nil { try await Task.sleep(for: .milliseconds(100)) }
        }
        #expect(readmitted != nil, "a connection is accepted again once one closed")
        await readmitted?.close()
        for connection in held { await connection.close() }
        await client.close()
        #expect(server.log.contains("connection limit reached"))
        server.signal(SIGTERM)
        _ = await server.waitForExit(timeout: .seconds(30))
    }

    @Test("a connection that never calls is closed after --first-call-timeout; one that called is not", .timeLimit(.minutes(2)))
    func firstCallTimeout() async throws {
        let (server, scratch) = try await Self.serve(["--first-call-timeout", "1"])
        defer { scratch.remove() }
        let silent = try #require(await Self.settled(server))
        let started = ContinuousClock.now
        let caller = try #require(await Self.settled(server))
        try await caller.writeRaw(FrameAbuseTests.requestFrame(method: FrameAbuseTests.health))
        guard case .response(let response) = try #require(try await caller.next()) else {
            Issue.record("expected the health answer")
            return
        }
        #expect(response.status == .ok)

        let frames = await FrameAbuseTests.framesUntilClosed(silent)
        let closedAfter = ContinuousClock.now - started
        print("ConnectionCapAbuseTests: a connection with no call closed \(closedAfter) after its settings frame (timeout 1 s)")
        guard case .goAway(let goAway) = frames.first else {
            Issue.record("expected a goaway, got \(frames)")
            return
        }
        #expect(goAway.status == .ok)
        #expect(frames.count == 1)
        #expect(closedAfter >= .milliseconds(500))
        #expect(closedAfter < .seconds(15))

        // Past the first-call timeout, well within the idle timeout: the
        // connection that called still answers.
        try await Task.sleep(for: .seconds(1))
        try await caller.write([.ping(7)])
        #expect(try await caller.next() == .pong(7))
        await caller.close()
        await silent.close()
        server.signal(SIGTERM)
        _ = await server.waitForExit(timeout: .seconds(30))
    }

    @Test("an explicit --max-connections that the open-file limit cannot hold is refused at start")
    func capPastFileLimit() async throws {
        let scratch = try TemporaryDirectory()
        defer { scratch.remove() }
        let outcome = try await NotifydProcess.run(
            ["serve", "--data-dir", scratch.path + "/data", "--rpc-port", "0", "--no-gateway", "--max-connections", "100000000"],
            executable: try #require(notifyd), scratch: scratch.path
        )
        #expect(outcome.status != 0)
        #expect(outcome.standardError.contains("open-file limit"), "\(outcome.standardError)")
    }
}
