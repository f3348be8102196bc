/*
 * kernels.h — the vector arithmetic of the intent classifier, chosen for
 * the CPU at run time (AVX2 + FMA when present, portable C otherwise).
 *
 * Rows are int8 weights, one per class, padded to PAL_KERNEL_LANE; a score
 * is bias + sum over rows of mult[k] * row[k]. All functions are pure and
 * thread-safe.
 */
#ifndef PAL_NLU_KERNELS_H
#define PAL_NLU_KERNELS_H

#include <stddef.h>
#include <stdint.h>

enum { PAL_KERNEL_LANE = 8 }; /* class counts are padded to a multiple of this */

typedef struct pal_kernels {
    /* out[0..stride) = bias + sum_k mult[k] * rows[k][0..stride) */
    void (*scores)(const float *bias, size_t stride, const float *mult, const int8_t *const *rows,
                   size_t n, float *out);
    /* Softmax of v[0..n) in place; v has room for `padded` floats (n rounded
     * up to the lane), the padding is scratch. */
    void (*softmax)(float *v, size_t n, size_t padded);
} pal_kernels;

/* The fastest kernels this CPU runs. */
pal_kernels pal_kernels_choose(void);

/* The portable ones (for tests: both must agree). */
pal_kernels pal_kernels_portable(void);

#endif
