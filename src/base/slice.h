/*
 * slice.h — a borrowed view of bytes: pointer and length, not NUL-terminated.
 * A slice never owns what it points to; its owner is stated where it is made.
 */
#ifndef PAL_BASE_SLICE_H
#define PAL_BASE_SLICE_H

#include <stdbool.h>
#include <stddef.h>
#include <string.h>

typedef struct pal_slice {
    const char *ptr;
    size_t len;
} pal_slice;

static inline pal_slice pal_slice_of(const char *s)
{
    return (pal_slice){s, s ? strlen(s) : 0};
}

static inline bool pal_slice_eq(pal_slice a, const char *s)
{
    size_t n = strlen(s);
    return a.len == n && memcmp(a.ptr, s, n) == 0;
}

#endif
