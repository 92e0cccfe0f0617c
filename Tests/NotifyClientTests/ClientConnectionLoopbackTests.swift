import NIOCore
import NotifyCore
import NIOPosix
import NotifyClient
import NotifyTLS
import NotifyTesting
import NotifyWire
import Testing

/// ``NotifyClient`` over real TLS on loopback against a server that follows
/// the protocol only as far as a test needs: it announces its settings, sends
/// a scripted reply to the first request, and closes a second later.
@Suite("NotifyClient over loopback TLS against a scripted server: goaway and close")
struct ClientConnectionLoopbackTests {
    /// Sends `settings`; after the first request, sends `reply` (with
    /// `{id}` frames made for that request's id) and, a second later, closes.
    final class ScriptedServerHandler: ChannelInboundHandler, Sendable {
        typealias InboundIn = Frame
        typealias OutboundOut = Frame

        let settings: Settings
        let reply: @Sendable (UInt64) -> [Frame]

        init(settings: Settings, reply: @escaping @Sendable (UInt64) -> [Frame] = { _ in [] }) {
            self.settings = settings
            self.reply = reply
        }

        func channelActive(context: ChannelHandlerContext) {
            context.writeAndFlush(wrapOutboundOut(.settings(settings)), promise: nil)
            context.fireChannelActive()
        }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            guard case .request(let request) = unwrapInboundIn(data), request.callID == 1 else { return }
            for frame in reply(request.callID) { context.write(wrapOutboundOut(frame), promise: nil) }
            context.flush()
            // Time for the client to start its other calls, and to act on the reply.
            let channel = context.channel
            context.eventLoop.scheduleTask(in: .seconds(1)) { channel.close(promise: nil) }
        }
    }

    /// A scripted server on loopback TLS and a client of it with no default deadline.
    private static func withScriptedServer(
        settings: Settings, reply: @escaping @Sendable (UInt64) -> [Frame] = { _ in [] },
        _ body: (NotifyClient) async throws -> Void
    ) async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let files = try DevelopmentCertificates.ensure(in: directory.path)
        let context = try TLSContext(configuration: .server(
            certificateChainFile: files.serverCertificate, privateKeyFile: files.serverKey, applicationProtocols: ["notify/1"]
        ))
        let server = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandlers([
                        TLSHandler(context: context, handshakeTimeout: .seconds(30)),
                        ByteToMessageHandler(FrameDecoder()), MessageToByteHandler(FrameEncoder()),
                        ScriptedServerHandler(settings: settings, reply: reply),
                    ])
                }
            }
            .bind(host: "127.0.0.1", port: 0)
            .get()
        var configuration = ClientConfiguration(
            host: "127.0.0.1", port: server.localAddress?.port ?? 0, trustRootsFile: files.caCertificate, serverName: "localhost"
        )
        configuration.connectTimeout = .seconds(30)
        // No deadline: a call nobody fails waits for ever.
        configuration.defaultTimeout = nil
        let client = NotifyClient(configuration: configuration)
        do {
            try await body(client)
        } catch {
            await client.close()
            try await server.close()
            throw error
        }
        await client.close()
        try await server.close()
    }

    /// Makes `count` calls at once; returns each one's outcome ("OK", or the
    /// error's reason for UNAVAILABLE, or its description), in the order
    /// they ended, within a generous 20 s.
    private static func outcomes(of count: Int, on client: NotifyClient) async throws -> [String] {
        try await withThrowingTaskGroup(of: String?.self) { group in
            for _ in 0..<count {
                group.addTask {
                    do throws(RPCError) {
                        _ = try await client.callRaw("/notify.v1.Test/Call", payload: ByteBuffer(string: "x"))
                        return "OK"
                    } catch {
                        return error.code == .unavailable ? (error.reason?.rawValue ?? "") : error.description
                    }
                }
            }
            group.addTask {
                try await Task.sleep(for: .seconds(20))
                return nil
            }
            var outcomes: [String] = []
            for try await outcome in group {
                guard let outcome else { break }
                outcomes.append(outcome)
                if outcomes.count == count { break }
            }
            group.cancelAll()
            return outcomes
        }
    }

    @Test("calls waiting for a slot when the connection closes fail UNAVAILABLE at once, with the call in flight")
    func closeFailsWaitingCalls() async throws {
        try await Self.withScriptedServer(settings: Settings(maxConcurrentCalls: 1)) { client in
            let outcomes = try await Self.outcomes(of: 3, on: client)
            #expect(outcomes == ["CONNECTION_CLOSED", "CONNECTION_CLOSED", "CONNECTION_CLOSED"])
        }
    }

    @Test("a goaway with last_call_id 0 fails the call in flight GOING_AWAY at once, before the connection closes")
    func goAwayZero() async throws {
        let goAway: @Sendable (UInt64) -> [Frame] = { _ in [.goAway(GoAwayFrame(lastCallID: 0, status: .unavailable, message: "draining"))] }
        try await Self.withScriptedServer(settings: Settings(maxConcurrentCalls: 1), reply: goAway) { client in
            // Not CONNECTION_CLOSED, which the close a second later would give.
            let outcomes = try await Self.outcomes(of: 1, on: client)
            #expect(outcomes == ["GOING_AWAY"])
        }
    }

    @Test("after a connection-error goaway the call at or below last_call_id still gets the server's answer")
    func goAwayErrorAnswered() async throws {
        let reply: @Sendable (UInt64) -> [Frame] = { id in [
            .goAway(GoAwayFrame(lastCallID: id, status: .invalidArgument, message: "a later frame did not decode")),
            .response(ResponseFrame(callID: id, payload: ByteBuffer(string: "stored"))),
        ] }
        try await Self.withScriptedServer(settings: Settings(maxConcurrentCalls: 1), reply: reply) { client in
            let outcomes = try await Self.outcomes(of: 1, on: client)
            #expect(outcomes == ["OK"])
        }
    }
}
