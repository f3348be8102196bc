/*
 * classifier.c — training and using the intent model (see classifier.h).
 *
 * Layout, chosen for the classify loop:
 *  - the vocabulary is an open-addressing table of 8-byte slots (24-bit
 *    fingerprint of the feature hash, the feature's IDF as one of 256
 *    levels, 32-bit feature index + 1), so a lookup touches one cache line
 *    and gives all a feature's TF-IDF weight needs;
 *  - weights are feature-major: the row of a feature is its scale (a
 *    float) and one int8 weight per class, padded to a multiple of 8, so
 *    scoring a message adds a few hundred contiguous rows (vectorised);
 *  - features are numbered by decreasing frequency, so the rows that most
 *    messages read are packed together and stay in cache;
 *  - look-ups are done in batches with prefetches, so that the cache
 *    misses of one message overlap instead of queueing;
 *  - a message becomes a short sparse vector (index, TF-IDF weight), each
 *    feature group scaled to unit length.
 * Training uses SGD on the softmax loss with L2 decay applied through a
 * global scale (so a step costs only the touched rows), a decreasing step
 * size, and averaging of the last epochs' weights (averaged SGD), which
 * gives stable, well-generalising models without tuning per corpus.
 */
#include "nlu/classifier.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/mem.h"
#include "nlu/features.h"
#include "nlu/hash.h"
#include "text/utf8.h"

enum { LANE = 8 }; /* weights per row are padded to this */

/* Softmax over v[0..n), in place. v has room for `padded` floats (n rounded
 * up to LANE); the padding is scratch. */
typedef void (*softmax_kernel)(float *v, size_t n, size_t padded);

typedef struct row_header {
    float scale; /* weight of class c = scale * (int8) row[c] */
} row_header;

enum { IDF_LEVELS = 256 };

enum { CACHE_LINE = 64 };

/* Training length floor (see sgd) and ceiling. */
enum { MIN_UPDATES = 30000, MAX_EPOCHS = 2000 };

/* acc[0..stride) += w * row[0..stride), row quantised to int8. */
typedef void (*row_kernel)(float *restrict acc, float w, const int8_t *restrict row, size_t stride);

struct pal_nlu_model {
    size_t n_classes; /* intents + the out-of-scope class, if trained */
    size_t n_intents; /* classes that are intents (the first n_intents) */
    size_t stride;    /* weights per row: classes padded to LANE */
    char **class_names;
    uint64_t *slots; /* vocabulary table */
    size_t slot_mask;
    float idf_level[IDF_LEVELS]; /* the IDF that each level a slot names stands for */
    size_t n_features;
    unsigned char *rows; /* n_features rows of row_bytes: header + int8 weights */
    size_t row_bytes;
    float *bias;        /* stride */
    row_kernel add_row; /* the fastest kernels this CPU runs */
    softmax_kernel softmax;
    pal_lang default_lang;
    float threshold;
};

void pal_nlu_params_default(pal_nlu_params *params)
{
    params->threshold = 0.35f;
    params->epochs = 12;
    params->learning_rate = 0.6f;
    params->l2 = 2e-6f;
    params->min_df = 0; /* automatic */
    params->seed = 42;
}

static bool is_oos_label(const char *label)
{
    return strcmp(label, "oos") == 0 || strcmp(label, "none") == 0;
}

/* ---- vocabulary ------------------------------------------------------ */

/* The top 24 bits of the hash (the low bits pick the slot); never 0, which
 * marks an empty slot. A false match needs equal low bits and these 24:
 * about one message in a million touches a wrong feature, harmlessly. */
static uint32_t fingerprint(uint64_t hash)
{
    uint32_t fp = (uint32_t)(hash >> 40);
    return fp ? fp : 1;
}

/* The slot of hash, or 0 when the feature is unknown. */
static inline uint64_t vocab_find(const pal_nlu_model *m, uint64_t hash)
{
    uint32_t fp = fingerprint(hash);
    size_t pos = (size_t)hash & m->slot_mask;
    for (;;) {
        uint64_t slot = m->slots[pos];
        if (slot == 0 || (uint32_t)(slot >> 40) == fp)
            return slot;
        pos = (pos + 1) & m->slot_mask;
    }
}

static inline uint32_t slot_index(uint64_t slot)
{
    return (uint32_t)slot - 1;
}

