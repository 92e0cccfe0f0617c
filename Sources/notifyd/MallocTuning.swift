import CMallocTuning

/// Process-wide allocator settings for the long-running commands.
///
/// glibc gives the free top of each thread arena back to the kernel with
/// `madvise(MADV_DONTNEED)` once it passes a trim threshold that it adjusts
/// by itself. Under load the store's writer frees and reallocates SQLite's
/// statement journals over and over, so that happened thousands of times a
/// second: each `madvise` flushed both cores' TLBs, and profiles of a Notify
/// load put 8 % of the server's CPU in it. A fixed threshold of 32 MiB per
/// arena keeps that memory for the next batch; RSS stays bounded, since an
/// arena keeps no more free memory than that at its top.
enum MallocTuning {
    static let trimThreshold: Int32 = 32 << 20

    static func apply() {
        // A fixed threshold also stops glibc from adjusting it on its own.
        _ = c_malloc_tuning_set_trim_threshold(trimThreshold)
    }
}
