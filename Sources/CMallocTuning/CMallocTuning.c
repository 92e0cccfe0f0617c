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
