/*
 * entities.c — choices, numbers, postal codes and patterns in a message
 * (see entities.h).
 *
 * Choices: each synonym is normalised, tokenised and folded at add time the
 * way pal_analyze treats a message, so that matching is a comparison of
 * folded tokens. At each token every synonym is tried; the longest match
 * wins there (multi-word synonyms first: "coors light" before "coors"), then
 * the higher score. A word matches exactly (score 1), as a plural of the
 * other (trailing s, x or es dropped on either side, 0.9), or within a
 * bounded Damerau-Levenshtein distance that grows with the shorter word's
 * length: none up to 3 letters, 1 for 4-7, 2 from 8 (0.8 for one edit, 0.6
 * for two, a little less again on a plural). Only word tokens are matched
 * loosely; numbers, hashtags and the like must be equal.
 *
 * Cost: a 1 MiB message has some 200,000 tokens, a catalogue hundreds of
 * synonyms. Synonyms are grouped by first word (compared once per token),
 * and a sketch of each word (length, set of characters) rules out nearly
 * every pair before an edit distance is computed: 1 MiB against 2,000
 * synonyms takes well under a second.
 *
 * Numbers come from pal_numbers_extract, once per message; a weak one ("un",
 * "one") scores 0.5. Postal codes are POSTCODE tokens, plus five digits that
 * end a hashtag ("#monresultat75011", score 0.9).
 *
 * Patterns are compiled once, JIT-compiled when PCRE2 can, and matched with
 * a match context that caps backtracking: a hostile message that hits the
 * cap ends that pattern's matches (logged), it does not fail the message.
 * The subject is checked as UTF-8 once, then matched with
 * PCRE2_NO_UTF_CHECK (otherwise each match would recheck the whole message).
 * Match data is allocated per call, so one set serves many threads.
 *
 * Candidates are collected in a heap buffer, overlaps within one entity are
 * resolved (best score, then longest, then first), the rest sorted by start
 * and copied into the caller's arena.
 */
#define PCRE2_CODE_UNIT_WIDTH 8

#include "nlu/entities.h"

#include <math.h>
#include <pcre2.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/log.h"
#include "nlu/numbers.h"
#include "text/normalize.h"
#include "text/tokenize.h"
#include "text/utf8.h"

enum {
    PATTERN_MATCH_LIMIT = 1000000, /* backtracking steps per pcre2_match call */
    PATTERN_DEPTH_LIMIT = 10000,
    EDIT_STACK_CPS = 64 /* code points decoded on the stack by pal_edit_distance */
};

static const float SCORE_PLURAL = 0.9f;
static const float SCORE_EDIT1 = 0.8f;
static const float SCORE_EDIT2 = 0.6f;
static const float SCORE_FUZZY_PLURAL_PENALTY = 0.05f;
static const float SCORE_WEAK_NUMBER = 0.5f;
static const float SCORE_HASHTAG_POSTCODE = 0.9f;

/* What a loose comparison needs to know of a word before trying it: its
 * length in code points and which characters it uses (one bit per letter or
 * digit, others hashed onto the remaining bits). */
typedef struct word_sketch {
    size_t n_cps;
    uint64_t chars;
} word_sketch;

typedef struct syn_word {
    char *text; /* folded, NUL-terminated */
    size_t len;
    word_sketch sketch;
    bool loose; /* a word: plural and typo tolerance apply */
} syn_word;

typedef struct synonym {
    size_t value; /* index in entity_def.values */
    syn_word *words;
    size_t n_words;
} synonym;

/* The synonyms that start with one word: the message's token is compared
 * with that word once, however many synonyms share it ("pizza reine",
 * "pizza margherita", …). */
typedef struct head {
    const syn_word *word; /* words[0] of its first synonym */
    size_t *synonyms;     /* indices in entity_def.synonyms, in order added */
    size_t n_synonyms, cap_synonyms;
} head;

typedef struct pattern {
    pcre2_code *code;
    int value_group; /* number of the group named "value", or 0 */
} pattern;

typedef struct entity_def {
    char *name;
    pal_entity_kind kind;
    /* choice */
    char **values;
    size_t n_values, cap_values;
    synonym *synonyms;
    size_t n_synonyms, cap_synonyms;
    head *heads;
    size_t n_heads, cap_heads;
    /* number */
    double min, max;
    /* pattern: several may serve one entity */
    pattern *patterns;
    size_t n_patterns, cap_patterns;
} entity_def;

struct pal_entity_set {
    entity_def *defs;
    size_t n_defs, cap_defs;
    pcre2_match_context *match_context; /* limits; read-only once built */
};

/* ---- edit distance --------------------------------------------------- */

/* Decodes s into code points (invalid bytes count as one unit each, kept
 * apart from any real code point). Returns the count. */
