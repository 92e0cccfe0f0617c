internal import CMallocTuning

/// What the C allocator holds for this process, for tests that look for leaks.
///
/// RSS hides a leak behind freed pages the allocator keeps, and shows pages
/// it has not yet returned as growth; the allocator's own count of the bytes
/// handed out and not freed (glibc's `mallinfo2`) does neither.
public enum HeapStatistics {
    /// Bytes allocated and not freed, over every arena; nil where the C
    /// library does not say (not glibc).
    public static func bytesInUse() -> Int? {
        let bytes = c_malloc_tuning_heap_in_use()
        return bytes == 0 ? nil : Int(clamping: bytes)
    }
}
