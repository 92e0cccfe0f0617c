public import NIOCore

/// Frames encoded for one connection and not yet written.
///
/// Both ends encode every frame of an event loop tick into one buffer and
/// write it once: pipelined calls then share TLS records and syscalls. The
/// outbox tells its owner when the first frame of a batch arrives, so that
/// exactly one flush is scheduled per batch.
public struct FrameOutbox {
    private var buffer: ByteBuffer?
    private var batchOpen = false

    public init() {}

    /// Encodes `frame` after the frames already waiting.
    ///
    /// - Returns: true for the first frame since the last ``take()``: the
    ///   owner should arrange a flush.
    public mutating func append(_ frame: Frame, allocator: ByteBufferAllocator) throws(WireError) -> Bool {
        if buffer == nil { buffer = allocator.buffer(capacity: 1024) }
        // Safe: set just above. Encoding into the optional in place avoids a copy.
        try frame.encode(into: &buffer!)
        defer { batchOpen = true }
        return !batchOpen
    }

    /// Everything appended since the last call, or nil when nothing is waiting.
    public mutating func take() -> ByteBuffer? {
        batchOpen = false
        guard let waiting = buffer, waiting.readableBytes > 0 else { return nil }
        buffer = nil
        return waiting
    }
}