static size_t decode_cps(pal_slice s, int32_t *cps)
{
    size_t n = 0;
    size_t i = 0;
    while (i < s.len) {
        int32_t cp;
        size_t k = pal_utf8_decode(s.ptr + i, s.len - i, &cp);
        if (k == 0) {
            cp = 0x110000 + (unsigned char)s.ptr[i];
            k = 1;
        }
        cps[n++] = cp;
        i += k;
    }
    return n;
}

static size_t min3(size_t a, size_t b, size_t c)
{
    size_t m = a < b ? a : b;
    return m < c ? m : c;
}

size_t pal_edit_distance(pal_slice a, pal_slice b, size_t max)
{
    int32_t stack_a[EDIT_STACK_CPS], stack_b[EDIT_STACK_CPS];
    size_t stack_rows[3 * (EDIT_STACK_CPS + 1)];
    int32_t *ca = stack_a, *cb = stack_b;
    size_t *rows = stack_rows;
    size_t over = max == SIZE_MAX ? SIZE_MAX : max + 1;
    size_t result;

    if (!a.ptr)
        a.len = 0;
    if (!b.ptr)
        b.len = 0;
    /* A string of k bytes has between k/4 and k code points: when even
     * those ranges are more than max apart, nothing needs decoding. */
    size_t a_min = (a.len + 3) / 4, b_min = (b.len + 3) / 4;
    if ((a_min > b.len && a_min - b.len > max) || (b_min > a.len && b_min - a.len > max))
        return over;
    if (a.len > EDIT_STACK_CPS)
        ca = pal_xmalloc(a.len * sizeof(*ca));
    if (b.len > EDIT_STACK_CPS)
        cb = pal_xmalloc(b.len * sizeof(*cb));
    size_t n = decode_cps(a, ca);
    size_t m = decode_cps(b, cb);
    size_t diff = n > m ? n - m : m - n;
    if (diff > max) {
        result = over;
        goto out;
    }
    if (n == 0 || m == 0) {
        result = n + m;
        goto out;
    }
    if (m > EDIT_STACK_CPS)
        rows = pal_xmalloc(3 * (m + 1) * sizeof(*rows));

    /* Three rows: i-2 (for transpositions), i-1 and i. Only cells within
     * `max` of the diagonal can end up <= max, so each row computes that
     * band and marks the cell on each side of it as `over`: the band costs
     * O(n * max), and no cell outside it is ever read. */
    size_t *prev2 = rows, *prev = rows + (m + 1), *cur = rows + 2 * (m + 1);
    for (size_t j = 0; j <= m; j++) {
        prev[j] = j <= max ? j : over;
        prev2[j] = over;
    }
    for (size_t i = 1; i <= n; i++) {
        size_t lo = i > max ? i - max : 1;
        size_t hi = max >= m || i + max >= m ? m : i + max;
        cur[0] = i <= max ? i : over;
        cur[lo - 1] = lo - 1 == 0 ? cur[0] : over;
        if (hi < m)
            cur[hi + 1] = over;
        size_t row_min = cur[0];
        for (size_t j = lo; j <= hi; j++) {
            size_t cost = ca[i - 1] == cb[j - 1] ? 0 : 1;
            size_t del = prev[j] == over ? over : prev[j] + 1;
            size_t ins = cur[j - 1] == over ? over : cur[j - 1] + 1;
            size_t sub = prev[j - 1] == over ? over : prev[j - 1] + cost;
            size_t d = min3(del, ins, sub);
            if (i > 1 && j > 1 && ca[i - 1] == cb[j - 2] && ca[i - 2] == cb[j - 1] &&
                prev2[j - 2] != over && prev2[j - 2] + 1 < d)
                d = prev2[j - 2] + 1;
            if (d > max)
                d = over;
            cur[j] = d;
            if (d < row_min)
                row_min = d;
        }
        if (row_min > max) {
            result = over;
            goto out;
        }
        size_t *t = prev2;
        prev2 = prev;
        prev = cur;
        cur = t;
    }
    result = prev[m] > max ? over : prev[m];
out:
    if (ca != stack_a)
        free(ca);
    if (cb != stack_b)
        free(cb);
    if (rows != stack_rows)
        free(rows);
    return result;
}

/* ---- building the set ------------------------------------------------ */

pal_entity_set *pal_entity_set_new(void)
{
    pal_entity_set *set = pal_xcalloc(1, sizeof(*set));
    set->match_context = pcre2_match_context_create(NULL);
    if (!set->match_context) {
        /* PCRE2 fails only on allocation; palabre aborts on that. */
        fprintf(stderr, "palabre: out of memory (pcre2 match context)\n");
        abort();
    }
    pcre2_set_match_limit(set->match_context, PATTERN_MATCH_LIMIT);
    pcre2_set_depth_limit(set->match_context, PATTERN_DEPTH_LIMIT);
    return set;
}

