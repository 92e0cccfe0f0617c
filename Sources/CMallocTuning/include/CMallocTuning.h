#ifndef C_MALLOC_TUNING_H
#define C_MALLOC_TUNING_H

/// Sets glibc's malloc trim threshold (M_TRIM_THRESHOLD) in bytes; returns 0
/// and does nothing on other C libraries. Swift cannot see <malloc.h>'s
/// mallopt through the Glibc module, hence this wrapper.
int c_malloc_tuning_set_trim_threshold(int bytes);

#endif
