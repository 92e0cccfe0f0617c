import NIOCore
import NotifyMessages
import NotifyProtobuf
@testable import NotifyServer
import NotifyCore
import Synchronization
import Testing

@Suite("ServerStream: a stream handler's sends wait for the connection")
struct ServerStreamTests {
    /// Counts what a stream hands to its connection.
    private final class Sent: Sendable {
        private let messages = Mutex(0)
        func add() { messages.withLock { $0 += 1 } }
        var count: Int { messages.withLock { $0 } }
    }

    /// A stream whose messages are counted in `sent`.
    private func stream(writable: Bool, maxMessageSize: Int = 4096, sent: Sent) -> ServerStream<HealthCheckRequest> {
        ServerStream(
            flow: StreamFlow(writable: writable),
            sink: .frames(encode: { $0.serializedBuffer() }, maxMessageSize: maxMessageSize, emit: { _ in
                sent.add()
                return true
            })
        )
    }

    @Test("while the send buffer is full a send waits; it goes out once the buffer drains")
    func waitsForWritable() async throws {
        let sent = Sent()
        let stream = stream(writable: false, sent: sent)
        let sender = Task { try await stream.send(HealthCheckRequest()) }
        // The send has nothing to wait for but writability: give it time to go out if it would.
        try await Task.sleep(for: .milliseconds(100))
        #expect(sent.count == 0)
        stream.flow.setWritable(true)
        try await sender.value
        #expect(sent.count == 1)
        try await stream.send(HealthCheckRequest())
        #expect(sent.count == 2)
    }

    @Test("ending the stream wakes a waiting send, which throws STREAM_ENDED and sends nothing")
    func endWakesSender() async throws {
        let sent = Sent()
        let stream = stream(writable: false, sent: sent)
        let sender = Task { () -> RPCError? in
            do throws(RPCError) {
                try await stream.send(HealthCheckRequest())
                return nil
            } catch {
                return error
            }
        }
        try await Task.sleep(for: .milliseconds(50))
        stream.flow.end()
        let error = await sender.value
        #expect(error?.code == .cancelled)
        #expect(error?.reason == .streamEnded)
        #expect(sent.count == 0)
        await stream.flow.waitUntilEnded()
    }

    @Test("a message past the negotiated size is refused RESPONSE_TOO_LARGE")
    func tooLarge() async throws {
        let sent = Sent()
        let stream = stream(writable: true, maxMessageSize: 1100, sent: sent)
        try await stream.send(HealthCheckRequest(service: String(repeating: "x", count: 50)))
        let error = await #expect(throws: RPCError.self) {
            try await stream.send(HealthCheckRequest(service: String(repeating: "x", count: 200)))
        }
        #expect(error?.reason == .responseTooLarge)
        #expect(sent.count == 1)
    }
}