static void def_free(entity_def *def)
{
    free(def->name);
    for (size_t i = 0; i < def->n_values; i++)
        free(def->values[i]);
    free(def->values);
    for (size_t i = 0; i < def->n_synonyms; i++) {
        for (size_t w = 0; w < def->synonyms[i].n_words; w++)
            free(def->synonyms[i].words[w].text);
        free(def->synonyms[i].words);
    }
    free(def->synonyms);
    for (size_t i = 0; i < def->n_heads; i++)
        free(def->heads[i].synonyms);
    free(def->heads);
    for (size_t i = 0; i < def->n_patterns; i++)
        pcre2_code_free(def->patterns[i].code);
    free(def->patterns);
}

void pal_entity_set_free(pal_entity_set *set)
{
    if (!set)
        return;
    for (size_t i = 0; i < set->n_defs; i++)
        def_free(&set->defs[i]);
    free(set->defs);
    pcre2_match_context_free(set->match_context);
    free(set);
}

static bool valid_name(const char *s)
{
    return s && s[0] != '\0' && pal_utf8_check_text(s, strlen(s), NULL) == PAL_OK;
}

static entity_def *find_def(const pal_entity_set *set, const char *name)
{
    for (size_t i = 0; i < set->n_defs; i++) {
        if (strcmp(set->defs[i].name, name) == 0)
            return &set->defs[i];
    }
    return NULL;
}

/* The definition of `name` with `kind`, created if new. PAL_ERR_STATE when it
 * exists with another kind, or exists and `unique` (numbers, postcodes). */
static pal_err get_def(pal_entity_set *set, const char *name, pal_entity_kind kind, bool unique,
                       entity_def **out)
{
    entity_def *def = find_def(set, name);
    if (def) {
        if (def->kind != kind || unique)
            return PAL_ERR_STATE;
        *out = def;
        return PAL_OK;
    }
    pal_xreserve((void **)&set->defs, &set->cap_defs, set->n_defs + 1, sizeof(*set->defs));
    def = &set->defs[set->n_defs++];
    memset(def, 0, sizeof(*def));
    def->name = pal_xstrdup(name);
    def->kind = kind;
    *out = def;
    return PAL_OK;
}

static bool synonym_equal(const synonym *a, const synonym *b)
{
    if (a->n_words != b->n_words)
        return false;
    for (size_t i = 0; i < a->n_words; i++) {
        if (a->words[i].len != b->words[i].len ||
            memcmp(a->words[i].text, b->words[i].text, a->words[i].len) != 0)
            return false;
    }
    return true;
}

static void synonym_free(synonym *syn)
{
    for (size_t w = 0; w < syn->n_words; w++)
        free(syn->words[w].text);
    free(syn->words);
}

static word_sketch sketch_of(pal_slice word)
{
    word_sketch sk = {0, 0};
    size_t i = 0;
    while (i < word.len) {
        int32_t cp;
        size_t k = pal_utf8_decode(word.ptr + i, word.len - i, &cp);
        if (k == 0) {
            cp = (unsigned char)word.ptr[i];
            k = 1;
        }
        unsigned bit;
        if (cp >= 'a' && cp <= 'z')
            bit = (unsigned)(cp - 'a');
        else if (cp >= '0' && cp <= '9')
            bit = 26 + (unsigned)(cp - '0');
        else
            bit = 36 + (unsigned)cp % 28;
        sk.chars |= (uint64_t)1 << bit;
        sk.n_cps++;
        i += k;
    }
    return sk;
}

/* Splits text into folded words as pal_analyze would (punctuation left out).
 * *out (OUT) is the caller's; free with synonym_free(). */
static pal_err synonym_parse(pal_arena *arena, const char *text, synonym *out)
{
    pal_slice norm;
    pal_token *tokens;
    size_t n_tokens;
    pal_err err;

    memset(out, 0, sizeof(*out));
    err = pal_text_normalize(arena, text, strlen(text), &norm);
    if (err)
        return err == PAL_ERR_UTF8 ? PAL_ERR_INVALID : err;
    err = pal_tokenize(arena, norm.ptr, norm.len, &tokens, &n_tokens);
    if (err)
        return err == PAL_ERR_UTF8 ? PAL_ERR_INVALID : err;

    out->words = pal_xcalloc(n_tokens ? n_tokens : 1, sizeof(*out->words));
    for (size_t i = 0; i < n_tokens; i++) {
        if (tokens[i].kind == PAL_TOK_PUNCT)
            continue;
        pal_slice folded;
        err = pal_text_fold(arena, norm.ptr + tokens[i].start, tokens[i].len, &folded);
        if (err) {
            synonym_free(out);
            return err == PAL_ERR_UTF8 ? PAL_ERR_INVALID : err;
        }
        syn_word *w = &out->words[out->n_words++];
        w->text = pal_xstrndup(folded.ptr, folded.len);
        w->len = folded.len;
        w->sketch = sketch_of(folded);
        w->loose = tokens[i].kind == PAL_TOK_WORD;
    }
    if (out->n_words == 0) {
        synonym_free(out);
        return PAL_ERR_INVALID; /* only punctuation or space */
    }
    return PAL_OK;
}

