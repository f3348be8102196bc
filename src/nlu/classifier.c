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
 *  - the character n-grams of a word always come together, so what a
 *    word's grams add to the scores is precomputed once per word of the
 *    training vocabulary (a "word row"): a message reads about one row per
 *    word instead of about fifteen. For that to be exact, character grams
 *    count linearly (tf, not 1 + log tf) and the group's length is taken
 *    word by word (N^2 = sum over words of the word's own squared length),
 *    the same in training and in classification. Unseen words fall back to
 *    their gram rows;
 *  - a message becomes a short sparse vector (index, TF-IDF weight), each
 *    feature group scaled to unit length.
 * Training uses SGD on the softmax loss with L2 decay applied through a
 * global scale (so a step costs only the touched rows), a decreasing step
 * size, and averaging of the last epochs' weights (averaged SGD), which
 * gives stable, well-generalising models without tuning per corpus.
 */
#include "nlu/classifier.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/mem.h"
#include "nlu/features.h"
#include "nlu/hash.h"
#include "nlu/kernels.h"
#include "text/utf8.h"

enum { LANE = PAL_KERNEL_LANE }; /* weights per row are padded to this */

typedef struct row_header {
    float scale; /* weight of class c = scale * (int8) row[c] */
    float norm2; /* word rows: the word's squared length in the chars group */
} row_header;

/* Word rows beyond this many (the most frequent words) are not made. */
enum { MAX_WORD_ROWS = 1 << 18 };

enum { IDF_LEVELS = 256 };

enum { CACHE_LINE = 64 };

/* Training length floor (see sgd) and ceiling. */
enum { MIN_UPDATES = 30000, MAX_EPOCHS = 2000 };

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
    uint64_t *word_slots; /* word key -> word row, slots as in the vocabulary */
    size_t word_slot_mask;
    size_t n_words;
    unsigned char *word_rows; /* n_words rows of row_bytes */
    float *bias;              /* stride */
    pal_kernels kernels;      /* the fastest this CPU runs */
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

/* The slot of hash in a table, or 0 when it is not there. */
static inline uint64_t table_find(const uint64_t *slots, size_t mask, uint64_t hash)
{
    uint32_t fp = fingerprint(hash);
    size_t pos = (size_t)hash & mask;
    for (;;) {
        uint64_t slot = slots[pos];
        if (slot == 0 || (uint32_t)(slot >> 40) == fp)
            return slot;
        pos = (pos + 1) & mask;
    }
}

static void table_insert(uint64_t *slots, size_t mask, uint64_t hash, uint32_t index, uint8_t level)
{
    uint32_t fp = fingerprint(hash);
    size_t pos = (size_t)hash & mask;
    while (slots[pos] != 0)
        pos = (pos + 1) & mask;
    slots[pos] = ((uint64_t)fp << 40) | ((uint64_t)level << 32) | (uint64_t)(index + 1);
}

/* The vocabulary slot of a feature hash, or 0 when the feature is unknown. */
static inline uint64_t vocab_find(const pal_nlu_model *m, uint64_t hash)
{
    return table_find(m->slots, m->slot_mask, hash);
}

static inline uint32_t slot_index(uint64_t slot)
{
    return (uint32_t)slot - 1;
}

static inline float slot_idf(const pal_nlu_model *m, uint64_t slot)
{
    return m->idf_level[(slot >> 32) & 0xFF];
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

static inline const row_header *word_row_of(const pal_nlu_model *m, uint32_t w)
{
    return (const row_header *)(const void *)(m->word_rows + (size_t)w * m->row_bytes);
}

static inline const int8_t *row_weights(const row_header *row)
{
    return (const int8_t *)(const void *)(row + 1);
}

static void prefetch_row(const pal_nlu_model *m, const row_header *row)
{
    for (size_t line = 0; line < m->row_bytes; line += CACHE_LINE)
        __builtin_prefetch((const unsigned char *)row + line);
}

typedef struct sparse_vec {
    uint32_t *index;
    float *value;
    size_t count;
} sparse_vec;

/* Word group: known features, deduplicated with their counts, appended to
 * vec with weight (1 + log tf) * idf, then scaled to length 1. */
static void add_word_group(const pal_nlu_model *m, const uint64_t *hashes, size_t n,
                           pal_arena *arena, sparse_vec *vec)
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
            if (m->rows)
                prefetch_row(m, row_of(m, idx));
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

/* One word's known character grams appended to vec (index, idf), one entry
 * per occurrence (counts add up linearly); returns the word's squared
 * length: the sum over its distinct grams of (count * idf)^2. */
static double add_word_grams(const pal_nlu_model *m, const uint64_t *hashes, size_t n,
                             pal_arena *arena, sparse_vec *vec)
{
    size_t first = vec->count;
    for (size_t i = 0; i < n; i++)
        __builtin_prefetch(&m->slots[(size_t)hashes[i] & m->slot_mask]);
    for (size_t i = 0; i < n; i++) {
        uint64_t slot = vocab_find(m, hashes[i]);
        if (slot == 0)
            continue;
        vec->index[vec->count] = slot_index(slot);
        vec->value[vec->count] = slot_idf(m, slot);
        vec->count++;
    }
    size_t known = vec->count - first;
    const uint32_t *idx = vec->index + first;
    const float *idf = vec->value + first;
    double norm2 = 0;
    if (known <= 64) {
        /* A word has a few dozen grams: count repeats by comparison. */
        for (size_t i = 0; i < known; i++) {
            size_t count = 1;
            bool seen = false;
            for (size_t j = 0; j < known && !seen; j++) {
                if (j != i && idx[j] == idx[i]) {
                    seen = j < i;
                    count++;
                }
            }
            if (!seen)
                norm2 += (double)(count * count) * idf[i] * idf[i];
        }
        return norm2;
    }
    /* A very long "word": count repeats with a set. */
    size_t cap = 16;
    while (cap < 2 * known)
        cap *= 2;
    uint32_t *keys = pal_arena_alloc(arena, cap * sizeof(*keys));
    uint32_t *counts = pal_arena_alloc(arena, cap * sizeof(*counts));
    float *key_idf = pal_arena_alloc(arena, cap * sizeof(*key_idf));
    memset(keys, 0xFF, cap * sizeof(*keys));
    for (size_t i = 0; i < known; i++) {
        size_t pos = (idx[i] * 2654435761u) & (cap - 1);
        while (keys[pos] != UINT32_MAX && keys[pos] != idx[i])
            pos = (pos + 1) & (cap - 1);
        if (keys[pos] == UINT32_MAX) {
            keys[pos] = idx[i];
            counts[pos] = 0;
            key_idf[pos] = idf[i];
        }
        counts[pos]++;
    }
    for (size_t pos = 0; pos < cap; pos++) {
        if (keys[pos] != UINT32_MAX)
            norm2 += (double)counts[pos] * (double)counts[pos] * key_idf[pos] * key_idf[pos];
    }
    return norm2;
}

static pal_err message_features(const pal_nlu_model *m, pal_analyzer *analyzer,
                                const pal_analysis *analysis, pal_feature_hashes *fh)
{
    pal_lang lang = analysis->lang != PAL_LANG_UNKNOWN ? analysis->lang : m->default_lang;
    return pal_features_extract(analyzer, analysis, lang, pal_analyzer_arena(analyzer), fh);
}

/* The message as a sparse vector (training): word group, then every
 * character gram occurrence, the chars group scaled by 1 / N. */
static void vectorize(const pal_nlu_model *m, const pal_feature_hashes *features, pal_arena *arena,
                      sparse_vec *out)
{
    const pal_feature_hashes fh = *features;
    size_t total = fh.count[PAL_FEATURE_WORDS] + fh.count[PAL_FEATURE_CHARS];
    out->index = pal_arena_alloc(arena, (total + 1) * sizeof(*out->index));
    out->value = pal_arena_alloc(arena, (total + 1) * sizeof(*out->value));
    out->count = 0;
    add_word_group(m, fh.hashes[PAL_FEATURE_WORDS], fh.count[PAL_FEATURE_WORDS], arena, out);
    size_t chars_from = out->count;
    double norm2 = 0;
    const uint64_t *grams = fh.hashes[PAL_FEATURE_CHARS];
    for (size_t w = 0; w < fh.n_words; w++) {
        norm2 += add_word_grams(m, grams + fh.word_start[w],
                                fh.word_start[w + 1] - fh.word_start[w], arena, out);
    }
    if (norm2 > 0) {
        float inv = (float)(1.0 / sqrt(norm2));
        for (size_t k = chars_from; k < out->count; k++)
            out->value[k] *= inv;
    }
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

/* Quantises one row of float weights to int8 with its own scale. */
static void quantize_row(const float *weights, size_t n_classes, row_header *out)
{
    float max = 0;
    for (size_t c = 0; c < n_classes; c++)
        max = fabsf(weights[c]) > max ? fabsf(weights[c]) : max;
    out->scale = max > 0 ? max / 127.0f : 1.0f;
    int8_t *q = (int8_t *)(void *)(out + 1);
    for (size_t c = 0; c < n_classes; c++)
        q[c] = (int8_t)lrintf(weights[c] / out->scale);
}

/* Stores the trained float weights as int8 rows with one scale per row:
 * a quarter of the memory traffic when classifying, and the scores move by
 * far less than the gaps between classes. */
static void quantize(pal_nlu_model *m, const float *w)
{
    m->row_bytes = sizeof(row_header) + m->stride;
    m->rows = pal_xcalloc(m->n_features + 1, m->row_bytes);
    for (size_t f = 0; f < m->n_features; f++) {
        row_header *header = (row_header *)(void *)(m->rows + f * m->row_bytes);
        quantize_row(w + f * m->stride, m->n_classes, header);
    }
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

/* Assigns class numbers: intents in order of first appearance, the
 * out-of-scope class (if any) last. */
static pal_err assign_classes(pal_nlu_model *m, const pal_nlu_example *ex, size_t n,
                              uint32_t *label, char *errbuf, size_t errlen)
{
    size_t cap = 0;
    bool has_oos = false;
    for (size_t i = 0; i < n; i++) {
        if (!ex[i].intent || !ex[i].text || !ex[i].intent[0]) {
            pal_err_format(errbuf, errlen, "example %zu has no intent or text", i + 1);
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
        pal_err_format(errbuf, errlen, "no in-scope intent among %zu examples", n);
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

/* Numbers the training set's words by decreasing frequency (at most
 * MAX_WORD_ROWS of them) in the word table; their rows are made after
 * training (build_word_rows). */
static void index_words(pal_nlu_model *m, const count_table *words)
{
    df_entry *entries = pal_xmalloc((words->used + 1) * sizeof(*entries));
    size_t n = 0;
    for (size_t i = 0; i <= words->mask; i++) {
        if (words->keys[i])
            entries[n++] = (df_entry){words->keys[i], words->counts[i]};
    }
    qsort(entries, n, sizeof(*entries), cmp_df_desc);
    m->n_words = n < MAX_WORD_ROWS ? n : MAX_WORD_ROWS;
    size_t slots = 16;
    while (slots < m->n_words * 2)
        slots *= 2;
    m->word_slots = pal_xcalloc(slots, sizeof(*m->word_slots));
    m->word_slot_mask = slots - 1;
    for (size_t w = 0; w < m->n_words; w++)
        table_insert(m->word_slots, m->word_slot_mask, entries[w].hash, (uint32_t)w, 0);
    free(entries);
}

/* A copy of fh's arrays in arena (which outlives the analyzer's). */
static pal_feature_hashes keep_features(const pal_feature_hashes *fh, pal_arena *arena)
{
    pal_feature_hashes copy = *fh;
    for (int g = 0; g < PAL_FEATURE_GROUPS; g++) {
        copy.hashes[g] = pal_arena_alloc(arena, (fh->count[g] + 1) * sizeof(uint64_t));
        memcpy(copy.hashes[g], fh->hashes[g], fh->count[g] * sizeof(uint64_t));
    }
    copy.word_start = pal_arena_alloc(arena, (fh->n_words + 1) * sizeof(size_t));
    memcpy(copy.word_start, fh->word_start, (fh->n_words + 1) * sizeof(size_t));
    copy.word_key = pal_arena_alloc(arena, (fh->n_words + 1) * sizeof(uint64_t));
    memcpy(copy.word_key, fh->word_key, fh->n_words * sizeof(uint64_t));
    return copy;
}

/* Pass 1: languages and document frequencies; builds the vocabulary and
 * keeps every example's features in cache[] (allocated in cache_arena), so
 * that the later passes need no analysis. */
static pal_err build_vocabulary(pal_nlu_model *m, pal_analyzer *analyzer, const pal_nlu_example *ex,
                                size_t n, int min_df, pal_feature_hashes *cache,
                                pal_arena *cache_arena, char *errbuf, size_t errlen)
{
    size_t lang_count[PAL_LANG_COUNT] = {0};
    for (size_t i = 0; i < n; i++) {
        pal_analysis a;
        pal_err err = pal_analyze(analyzer, ex[i].text, strlen(ex[i].text), PAL_LANG_UNKNOWN, &a);
        if (err) {
            pal_err_format(errbuf, errlen, "example %zu: text is not valid UTF-8 or too long",
                           i + 1);
            return err;
        }
        lang_count[a.lang]++;
    }
    m->default_lang = lang_count[PAL_LANG_FR] > lang_count[PAL_LANG_EN] ? PAL_LANG_FR : PAL_LANG_EN;
    count_table df;
    count_table words; /* word keys, counted per occurrence */
    count_table_init(&df, 1u << 16);
    count_table_init(&words, 1u << 12);
    uint32_t occurrence = 0;
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
        for (size_t w = 0; w < fh.n_words; w++)
            count_table_add(&words, fh.word_key[w], ++occurrence);
        cache[i] = keep_features(&fh, cache_arena);
        continue;
    fail:
        count_table_free(&df);
        count_table_free(&words);
        return err;
    }
    index_words(m, &words);
    count_table_free(&words);

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
        table_insert(m->slots, m->slot_mask, entries[f].hash, (uint32_t)f, (uint8_t)level);
    }
    free(entries);
    count_table_free(&df);
    return PAL_OK;
}

/* Pass 2: every example as a sparse vector. */
static void build_training_set(const pal_nlu_model *m, const pal_feature_hashes *cache, size_t n,
                               pal_arena *scratch, training_set *ts)
{
    size_t cap = 0;
    ts->n = n;
    ts->offset = pal_xmalloc((n + 1) * sizeof(*ts->offset));
    ts->offset[0] = 0;
    for (size_t i = 0; i < n; i++) {
        sparse_vec v;
        pal_arena_reset(scratch);
        vectorize(m, &cache[i], scratch, &v);
        size_t at = ts->offset[i];
        size_t old_cap = cap;
        pal_xreserve((void **)&ts->index, &cap, at + v.count, sizeof(*ts->index));
        if (cap != old_cap)
            ts->value = pal_xrealloc(ts->value, cap * sizeof(*ts->value));
        memcpy(ts->index + at, v.index, v.count * sizeof(*v.index));
        memcpy(ts->value + at, v.value, v.count * sizeof(*v.value));
        ts->offset[i + 1] = at + v.count;
    }
}

/* Pass 3, after training: the row of every word of the word table, the
 * sum of its grams' float weights times their counts and IDFs, with the
 * word's squared length in the header. */
static void build_word_rows(pal_nlu_model *m, const pal_feature_hashes *cache, size_t n,
                            pal_arena *arena, const float *weights)
{
    m->word_rows = pal_xcalloc(m->n_words + 1, m->row_bytes);
    bool *done = pal_xcalloc(m->n_words + 1, sizeof(bool));
    float *sum = pal_xmalloc(m->stride * sizeof(float));
    for (size_t i = 0; i < n; i++) {
        const pal_feature_hashes fh = cache[i];
        pal_arena_reset(arena);
        const uint64_t *grams = fh.hashes[PAL_FEATURE_CHARS];
        for (size_t w = 0; w < fh.n_words; w++) {
            uint64_t slot = table_find(m->word_slots, m->word_slot_mask, fh.word_key[w]);
            if (slot == 0 || done[slot_index(slot)])
                continue;
            size_t n_grams = fh.word_start[w + 1] - fh.word_start[w];
            sparse_vec x = {pal_arena_alloc(arena, (n_grams + 1) * sizeof(uint32_t)),
                            pal_arena_alloc(arena, (n_grams + 1) * sizeof(float)), 0};
            double norm2 = add_word_grams(m, grams + fh.word_start[w], n_grams, arena, &x);
            memset(sum, 0, m->stride * sizeof(float));
            for (size_t k = 0; k < x.count; k++)
                axpy(sum, x.value[k], weights + (size_t)x.index[k] * m->stride, m->stride);
            row_header *row =
                (row_header *)(void *)(m->word_rows + (size_t)slot_index(slot) * m->row_bytes);
            quantize_row(sum, m->n_classes, row);
            row->norm2 = (float)norm2;
            done[slot_index(slot)] = true;
        }
    }
    free(done);
    free(sum);
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

/* Trains; returns the averaged float weights (caller frees), and sets the
 * model's bias. */
static float *sgd(pal_nlu_model *m, const training_set *ts, const pal_nlu_params *p)
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
            m->kernels.softmax(scores, m->n_classes, stride);
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
    free(w);
    free(bias_avg);
    free(scores);
    free(active);
    free(order);
    return avg;
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
        pal_err_format(errbuf, errlen, "need between 1 and 2^32 examples, got %zu", n);
        return PAL_ERR_INVALID;
    }
    pal_nlu_model *m = pal_xcalloc(1, sizeof(*m));
    pal_analyzer *analyzer = NULL;
    pal_feature_hashes *cache = NULL; /* each example's features, made once */
    pal_arena *cache_arena = NULL;
    pal_arena *scratch = NULL;
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
    cache = pal_xcalloc(n, sizeof(*cache));
    cache_arena = pal_arena_new();
    scratch = pal_arena_new();
    err = build_vocabulary(m, analyzer, examples, n, min_df, cache, cache_arena, errbuf, errlen);
    if (err)
        goto out;
    build_training_set(m, cache, n, scratch, &ts);
    m->bias = pal_xcalloc(m->stride, sizeof(float));
    m->kernels = pal_kernels_choose();
    float *weights = sgd(m, &ts, params);
    quantize(m, weights);
    build_word_rows(m, cache, n, scratch, weights);
    free(weights);
out:
    training_set_free(&ts);
    free(cache);
    pal_arena_free(cache_arena);
    pal_arena_free(scratch);
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
    free(model->word_slots);
    free(model->word_rows);
    free(model->bias);
    free(model);
}

/* The rows a message reads and what each is multiplied by. */
typedef struct row_list {
    const int8_t **rows;
    float *mult;
    size_t count;
} row_list;

/* Adds the gram rows of an unseen word; returns its squared length. */
static double add_unseen_word(const pal_nlu_model *m, const uint64_t *grams, size_t n,
                              pal_arena *arena, row_list *list)
{
    sparse_vec x = {pal_arena_alloc(arena, (n + 1) * sizeof(uint32_t)),
                    pal_arena_alloc(arena, (n + 1) * sizeof(float)), 0};
    double norm2 = add_word_grams(m, grams, n, arena, &x);
    for (size_t k = 0; k < x.count; k++) {
        const row_header *row = row_of(m, x.index[k]);
        list->rows[list->count] = row_weights(row);
        list->mult[list->count++] = x.value[k] * row->scale;
    }
    return norm2;
}

/* Class scores of an analysed message (before softmax) into scores;
 * *known (OUT) false when the model knows none of its features. */
static pal_err score_message(const pal_nlu_model *m, pal_analyzer *analyzer,
                             const pal_analysis *analysis, float *scores, bool *known)
{
    pal_arena *arena = pal_analyzer_arena(analyzer);
    pal_feature_hashes fh;
    pal_err err = message_features(m, analyzer, analysis, &fh);
    if (err)
        return err;
    size_t n_word_feats = fh.count[PAL_FEATURE_WORDS];
    size_t cap = n_word_feats + fh.count[PAL_FEATURE_CHARS] + fh.n_words + 1;
    row_list list = {pal_arena_alloc(arena, cap * sizeof(int8_t *)),
                     pal_arena_alloc(arena, cap * sizeof(float)), 0};

    sparse_vec x = {pal_arena_alloc(arena, (n_word_feats + 1) * sizeof(uint32_t)),
                    pal_arena_alloc(arena, (n_word_feats + 1) * sizeof(float)), 0};
    add_word_group(m, fh.hashes[PAL_FEATURE_WORDS], n_word_feats, arena, &x);
    for (size_t k = 0; k < x.count; k++) {
        const row_header *row = row_of(m, x.index[k]);
        list.rows[list.count] = row_weights(row);
        list.mult[list.count++] = x.value[k] * row->scale;
    }

    /* Chars group: a word row for each known word, its grams otherwise. */
    size_t chars_from = list.count;
    uint64_t *slot = pal_arena_alloc(arena, (fh.n_words + 1) * sizeof(*slot));
    for (size_t w = 0; w < fh.n_words; w++)
        __builtin_prefetch(&m->word_slots[(size_t)fh.word_key[w] & m->word_slot_mask]);
    for (size_t w = 0; w < fh.n_words; w++) {
        slot[w] = table_find(m->word_slots, m->word_slot_mask, fh.word_key[w]);
        if (slot[w])
            prefetch_row(m, word_row_of(m, slot_index(slot[w])));
    }
    double norm2 = 0;
    const uint64_t *grams = fh.hashes[PAL_FEATURE_CHARS];
    for (size_t w = 0; w < fh.n_words; w++) {
        if (slot[w]) {
            const row_header *row = word_row_of(m, slot_index(slot[w]));
            list.rows[list.count] = row_weights(row);
            list.mult[list.count++] = row->scale;
            norm2 += row->norm2;
        } else {
            norm2 += add_unseen_word(m, grams + fh.word_start[w],
                                     fh.word_start[w + 1] - fh.word_start[w], arena, &list);
        }
    }
    if (norm2 > 0) {
        float inv = (float)(1.0 / sqrt(norm2));
        for (size_t k = chars_from; k < list.count; k++)
            list.mult[k] *= inv;
    }
    *known = list.count > 0;
    m->kernels.scores(m->bias, m->stride, list.mult, list.rows, list.count, scores);
    return PAL_OK;
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
                   model->n_features * model->row_bytes +
                   (model->word_slot_mask + 1) * sizeof(uint64_t) +
                   model->n_words * model->row_bytes + model->stride * sizeof(float);
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
    float *p = pal_arena_alloc(pal_analyzer_arena(analyzer), model->stride * sizeof(float));
    bool known = false;
    pal_err err = score_message(model, analyzer, analysis, p, &known);
    if (err)
        return err;
    if (!known)
        return PAL_OK; /* nothing the model knows: none, confidence 0 */
    model->kernels.softmax(p, model->n_classes, model->stride);

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