static inline float slot_idf(const pal_nlu_model *m, uint64_t slot)
{
    return m->idf_level[(slot >> 32) & 0xFF];
}

static void vocab_insert(pal_nlu_model *m, uint64_t hash, uint32_t index, uint8_t idf_level)
{
    uint32_t fp = fingerprint(hash);
    size_t pos = (size_t)hash & m->slot_mask;
    while (m->slots[pos] != 0)
        pos = (pos + 1) & m->slot_mask;
    m->slots[pos] = ((uint64_t)fp << 40) | ((uint64_t)idf_level << 32) | (uint64_t)(index + 1);
}

/* ---- counting table used in training ---------------------------------- */

typedef struct count_table {
    uint64_t *keys; /* 0 = empty; a real hash of 0 is stored as 1 */
    uint32_t *counts;
    uint32_t *last_doc; /* to count each feature once per example */
    size_t mask;
    size_t used;
} count_table;

static void count_table_init(count_table *t, size_t cap_pow2)
{
    t->keys = pal_xcalloc(cap_pow2, sizeof(*t->keys));
    t->counts = pal_xcalloc(cap_pow2, sizeof(*t->counts));
    t->last_doc = pal_xcalloc(cap_pow2, sizeof(*t->last_doc));
    t->mask = cap_pow2 - 1;
    t->used = 0;
}

static void count_table_free(count_table *t)
{
    free(t->keys);
    free(t->counts);
    free(t->last_doc);
}

static void count_table_add(count_table *t, uint64_t key, uint32_t doc);

static void count_table_grow(count_table *t)
{
    count_table old = *t;
    count_table_init(t, (old.mask + 1) * 2);
    for (size_t i = 0; i <= old.mask; i++) {
        if (!old.keys[i])
            continue;
        size_t pos = (size_t)old.keys[i] & t->mask;
        while (t->keys[pos])
            pos = (pos + 1) & t->mask;
        t->keys[pos] = old.keys[i];
        t->counts[pos] = old.counts[i];
        t->last_doc[pos] = old.last_doc[i];
        t->used++;
    }
    count_table_free(&old);
}

/* Counts key once per doc (docs are numbered from 1). */
static void count_table_add(count_table *t, uint64_t key, uint32_t doc)
{
    if (key == 0)
        key = 1;
    if ((t->used + 1) * 2 > t->mask + 1)
        count_table_grow(t);
    size_t pos = (size_t)key & t->mask;
    while (t->keys[pos] && t->keys[pos] != key)
        pos = (pos + 1) & t->mask;
    if (!t->keys[pos]) {
        t->keys[pos] = key;
        t->used++;
    }
    if (t->last_doc[pos] != doc) {
        t->last_doc[pos] = doc;
        t->counts[pos]++;
    }
}

/* ---- message -> sparse vector ------------------------------------------ */

static inline const row_header *row_of(const pal_nlu_model *m, uint32_t f)
{
    return (const row_header *)(const void *)(m->rows + (size_t)f * m->row_bytes);
}

typedef struct sparse_vec {
    uint32_t *index;
    float *value;
    size_t count;
} sparse_vec;

/* Known features of one group, deduplicated with their counts, appended to
 * vec with weight (1 + log tf) * idf, then the group scaled to length 1. */
