import Foundation
import Logging
import NIOCore
import NIOEmbedded
import NIOHTTP1
import NIOPosix
import NotifyClient
@testable import NotifyGateway
import NotifyTesting
import Testing

/// ``GatewayConnectionHandler`` behind the gateway's own pipeline
/// (``RequestHeadWatcher`` and NIO's request decoder) in a
/// `NIOAsyncTestingChannel`: requests go in as bytes, answers come out as
/// bytes, and the channel's writability and the loop's clock are the test's.
/// The responder is the real one; the requests that need the RPC service go
/// to a real in-process server, and the others (`/healthz`, a refusal) never
/// reach it.
@Suite("GatewayConnectionHandler: HTTP bytes in and out of a testing channel")
struct GatewayConnectionHandlerTests {
    /// An upstream that is never called: the requests of these tests are
    /// answered by the gateway itself.
    private static let unusedUpstream = GatewayConfiguration.Upstream.remote(
        ClientConfiguration(host: "127.0.0.1", port: 9, trustRootsFile: "")
    )

    /// A channel with the gateway's pipeline, connected.
    private static func connection(
        upstream: GatewayConfiguration.Upstream = unusedUpstream, configure: (inout GatewayConfiguration) -> Void = { _ in }
    ) async throws -> NIOAsyncTestingChannel {
        var configuration = GatewayConfiguration(upstream: upstream)
        configure(&configuration)
        let settled = configuration
        let logger = Logger(label: "notify.test", factory: { _ in SwiftLogNoOpLogHandler() })
        let responder = GatewayResponder(
            configuration: settled,
            upstream: UpstreamPool(configuration: settled, group: MultiThreadedEventLoopGroup.singleton, logger: logger),
            tasks: GatewayTasks(), logger: logger
        )
        let channel = try await NIOAsyncTestingChannel { channel in
            try channel.pipeline.syncOperations.addHandlers([
                RequestHeadWatcher(),
                ByteToMessageHandler(HTTPRequestDecoder(leftOverBytesStrategy: .dropBytes, informationalResponseStrategy: .drop)),
                GatewayConnectionHandler(
                    responder: responder, maxBodySize: settled.maxBodySize, readTimeout: TimeAmount(settled.readTimeout),
                    idleTimeout: TimeAmount(settled.idleTimeout), answerTimeout: TimeAmount(settled.rpcTimeout),
                    headTimeout: TimeAmount(settled.headTimeout), heartbeat: TimeAmount(settled.eventHeartbeat), peer: "127.0.0.1"
                ),
            ])
        }
        try await channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 40000)).get()
        return channel
    }

    /// Everything the handler wrote so far, as text.
    private static func written(_ channel: NIOAsyncTestingChannel) async throws -> String {
        var text = ""
        while let buffer = try await channel.readOutbound(as: ByteBuffer.self) { text += String(buffer: buffer) }
        return text
    }

    /// Waits for the handler's next write (an answer made on another thread).
    private static func nextWrite(_ channel: NIOAsyncTestingChannel) async throws -> String {
        String(buffer: try await channel.waitForOutboundWrite(as: ByteBuffer.self))
    }

    private static let health = "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"

    @Test("keep-alive: one request after another on the same connection, each answered, the connection kept")
    func keepAlive() async throws {
        let channel = try await Self.connection()
        try await channel.writeInbound(ByteBuffer(string: Self.health))
        let first = try await Self.written(channel)
        #expect(statuses(in: first) == [200])
        #expect(first.contains("\"status\":\"ok\""))
        #expect(!first.contains("Connection: close"))
        try await channel.writeInbound(ByteBuffer(string: Self.health))
        #expect(statuses(in: try await Self.written(channel)) == [200])
        #expect(channel.isActive)
        _ = try await channel.finish()
    }

    @Test("pipelined requests in one read are answered in order; a request with Connection: close ends it and closes")
    func pipelining() async throws {
        let channel = try await Self.connection()
        let requests = Self.health + "GET /nowhere HTTP/1.1\r\nHost: x\r\n\r\n" + "POST /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n"
            + "GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n" + Self.health
        try await channel.writeInbound(ByteBuffer(string: requests))
        let text = try await Self.written(channel)
        // The request after the one that closes is never answered.
        #expect(statuses(in: text) == [200, 404, 405, 200])
        #expect(text.components(separatedBy: "Connection: close").count == 2)
        try await channel.closeFuture.get()
        #expect(!channel.isActive)
    }

    @Test("a request split across many reads is answered once it is whole")
    func splitRequest() async throws {
        let channel = try await Self.connection()
        for byte in Self.health.utf8 {
            try await channel.writeInbound(ByteBuffer(bytes: [byte]))
        }
        #expect(statuses(in: try await Self.written(channel)) == [200])
        _ = try await channel.finish()
    }

    @Test("a declared body over the limit answers 413 before it is read, and the connection closes")
    func declaredBodyTooLarge() async throws {
        let channel = try await Self.connection { $0.maxBodySize = 16 }
        try await channel.writeInbound(ByteBuffer(
            string: "POST /me/notifications/ HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 17\r\n\r\n"
        ))
        let text = try await Self.written(channel)
        #expect(statuses(in: text) == [413])
        #expect(text.contains("Connection: close"))
        try await channel.closeFuture.get()
    }

    @Test("a chunked body that grows over the limit answers 413 and the connection closes")
    func chunkedBodyTooLarge() async throws {
        let channel = try await Self.connection { $0.maxBodySize = 16 }
        try await channel.writeInbound(ByteBuffer(
            string: "POST /me/notifications/ HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
                + "a\r\n0123456789\r\n"
        ))
        #expect(try await Self.written(channel).isEmpty)
        try await channel.writeInbound(ByteBuffer(string: "a\r\n0123456789\r\n"))
        #expect(statuses(in: try await Self.written(channel)) == [413])
        try await channel.closeFuture.get()
    }

    @Test("a malformed request behind a good one in the same read: the good one is answered first, then 400, then the close")
    func malformedBehind() async throws {
        let channel = try await Self.connection()
        try await channel.writeInbound(ByteBuffer(string: Self.health + "GET / HTTP/1.1\r\nHost: x\r\nBad Header\r\n\r\n"))
        let text = try await Self.written(channel)
        #expect(statuses(in: text) == [200, 400])
        try await channel.closeFuture.get()
    }

    @Test("a request line with no HTTP version is refused at once with 400")
    func noVersion() async throws {
        let channel = try await Self.connection()
        try await channel.writeInbound(ByteBuffer(string: "GET /\r\n"))
        #expect(statuses(in: try await Self.written(channel)) == [400])
        try await channel.closeFuture.get()
    }

    @Test("while the channel cannot write, pipelined requests wait unanswered; once it can, they are answered in order")
    func backPressure() async throws {
        let channel = try await Self.connection()
        channel.isWritable = false
        try await channel.writeInbound(ByteBuffer(string: Self.health + "GET /nowhere HTTP/1.1\r\nHost: x\r\n\r\n"))
        #expect(try await Self.written(channel).isEmpty)
        channel.isWritable = true
        channel.pipeline.fireChannelWritabilityChanged()
        #expect(statuses(in: try await Self.written(channel)) == [200, 404])
        _ = try await channel.finish()
    }

    @Test("a head begun and not finished within the head timeout gets 408, then the close")
    func headTimeout() async throws {
        let channel = try await Self.connection { $0.headTimeout = .milliseconds(200) }
        try await channel.writeInbound(ByteBuffer(string: "GET /healthz HTTP/1.1\r\nHo"))
        // The handler reads the real clock when its timer fires: let it pass the deadline.
        let passed = NIODeadline.now() + .milliseconds(250)
        while NIODeadline.now() < passed { try await Task.sleep(for: .milliseconds(50)) }
        await channel.testingEventLoop.advanceTime(to: .now())
        #expect(statuses(in: try await Self.written(channel)) == [408])
        try await channel.closeFuture.get()
    }

    @Test("a connection that sends nothing within the head timeout is closed with no answer")
    func silentConnection() async throws {
        let channel = try await Self.connection { $0.headTimeout = .milliseconds(200) }
        let passed = NIODeadline.now() + .milliseconds(250)
        while NIODeadline.now() < passed { try await Task.sleep(for: .milliseconds(50)) }
        await channel.testingEventLoop.advanceTime(to: .now())
        try await channel.closeFuture.get()
        #expect(try await Self.written(channel).isEmpty)
    }

    @Test("graceful shutdown closes an idle connection at once")
    func quiesceIdle() async throws {
        let channel = try await Self.connection()
        try await channel.writeInbound(ByteBuffer(string: Self.health))
        #expect(statuses(in: try await Self.written(channel)) == [200])
        channel.pipeline.fireUserInboundEventTriggered(ChannelShouldQuiesceEvent())
        try await channel.closeFuture.get()
    }

    @Test("an RPC answered by a real in-process server on its own thread comes back to the connection, in order with the next request")
    func inProcessAnswer() async throws {
        try await withTestServer { server in
            let channel = try await Self.connection(upstream: .local(server.endpoint))
            let body = #"{"payload": {"visualContent": {"title": "t"}}}"#
            let post = "POST /me/notifications/ HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                + "Content-Length: \(body.utf8.count)\r\n\r\n\(body)"
            try await channel.writeInbound(ByteBuffer(string: post + Self.health))
            var text = try await Self.nextWrite(channel)
            while statuses(in: text).count < 2 { text += try await Self.nextWrite(channel) }
            // No token: the service refuses it, and the gateway maps that to Graph's 401.
            #expect(statuses(in: text) == [401, 200])
            _ = try await channel.finish(acceptAlreadyClosed: true)
        }
    }
}