/* Files synonym `index` under the head of its first word. (A synonym's
 * words array is its own allocation: it stays put when the synonyms array
 * grows, so heads may point into it.) */
static void add_to_head(entity_def *def, size_t index)
{
    const syn_word *first = def->synonyms[index].words;
    head *h = NULL;
    for (size_t i = 0; i < def->n_heads && !h; i++) {
        const syn_word *w = def->heads[i].word;
        if (w->len == first->len && memcmp(w->text, first->text, first->len) == 0 &&
            w->loose == first->loose)
            h = &def->heads[i];
    }
    if (!h) {
        pal_xreserve((void **)&def->heads, &def->cap_heads, def->n_heads + 1, sizeof(*def->heads));
        h = &def->heads[def->n_heads++];
        *h = (head){.word = first};
    }
    pal_xreserve((void **)&h->synonyms, &h->cap_synonyms, h->n_synonyms + 1, sizeof(*h->synonyms));
    h->synonyms[h->n_synonyms++] = index;
}

pal_err pal_entity_set_add_choice(pal_entity_set *set, const char *entity, const char *value,
                                  const char *const *synonyms, size_t n_synonyms)
{
    pal_arena *arena = NULL;
    pal_err err = PAL_ERR_INVALID;
    entity_def *def;
    synonym *parsed = NULL;
    size_t n_parsed = 0;

    if (!set || !valid_name(entity) || !valid_name(value) || (n_synonyms > 0 && !synonyms))
        goto out;
    for (size_t i = 0; i < n_synonyms; i++) {
        if (!valid_name(synonyms[i]))
            goto out;
    }

    /* Parse everything first, so that a bad synonym leaves the set as it was. */
    arena = pal_arena_new();
    parsed = pal_xcalloc(n_synonyms + 1, sizeof(*parsed));
    for (size_t i = 0; i <= n_synonyms; i++) {
        err = synonym_parse(arena, i == 0 ? value : synonyms[i - 1], &parsed[n_parsed]);
        if (err)
            goto out;
        n_parsed++;
    }

    err = get_def(set, entity, PAL_ENTITY_CHOICE, false, &def);
    if (err)
        goto out;
    size_t value_index = def->n_values;
    for (size_t i = 0; i < def->n_values; i++) {
        if (strcmp(def->values[i], value) == 0)
            value_index = i;
    }
    if (value_index == def->n_values) {
        pal_xreserve((void **)&def->values, &def->cap_values, def->n_values + 1,
                     sizeof(*def->values));
        def->values[def->n_values++] = pal_xstrdup(value);
    }
    for (size_t i = 0; i < n_parsed; i++) {
        bool known = false;
        for (size_t k = 0; k < def->n_synonyms && !known; k++)
            known = def->synonyms[k].value == value_index &&
                    synonym_equal(&def->synonyms[k], &parsed[i]);
        if (known)
            continue;
        pal_xreserve((void **)&def->synonyms, &def->cap_synonyms, def->n_synonyms + 1,
                     sizeof(*def->synonyms));
        parsed[i].value = value_index;
        def->synonyms[def->n_synonyms++] = parsed[i];
        parsed[i] = (synonym){0}; /* moved */
        add_to_head(def, def->n_synonyms - 1);
    }
    err = PAL_OK;
out:
    for (size_t i = 0; i < n_parsed; i++)
        synonym_free(&parsed[i]);
    free(parsed);
    pal_arena_free(arena);
    return err;
}

pal_err pal_entity_set_add_number(pal_entity_set *set, const char *entity, double min, double max)
{
    entity_def *def;
    if (!set || !valid_name(entity) || isnan(min) || isnan(max) || min > max)
        return PAL_ERR_INVALID;
    pal_err err = get_def(set, entity, PAL_ENTITY_NUMBER, true, &def);
    if (err)
        return err;
    def->min = min;
    def->max = max;
    return PAL_OK;
}

pal_err pal_entity_set_add_postcode(pal_entity_set *set, const char *entity)
{
    entity_def *def;
    if (!set || !valid_name(entity))
        return PAL_ERR_INVALID;
    return get_def(set, entity, PAL_ENTITY_POSTCODE, true, &def);
}