static void add_group(const pal_nlu_model *m, const uint64_t *hashes, size_t n, pal_arena *arena,
                      sparse_vec *vec)
{
    if (n == 0)
        return;
    /* Small open-addressing set keyed by feature index, size >= 2n. */
    size_t cap = 16;
    while (cap < 2 * n)
        cap *= 2;
    uint32_t *keys = pal_arena_alloc(arena, cap * sizeof(*keys));
    uint32_t *counts = pal_arena_alloc(arena, cap * sizeof(*counts));
    float *idf = pal_arena_alloc(arena, (n + 1) * sizeof(*idf));
    memset(keys, 0xFF, cap * sizeof(*keys));
    size_t first = vec->count;
    /* Issue every slot's load before waiting for any. */
    for (size_t i = 0; i < n; i++)
        __builtin_prefetch(&m->slots[(size_t)hashes[i] & m->slot_mask]);
    for (size_t i = 0; i < n; i++) {
        uint64_t slot = vocab_find(m, hashes[i]);
        if (slot == 0)
            continue;
        uint32_t idx = slot_index(slot);
        size_t pos = (idx * 2654435761u) & (cap - 1);
        while (keys[pos] != UINT32_MAX && keys[pos] != idx)
            pos = (pos + 1) & (cap - 1);
        if (keys[pos] == UINT32_MAX) {
            keys[pos] = idx;
            counts[pos] = 0;
            idf[vec->count - first] = slot_idf(m, slot);
            vec->index[vec->count++] = idx;
            if (m->rows) {
                /* Scoring reads the row next: start bringing it in now. */
                const unsigned char *row = m->rows + (size_t)idx * m->row_bytes;
                for (size_t line = 0; line < m->row_bytes; line += CACHE_LINE)
                    __builtin_prefetch(row + line);
            }
        }
        counts[pos]++;
    }
    double norm2 = 0;
    for (size_t k = first; k < vec->count; k++) {
        uint32_t idx = vec->index[k];
        size_t pos = (idx * 2654435761u) & (cap - 1);
        while (keys[pos] != idx)
            pos = (pos + 1) & (cap - 1);
        /* Most features occur once in a message: log(1) = 0, no call. */
        float tf = counts[pos] == 1 ? 1.0f : 1.0f + logf((float)counts[pos]);
        float w = tf * idf[k - first];
        vec->value[k] = w;
        norm2 += (double)w * w;
    }
    if (norm2 > 0) {
        float inv = (float)(1.0 / sqrt(norm2));
        for (size_t k = first; k < vec->count; k++)
            vec->value[k] *= inv;
    }
}

static pal_err vectorize(const pal_nlu_model *m, pal_analyzer *analyzer,
                         const pal_analysis *analysis, sparse_vec *out)
{
    pal_arena *arena = pal_analyzer_arena(analyzer);
    pal_lang lang = analysis->lang != PAL_LANG_UNKNOWN ? analysis->lang : m->default_lang;
    pal_feature_hashes fh;
    pal_err err = pal_features_extract(analyzer, analysis, lang, arena, &fh);
    if (err)
        return err;
    size_t total = fh.count[PAL_FEATURE_WORDS] + fh.count[PAL_FEATURE_CHARS];
    out->index = pal_arena_alloc(arena, (total + 1) * sizeof(*out->index));
    out->value = pal_arena_alloc(arena, (total + 1) * sizeof(*out->value));
    out->count = 0;
    for (int g = 0; g < PAL_FEATURE_GROUPS; g++)
        add_group(m, fh.hashes[g], fh.count[g], arena, out);
    return PAL_OK;
}

/* ---- kernels ---------------------------------------------------------- */

typedef float vec8 __attribute__((vector_size(32), aligned(4)));

/* acc[0..stride) += w * row[0..stride); stride is a multiple of LANE. */
__attribute__((target_clones("avx2", "default"))) static void
axpy(float *restrict acc, float w, const float *restrict row, size_t stride)
{
    for (size_t c = 0; c < stride; c += LANE) {
        vec8 a;
        vec8 r;
        memcpy(&a, acc + c, sizeof(a));
        memcpy(&r, row + c, sizeof(r));
        a += w * r;
        memcpy(acc + c, &a, sizeof(a));
    }
}

static void add_row_generic(float *restrict acc, float w, const int8_t *restrict row, size_t stride)
{
    for (size_t c = 0; c < stride; c++)
        acc[c] += w * (float)row[c];
}

#if defined(__x86_64__)
#include <immintrin.h>

/* 8 classes per step: widen 8 int8 to floats, multiply-add. */
__attribute__((target("avx2,fma"))) static void
add_row_avx2(float *restrict acc, float w, const int8_t *restrict row, size_t stride)
{
    __m256 vw = _mm256_set1_ps(w);
    for (size_t c = 0; c < stride; c += LANE) {
        long long bytes;
        memcpy(&bytes, row + c, sizeof(bytes));
        __m256 f = _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_cvtsi64_si128(bytes)));
        _mm256_storeu_ps(acc + c, _mm256_fmadd_ps(vw, f, _mm256_loadu_ps(acc + c)));
    }
}
#endif

static row_kernel choose_row_kernel(void)
{
#if defined(__x86_64__)
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
        return add_row_avx2;
#endif
    return add_row_generic;
}

