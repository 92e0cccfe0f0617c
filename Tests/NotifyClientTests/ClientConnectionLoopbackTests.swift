import NIOCore
import NIOPosix
import NotifyClient
import NotifyTLS
import NotifyTesting
import NotifyWire
import Testing

/// ``NotifyClient`` over real TLS on loopback against a server that follows
/// the protocol only as far as a test needs: it announces its settings, then
/// closes the connection a moment after the first request, answering nothing.
@Suite("NotifyClient over loopback TLS: a connection that closes under waiting calls")
struct ClientConnectionLoopbackTests {
    /// Sends `settings` and, a second after the first request, closes.
    final class ClosingServerHandler: ChannelInboundHandler, Sendable {
        typealias InboundIn = Frame
        typealias OutboundOut = Frame

        let settings: Settings

        init(settings: Settings) {
            self.settings = settings
        }

        func channelActive(context: ChannelHandlerContext) {
            context.writeAndFlush(wrapOutboundOut(.settings(settings)), promise: nil)
            context.fireChannelActive()
        }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            guard case .request = unwrapInboundIn(data) else { return }
            // Time for the client to start its other calls, which wait behind this one.
            let channel = context.channel
            context.eventLoop.scheduleTask(in: .seconds(1)) { channel.close(promise: nil) }
        }
    }

    @Test("calls waiting for a slot when the connection closes fail UNAVAILABLE at once, with the call in flight")
    func closeFailsWaitingCalls() async throws {
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
                        ClosingServerHandler(settings: Settings(maxConcurrentCalls: 1)),
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
        let reasons = try await withThrowingTaskGroup(of: String?.self) { group in
            for _ in 0..<3 {
                group.addTask {
                    do throws(RPCError) {
                        _ = try await client.callRaw("/notify.v1.Test/Call", payload: ByteBuffer(string: "x"))
                        return "OK"
                    } catch {
                        return error.code == .unavailable ? error.reason : error.description
                    }
                }
            }
            // Generous: the close comes a second after the first request.
            group.addTask {
                try await Task.sleep(for: .seconds(20))
                return nil
            }
            var reasons: [String] = []
            for try await reason in group {
                guard let reason else { break }
                reasons.append(reason)
                if reasons.count == 3 { break }
            }
            group.cancelAll()
            return reasons
        }
        #expect(reasons == ["CONNECTION_CLOSED", "CONNECTION_CLOSED", "CONNECTION_CLOSED"])
        await client.close()
        try await server.close()
    }
}
