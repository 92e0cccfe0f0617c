import Foundation
import Logging
import NIOCore
import NotifyCore
import NIOEmbedded
import NotifyMessages
import NotifyProtobuf
@testable import NotifyServer
import NotifyTLS
import NotifyWire
import Synchronization
import MetricsTestKit
import Testing

/// The connection handler on an `EmbeddedChannel`: frames in, frames out,
/// no socket and no TLS (the handshake is the event TLS would send).
@Suite("ServerConnectionHandler on an EmbeddedChannel")
struct ServerConnectionHandlerTests {
    /// Staged calls whose answers the test gives, one by one.
    private final class HeldCalls: Sendable {
        private let completions = Mutex<[UInt64: CallCompletion<HealthCheckResponse>]>([:])

        func add(_ callID: UInt64, _ completion: CallCompletion<HealthCheckResponse>) {
            completions.withLock { $0[callID] = completion }
        }

        var count: Int { completions.withLock { $0.count } }

        /// Answers call `callID` SERVING.
        func answer(_ callID: UInt64) {
            let completion = completions.withLock { $0.removeValue(forKey: callID) }
            completion?.finish { HealthCheckResponse(status: .serving) }
        }
    }

    /// Counts the reads the handler passes on towards the socket.
    private final class ReadCounter: ChannelOutboundHandler {
        typealias OutboundIn = ByteBuffer
        var reads = 0
        func read(context: ChannelHandlerContext) {
            reads += 1
            context.read()
        }
    }

    private static let inlineMethod = MethodDescriptor<HealthCheckRequest, HealthCheckResponse>.unary("/test/Inline")
    private static let heldMethod = MethodDescriptor<HealthCheckRequest, HealthCheckResponse>.unary("/test/Held")
    private static let inline = inlineMethod.name
    private static let held = heldMethod.name

    private struct Harness {
        let channel: EmbeddedChannel
        let handler: ServerConnectionHandler
        let calls: HeldCalls
        let reads: ReadCounter
        var decoder = FrameDecoder(maximumMessageSize: 1 << 20)

        /// The frames the handler wrote since the last call, after running the loop's pending tasks.
        mutating func written() throws -> [Frame] {
            channel.embeddedEventLoop.run()
            var frames: [Frame] = []
            while var buffer = try channel.readOutbound(as: ByteBuffer.self) {
                while let frame = try decoder.decode(buffer: &buffer) { frames.append(frame) }
            }
            return frames
        }

        func send(_ frames: Frame...) throws {
            for frame in frames { try channel.writeInbound(frame) }
            channel.pipeline.fireChannelReadComplete()
            channel.embeddedEventLoop.run()
        }

        func setWritable(_ writable: Bool) {
            channel.isWritable = writable
            channel.pipeline.fireChannelWritabilityChanged()
            channel.embeddedEventLoop.run()
        }
    }