static void scores_of(const pal_nlu_model *m, const sparse_vec *x, float *scores)
{
    memcpy(scores, m->bias, m->stride * sizeof(float));
    for (size_t k = 0; k < x->count; k++) {
        const row_header *row = row_of(m, x->index[k]);
        m->add_row(scores, x->value[k] * row->scale, (const int8_t *)(const void *)(row + 1),
                   m->stride);
    }
}

/* Stores the trained float weights as int8 rows with one scale per row:
 * a quarter of the memory traffic when classifying, and the scores move by
 * far less than the gaps between classes. */
static void quantize(pal_nlu_model *m, const float *w)
{
    size_t stride = m->stride;
    m->row_bytes = sizeof(row_header) + stride;
    m->rows = pal_xcalloc(m->n_features + 1, m->row_bytes);
    for (size_t f = 0; f < m->n_features; f++) {
        const float *weights = w + f * stride;
        float max = 0;
        for (size_t c = 0; c < m->n_classes; c++)
            max = fabsf(weights[c]) > max ? fabsf(weights[c]) : max;
        row_header *header = (row_header *)(void *)(m->rows + f * m->row_bytes);
        header->scale = max > 0 ? max / 127.0f : 1.0f;
        int8_t *q = (int8_t *)(void *)(header + 1);
        for (size_t c = 0; c < m->n_classes; c++)
            q[c] = (int8_t)lrintf(weights[c] / header->scale);
    }
}

static void softmax_generic(float *v, size_t n, size_t padded)
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
/* e^x for x in [-87, 0]: 2^(x log2 e) split into 2^k (built in the exponent
 * bits) and 2^f, f in [-0.5, 0.5], by a degree-6 Taylor polynomial (relative
 * error under 2e-7, far below what separates two intents). */
__attribute__((target("avx2,fma"))) static inline __m256 exp_avx2(__m256 x)
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
    __m256i bits =
        _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(k), _mm256_set1_epi32(127)), 23);
    return _mm256_mul_ps(p, _mm256_castsi256_ps(bits));
}

__attribute__((target("avx2,fma"))) static void softmax_avx2(float *v, size_t n, size_t padded)
{
    for (size_t c = n; c < padded; c++)
        v[c] = -1e30f; /* exp gives 0: the padding adds nothing to the sum */
    __m256 vmax = _mm256_loadu_ps(v);
    for (size_t c = LANE; c < padded; c += LANE)
        vmax = _mm256_max_ps(vmax, _mm256_loadu_ps(v + c));
    float lanes[LANE];
    _mm256_storeu_ps(lanes, vmax);
    float max = lanes[0];
    for (int i = 1; i < LANE; i++)
        max = lanes[i] > max ? lanes[i] : max;
    __m256 vsum = _mm256_setzero_ps();
    for (size_t c = 0; c < padded; c += LANE) {
        __m256 e = exp_avx2(_mm256_sub_ps(_mm256_loadu_ps(v + c), _mm256_set1_ps(max)));
        _mm256_storeu_ps(v + c, e);
        vsum = _mm256_add_ps(vsum, e);
    }
    _mm256_storeu_ps(lanes, vsum);
    float sum = 0;
    for (int i = 0; i < LANE; i++)
        sum += lanes[i];
    __m256 inv = _mm256_set1_ps(1.0f / sum);
    for (size_t c = 0; c < padded; c += LANE)
        _mm256_storeu_ps(v + c, _mm256_mul_ps(_mm256_loadu_ps(v + c), inv));
}
#endif

static softmax_kernel choose_softmax_kernel(void)
{
#if defined(__x86_64__)
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
        return softmax_avx2;
#endif
    return softmax_generic;
}

/* ---- training --------------------------------------------------------- */

typedef struct training_set {
    size_t n;
    uint32_t *label; /* class of each example */
    size_t *offset;  /* CSR: example i's features are [offset[i], offset[i+1]) */
    uint32_t *index;
    float *value;
} training_set;

static void training_set_free(training_set *ts)
{
    free(ts->label);
    free(ts->offset);
    free(ts->index);
    free(ts->value);
}

__attribute__((format(printf, 3, 4))) static void set_error(char *errbuf, size_t errlen,
                                                            const char *fmt, ...)
{
    if (!errbuf || !errlen)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(errbuf, errlen, fmt, ap);
    va_end(ap);
}

/* Assigns class numbers: intents in order of first appearance, the
 * out-of-scope class (if any) last. */
