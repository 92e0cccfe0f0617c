import NotifyMessages
public import NotifyProtobuf
import Synchronization

/// The messages of one server-streaming call, as they arrive.
///
/// At most a fixed number of bytes of messages (their encoded size) wait in
/// it for the reader; see ``NotifyClient/stream(_:_:metadata:timeout:bufferBytes:as:)``.
/// Iterate it once.
public struct ServerMessages<Message: WireMessage>: AsyncSequence, Sendable {
    public typealias Element = Message

    struct Sized: Sendable {
        var message: Message
        var size: Int
    }

    let stream: AsyncThrowingStream<Sized, any Error>
    let buffer: StreamBuffer

    public func makeAsyncIterator() -> AsyncIterator {
        AsyncIterator(inner: stream.makeAsyncIterator(), buffer: buffer)
    }

    public struct AsyncIterator: AsyncIteratorProtocol {
        var inner: AsyncThrowingStream<Sized, any Error>.AsyncIterator
        let buffer: StreamBuffer

        /// The next message; nil when the call ended OK.
        /// - Throws: the call's ``RPCError``.
        public mutating func next() async throws -> Message? {
            guard let sized = try await inner.next() else { return nil }
            buffer.release(sized.size)
            return sized.message
        }
    }
}

/// The bytes of a stream's messages that wait for their reader.
final class StreamBuffer: Sendable {
    let limit: Int
    private let held = Mutex(0)

    init(limit: Int) {
        self.limit = limit
    }

    /// Counts `bytes` more; false, counting nothing, when the buffer holds
    /// some and they would pass the limit. An empty buffer takes any one
    /// message, so that a message larger than the limit still gets through.
    func admit(_ bytes: Int) -> Bool {
        held.withLock { held in
            guard held == 0 || held + bytes <= limit else { return false }
            held += bytes
            return true
        }
    }

    /// The reader took a message of `bytes`.
    func release(_ bytes: Int) {
        held.withLock { $0 -= bytes }
    }
}

/// A stream ended to wait for its reader, to be resumed from its cursor.
struct StreamPaused: Error {}