    private func harness(
        maxConcurrentCalls: Int = 8, idleTimeout: Duration? = nil, firstCallTimeout: Duration? = nil,
        metrics: ServerMetrics? = nil
    ) throws -> Harness {
        var configuration = ServerConfiguration(
            tls: .server(certificateChainFile: "/unused", privateKeyFile: "/unused", applicationProtocols: ["notify/1"]),
            maxConcurrentCallsPerConnection: maxConcurrentCalls, idleTimeout: idleTimeout,
            firstCallTimeout: firstCallTimeout
        )
        configuration.maxMessageSize = 1 << 20
        let calls = HeldCalls()
        var router = RPCRouter(metrics: metrics)
        router.registerInline(Self.inlineMethod) { (_: HealthCheckRequest, _) in HealthCheckResponse(status: .serving) }
        router.registerStaged(Self.heldMethod) { (_: HealthCheckRequest, context, completion) in
            calls.add(context.callID, completion)
            return .started
        }
        var logger = Logger(label: "notify.test")
        logger.logLevel = .critical
        let dispatcher = Dispatcher(
            router: router, executor: CallExecutor(limit: 100, streamLimit: 10),
            maxMessageSize: configuration.maxMessageSize, logger: logger
        )
        let handler = ServerConnectionHandler(
            configuration: configuration, dispatcher: dispatcher, random: RandomPool(), logger: logger
        )
        let reads = ReadCounter()
        let channel = EmbeddedChannel()
        try channel.pipeline.syncOperations.addHandlers([reads, handler])
        try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 1)).wait()
        channel.pipeline.fireUserInboundEventTriggered(TLSEvent.handshakeCompleted(negotiatedProtocol: "notify/1"))
        return Harness(channel: channel, handler: handler, calls: calls, reads: reads)
    }

    private func request(_ callID: UInt64, _ method: String, requestID: String? = nil) -> Frame {
        var metadata = Metadata()
        if let requestID { metadata.add("x-request-id", requestID) }
        return .request(RequestFrame(
            callID: callID, method: method, metadata: metadata, payload: HealthCheckRequest().serializedBuffer()
        ))
    }

    private func responses(_ frames: [Frame]) -> [ResponseFrame] {
        frames.compactMap { if case .response(let response) = $0 { response } else { nil } }
    }

    // MARK: Frames in, frames out

    @Test("settings first, then each request answered with its call id and request id, and ping with pong")
    func framesInOut() throws {
        var h = try harness(maxConcurrentCalls: 17)
        let first = try h.written()
        guard case .settings(let settings) = first.first else {
            Issue.record("expected settings, got \(first)")
            return
        }
        #expect(settings.maxConcurrentCalls == 17)
        try h.send(request(1, Self.inline, requestID: "r-1"), request(2, "/no/such"), .ping(9))
        let frames = try h.written()
        let answers = responses(frames)
        #expect(answers.map(\.callID) == [1, 2])
        #expect(answers[0].status == .ok && answers[0].metadata["x-request-id"] == "r-1")
        #expect(answers[1].status == .unimplemented && answers[1].metadata["x-request-id"] != nil)
        #expect(frames.contains(.pong(9)))
        #expect(h.channel.isActive)
    }

    @Test("a staged call answers when its work finishes; past the limit a call is refused TOO_MANY_CALLS with retry-after")
    func limitAndRetryAfter() throws {
        let metrics = TestMetrics()
        var h = try harness(maxConcurrentCalls: 1, metrics: ServerMetrics(factory: metrics))
        _ = try h.written()
        try h.send(request(1, Self.held), request(2, Self.held))
        let refused = responses(try h.written())
        #expect(refused.map(\.callID) == [2])
        #expect(refused.first?.reason == .tooManyCalls)
        #expect(refused.first?.metadata["retry-after"] == "1")
        // Counted as shed, and as a call of its method.
        #expect(try metrics.expectCounter(ServerMetrics.Name.shed).totalValue == 1)
        let counted = try metrics.expectCounter(
            ServerMetrics.Name.calls, [("method", Self.held), ("status", "RESOURCE_EXHAUSTED")])
        #expect(counted.totalValue == 1)
        h.calls.answer(1)
        let answered = responses(try h.written())
        #expect(answered.map(\.callID) == [1])
        #expect(answered.first?.status == .ok)
    }

    @Test("a call past its deadline is answered DEADLINE_EXCEEDED and counted so; its handler's later answer is dropped and not counted")
    func deadlineCounted() throws {
        let metrics = TestMetrics()
        var h = try harness(metrics: ServerMetrics(factory: metrics))
        _ = try h.written()
        try h.send(.request(RequestFrame(
            callID: 1, method: Self.held, metadata: Metadata(), timeoutMilliseconds: 1,
            payload: HealthCheckRequest().serializedBuffer())))
        #expect(responses(try h.written()).isEmpty)
        // Deadlines are read from the real clock: let it pass, then bring the loop's clock there.
        Thread.sleep(forTimeInterval: 0.005)
        h.channel.embeddedEventLoop.advanceTime(to: .now())
        let expired = responses(try h.written())
        #expect(expired.map(\.callID) == [1])
        #expect(expired.first?.status == .deadlineExceeded)
        h.calls.answer(1)
        #expect(responses(try h.written()).isEmpty)
        let counted = metrics.counters(label: ServerMetrics.Name.calls)
        #expect(counted.map { $0.dimensions.first { $0.0 == "status" }?.1 } == ["DEADLINE_EXCEEDED"])
        #expect(counted.map(\.totalValue) == [1])
    }

    // MARK: Back-pressure

    @Test("while the channel is not writable, frames wait unhandled and reads are held back; both resume when it drains")
    func backPressure() throws {
        var h = try harness()
        _ = try h.written()
        h.channel.read()
        #expect(h.reads.reads == 1)
        h.setWritable(false)
        try h.send(request(1, Self.inline), .ping(1), request(2, Self.inline))
        #expect(try h.written().isEmpty, "nothing is handled while the client does not read")
        h.channel.read()
        #expect(h.reads.reads == 1, "the read is held back")
        h.setWritable(true)
        let frames = try h.written()
        #expect(responses(frames).map(\.callID) == [1, 2])
        #expect(frames.contains(.pong(1)))
        #expect(h.reads.reads == 2, "the read held back is made once the held frames are handled")
        try h.send(request(3, Self.inline))
        #expect(responses(try h.written()).map(\.callID) == [3])
    }

    // MARK: Goaways and drain

    @Test("graceful shutdown: goaway and ping, crossing requests answered GOING_AWAY, calls drained, closed on the pong")
    func gracefulShutdown() throws {
        var h = try harness()
        _ = try h.written()
        try h.send(request(5, Self.held))
        h.handler.beginGracefulShutdown()
        let first = try h.written()
        #expect(first.first == .goAway(GoAwayFrame(lastCallID: 5, status: .unavailable, message: "server shutting down")))
        #expect(first.contains(.ping(ServerConnectionStateMachine.goAwayPingOpaque)))
        try h.send(request(6, Self.inline))
        let crossing = responses(try h.written())
        #expect(crossing.map(\.callID) == [6])
        #expect(crossing.first?.status == .unavailable && crossing.first?.reason == .goingAway)
        h.calls.answer(5)
        #expect(responses(try h.written()).map(\.status) == [.ok])
        #expect(h.channel.isActive, "the ping is not answered yet")
        try h.send(.pong(ServerConnectionStateMachine.goAwayPingOpaque))
        #expect(!h.channel.isActive)
    }

    @Test("a client's goaway: the server's goaway with status 0 and the highest id, the call answered, then the close")
    func clientGoAway() throws {
        var h = try harness()
        _ = try h.written()
        try h.send(request(3, Self.held), request(2, Self.held), .goAway(GoAwayFrame(lastCallID: 0, status: .ok)))
        let frames = try h.written()
        guard case .goAway(let goAway) = frames.first else {
            Issue.record("expected a goaway, got \(frames)")
            return
        }
        #expect(goAway.status == .ok && goAway.lastCallID == 3)
        h.calls.answer(3)
        #expect(responses(try h.written()).map(\.callID) == [3])
        #expect(h.channel.isActive)
        h.calls.answer(2)
        #expect(responses(try h.written()).map(\.callID) == [2])
        #expect(!h.channel.isActive)
    }

    @Test("a framing error: goaway with the highest id admitted, nothing more read or handled, the calls answered, then the close")
    func framingError() throws {
        var h = try harness()
        _ = try h.written()
        try h.send(request(7, Self.held))
        h.channel.pipeline.fireErrorCaught(WireError(code: .malformedFrame, message: "not a frame"))
        let frames = try h.written()
        #expect(frames == [.goAway(GoAwayFrame(lastCallID: 7, status: .invalidArgument, message: "not a frame"))])
        h.channel.pipeline.fireErrorCaught(ByteToMessageDecoderError.dataReceivedInErrorState(
            WireError(code: .malformedFrame, message: "not a frame"), ByteBuffer()
        ))
        try h.send(request(8, Self.inline), .ping(1))
        #expect(try h.written().isEmpty)
        let reads = h.reads.reads
        h.channel.read()
        #expect(h.reads.reads == reads, "nothing more is read")
        #expect(h.channel.isActive)
        h.calls.answer(7)
        #expect(responses(try h.written()).map(\.callID) == [7])
        #expect(!h.channel.isActive)
    }

    @Test("a frame kind a client may not send is a connection error; with nothing in flight the connection closes at once")
    func forbiddenFrame() throws {
        var h = try harness()
        _ = try h.written()
        try h.send(request(1, Self.inline))
        _ = try h.written()
        try h.send(.settings(Settings(maxConcurrentCalls: 1)))
        let frames = try h.written()
        guard case .goAway(let goAway) = frames.last else {
            Issue.record("expected a goaway, got \(frames)")
            return
        }
        #expect(goAway.status == .invalidArgument && goAway.lastCallID == 1)
        #expect(!h.channel.isActive)
    }

    // MARK: Timers

    @Test("the idle timeout closes a quiet connection with a goaway naming the highest id; a call in flight keeps it")
    func idleTimeout() throws {
        var h = try harness(idleTimeout: .seconds(10))
        _ = try h.written()
        try h.send(request(4, Self.held))
        h.channel.embeddedEventLoop.advanceTime(by: .seconds(25))
        #expect(try h.written().isEmpty)
        #expect(h.channel.isActive)
        h.calls.answer(4)
        _ = try h.written()
        h.channel.embeddedEventLoop.advanceTime(by: .seconds(25))
        let frames = try h.written()
        #expect(frames == [.goAway(GoAwayFrame(lastCallID: 4, status: .ok, message: "idle timeout"))])
        #expect(!h.channel.isActive)
    }

    @Test("the first-call timeout closes a connection that never called")
    func firstCallTimeout() throws {
        var h = try harness(firstCallTimeout: .seconds(30))
        _ = try h.written()
        h.channel.embeddedEventLoop.advanceTime(by: .seconds(31))
        #expect(try h.written() == [.goAway(GoAwayFrame(lastCallID: 0, status: .ok, message: "no call within the first-call timeout"))])
        #expect(!h.channel.isActive)
    }
}

@Suite("RefusedConnectionHandler on an EmbeddedChannel")
struct RefusedConnectionHandlerTests {
    @Test("added to an active channel, it closes it at once and reads nothing")
    func addedWhenActive() throws {
        let channel = EmbeddedChannel()
        try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 1)).wait()
        try channel.pipeline.syncOperations.addHandler(RefusedConnectionHandler())
        #expect(!channel.isActive)
        #expect(try channel.readOutbound(as: ByteBuffer.self) == nil, "nothing is written: no TLS, no frame")
    }

    @Test("added before the channel is active, it closes it when it becomes active")
    func addedBeforeActive() throws {
        let channel = EmbeddedChannel(handler: RefusedConnectionHandler())
        #expect(!channel.isActive)
        try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 1)).wait()
        channel.embeddedEventLoop.run()
        #expect(!channel.isActive)
        #expect(try channel.readOutbound(as: ByteBuffer.self) == nil)
    }
}