static pal_err assign_classes(pal_nlu_model *m, const pal_nlu_example *ex, size_t n,
                              uint32_t *label, char *errbuf, size_t errlen)
{
    size_t cap = 0;
    bool has_oos = false;
    for (size_t i = 0; i < n; i++) {
        if (!ex[i].intent || !ex[i].text || !ex[i].intent[0]) {
            set_error(errbuf, errlen, "example %zu has no intent or text", i + 1);
            return PAL_ERR_INVALID;
        }
        if (is_oos_label(ex[i].intent)) {
            has_oos = true;
            continue;
        }
        size_t c = 0;
        while (c < m->n_intents && strcmp(m->class_names[c], ex[i].intent) != 0)
            c++;
        if (c == m->n_intents) {
            pal_xreserve((void **)&m->class_names, &cap, m->n_intents + 2, sizeof(char *));
            m->class_names[m->n_intents++] = pal_xstrdup(ex[i].intent);
        }
        label[i] = (uint32_t)c;
    }
    if (m->n_intents == 0) {
        set_error(errbuf, errlen, "no in-scope intent among %zu examples", n);
        return PAL_ERR_INVALID;
    }
    m->n_classes = m->n_intents;
    if (has_oos) {
        pal_xreserve((void **)&m->class_names, &cap, m->n_intents + 1, sizeof(char *));
        m->class_names[m->n_classes++] = pal_xstrdup("oos");
        for (size_t i = 0; i < n; i++) {
            if (is_oos_label(ex[i].intent))
                label[i] = (uint32_t)m->n_intents;
        }
    }
    m->stride = (m->n_classes + LANE - 1) / LANE * LANE;
    return PAL_OK;
}

typedef struct df_entry {
    uint64_t hash;
    uint32_t count;
} df_entry;

/* Most frequent first; ties by hash so that the order is reproducible. */
static int cmp_df_desc(const void *a, const void *b)
{
    const df_entry *x = a;
    const df_entry *y = b;
    if (x->count != y->count)
        return x->count < y->count ? 1 : -1;
    return x->hash < y->hash ? -1 : x->hash > y->hash;
}

/* Pass 1: languages and document frequencies; builds the vocabulary. */
static pal_err build_vocabulary(pal_nlu_model *m, pal_analyzer *analyzer, const pal_nlu_example *ex,
                                size_t n, int min_df, char *errbuf, size_t errlen)
{
    size_t lang_count[PAL_LANG_COUNT] = {0};
    for (size_t i = 0; i < n; i++) {
        pal_analysis a;
        pal_err err = pal_analyze(analyzer, ex[i].text, strlen(ex[i].text), PAL_LANG_UNKNOWN, &a);
        if (err) {
            set_error(errbuf, errlen, "example %zu: text is not valid UTF-8 or too long", i + 1);
            return err;
        }
        lang_count[a.lang]++;
    }
    m->default_lang = lang_count[PAL_LANG_FR] > lang_count[PAL_LANG_EN] ? PAL_LANG_FR : PAL_LANG_EN;
    count_table df;
    count_table_init(&df, 1u << 16);
    for (size_t i = 0; i < n; i++) {
        pal_analysis a;
        pal_err err = pal_analyze(analyzer, ex[i].text, strlen(ex[i].text), PAL_LANG_UNKNOWN, &a);
        if (err)
            goto fail;
        pal_lang lang = a.lang != PAL_LANG_UNKNOWN ? a.lang : m->default_lang;
        pal_feature_hashes fh;
        err = pal_features_extract(analyzer, &a, lang, pal_analyzer_arena(analyzer), &fh);
        if (err)
            goto fail;
        for (int g = 0; g < PAL_FEATURE_GROUPS; g++) {
            for (size_t k = 0; k < fh.count[g]; k++)
                count_table_add(&df, fh.hashes[g][k], (uint32_t)(i + 1));
        }
        continue;
    fail:
        count_table_free(&df);
        return err;
    }

    /* Kept features, numbered by decreasing frequency: the rows a typical
     * message reads then sit together at the start of the table, where
     * they stay in cache. */
    size_t kept = 0;
    df_entry *entries = pal_xmalloc((df.used + 1) * sizeof(*entries));
    for (size_t i = 0; i <= df.mask; i++) {
        if (df.keys[i] && df.counts[i] >= (uint32_t)min_df)
            entries[kept++] = (df_entry){df.keys[i], df.counts[i]};
    }
    qsort(entries, kept, sizeof(*entries), cmp_df_desc);
    size_t slots = 16;
    while (slots < kept * 2)
        slots *= 2;
    m->slots = pal_xcalloc(slots, sizeof(*m->slots));
    m->slot_mask = slots - 1;
    m->n_features = kept;
    /* Smoothed IDF (as if one extra document held every feature), stored
     * as one of 256 levels between the most and the least frequent. */
    float idf_min = logf((float)(n + 1) / (float)(n + 1)) + 1.0f;
    float idf_max = logf((float)(n + 1) / (float)(min_df + 1)) + 1.0f;
    float step = (idf_max - idf_min) / (IDF_LEVELS - 1);
    for (int level = 0; level < IDF_LEVELS; level++)
        m->idf_level[level] = idf_min + step * (float)level;
    for (size_t f = 0; f < kept; f++) {
        float idf = logf((float)(n + 1) / (float)(entries[f].count + 1)) + 1.0f;
        long level = step > 0 ? lrintf((idf - idf_min) / step) : 0;
        level = level < 0 ? 0 : level > IDF_LEVELS - 1 ? IDF_LEVELS - 1 : level;
        vocab_insert(m, entries[f].hash, (uint32_t)f, (uint8_t)level);
    }
    free(entries);
    count_table_free(&df);
    return PAL_OK;
}