pal_err pal_entity_set_add_pattern(pal_entity_set *set, const char *entity, const char *regex,
                                   char *errbuf, size_t errlen)
{
    pcre2_code *code = NULL;
    entity_def *def;
    pal_err err = PAL_ERR_INVALID;
    int errcode;
    PCRE2_SIZE erroffset;

    if (errbuf && errlen > 0)
        errbuf[0] = '\0';
    if (!set || !valid_name(entity) || !regex || pal_utf8_check_text(regex, strlen(regex), NULL))
        goto out;
    if (find_def(set, entity) && find_def(set, entity)->kind != PAL_ENTITY_PATTERN) {
        err = PAL_ERR_STATE;
        goto out;
    }
    /* \C could split a code point and hand back invalid UTF-8: refused. */
    code = pcre2_compile((PCRE2_SPTR)regex, PCRE2_ZERO_TERMINATED,
                         PCRE2_UTF | PCRE2_CASELESS | PCRE2_UCP | PCRE2_NEVER_BACKSLASH_C, &errcode,
                         &erroffset, NULL);
    if (!code) {
        PCRE2_UCHAR msg[256];
        if (pcre2_get_error_message(errcode, msg, sizeof(msg)) < 0)
            snprintf((char *)msg, sizeof(msg), "error %d", errcode);
        if (errbuf && errlen > 0)
            snprintf(errbuf, errlen, "%s at offset %zu", (const char *)msg, (size_t)erroffset);
        pal_log(PAL_LOG_WARN, "entities", "pattern entity %s: %s at offset %zu", entity,
                (const char *)msg, (size_t)erroffset);
        err = PAL_ERR_PARSE;
        goto out;
    }
    /* JIT is an optimisation: without it (unsupported platform) the
     * interpreter gives the same results. */
    (void)pcre2_jit_compile(code, PCRE2_JIT_COMPLETE);

    err = get_def(set, entity, PAL_ENTITY_PATTERN, false, &def);
    if (err)
        goto out;
    int group = pcre2_substring_number_from_name(code, (PCRE2_SPTR) "value");
    pal_xreserve((void **)&def->patterns, &def->cap_patterns, def->n_patterns + 1,
                 sizeof(*def->patterns));
    def->patterns[def->n_patterns++] = (pattern){code, group > 0 ? group : 0};
    code = NULL; /* owned by the set */
    err = PAL_OK;
out:
    pcre2_code_free(code);
    return err;
}

/* ---- extraction ------------------------------------------------------ */

typedef struct candidate {
    pal_entity entity;
    size_t def;                    /* index of its definition, for overlaps and order */
    size_t value_start, value_end; /* pattern: the span of its value in norm */
} candidate;

typedef struct cand_list {
    candidate *items;
    size_t count, cap;
} cand_list;

static void cand_push(cand_list *list, size_t def, const entity_def *d, const char *value,
                      double number, size_t start, size_t end, float score)
{
    pal_xreserve((void **)&list->items, &list->cap, list->count + 1, sizeof(*list->items));
    list->items[list->count++] = (candidate){
        .entity = {.entity = d->name,
                   .kind = d->kind,
                   .value = value,
                   .number = number,
                   .start = start,
                   .end = end,
                   .score = score},
        .def = def,
    };
}

static size_t token_end(const pal_token *t)
{
    return (size_t)t->start + t->len;
}

/* Length of s without a plural ending of kind `which` (1: s or x, 2: es);
 * 0 when s does not have it or too little would remain. */
static size_t plural_base(pal_slice s, int which)
{
    if (which == 1 && s.len >= 4 && (s.ptr[s.len - 1] == 's' || s.ptr[s.len - 1] == 'x'))
        return s.len - 1;
    if (which == 2 && s.len >= 5 && s.ptr[s.len - 2] == 'e' && s.ptr[s.len - 1] == 's')
        return s.len - 2;
    return 0;
}

/* Whether a and b are the same word but for a plural ending on one or both. */
static bool plural_equal(pal_slice a, pal_slice b)
{
    for (int wa = 0; wa <= 2; wa++) {
        size_t la = wa == 0 ? a.len : plural_base(a, wa);
        if (la == 0)
            continue;
        for (int wb = 0; wb <= 2; wb++) {
            size_t lb = wb == 0 ? b.len : plural_base(b, wb);
            if (lb == 0 || (wa == 0 && wb == 0))
                continue;
            if (la == lb && memcmp(a.ptr, b.ptr, la) == 0)
                return true;
        }
    }
    return false;
}

/* Edits allowed between words whose shorter one has n code points. */
static size_t edits_allowed(size_t n)
{
    if (n <= 3)
        return 0;
    return n <= 7 ? 1 : 2;
}

static float edit_score(size_t d)
{
    return d == 1 ? SCORE_EDIT1 : SCORE_EDIT2;
}

/* Characters a plural ending adds or removes. */
static const uint64_t PLURAL_CHARS =
    ((uint64_t)1 << ('e' - 'a')) | ((uint64_t)1 << ('s' - 'a')) | ((uint64_t)1 << ('x' - 'a'));

