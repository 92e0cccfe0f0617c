internal import CNotifyProto
internal import CProtobufC

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// The allocator protobuf-c unpacks one message with: an arena that records
/// each block's size in a header before it, and frees everything at once when
/// the message has been read.
///
/// protobuf-c copies a string field into a block of its wire length plus one
/// and NUL-terminates it, but keeps no length. A string holding a NUL byte
/// would read back cut short without the size: with it, a reader compares
/// `strlen + 1` with the block size and rejects the field instead.
///
/// An arena rather than `malloc` per block: a SendNotificationResponse
/// unpacks into some twenty blocks, and recording their sizes in a dictionary
/// was a third of the time its unpacking took. Here one `malloc` usually holds
/// the whole message, `free` is a no-op, and nothing needs
/// `protobuf_c_message_free_unpacked`'s walk.
final class UnpackAllocator {
    /// A region blocks are carved from, front to back.
    private struct Chunk {
        let base: UnsafeMutableRawPointer
        let capacity: Int

        func holds(_ pointer: UnsafeRawPointer) -> Bool {
            pointer >= UnsafeRawPointer(base) && pointer < UnsafeRawPointer(base) + capacity
        }
    }

    /// Each block is preceded by its size, in a header that keeps blocks
    /// aligned as `malloc` would.
    private static let header = 16

    private var first: Chunk
    /// Chunks added when `first` ran out; empty for almost every message.
    private var overflow: [Chunk] = []
    private var current: Chunk
    private var used = 0
    /// Points back at `self` through `allocator_data`; valid while `self` lives.
    let allocator: UnsafeMutablePointer<ProtobufCAllocator>

    /// An arena sized for a message of `encodedSize` bytes: its strings take
    /// at most that, the structs and headers the rest.
    init(encodedSize: Int) {
        first = Self.makeChunk(capacity: 2 * encodedSize + 1024)
        current = first
        allocator = .allocate(capacity: 1)
        allocator.initialize(
            to: ProtobufCAllocator(
                alloc: { data, size in
                    guard let data else { return nil }
                    return Unmanaged<UnpackAllocator>.fromOpaque(data).takeUnretainedValue().allocateBlock(size)
                },
                free: { _, _ in },
                allocator_data: nil
            ))
        allocator.pointee.allocator_data = Unmanaged.passUnretained(self).toOpaque()
    }

    deinit {
        free(first.base)
        for chunk in overflow { free(chunk.base) }
        allocator.deinitialize(count: 1)
        allocator.deallocate()
    }

    private static func makeChunk(capacity: Int) -> Chunk {
        guard let base = malloc(capacity) else { fatalError("out of memory unpacking a message") }
        return Chunk(base: base, capacity: capacity)
    }

    private func allocateBlock(_ size: Int) -> UnsafeMutableRawPointer? {
        let total = (Self.header + size + 15) & ~15
        if used + total > current.capacity {
            current = Self.makeChunk(capacity: max(total, 2 * current.capacity))
            overflow.append(current)
            used = 0
        }
        let start = current.base + used
        used += total
        start.storeBytes(of: size, as: Int.self)
        return start + Self.header
    }

    /// The size `block` was allocated with, if this allocator allocated it.
    func size(of block: UnsafeRawPointer) -> Int? {
        guard first.holds(block) || overflow.contains(where: { $0.holds(block) }) else { return nil }
        return (block - Self.header).load(as: Int.self)
    }
}
