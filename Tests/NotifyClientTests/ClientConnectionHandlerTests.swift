import NIOCore
import NotifyCore
import NIOEmbedded
@testable import NotifyClient
import NotifyWire
import Synchronization
import Testing

/// ``ClientConnectionHandler`` in an `EmbeddedChannel`: the server's frames
/// go in as values, the client's come out as bytes and are decoded; no TLS.
@Suite("ClientConnectionHandler: frames in and out of an EmbeddedChannel")
struct ClientConnectionHandlerTests {
    /// One client connection under test, with what it reported.
    final class Connection {
        let channel: EmbeddedChannel
        let handler: ClientConnectionHandler
        let ready: EventLoopPromise<Void>
        let goAways = GoAwayCount()

        init(keepalive: Duration? = nil, maximumQueuedCalls: Int = 4096) throws {
            var configuration = ClientConfiguration(trustRootsFile: "")
            configuration.keepaliveInterval = keepalive
            configuration.maximumQueuedCalls = maximumQueuedCalls
            let loop = EmbeddedEventLoop()
            ready = loop.makePromise()
            let goAways = self.goAways
            handler = ClientConnectionHandler(ready: ready, configuration: configuration) { goAways.add() }
            channel = EmbeddedChannel(handler: handler, loop: loop)
            try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 7443)).wait()
        }

        /// Starts a call as ``NotifyClient`` does: on the loop, with a promise.
        func call(
            deadline: NIODeadline? = nil, payload: ByteBuffer = ByteBuffer(string: "hi"),
            onMessage: ClientConnectionHandler.MessageHandler? = nil
        ) -> Outcome<ResponseFrame> {
            let promise = channel.eventLoop.makePromise(of: ResponseFrame.self)
            handler.startCall(
                method: "/notify.v1.Test/Call", metadata: ["x-request-id": "r"], payload: payload, deadline: deadline,
                promise: promise, onMessage: onMessage
            )
            return Outcome(promise)
        }

        func receive(_ frame: Frame) throws {
            try channel.writeInbound(frame)
        }

        /// The frames the handler wrote since the last look, once the loop ran its flush.
        func sent() throws -> [Frame] {
            channel.embeddedEventLoop.run()
            var frames: [Frame] = []
            var decoder = FrameDecoder()
            while var buffer = try channel.readOutbound(as: ByteBuffer.self) {
                while let frame = try decoder.decode(buffer: &buffer) { frames.append(frame) }
            }
            return frames
        }

        func sentRequests() throws -> [RequestFrame] {
            try sent().compactMap { if case .request(let request) = $0 { request } else { nil } }
        }

        func settings(maxConcurrentCalls: UInt32 = 100, maxMessageSize: UInt32 = 4 * 1024 * 1024) throws {
            try receive(.settings(Settings(maxConcurrentCalls: maxConcurrentCalls, maxMessageSize: maxMessageSize)))
        }

        func close() throws {
            _ = try channel.finish(acceptAlreadyClosed: true)
        }
    }

    final class Received: Sendable {
        let payloads = Mutex<[String]>([])
    }

    final class GoAwayCount: Sendable {
        private let count = Mutex(0)
        func add() { count.withLock { $0 += 1 } }
        var value: Int { count.withLock { $0 } }
    }

    /// A future's result as soon as it has one; the embedded loop completes futures at once.
    /// `@unchecked Sendable`: it lives on the test's one thread, which is the embedded loop's.
    final class Outcome<Value: Sendable>: @unchecked Sendable {
        private(set) var result: Result<Value, any Error>?
        let promise: EventLoopPromise<Value>

        init(_ promise: EventLoopPromise<Value>) {
            self.promise = promise
            promise.futureResult.whenComplete { [self] in result = $0 }
        }

        var value: Value? { if case .success(let value) = result { value } else { nil } }
        var error: RPCError? { if case .failure(let error) = result { error as? RPCError } else { nil } }
    }

    @Test("settings make it ready; a call goes out as a request frame and its response completes it")
    func unaryCall() throws {
        let connection = try Connection()
        let ready = Outcome(connection.ready)
        #expect(ready.result == nil)
        try connection.settings()
        #expect(ready.value != nil)
        let call = connection.call(deadline: .now() + .seconds(30))
        let requests = try connection.sentRequests()
        #expect(requests.count == 1)
        #expect(requests.first?.callID == 1)
        #expect(requests.first?.method == "/notify.v1.Test/Call")
        #expect(requests.first?.payload == ByteBuffer(string: "hi"))
        #expect((requests.first?.timeoutMilliseconds ?? 0) > 25_000)
        #expect(call.result == nil)
        try connection.receive(.response(ResponseFrame(callID: 1, payload: ByteBuffer(string: "ok"))))
        #expect(call.value?.payload == ByteBuffer(string: "ok"))
        // A second answer for the same id finds no call.
        try connection.receive(.response(ResponseFrame(callID: 1, status: .internalError)))
        #expect(call.value?.status == .ok)
        try connection.close()
    }

    @Test("a call started before the settings waits for them; the settings' concurrency limit holds calls back")
    func concurrency() throws {
        let connection = try Connection()
        let first = connection.call()
        #expect(try connection.sentRequests().isEmpty)
        try connection.settings(maxConcurrentCalls: 1)
        #expect(try connection.sentRequests().map(\.callID) == [1])
        let second = connection.call()
        #expect(try connection.sentRequests().isEmpty)
        try connection.receive(.response(ResponseFrame(callID: 1)))
        #expect(first.value != nil)
        #expect(try connection.sentRequests().map(\.callID) == [2])
        try connection.receive(.response(ResponseFrame(callID: 2)))
        #expect(second.value != nil)
        try connection.close()
    }

    @Test("a request too large for the server's max_message_size fails without a frame")
    func tooLarge() throws {
        let connection = try Connection()
        try connection.settings(maxMessageSize: 2048)
        let call = connection.call(payload: ByteBuffer(repeating: 0, count: 2048))
        #expect(call.error?.reason == .requestTooLarge)
        #expect(try connection.sent().isEmpty)
        try connection.close()
    }

    @Test("goaway: the owner is told, a call above last_call_id fails GOING_AWAY, one at or below it is still answered, new calls fail")
    func goAway() throws {
        let connection = try Connection()
        try connection.settings()
        let taken = connection.call()
        let unseen = connection.call()
        _ = try connection.sent()
        try connection.receive(.goAway(GoAwayFrame(lastCallID: 1, status: .unavailable, message: "server shutting down")))
        #expect(connection.goAways.value == 1)
        #expect(unseen.error?.code == .unavailable)
        #expect(unseen.error?.reason == .goingAway)
        #expect(taken.result == nil)
        #expect(!connection.handler.isUsable)
        let late = connection.call()
        #expect(late.error?.reason == .connectionClosed)
        try connection.receive(.response(ResponseFrame(callID: 1, payload: ByteBuffer(string: "done"))))
        #expect(taken.value?.payload == ByteBuffer(string: "done"))
        #expect(try connection.sent().isEmpty)
        try connection.close()
    }

    @Test("a goaway for a connection error: the call it took fails with the goaway's status when the connection closes")
    func goAwayError() throws {
        let connection = try Connection()
        try connection.settings()
        let taken = connection.call()
        _ = try connection.sent()
        try connection.receive(.goAway(GoAwayFrame(lastCallID: 1, status: .invalidArgument, message: "undecodable frame")))
        #expect(taken.result == nil)
        try connection.close()
        #expect(taken.error == RPCError(code: .invalidArgument, message: "undecodable frame", reason: .connectionError))
    }

    @Test("a stream's messages reach its handler in order until its response; later ones are dropped")
    func streamMessages() throws {
        let connection = try Connection()
        try connection.settings()
        let received = Received()
        let call = connection.call(onMessage: { payload in
            received.payloads.withLock { $0.append(String(buffer: payload)) }
            return nil
        })
        _ = try connection.sent()
        try connection.receive(.message(StreamMessageFrame(callID: 1, payload: ByteBuffer(string: "a"))))
        try connection.receive(.message(StreamMessageFrame(callID: 1, payload: ByteBuffer(string: "b"))))
        try connection.receive(.response(ResponseFrame(callID: 1)))
        try connection.receive(.message(StreamMessageFrame(callID: 1, payload: ByteBuffer(string: "late"))))
        #expect(received.payloads.withLock { $0 } == ["a", "b"])
        #expect(call.value?.status == .ok)
        try connection.close()
    }

    @Test("a stream that refuses a message fails with its error and the server gets cancel")
    func streamRefusal() throws {
        let connection = try Connection()
        try connection.settings()
        let tooSlow = RPCError(code: .resourceExhausted, message: "slow reader", reason: .consumerTooSlow)
        let call = connection.call(onMessage: { _ in tooSlow })
        _ = try connection.sent()
        try connection.receive(.message(StreamMessageFrame(callID: 1, payload: ByteBuffer(string: "a"))))
        #expect(call.error == tooSlow)
        #expect(try connection.sent() == [.cancel(callID: 1)])
        try connection.close()
    }

    @Test("cancel: a call in flight fails CANCELLED and the server gets cancel, and a waiting call leaves the queue")
    func cancel() throws {
        let connection = try Connection()
        try connection.settings(maxConcurrentCalls: 1)
        let first = connection.call()
        let second = connection.call()
        #expect(try connection.sentRequests().map(\.callID) == [1])
        connection.handler.cancel(second.promise)
        #expect(second.error?.code == .cancelled)
        #expect(try connection.sent().isEmpty)
        connection.handler.cancel(first.promise)
        #expect(first.error?.code == .cancelled)
        #expect(try connection.sent() == [.cancel(callID: 1)])
        try connection.close()
    }

    @Test("a deadline that passes fails the call DEADLINE_EXCEEDED and cancels it on the server")
    func deadline() async throws {
        let connection = try Connection()
        try connection.settings()
        let deadline = NIODeadline.now() + .milliseconds(300)
        let call = connection.call(deadline: deadline)
        #expect(try connection.sentRequests().map(\.callID) == [1])
        // The handler reads the real clock when its timer fires: wait until it has passed.
        while NIODeadline.now() <= deadline { try await Task.sleep(for: .milliseconds(50)) }
        connection.channel.embeddedEventLoop.advanceTime(to: deadline)
        #expect(call.error?.code == .deadlineExceeded)
        #expect(try connection.sent() == [.cancel(callID: 1)])
        try connection.close()
    }

    @Test("ping is answered with pong; keepalive pings, and closes when a ping is unanswered for an interval")
    func keepalive() throws {
        let connection = try Connection(keepalive: .seconds(30))
        try connection.receive(.ping(42))
        #expect(try connection.sent() == [.pong(42)])
        try connection.settings()
        let call = connection.call()
        _ = try connection.sent()
        connection.channel.embeddedEventLoop.advanceTime(by: .seconds(30))
        let pings = try connection.sent()
        guard case .ping(let opaque) = pings.first, pings.count == 1 else { Issue.record("no ping: \(pings)"); return }
        try connection.receive(.pong(opaque))
        connection.channel.embeddedEventLoop.advanceTime(by: .seconds(30))
        guard case .ping = try connection.sent().first else { Issue.record("no second ping"); return }
        #expect(connection.channel.isActive)
        connection.channel.embeddedEventLoop.advanceTime(by: .seconds(30))
        #expect(!connection.channel.isActive)
        #expect(call.error?.reason == .connectionClosed)
        try connection.close()
    }

    @Test("the close fails every pending and waiting call once, and the ready promise if it was waiting")
    func close() throws {
        let connection = try Connection()
        let ready = Outcome(connection.ready)
        let early = connection.call()
        try connection.close()
        #expect(ready.result.map { if case .failure = $0 { true } else { false } } == true)
        #expect(early.error?.reason == .connectionClosed)

        let other = try Connection()
        try other.settings(maxConcurrentCalls: 1)
        let calls = [other.call(), other.call()]
        try other.close()
        #expect(calls.map { $0.error?.reason } == [.connectionClosed, .connectionClosed])
        #expect(!other.handler.isUsable)
    }
}
