internal import CNotifyProto
internal import CProtobufC
internal import NIOCore

/// A Swift value that reads itself from, and writes itself into, one
/// protoc-c message struct.
///
/// Each message type implements only these two field mappings; framing of
/// the C calls (allocation, unpack, free, pack) lives here once. A type that
/// also declares ``WireMessage`` gets its requirements from this protocol's
/// extension.
protocol MessageCodec {
    associatedtype CType: CMessage

    /// Copies the fields out of `message`. Nothing may keep a pointer into
    /// it: it is freed when this returns.
    init(reading message: CType, _ reader: FieldReader) throws(MessageError)

    /// Sets the fields of `message`, a freshly initialized struct. Memory the
    /// fields point at comes from `arena`.
    func write(to message: inout CType, _ arena: PackArena)
}

extension MessageCodec {
    /// Messages name themselves in errors by their proto name, which is also
    /// the Swift type's name.
    static var messageName: String { String(describing: Self.self) }

    public init(serializedBytes: ByteBuffer) throws(MessageError) {
        // Every block of the unpacked message lives in `allocations` and goes
        // with it: no free_unpacked.
        let allocations = UnpackAllocator(encodedSize: serializedBytes.readableBytes)
        let unpacked = serializedBytes.withUnsafeReadableBytes { bytes in
            CType.functions.unpack(
                allocations.allocator, bytes.count, bytes.baseAddress?.assumingMemoryBound(to: UInt8.self))
        }
        guard let unpacked else {
            throw MessageError(message: "undecodable \(Self.messageName): not a valid protobuf encoding")
        }
        defer { withExtendedLifetime(allocations) {} }
        do {
            self = try Self(reading: unpacked.pointee, FieldReader(allocations: allocations))
        } catch {
            throw MessageError(message: "undecodable \(Self.messageName): \(error.message)")
        }
    }

    public func serialize(into buffer: inout ByteBuffer) {
        let arena = PackArena()
        withExtendedLifetime(arena) {
            pack(arena.makeMessage(self), into: &buffer)
        }
    }

    public var serializedSize: Int {
        let arena = PackArena()
        return withExtendedLifetime(arena) {
            protobuf_c_message_get_packed_size(UnsafePointer(arena.makeMessage(self).base))
        }
    }

    public func serializeExactly(into buffer: inout ByteBuffer) throws(MessageError) {
        let arena = PackArena()
        let message = arena.makeMessage(self)
        guard !arena.cutString else {
            throw MessageError(message: "unencodable \(Self.messageName): a string field contains a NUL byte")
        }
        withExtendedLifetime(arena) {
            pack(message, into: &buffer)
        }
    }
}

/// A message with no fields.
protocol EmptyMessageCodec: MessageCodec {
    init()
}

extension EmptyMessageCodec {
    init(reading message: CType, _ reader: FieldReader) {
        self.init()
    }

    func write(to message: inout CType, _ arena: PackArena) {}
}
