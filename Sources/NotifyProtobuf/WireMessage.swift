public import NIOCore

/// Why bytes could not be read as a message.
///
/// The server answers such a call with INVALID_ARGUMENT and this message, so
/// it names the message and the offending field, for example
/// `undecodable NotifyRequest: embed.url is not valid UTF-8`. It never
/// includes field values, which may be private.
public struct MessageError: Error, Hashable, Sendable, CustomStringConvertible {
    public var message: String

    public init(message: String) {
        self.message = message
    }

    public var description: String { message }
}

/// A request or response of the RPC protocol, in its protobuf encoding.
///
/// The codecs go through the committed protoc-c output, so the bytes are
/// exactly what any protobuf implementation of `proto/notify/v1` reads and
/// writes. Two limits come from protobuf-c keeping strings as C strings:
/// - Decoding rejects a string field holding a NUL byte (it could not be
///   represented faithfully) and one that is not valid UTF-8 (proto2 does not
///   promise it; protobuf-c does not check it).
/// - ``serialize(into:)`` sends a Swift string that contains a NUL byte cut
///   at the first NUL; ``serializeExactly(into:)``, which ``NotifyClient``
///   uses for requests, refuses it instead. The REST gateway refuses JSON
///   strings holding U+0000 for the same reason (400 on the field).
public protocol WireMessage: Sendable {
    /// Decodes one message from all of `serializedBytes`.
    ///
    /// - Parameter serializedBytes: The protobuf encoding, without framing.
    /// - Throws: ``MessageError`` when the bytes are not a valid encoding of
    ///   the message, or a field the Swift type requires is absent.
    init(serializedBytes: ByteBuffer) throws(MessageError)

    /// Appends the protobuf encoding of `self` to `buffer`.
    ///
    /// The encoding is packed straight into the buffer's writable bytes. A
    /// string field that holds a NUL byte goes out cut at the NUL: the
    /// server's answers, whose strings were all checked on the way in, skip
    /// the check that ``serializeExactly(into:)`` makes.
    func serialize(into buffer: inout ByteBuffer)

    /// Appends the protobuf encoding of `self` to `buffer`, unless a string
    /// field holds a NUL byte.
    ///
    /// - Throws: ``MessageError`` when a string would be cut, leaving
    ///   `buffer` as it was: what the server would store is not what the
    ///   caller meant.
    func serializeExactly(into buffer: inout ByteBuffer) throws(MessageError)

    /// The size of the protobuf encoding of `self`, in bytes, measured
    /// without writing it: what an in-process stream's reader counts its
    /// buffer in, so that its bound is the one a connection's reader has.
    var serializedSize: Int { get }
}

extension WireMessage {
    /// The protobuf encoding of `self` in a new buffer.
    ///
    /// - Parameter allocator: Allocates the buffer.
    /// - Returns: The encoding, as ``serialize(into:)`` writes it.
    public func serializedBuffer(allocator: ByteBufferAllocator = .init()) -> ByteBuffer {
        var buffer = allocator.buffer(capacity: 0)
        serialize(into: &buffer)
        return buffer
    }

    /// The protobuf encoding of `self` in a new buffer, as
    /// ``serializeExactly(into:)`` writes it.
    ///
    /// - Throws: ``MessageError`` when a string field holds a NUL byte.
    public func exactlySerializedBuffer(allocator: ByteBufferAllocator = .init()) throws(MessageError) -> ByteBuffer {
        var buffer = allocator.buffer(capacity: 0)
        try serializeExactly(into: &buffer)
        return buffer
    }
}
