import Glibc

/// The C allocator's own count of the heap this process holds, for tests
/// that bound what a stream costs.
///
/// RSS hides growth behind freed pages the allocator keeps and shows pages it
/// has not yet returned; glibc's `mallinfo2` counts the bytes handed out and
/// not freed. Swift cannot see `<malloc.h>` through the Glibc module, so the
/// function is looked up at run time.
public enum AllocatorStatistics {
    /// Bytes allocated and not freed over every arena (`uordblks + hblkhd`);
    /// nil where this cannot be read (not glibc on x86-64).
    public static func bytesInUse() -> Int? {
        #if arch(x86_64) && os(Linux)
        // RTLD_DEFAULT: the process's global symbols.
        guard let symbol = dlsym(nil, "mallinfo2") else { return nil }
        // `struct mallinfo2` is ten size_t (80 bytes). The x86-64 System V
        // ABI returns a struct that large through a pointer the caller passes
        // as a hidden first argument (and gets back in RAX): calling it as a
        // function of that one pointer is the same call.
        typealias Mallinfo2 = @convention(c) (UnsafeMutableRawPointer) -> UnsafeMutableRawPointer?
        let mallinfo2 = unsafeBitCast(symbol, to: Mallinfo2.self)
        var fields = [Int](repeating: 0, count: 10)
        fields.withUnsafeMutableBytes { bytes in
            guard let base = bytes.baseAddress else { return }
            _ = mallinfo2(base)
        }
        // arena, ordblks, smblks, hblks, hblkhd, usmblks, fsmblks, uordblks, fordblks, keepcost.
        return fields[7] + fields[4]
        #else
        return nil
        #endif
    }
}
