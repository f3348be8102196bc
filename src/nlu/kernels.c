/*
 * kernels.c — scoring and softmax, portable and AVX2 (see kernels.h).
 *
 * Scoring keeps 32 class accumulators in registers and runs over every row
 * for each block of 32 classes, so that no accumulator is loaded or stored
 * per row; rows are read once per block from L1 after the first block.
 */
#include "nlu/kernels.h"

#include <math.h>
#include <string.h>

static void scores_portable(const float *bias, size_t stride, const float *mult,
                            const int8_t *const *rows, size_t n, float *out)
{
    memcpy(out, bias, stride * sizeof(float));
    for (size_t k = 0; k < n; k++) {
        const int8_t *row = rows[k];
        float w = mult[k];
        for (size_t c = 0; c < stride; c++)
            out[c] += w * (float)row[c];
    }
}

static void softmax_portable(float *v, size_t n, size_t padded)
{
    (void)padded;
    float max = v[0];
    for (size_t c = 1; c < n; c++)
        max = v[c] > max ? v[c] : max;
    float sum = 0;
    for (size_t c = 0; c < n; c++) {
        v[c] = expf(v[c] - max);
        sum += v[c];
    }
    float inv = 1.0f / sum;
    for (size_t c = 0; c < n; c++)
        v[c] *= inv;
}

#if defined(__x86_64__)
#include <immintrin.h>

#define AVX2 __attribute__((target("avx2,fma")))

AVX2 static inline __m256 widen8(__m128i bytes)
{
    return _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(bytes));
}

AVX2 static void scores_avx2(const float *bias, size_t stride, const float *mult,
                             const int8_t *const *rows, size_t n, float *out)
{
    size_t c = 0;
    for (; c + 32 <= stride; c += 32) {
        __m256 a0 = _mm256_loadu_ps(bias + c);
        __m256 a1 = _mm256_loadu_ps(bias + c + 8);
        __m256 a2 = _mm256_loadu_ps(bias + c + 16);
        __m256 a3 = _mm256_loadu_ps(bias + c + 24);
        for (size_t k = 0; k < n; k++) {
            __m256 w = _mm256_set1_ps(mult[k]);
            __m256i b = _mm256_loadu_si256((const __m256i *)(const void *)(rows[k] + c));
            __m128i lo = _mm256_castsi256_si128(b);
            __m128i hi = _mm256_extracti128_si256(b, 1);
            a0 = _mm256_fmadd_ps(w, widen8(lo), a0);
            a1 = _mm256_fmadd_ps(w, widen8(_mm_srli_si128(lo, 8)), a1);
            a2 = _mm256_fmadd_ps(w, widen8(hi), a2);
            a3 = _mm256_fmadd_ps(w, widen8(_mm_srli_si128(hi, 8)), a3);
        }
        _mm256_storeu_ps(out + c, a0);
        _mm256_storeu_ps(out + c + 8, a1);
        _mm256_storeu_ps(out + c + 16, a2);
        _mm256_storeu_ps(out + c + 24, a3);
    }
    for (; c < stride; c += PAL_KERNEL_LANE) {
        __m256 a = _mm256_loadu_ps(bias + c);
        for (size_t k = 0; k < n; k++) {
            long long bytes;
            memcpy(&bytes, rows[k] + c, sizeof(bytes));
            a = _mm256_fmadd_ps(_mm256_set1_ps(mult[k]), widen8(_mm_cvtsi64_si128(bytes)), a);
        }
        _mm256_storeu_ps(out + c, a);
    }
}

/* e^x for x in [-87, 0]: 2^(x log2 e) split into 2^k (built in the exponent
 * bits) and 2^f, f in [-0.5, 0.5], by a degree-6 Taylor polynomial (relative
 * error under 2e-7, far below what separates two intents). */
AVX2 static inline __m256 exp_avx2(__m256 x)
{
    x = _mm256_max_ps(x, _mm256_set1_ps(-87.0f));
    __m256 t = _mm256_mul_ps(x, _mm256_set1_ps(1.44269504089f));
    __m256 k = _mm256_round_ps(t, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m256 f = _mm256_mul_ps(_mm256_sub_ps(t, k), _mm256_set1_ps(0.69314718056f));
    __m256 p = _mm256_set1_ps(1.0f / 720);
    p = _mm256_fmadd_ps(p, f, _mm256_set1_ps(1.0f / 120));
    p = _mm256_fmadd_ps(p, f, _mm256_set1_ps(1.0f / 24));
    p = _mm256_fmadd_ps(p, f, _mm256_set1_ps(1.0f / 6));
    p = _mm256_fmadd_ps(p, f, _mm256_set1_ps(0.5f));
    p = _mm256_fmadd_ps(p, f, _mm256_set1_ps(1.0f));
    p = _mm256_fmadd_ps(p, f, _mm256_set1_ps(1.0f));
    __m256i exponent = _mm256_add_epi32(_mm256_cvtps_epi32(k), _mm256_set1_epi32(127));
    return _mm256_mul_ps(p, _mm256_castsi256_ps(_mm256_slli_epi32(exponent, 23)));
}

AVX2 static void softmax_avx2(float *v, size_t n, size_t padded)
{
    for (size_t c = n; c < padded; c++)
        v[c] = -1e30f; /* exp gives 0: the padding adds nothing to the sum */
    __m256 vmax = _mm256_loadu_ps(v);
    for (size_t c = PAL_KERNEL_LANE; c < padded; c += PAL_KERNEL_LANE)
        vmax = _mm256_max_ps(vmax, _mm256_loadu_ps(v + c));
    float lanes[PAL_KERNEL_LANE];
    _mm256_storeu_ps(lanes, vmax);
    float max = lanes[0];
    for (int i = 1; i < PAL_KERNEL_LANE; i++)
        max = lanes[i] > max ? lanes[i] : max;
    __m256 vsum = _mm256_setzero_ps();
    for (size_t c = 0; c < padded; c += PAL_KERNEL_LANE) {
        __m256 e = exp_avx2(_mm256_sub_ps(_mm256_loadu_ps(v + c), _mm256_set1_ps(max)));
        _mm256_storeu_ps(v + c, e);
        vsum = _mm256_add_ps(vsum, e);
    }
    _mm256_storeu_ps(lanes, vsum);
    float sum = 0;
    for (int i = 0; i < PAL_KERNEL_LANE; i++)
        sum += lanes[i];
    __m256 inv = _mm256_set1_ps(1.0f / sum);
    for (size_t c = 0; c < padded; c += PAL_KERNEL_LANE)
        _mm256_storeu_ps(v + c, _mm256_mul_ps(_mm256_loadu_ps(v + c), inv));
}
#endif

pal_kernels pal_kernels_portable(void)
{
    return (pal_kernels){scores_portable, softmax_portable};
}

pal_kernels pal_kernels_choose(void)
{
#if defined(__x86_64__)
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
        return (pal_kernels){scores_avx2, softmax_avx2};
#endif
    return pal_kernels_portable();
}
