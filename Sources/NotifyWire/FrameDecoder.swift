public import NIOCore

/// Splits an inbound byte stream into ``Frame``s.
///
/// The length prefix is checked against the maximum as soon as the 5-byte header is readable, before
/// any of the body is awaited: a peer cannot make us buffer more than `maximumMessageSize` plus one
/// read by announcing a huge frame. The flag byte is checked at the same time, so garbage fails fast.
/// Any error leaves the stream unusable; `ByteToMessageHandler` stops decoding after it.
public struct FrameDecoder: NIOSingleStepByteToMessageDecoder, Sendable {
    public typealias InboundOut = Frame

    /// The compressed bit. Compression is not part of the protocol, so a set bit is an error.
    private static let compressedFlag: UInt8 = 0b0000_0001

    /// The largest frame body accepted, in bytes.
    public let maximumMessageSize: Int
    /// The most metadata one frame may carry, checked before the frame is unpacked.
    public let limits: FrameLimits

    /// - Parameters:
    ///   - maximumMessageSize: The largest frame body accepted, in bytes; usually
    ///     ``Limits/defaultMaxMessageSize`` or what ``Settings`` announced.
    ///   - limits: The most metadata one frame may carry.
    public init(maximumMessageSize: Int = Limits.defaultMaxMessageSize, limits: FrameLimits = FrameLimits()) {
        precondition(maximumMessageSize >= 0, "maximumMessageSize must not be negative")
        self.maximumMessageSize = maximumMessageSize
        self.limits = limits
    }

    /// Decodes the next frame, or returns `nil` until all of it has arrived.
    ///
    /// - Throws: ``WireError`` with ``WireError/Code/unsupportedFlags``,
    ///   ``WireError/Code/messageTooLarge``, ``WireError/Code/malformedFrame``,
    ///   ``WireError/Code/invalidString`` or ``WireError/Code/metadataTooLarge``.
    public mutating func decode(buffer: inout ByteBuffer) throws -> Frame? {
        // The flag byte is judged alone, so a stream of garbage fails on its first byte.
        guard let flags = buffer.getInteger(at: buffer.readerIndex, as: UInt8.self) else {
            return nil
        }
        if flags & Self.compressedFlag != 0 {
            throw WireError(code: .unsupportedFlags, message: "compressed frames are not supported (flags \(flags))")
        }
        if flags != 0 {
            throw WireError(code: .unsupportedFlags, message: "reserved frame flag bits are set (flags \(flags))")
        }
        guard let length = buffer.getInteger(at: buffer.readerIndex + 1, as: UInt32.self) else {
            return nil
        }
        guard UInt64(length) <= UInt64(self.maximumMessageSize) else {
            throw WireError(
                code: .messageTooLarge,
                message: "frame of \(length) bytes exceeds the maximum of \(self.maximumMessageSize)"
            )
        }
        let frameSize = Limits.frameHeaderSize + Int(length)
        guard buffer.readableBytes >= frameSize else {
            return nil
        }
        buffer.moveReaderIndex(forwardBy: Limits.frameHeaderSize)
        guard let body = buffer.readSlice(length: Int(length)) else {
            preconditionFailure("the body's readable bytes were checked above")
        }
        return try Frame.decode(payload: body, limits: self.limits)
    }

    /// Decodes what is left when the stream ends.
    ///
    /// - Throws: ``WireError/Code/truncated`` when the peer closed in the middle of a frame, which
    ///   `ByteToMessageHandler` would otherwise report only as leftover bytes.
    public mutating func decodeLast(buffer: inout ByteBuffer, seenEOF: Bool) throws -> Frame? {
        if let frame = try self.decode(buffer: &buffer) {
            return frame
        }
        if seenEOF && buffer.readableBytes > 0 {
            throw WireError(
                code: .truncated,
                message: "the stream ended \(buffer.readableBytes) bytes into an incomplete frame"
            )
        }
        return nil
    }
}

/// Writes ``Frame``s with their 5-byte header; see ``Frame/encode(into:)``.
public struct FrameEncoder: MessageToByteEncoder, Sendable {
    public typealias OutboundIn = Frame

    public init() {}

    public func encode(data: Frame, out: inout ByteBuffer) throws {
        try data.encode(into: &out)
    }
}