static unsigned popcount64(uint64_t x)
{
    return (unsigned)__builtin_popcountll(x);
}

/* False when no plural ending and `limit` edits can turn one word into the
 * other: lengths too far apart, or more than `limit` characters used by one
 * and not the other (besides e, s, x). Cheap, and it rules out almost every
 * pair, which matters when a long message meets a long list of synonyms. */
static bool may_match_loosely(word_sketch a, word_sketch b, size_t limit)
{
    size_t diff = a.n_cps > b.n_cps ? a.n_cps - b.n_cps : b.n_cps - a.n_cps;
    if (diff > limit + 2) /* + 2: a plural "es" dropped */
        return false;
    return popcount64(a.chars & ~b.chars & ~PLURAL_CHARS) <= limit &&
           popcount64(b.chars & ~a.chars & ~PLURAL_CHARS) <= limit;
}

/* How well the message word (folded, of token kind `kind`) matches the
 * synonym word: 0 when it does not. */
static float word_score(pal_slice msg, pal_token_kind kind, word_sketch msg_sketch,
                        const syn_word *w)
{
    pal_slice syn = {w->text, w->len};
    if (msg.len == syn.len && memcmp(msg.ptr, syn.ptr, syn.len) == 0)
        return 1.0f;
    if (kind != PAL_TOK_WORD || !w->loose)
        return 0.0f;
    size_t n_msg = msg_sketch.n_cps;
    size_t limit = edits_allowed(n_msg < w->sketch.n_cps ? n_msg : w->sketch.n_cps);
    if (!may_match_loosely(msg_sketch, w->sketch, limit))
        return 0.0f;
    if (plural_equal(msg, syn))
        return SCORE_PLURAL;
    if (limit == 0)
        return 0.0f;
    float best = 0.0f;
    size_t d = pal_edit_distance(msg, syn, limit);
    if (d <= limit)
        best = edit_score(d);
    /* "coronnas": a typo on a plural. */
    for (int which = 1; which <= 2 && best < SCORE_EDIT1; which++) {
        size_t base = plural_base(msg, which);
        if (base == 0)
            continue;
        d = pal_edit_distance((pal_slice){msg.ptr, base}, syn, limit);
        if (d <= limit && edit_score(d) - SCORE_FUZZY_PLURAL_PENALTY > best)
            best = edit_score(d) - SCORE_FUZZY_PLURAL_PENALTY;
    }
    return best;
}

/* The synonym that best matches from token i (longest, then best score);
 * false when none does. *n_tokens and *score (OUT). */
static bool best_synonym_at(const entity_def *def, const pal_analysis *analysis,
                            const word_sketch *sketches, size_t i, const synonym **best,
                            size_t *n_tokens, float *score)
{
    *best = NULL;
    *n_tokens = 0;
    *score = 0.0f;
    for (size_t h = 0; h < def->n_heads; h++) {
        const head *hd = &def->heads[h];
        float head_score =
            word_score(analysis->folded[i], analysis->tokens[i].kind, sketches[i], hd->word);
        if (head_score <= 0.0f)
            continue;
        for (size_t k = 0; k < hd->n_synonyms; k++) {
            const synonym *syn = &def->synonyms[hd->synonyms[k]];
            if (i + syn->n_words > analysis->n_tokens)
                continue;
            if (*best && syn->n_words < *n_tokens)
                continue;
            float syn_score = head_score;
            for (size_t w = 1; w < syn->n_words && syn_score > 0.0f; w++) {
                float ws = word_score(analysis->folded[i + w], analysis->tokens[i + w].kind,
                                      sketches[i + w], &syn->words[w]);
                if (ws < syn_score)
                    syn_score = ws;
            }
            if (syn_score <= 0.0f)
                continue;
            if (!*best || syn->n_words > *n_tokens || syn_score > *score) {
                *best = syn;
                *n_tokens = syn->n_words;
                *score = syn_score;
            }
        }
    }
    return *best != NULL;
}

static void extract_choice(cand_list *list, size_t d, const entity_def *def,
                           const pal_analysis *analysis, const word_sketch *sketches)
{
    for (size_t i = 0; i < analysis->n_tokens; i++) {
        if (analysis->tokens[i].kind == PAL_TOK_PUNCT)
            continue;
        const synonym *syn;
        size_t n;
        float score;
        if (!best_synonym_at(def, analysis, sketches, i, &syn, &n, &score))
            continue;
        cand_push(list, d, def, def->values[syn->value], 0.0, analysis->tokens[i].start,
                  token_end(&analysis->tokens[i + n - 1]), score);
    }
}

