/*
 * test_nlu_kernels.c — the CPU-specific kernels agree with the portable ones.
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "nlu/kernels.h"

static uint32_t next(uint32_t *state)
{
    *state = *state * 1664525u + 1013904223u;
    return *state >> 8;
}

static void scores_agree_for_every_width(void **state)
{
    (void)state;
    pal_kernels fast = pal_kernels_choose();
    pal_kernels slow = pal_kernels_portable();
    uint32_t rng = 7;
    for (size_t stride = PAL_KERNEL_LANE; stride <= 160; stride += PAL_KERNEL_LANE) {
        enum { ROWS = 37 };
        int8_t *storage = malloc(ROWS * stride);
        const int8_t *rows[ROWS];
        float mult[ROWS];
        float *bias = malloc(stride * sizeof(float));
        float *a = malloc(stride * sizeof(float));
        float *b = malloc(stride * sizeof(float));
        for (size_t i = 0; i < ROWS * stride; i++)
            storage[i] = (int8_t)(next(&rng) % 255 - 127);
        for (size_t k = 0; k < ROWS; k++) {
            rows[k] = storage + k * stride;
            mult[k] = (float)(next(&rng) % 2000) / 1000.0f - 1.0f;
        }
        for (size_t c = 0; c < stride; c++)
            bias[c] = (float)(next(&rng) % 100) / 50.0f - 1.0f;
        fast.scores(bias, stride, mult, rows, ROWS, a);
        slow.scores(bias, stride, mult, rows, ROWS, b);
        for (size_t c = 0; c < stride; c++)
            assert_float_equal(a[c], b[c], 1e-3);
        /* No rows: the bias alone. */
        fast.scores(bias, stride, mult, rows, 0, a);
        for (size_t c = 0; c < stride; c++)
            assert_float_equal(a[c], bias[c], 0);
        free(storage);
        free(bias);
        free(a);
        free(b);
    }
}

static void softmax_agrees_and_survives_extremes(void **state)
{
    (void)state;
    pal_kernels fast = pal_kernels_choose();
    pal_kernels slow = pal_kernels_portable();
    float a[24];
    float b[24];
    for (size_t n = 1; n <= 20; n++) {
        size_t padded = (n + PAL_KERNEL_LANE - 1) / PAL_KERNEL_LANE * PAL_KERNEL_LANE;
        for (size_t c = 0; c < n; c++)
            a[c] = b[c] = (float)((int)(c * 37 % 11) - 5) * 3.0f;
        a[0] = b[0] = 500.0f; /* far above the rest: e^(x - max) underflows */
        fast.softmax(a, n, padded);
        slow.softmax(b, n, padded);
        float sum = 0;
        for (size_t c = 0; c < n; c++) {
            assert_true(a[c] == a[c]); /* not NaN */
            assert_float_equal(a[c], b[c], 1e-5);
            sum += a[c];
        }
        assert_float_equal(sum, 1.0f, 1e-5);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(scores_agree_for_every_width),
        cmocka_unit_test(softmax_agrees_and_survives_extremes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