/* Pass 2: every example as a sparse vector. */
static pal_err build_training_set(const pal_nlu_model *m, pal_analyzer *analyzer,
                                  const pal_nlu_example *ex, size_t n, training_set *ts)
{
    size_t cap = 0;
    ts->n = n;
    ts->offset = pal_xmalloc((n + 1) * sizeof(*ts->offset));
    ts->offset[0] = 0;
    for (size_t i = 0; i < n; i++) {
        pal_analysis a;
        pal_err err = pal_analyze(analyzer, ex[i].text, strlen(ex[i].text), PAL_LANG_UNKNOWN, &a);
        if (err)
            return err;
        sparse_vec v;
        err = vectorize(m, analyzer, &a, &v);
        if (err)
            return err;
        size_t at = ts->offset[i];
        size_t old_cap = cap;
        pal_xreserve((void **)&ts->index, &cap, at + v.count, sizeof(*ts->index));
        if (cap != old_cap)
            ts->value = pal_xrealloc(ts->value, cap * sizeof(*ts->value));
        memcpy(ts->index + at, v.index, v.count * sizeof(*v.index));
        memcpy(ts->value + at, v.value, v.count * sizeof(*v.value));
        ts->offset[i + 1] = at + v.count;
    }
    return PAL_OK;
}

static uint32_t next_random(uint64_t *state)
{
    /* xorshift64*: reproducible shuffles without global state. */
    uint64_t x = *state;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *state = x;
    return (uint32_t)((x * 0x2545F4914F6CDD1DULL) >> 32);
}

static void shuffle(uint32_t *order, size_t n, uint64_t *rng)
{
    for (size_t i = n; i > 1; i--) {
        size_t j = next_random(rng) % i;
        uint32_t t = order[i - 1];
        order[i - 1] = order[j];
        order[j] = t;
    }
}

