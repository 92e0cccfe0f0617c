#ifndef C_MALLOC_TUNING_H
#define C_MALLOC_TUNING_H

#include <stddef.h>

/// Sets glibc's malloc trim threshold (M_TRIM_THRESHOLD) in bytes; returns 0
/// and does nothing on other C libraries. Swift cannot see <malloc.h>'s
/// mallopt through the Glibc module, hence this wrapper.
int c_malloc_tuning_set_trim_threshold(int bytes);

/// The bytes the allocator has handed out and not got back (glibc's
/// mallinfo2: uordblks + hblkhd, over every arena); 0 on other C libraries.
/// Tests read it to find leaks, which RSS hides behind freed pages kept.
size_t c_malloc_tuning_heap_in_use(void);

#endif
