import NIOCore
public import NotifyCore
import NotifyMessages
import Synchronization

/// The sending side of one server-streaming call, for its handler: its
/// messages are `Message` values, sent as they are to an in-process reader
/// and encoded for a connection.
///
/// The transport owns the call through the stream's ``StreamFlow``: it ends
/// the stream when the client cancels, goes away, or the call's deadline
/// passes, and when the server drains. The handler only sends, and
/// ``send(_:)`` waits while the connection's send buffer is full (and, on a
/// connection, until the previous message reached it), so a slow reader
/// slows its handler instead of growing the server's memory: a stream holds
/// at most one message beyond the send buffer.
public final class ServerStream<Message: Sendable>: Sendable {
    /// Where one message goes.
    enum Sink: Sendable {
        /// A connection: encoded, checked against the negotiated size, then
        /// handed to the connection's event loop.
        case frames(encode: @Sendable (Message) -> ByteBuffer, maxMessageSize: Int, emit: @Sendable (ByteBuffer) -> Bool)
        /// An in-process reader, which takes the message itself.
        case messages(@Sendable (Message) -> Bool)
    }

    /// The transport's side: writability and the end.
    let flow: StreamFlow
    private let sink: Sink

    init(flow: StreamFlow, sink: Sink) {
        self.flow = flow
        self.sink = sink
    }

    /// Sends one message of the stream.
    ///
    /// - Throws: ``RPCError`` CANCELLED when the call has ended (its answer,
    ///   if any, is already decided), RESOURCE_EXHAUSTED when the message
    ///   exceeds the negotiated maximum size.
    public func send(_ message: Message) async throws(RPCError) {
        switch sink {
        case .frames(let encode, let maxMessageSize, let emit):
            let payload = encode(message)
            guard payload.readableBytes <= maxMessageSize - 1024 else {
                throw RPCError(
                    code: .resourceExhausted, message: "a stream message exceeds the maximum message size",
                    reason: .responseTooLarge
                )
            }
            try await flow.deliver { emit(payload) }
        case .messages(let emit):
            try await flow.deliver { emit(message) }
        }
    }

    /// Returns once the transport can take the next message, or the stream
    /// has ended: a handler waits here before it reads what it will send, so
    /// that a reader that does not read holds nothing of it.
    public func waitUntilWritable() async {
        await flow.waitUntilWritable()
    }
}

/// A stream's pacing and end, whatever its messages: what a transport
/// keeps of each stream it opened.
final class StreamFlow: Sendable {
    private struct State {
        var ended = false
        var writable = true
        var sendWaiter: CheckedContinuation<Void, Never>?
        var endWaiter: CheckedContinuation<Void, Never>?
    }

    private let state = Mutex(State())
    /// Whether the connection confirms each message with ``setWritable(_:)``
    /// once it has handed it to the socket.
    private let confirmsWrites: Bool

    /// - Parameters:
    ///   - confirmsWrites: the connection calls ``setWritable(_:)`` after it
    ///     has written each message: the next send waits for that, so that a
    ///     handler faster than the event loop cannot pile messages up before
    ///     the channel's writability has seen the first. Without it, a send
    ///     waits only while the connection said not writable.
    init(writable: Bool, confirmsWrites: Bool = false) {
        self.confirmsWrites = confirmsWrites
        state.withLock { $0.writable = writable }
    }

    /// Waits until writable, then hands one message over with `emit`
    /// (false: the reader takes no more).
    func deliver(_ emit: () -> Bool) async throws(RPCError) {
        await waitUntilWritable()
        let ended = state.withLock { state in
            // Before the message goes: the connection's confirmation may come at once.
            if confirmsWrites { state.writable = false }
            return state.ended
        }
        guard !ended, emit() else {
            end()
            throw Self.endedError
        }
    }

    static let endedError = RPCError(code: .cancelled, message: "the stream has ended", reason: .streamEnded)

    func waitUntilWritable() async {
        let mustWait = state.withLock { !$0.ended && !$0.writable }
        guard mustWait else { return }
        await withCheckedContinuation { continuation in
            let resumeNow = state.withLock { state in
                guard !state.ended && !state.writable else { return true }
                state.sendWaiter = continuation
                return false
            }
            if resumeNow { continuation.resume() }
        }
    }

    // MARK: The connection's side

    /// The connection's send buffer crossed a watermark.
    func setWritable(_ writable: Bool) {
        let waiter = state.withLock { state -> CheckedContinuation<Void, Never>? in
            state.writable = writable
            guard writable else { return nil }
            defer { state.sendWaiter = nil }
            return state.sendWaiter
        }
        waiter?.resume()
    }

    /// Ends the stream; later sends throw. Idempotent.
    func end() {
        let waiters = state.withLock { state -> [CheckedContinuation<Void, Never>] in
            state.ended = true
            defer { state.sendWaiter = nil; state.endWaiter = nil }
            return [state.sendWaiter, state.endWaiter].compactMap { $0 }
        }
        for waiter in waiters { waiter.resume() }
    }

    /// Returns once ``end()`` has been called.
    func waitUntilEnded() async {
        await withCheckedContinuation { continuation in
            let resumeNow = state.withLock { state in
                guard !state.ended else { return true }
                state.endWaiter = continuation
                return false
            }
            if resumeNow { continuation.resume() }
        }
    }
}