static void sgd(pal_nlu_model *m, const training_set *ts, const pal_nlu_params *p)
{
    size_t stride = m->stride;
    size_t n_w = m->n_features * stride;
    float *w = pal_xcalloc(n_w, sizeof(float));
    float *avg = pal_xcalloc(n_w, sizeof(float));
    float *bias_avg = pal_xcalloc(stride, sizeof(float));
    float *scores = pal_xcalloc(stride, sizeof(float));
    uint32_t *active = pal_xmalloc(stride * sizeof(*active));
    uint32_t *order = pal_xmalloc((ts->n + 1) * sizeof(*order));
    uint64_t rng = 0x9E3779B97F4A7C15ULL ^ p->seed;
    double scale = 1.0; /* true weights = scale * w */
    size_t t = 0;
    int averaged_epochs = 0;
    /* A bot has a few examples per intent: a dozen passes over them would
     * be a few hundred steps, too few to learn anything. Small sets get
     * more passes, so that every model sees at least MIN_UPDATES steps. */
    int epochs = p->epochs;
    if ((size_t)epochs * ts->n < MIN_UPDATES)
        epochs = (int)((MIN_UPDATES + ts->n - 1) / ts->n);
    if (epochs > MAX_EPOCHS)
        epochs = MAX_EPOCHS;
    int average_from = epochs / 2; /* average the second half of training */

    memset(m->bias, 0, stride * sizeof(float));
    for (size_t i = 0; i < ts->n; i++)
        order[i] = (uint32_t)i;

    for (int epoch = 0; epoch < epochs; epoch++) {
        shuffle(order, ts->n, &rng);
        for (size_t k = 0; k < ts->n; k++) {
            size_t i = order[k];
            double eta = p->learning_rate / (1.0 + p->l2 * p->learning_rate * (double)t);
            sparse_vec x = {ts->index + ts->offset[i], ts->value + ts->offset[i],
                            ts->offset[i + 1] - ts->offset[i]};
            memcpy(scores, m->bias, stride * sizeof(float));
            for (size_t j = 0; j < x.count; j++)
                axpy(scores, (float)(scale * x.value[j]), w + (size_t)x.index[j] * stride, stride);
            m->softmax(scores, m->n_classes, stride);
            scores[ts->label[i]] -= 1.0f; /* gradient of the loss per class */
            for (size_t c = m->n_classes; c < stride; c++)
                scores[c] = 0;

            scale *= 1.0 - eta * p->l2;
            /* Once the model has learnt a little, most classes get a
             * vanishing gradient: update only the classes that matter, and
             * densely only while most of them do. */
            size_t n_active = 0;
            for (size_t c = 0; c < m->n_classes; c++) {
                if (fabsf(scores[c]) > 1e-4f)
                    active[n_active++] = (uint32_t)c;
            }
            if (n_active * 4 > m->n_classes) {
                for (size_t j = 0; j < x.count; j++)
                    axpy(w + (size_t)x.index[j] * stride, (float)(-eta * x.value[j] / scale),
                         scores, stride);
            } else {
                for (size_t j = 0; j < x.count; j++) {
                    float *row = w + (size_t)x.index[j] * stride;
                    float step = (float)(-eta * x.value[j] / scale);
                    for (size_t a = 0; a < n_active; a++)
                        row[active[a]] += step * scores[active[a]];
                }
            }
            for (size_t c = 0; c < m->n_classes; c++)
                m->bias[c] -= (float)(eta * scores[c]);
            if (scale < 1e-6) {
                for (size_t q = 0; q < n_w; q++)
                    w[q] *= (float)scale;
                scale = 1.0;
            }
            t++;
        }
        if (epoch >= average_from) {
            /* Average end-of-epoch weights: cheap, and smooths SGD noise. */
            for (size_t q = 0; q < n_w; q++)
                avg[q] += (float)scale * w[q];
            for (size_t c = 0; c < stride; c++)
                bias_avg[c] += m->bias[c];
            averaged_epochs++;
        }
    }
    float inv = 1.0f / (float)(averaged_epochs ? averaged_epochs : 1);
    for (size_t q = 0; q < n_w; q++)
        avg[q] *= inv;
    for (size_t c = 0; c < stride; c++)
        m->bias[c] = bias_avg[c] * inv;
    quantize(m, avg);
    free(avg);
    free(w);
    free(bias_avg);
    free(scores);
    free(active);
    free(order);
}

pal_err pal_nlu_train(const pal_nlu_example *examples, size_t n, const pal_nlu_params *params,
                      pal_nlu_model **out, char *errbuf, size_t errlen)
{
    pal_nlu_params defaults;
    if (!params) {
        pal_nlu_params_default(&defaults);
        params = &defaults;
    }
    if (n == 0 || n > UINT32_MAX - 1) {
        set_error(errbuf, errlen, "need between 1 and 2^32 examples, got %zu", n);
        return PAL_ERR_INVALID;
    }
    pal_nlu_model *m = pal_xcalloc(1, sizeof(*m));
    pal_analyzer *analyzer = NULL;
    training_set ts = {0};
    ts.label = pal_xcalloc(n, sizeof(*ts.label));
    m->threshold = params->threshold;
    pal_err err = assign_classes(m, examples, n, ts.label, errbuf, errlen);
    if (err)
        goto out;
    err = pal_analyzer_new(&analyzer);
    if (err)
        goto out;
    /* Automatic min_df: a bot's handful of examples per intent all count,
     * while in a large corpus features seen once are mostly noise (and
     * weigh on memory and speed). */
    int min_df = params->min_df > 0 ? params->min_df : (n < 1000 ? 1 : 2);
    err = build_vocabulary(m, analyzer, examples, n, min_df, errbuf, errlen);
    if (err)
        goto out;
    err = build_training_set(m, analyzer, examples, n, &ts);
    if (err)
        goto out;
    m->bias = pal_xcalloc(m->stride, sizeof(float));
    m->add_row = choose_row_kernel();
    m->softmax = choose_softmax_kernel();
    sgd(m, &ts, params);
out:
    training_set_free(&ts);
    pal_analyzer_free(analyzer);
    if (err) {
        pal_nlu_model_free(m);
        return err;
    }
    *out = m;
    return PAL_OK;
}