static void extract_numbers(cand_list *list, size_t d, const entity_def *def,
                            const pal_analysis *analysis, const pal_number_match *numbers,
                            size_t n_numbers)
{
    for (size_t k = 0; k < n_numbers; k++) {
        const pal_number_match *m = &numbers[k];
        if (m->value < def->min || m->value > def->max)
            continue;
        cand_push(list, d, def, NULL, m->value, analysis->tokens[m->tok_start].start,
                  token_end(&analysis->tokens[m->tok_end - 1]), m->weak ? SCORE_WEAK_NUMBER : 1.0f);
    }
}

static bool postcode_digits(const char *p)
{
    for (int k = 0; k < 5; k++) {
        if (p[k] < '0' || p[k] > '9')
            return false;
    }
    int dept = (p[0] - '0') * 10 + (p[1] - '0');
    return dept >= 1 && dept <= 98;
}

static void extract_postcodes(cand_list *list, size_t d, const entity_def *def,
                              const pal_analysis *analysis)
{
    const char *norm = analysis->norm.ptr;
    for (size_t i = 0; i < analysis->n_tokens; i++) {
        const pal_token *t = &analysis->tokens[i];
        if (t->kind == PAL_TOK_POSTCODE) {
            cand_push(list, d, def, NULL, 0.0, t->start, token_end(t), 1.0f);
        } else if (t->kind == PAL_TOK_HASHTAG && t->len >= 7) {
            /* "#monresultat75011": exactly five digits after a non-digit. */
            const char *tail = norm + token_end(t) - 5;
            char before = tail[-1];
            if (postcode_digits(tail) && (before < '0' || before > '9'))
                cand_push(list, d, def, NULL, 0.0, token_end(t) - 5, token_end(t),
                          SCORE_HASHTAG_POSTCODE);
        }
    }
}

/* Byte length of the UTF-8 sequence starting with lead byte c (1 for a
 * stray byte, which valid text does not have). */
static size_t utf8_seq_len(unsigned char c)
{
    if (c >= 0xF0)
        return 4;
    if (c >= 0xE0)
        return 3;
    if (c >= 0xC0)
        return 2;
    return 1;
}

static void extract_pattern(cand_list *list, size_t d, const entity_def *def, const pattern *pat,
                            const pal_entity_set *set, const pal_analysis *analysis)
{
    pcre2_match_data *md = pcre2_match_data_create_from_pattern(pat->code, NULL);
    if (!md) {
        fprintf(stderr, "palabre: out of memory (pcre2 match data)\n");
        abort();
    }
    PCRE2_SPTR subject = (PCRE2_SPTR)analysis->norm.ptr;
    size_t len = analysis->norm.len;
    size_t offset = 0;
    uint32_t options = PCRE2_NO_UTF_CHECK;

    while (offset <= len) {
        int rc = pcre2_match(pat->code, subject, len, offset, options, md, set->match_context);
        if (rc == PCRE2_ERROR_JIT_STACKLIMIT && !(options & PCRE2_NO_JIT)) {
            options |= PCRE2_NO_JIT; /* deep pattern: the interpreter copes */
            continue;
        }
        if (rc == PCRE2_ERROR_NOMATCH)
            break;
        if (rc < 0) {
            PCRE2_UCHAR msg[128];
            if (pcre2_get_error_message(rc, msg, sizeof(msg)) < 0)
                snprintf((char *)msg, sizeof(msg), "error %d", rc);
            pal_log(PAL_LOG_WARN, "entities", "pattern entity %s stopped at byte %zu: %s",
                    def->name, offset, (const char *)msg);
            break;
        }
        PCRE2_SIZE *ov = pcre2_get_ovector_pointer(md);
        size_t start = ov[0], end = ov[1];
        if (end <= start) {
            /* An empty match names nothing: step over one character. */
            if (start >= len)
                break;
            offset = start + utf8_seq_len(subject[start]);
            continue;
        }
        size_t vs = start, ve = end;
        if (pat->value_group > 0 && (uint32_t)pat->value_group < pcre2_get_ovector_count(md) &&
            ov[2 * pat->value_group] != PCRE2_UNSET) {
            vs = ov[2 * pat->value_group];
            ve = ov[2 * pat->value_group + 1];
        }
        cand_push(list, d, def, NULL, 0.0, start, end, 1.0f);
        list->items[list->count - 1].value_start = vs;
        list->items[list->count - 1].value_end = ve > vs ? ve : vs;
        offset = end;
    }
    pcre2_match_data_free(md);
}

static int cmp_candidates(const void *pa, const void *pb)
{
    const candidate *a = pa, *b = pb;
    if (a->entity.start != b->entity.start)
        return a->entity.start < b->entity.start ? -1 : 1;
    if (a->entity.end != b->entity.end)
        return a->entity.end > b->entity.end ? -1 : 1; /* longer first */
    if (a->def != b->def)
        return a->def < b->def ? -1 : 1;
    if (a->entity.score != b->entity.score)
        return a->entity.score > b->entity.score ? -1 : 1;
    return 0;
}

