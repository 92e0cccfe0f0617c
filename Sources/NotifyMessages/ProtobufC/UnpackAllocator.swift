internal import CNotifyProto
internal import CProtobufC

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// The allocator protobuf-c unpacks one message with: `malloc`, recording
/// each block's size.
///
/// protobuf-c copies a string field into a block of its wire length plus one
/// and NUL-terminates it, but keeps no length. A string holding a NUL byte
/// would read back cut short without the size: with it, a reader compares
/// `strlen + 1` with the block size and rejects the field instead.
final class UnpackAllocator {
    private var sizes: [UnsafeMutableRawPointer: Int] = [:]
    /// Points back at `self` through `allocator_data`; valid while `self` lives.
    let allocator: UnsafeMutablePointer<ProtobufCAllocator>

    init() {
        allocator = .allocate(capacity: 1)
        allocator.initialize(
            to: ProtobufCAllocator(
                alloc: { data, size in
                    guard let data else { return nil }
                    return Unmanaged<UnpackAllocator>.fromOpaque(data).takeUnretainedValue().allocateBlock(size)
                },
                free: { data, block in
                    guard let data, let block else { return }
                    Unmanaged<UnpackAllocator>.fromOpaque(data).takeUnretainedValue().freeBlock(block)
                },
                allocator_data: nil
            ))
        allocator.pointee.allocator_data = Unmanaged.passUnretained(self).toOpaque()
    }

    deinit {
        // Empty once free_unpacked has run (protobuf-c also frees a partial
        // message when unpacking fails); this only guards against a leak.
        for block in sizes.keys {
            free(block)
        }
        allocator.deinitialize(count: 1)
        allocator.deallocate()
    }

    private func allocateBlock(_ size: Int) -> UnsafeMutableRawPointer? {
        guard let block = malloc(size) else { return nil }
        sizes[block] = size
        return block
    }

    private func freeBlock(_ block: UnsafeMutableRawPointer) {
        sizes[block] = nil
        free(block)
    }

    /// The size `block` was allocated with, if this allocator allocated it.
    func size(of block: UnsafeRawPointer) -> Int? {
        sizes[UnsafeMutableRawPointer(mutating: block)]
    }
}