void pal_nlu_model_free(pal_nlu_model *model)
{
    if (!model)
        return;
    for (size_t c = 0; c < model->n_classes; c++)
        free(model->class_names[c]);
    free(model->class_names);
    free(model->slots);
    free(model->rows);
    free(model->bias);
    free(model);
}

size_t pal_nlu_intent_count(const pal_nlu_model *model)
{
    return model->n_intents;
}

const char *pal_nlu_intent_name(const pal_nlu_model *model, size_t i)
{
    return i < model->n_intents ? model->class_names[i] : NULL;
}

int pal_nlu_intent_find(const pal_nlu_model *model, const char *name)
{
    for (size_t c = 0; c < model->n_intents; c++) {
        if (strcmp(model->class_names[c], name) == 0)
            return (int)c;
    }
    return PAL_NLU_NONE;
}

size_t pal_nlu_model_bytes(const pal_nlu_model *model)
{
    size_t bytes = sizeof(*model) + (model->slot_mask + 1) * sizeof(uint64_t) +
                   model->n_features * model->row_bytes + model->stride * sizeof(float);
    for (size_t c = 0; c < model->n_classes; c++)
        bytes += strlen(model->class_names[c]) + 1 + sizeof(char *);
    return bytes;
}

size_t pal_nlu_feature_count(const pal_nlu_model *model)
{
    return model->n_features;
}

float pal_nlu_threshold(const pal_nlu_model *model)
{
    return model->threshold;
}

pal_err pal_nlu_classify(const pal_nlu_model *model, pal_analyzer *analyzer,
                         const pal_analysis *analysis, float threshold, pal_nlu_result *out)
{
    memset(out, 0, sizeof(*out));
    out->intent = PAL_NLU_NONE;
    sparse_vec x;
    pal_err err = vectorize(model, analyzer, analysis, &x);
    if (err)
        return err;
    if (x.count == 0)
        return PAL_OK; /* nothing the model knows: none, confidence 0 */

    float *p = pal_arena_alloc(pal_analyzer_arena(analyzer), model->stride * sizeof(float));
    scores_of(model, &x, p);
    model->softmax(p, model->n_classes, model->stride);

    /* Keep the PAL_NLU_RANKED best by insertion. */
    for (size_t c = 0; c < model->n_classes; c++) {
        size_t pos = out->n_ranked;
        while (pos > 0 && out->ranked[pos - 1].probability < p[c])
            pos--;
        if (pos >= PAL_NLU_RANKED)
            continue;
        size_t last = out->n_ranked < PAL_NLU_RANKED ? out->n_ranked : PAL_NLU_RANKED - 1;
        memmove(&out->ranked[pos + 1], &out->ranked[pos], (last - pos) * sizeof(out->ranked[0]));
        out->ranked[pos] = (pal_nlu_guess){c < model->n_intents ? (int)c : PAL_NLU_NONE, p[c]};
        if (out->n_ranked < PAL_NLU_RANKED)
            out->n_ranked++;
    }
    out->confidence = out->ranked[0].probability;
    if (threshold < 0)
        threshold = model->threshold;
    if (out->ranked[0].intent != PAL_NLU_NONE && out->confidence >= threshold)
        out->intent = out->ranked[0].intent;
    return PAL_OK;
}

pal_err pal_nlu_classify_text(const pal_nlu_model *model, pal_analyzer *analyzer, const char *text,
                              size_t len, pal_nlu_result *out)
{
    pal_analysis analysis;
    pal_err err = pal_analyze(analyzer, text, len, PAL_LANG_UNKNOWN, &analysis);
    if (err)
        return err;
    return pal_nlu_classify(model, analyzer, &analysis, -1.0f, out);
}