static bool better(const candidate *a, const candidate *b)
{
    if (a->entity.score != b->entity.score)
        return a->entity.score > b->entity.score;
    return a->entity.end - a->entity.start > b->entity.end - b->entity.start;
}

/* Keeps, among items[from..count) (all of one entity), the best of each run
 * of overlapping matches. Returns the new count. */
static size_t resolve_overlaps(candidate *items, size_t from, size_t count)
{
    if (count - from < 2)
        return count;
    qsort(items + from, count - from, sizeof(*items), cmp_candidates);
    size_t kept = from + 1;
    for (size_t i = from + 1; i < count; i++) {
        candidate *last = &items[kept - 1];
        if (items[i].entity.start < last->entity.end) {
            if (better(&items[i], last))
                *last = items[i];
            continue;
        }
        items[kept++] = items[i];
    }
    return kept;
}

/* Gives each kept candidate its value in the arena (entities.h: values are
 * the arena's, so they outlive neither it nor need the set). Done only for
 * the candidates that survive, so that dropped ones cost no arena memory. */
static void fill_values(candidate *c, const pal_analysis *analysis, pal_arena *arena)
{
    pal_entity *e = &c->entity;
    switch (e->kind) {
    case PAL_ENTITY_NUMBER: {
        char buf[64];
        int n = snprintf(buf, sizeof(buf), "%.15g", e->number);
        e->value = pal_arena_strndup(arena, buf, n > 0 ? (size_t)n : 0);
        break;
    }
    case PAL_ENTITY_POSTCODE:
        e->value = pal_arena_strndup(arena, analysis->norm.ptr + e->start, e->end - e->start);
        break;
    case PAL_ENTITY_CHOICE:
        e->value = pal_arena_strndup(arena, e->value, strlen(e->value));
        break;
    case PAL_ENTITY_PATTERN:
        e->value = pal_arena_strndup(arena, analysis->norm.ptr + c->value_start,
                                     c->value_end - c->value_start);
        break;
    }
}

pal_err pal_entity_set_extract(const pal_entity_set *set, const pal_analysis *analysis,
                               pal_arena *arena, pal_entity **out, size_t *count)
{
    cand_list list = {0};
    word_sketch *sketches = NULL; /* of each token, for choices; made once */
    pal_number_match *numbers = NULL;
    size_t n_numbers = 0;
    bool numbers_done = false;
    pal_err err;

    if (out)
        *out = NULL;
    if (count)
        *count = 0;
    if (!set || !analysis || !arena || !out || !count)
        return PAL_ERR_INVALID;
    if (analysis->n_tokens > 0 && (!analysis->tokens || !analysis->folded || !analysis->norm.ptr))
        return PAL_ERR_INVALID;
    /* Checked once here so that each pcre2_match can skip the check. */
    if (analysis->norm.len > 0 && !pal_utf8_valid(analysis->norm.ptr, analysis->norm.len))
        return PAL_ERR_UTF8;

    for (size_t d = 0; d < set->n_defs; d++) {
        const entity_def *def = &set->defs[d];
        size_t from = list.count;
        switch (def->kind) {
        case PAL_ENTITY_CHOICE:
            if (!sketches) {
                sketches = pal_xcalloc(analysis->n_tokens + 1, sizeof(*sketches));
                for (size_t i = 0; i < analysis->n_tokens; i++) {
                    if (analysis->tokens[i].kind == PAL_TOK_WORD)
                        sketches[i] = sketch_of(analysis->folded[i]);
                }
            }
            extract_choice(&list, d, def, analysis, sketches);
            break;
        case PAL_ENTITY_NUMBER:
            if (!numbers_done) {
                err = pal_numbers_extract(analysis, arena, &numbers, &n_numbers);
                if (err)
                    goto out;
                numbers_done = true;
            }
            extract_numbers(&list, d, def, analysis, numbers, n_numbers);
            break;
        case PAL_ENTITY_POSTCODE:
            extract_postcodes(&list, d, def, analysis);
            break;
        case PAL_ENTITY_PATTERN:
            if (analysis->norm.ptr) {
                for (size_t p = 0; p < def->n_patterns; p++)
                    extract_pattern(&list, d, def, &def->patterns[p], set, analysis);
            }
            break;
        }
        list.count = resolve_overlaps(list.items, from, list.count);
    }

    if (list.count > 0) {
        qsort(list.items, list.count, sizeof(*list.items), cmp_candidates);
        pal_entity *result = pal_arena_alloc(arena, list.count * sizeof(*result));
        for (size_t i = 0; i < list.count; i++) {
            fill_values(&list.items[i], analysis, arena);
            result[i] = list.items[i].entity;
        }
        *out = result;
        *count = list.count;
    }
    err = PAL_OK;
out:
    free(sketches);
    free(list.items);
    return err;
}
