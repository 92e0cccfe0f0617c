#include "CMallocTuning.h"

// <stdlib.h> first: it defines __GLIBC__, which the test below needs.
#include <stdlib.h>
#if defined(__GLIBC__)
#include <malloc.h>
#endif

int c_malloc_tuning_set_trim_threshold(int bytes) {
#if defined(__GLIBC__)
    return mallopt(M_TRIM_THRESHOLD, bytes);
#else
    (void)bytes;
    return 0;
#endif
}

size_t c_malloc_tuning_heap_in_use(void) {
#if defined(__GLIBC__) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 33))
    struct mallinfo2 info = mallinfo2();
    return info.uordblks + info.hblkhd;
#else
    return 0;
#endif
}
