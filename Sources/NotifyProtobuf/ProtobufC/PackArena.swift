internal import CNotifyProto
internal import CProtobufC
internal import NIOCore

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Owns the C memory of one message being packed and frees it all at once.
///
/// protoc-c structs point at their strings, sub-messages and arrays; building
/// one from Swift values needs those to outlive the pack call. The arena
/// carves every block from chunks it frees in `deinit`, so a codec never
/// frees anything itself, and a typical message costs one `malloc` rather
/// than two per string (a `utf8CString` array, then its copy). Keep the arena
/// alive (`withExtendedLifetime`) until the message is packed.
final class PackArena {
    private var chunk: UnsafeMutableRawPointer
    private var capacity: Int
    private var used = 0
    /// Chunks filled before `chunk`; empty for almost every message.
    private var filled: [UnsafeMutableRawPointer] = []
    /// Whether a string copied here held a NUL byte: packed, it is cut there.
    private(set) var cutString = false

    init() {
        capacity = 1024
        chunk = Self.makeChunk(capacity)
    }

    deinit {
        free(chunk)
        for block in filled { free(block) }
    }

    private static func makeChunk(_ capacity: Int) -> UnsafeMutableRawPointer {
        guard let chunk = malloc(capacity) else { fatalError("out of memory packing a message") }
        return chunk
    }

    /// `count` bytes aligned to `alignment` (at most 16, `malloc`'s).
    private func allocateBytes(_ count: Int, alignment: Int) -> UnsafeMutableRawPointer {
        var start = (used + alignment - 1) & ~(alignment - 1)
        if start + count > capacity {
            filled.append(chunk)
            capacity = max(count, 2 * capacity)
            chunk = Self.makeChunk(capacity)
            start = 0
        }
        used = start + count
        return chunk + start
    }

    private func allocate<T>(_ type: T.Type, count: Int) -> UnsafeMutablePointer<T> {
        allocateBytes(MemoryLayout<T>.stride * count, alignment: MemoryLayout<T>.alignment)
            .bindMemory(to: T.self, capacity: count)
    }

    /// A NUL-terminated copy of `string`. C reads it up to its first NUL, so
    /// a string that holds one sets ``cutString``.
    func cString(_ string: String) -> UnsafeMutablePointer<CChar> {
        var string = string
        return string.withUTF8 { utf8 in
            let copy = allocateBytes(utf8.count + 1, alignment: 1)
            if let source = utf8.baseAddress {
                if memchr(source, 0, utf8.count) != nil { cutString = true }
                copy.copyMemory(from: source, byteCount: utf8.count)
            }
            copy.storeBytes(of: 0, toByteOffset: utf8.count, as: UInt8.self)
            return copy.bindMemory(to: CChar.self, capacity: utf8.count + 1)
        }
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
