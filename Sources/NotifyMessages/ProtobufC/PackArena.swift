internal import CNotifyProto
internal import CProtobufC
internal import NIOCore

/// Owns the C memory of one message being packed and frees it all at once.
///
/// protoc-c structs point at their strings, sub-messages and arrays; building
/// one from Swift values needs those to outlive the pack call. The arena
/// keeps every block and frees them in `deinit`, so a codec never frees
/// anything itself. Keep the arena alive (`withExtendedLifetime`) until the
/// message is packed.
final class PackArena {
    private var blocks: [UnsafeMutableRawPointer] = []

    deinit {
        for block in blocks {
            block.deallocate()
        }
    }

    private func allocate<T>(_ type: T.Type, count: Int) -> UnsafeMutablePointer<T> {
        let raw = UnsafeMutableRawPointer.allocate(
            byteCount: MemoryLayout<T>.stride * count, alignment: MemoryLayout<T>.alignment)
        blocks.append(raw)
        return raw.bindMemory(to: T.self, capacity: count)
    }

    /// A NUL-terminated copy of `string`. C reads it up to its first NUL.
    func cString(_ string: String) -> UnsafeMutablePointer<CChar> {
        let bytes = string.utf8CString
        let copy = allocate(CChar.self, count: bytes.count)
        bytes.withUnsafeBufferPointer { source in
            // `utf8CString` is never empty: it always ends with NUL.
            copy.initialize(from: source.baseAddress!, count: source.count)
        }
        return copy
    }

    /// A copy of `string`, or NULL (the field is absent) for nil.
    func cString(_ string: String?) -> UnsafeMutablePointer<CChar>? {
        string.map { cString($0) }
    }

    /// A repeated string field: its count and array.
    func cStrings(_ strings: [String]) -> (Int, UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) {
        guard !strings.isEmpty else { return (0, nil) }
        let array = allocate(UnsafeMutablePointer<CChar>?.self, count: strings.count)
        for (index, string) in strings.enumerated() {
            (array + index).initialize(to: cString(string))
        }
        return (strings.count, array)
    }

    /// A C message filled by `value`'s codec.
    func makeMessage<Value: MessageCodec>(_ value: Value) -> UnsafeMutablePointer<Value.CType> {
        let message = allocate(Value.CType.self, count: 1)
        message.initialize(to: Value.CType())
        Value.CType.functions.initialize(message)
        value.write(to: &message.pointee, self)
        return message
    }

    /// A sub-message, or NULL (the field is absent) for nil.
    func message<Value: MessageCodec>(_ value: Value?) -> UnsafeMutablePointer<Value.CType>? {
        value.map { makeMessage($0) }
    }

    /// A repeated message field: its count and array.
    func messages<Value: MessageCodec>(
        _ values: [Value]
    ) -> (Int, UnsafeMutablePointer<UnsafeMutablePointer<Value.CType>?>?) {
        guard !values.isEmpty else { return (0, nil) }
        let array = allocate(UnsafeMutablePointer<Value.CType>?.self, count: values.count)
        for (index, value) in values.enumerated() {
            (array + index).initialize(to: makeMessage(value))
        }
        return (values.count, array)
    }
}

/// An optional scalar as protoc-c's `has_` flag and value.
func optionalField<T: ExpressibleByIntegerLiteral>(_ value: T?) -> (protobuf_c_boolean, T) {
    if let value { (1, value) } else { (0, 0) }
}

/// Appends the packed encoding of `message` to `buffer`.
///
/// Sizes first, then packs straight into the buffer's writable bytes: no
/// intermediate array.
func pack<Message: CMessage>(_ message: UnsafeMutablePointer<Message>, into buffer: inout ByteBuffer) {
    let base = UnsafePointer(message.base)
    let size = protobuf_c_message_get_packed_size(base)
    guard size > 0 else { return }
    buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: size) { out in
        // At least `size` writable bytes, as `get_packed_size` measured.
        protobuf_c_message_pack(base, out.baseAddress?.assumingMemoryBound(to: UInt8.self))
    }
}
