/*
 * bot_load.c — reads a bot folder's bot.yaml into the model of bot_model.h.
 *
 * Three stages, so that every error can name the file, line and column:
 *   1. libfyaml's event parser turns the text into a small tree of our own
 *      (ynode, 1-based positions, in an arena that dies with the load). It
 *      refuses what a bot never needs and a hostile file would use: anchors
 *      and aliases (nothing is ever expanded, so no "billion laughs"), tags,
 *      several documents, duplicate keys, bytes that are not UTF-8, strings
 *      holding NUL, more than LIMIT_NODES nodes or LIMIT_DEPTH levels.
 *   2. The tree is checked against docs/bots.md and compiled into pal_bot.
 *      Flows are walked twice: a first, forgiving walk collects the slots
 *      (every `ask:`, with the choice entities of inline `choices:`) and the
 *      names that look-ups and calls store their answers under, so that the
 *      second, strict walk (and the replies, parsed before it) can check
 *      every `{{slot}}`, condition and parameter against the whole bot.
 *   3. The intent classifier is trained last, once everything else is known
 *      to be good; flow and pattern intents are then turned into classifier
 *      indexes.
 *
 * Assumes: bot files are written by brands, not customers, but may still be
 * wrong in any way; the loader never trusts a count, a depth or a size it
 * has not bounded. No global state: loads may run in parallel.
 */
#include "dialog/bot_model.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <libfyaml.h>

#include "base/file.h"
#include "base/mem.h"
#include "base/ytree.h"
#include "text/normalize.h"
#include "text/utf8.h"

enum {
    LIMIT_NODES = 200000,       /* YAML nodes in a bot file */
    LIMIT_DEPTH = 64,           /* YAML nesting (libfyaml's own limit too) */
    LIMIT_NAME = 64,            /* bytes of a bot, slot, intent, flow... name */
    LIMIT_ITEMS = 1000,         /* entities, intents, flows, replies, services, steps of
                                   one list, choices of one entity, synonyms of one value */
    LIMIT_EXAMPLES = 20000,     /* training examples, all intents together */
    LIMIT_EXAMPLE_BYTES = 4096, /* one example or pattern */
    LIMIT_VARIANTS = 50,        /* variants of one text in one language */
    LIMIT_BUTTONS = 20,         /* quick replies or inline choices of one ask */
    LIMIT_BODY = 64,            /* fields of a call's body */
    LIMIT_URL = 2048,
    DEFAULT_TRIES = 3,
    MAX_TRIES = 10,
    DEFAULT_TIMEOUT_MS = 2000,
    MAX_TIMEOUT_MS = 60000,
    DEFAULT_HANDOFF_AFTER = 2,
    MAX_HANDOFF_AFTER = 100,
    DEFAULT_DEDUP_WINDOW = 600,
    MAX_DEDUP_WINDOW = 7 * 24 * 3600,
    MSG_MAX = 512,
};

#define DEFAULT_THRESHOLD 0.45f
#define BOT_FILE_MAX ((size_t)4 << 20)

/* ---- the YAML tree ------------------------------------------------------ */

typedef pal_ynode ynode;

/* ---- what the loader keeps while it works ------------------------------ */

typedef struct lentity {
    pal_entity_kind kind;
    const char **values; /* choice values (borrowed), for checking conditions */
    size_t n_values;
} lentity;

/* An `ask:` found by the first walk over the flows. */
typedef struct ask_ref {
    const ynode *step;    /* the step's mapping */
    const ynode *name;    /* its ask: value */
    const ynode *choices; /* its choices: value, or NULL */
} ask_ref;

/* Inline choices, parsed by the first walk, handed to their step by the second. */
typedef struct inline_def {
    const ynode *step;
    pal_choice *choices; /* owned until handed over */
    size_t n_choices;
} inline_def;

typedef struct lintent {
    const char *name; /* borrowed: the tree or a built-in's static name */
    const ynode *at;  /* where the bot declares it; NULL for a built-in it does not */
    int flow;         /* the flow it starts, -1 when none */
    int model_index;  /* after training */
} lintent;

typedef struct loader {
    const char *path;
    char *errbuf;
    size_t errlen;
    pal_arena *arena; /* the tree */
    pal_bot *bot;     /* being built; always in a state pal_bot_free() accepts */
    size_t cap_entity_names;
    lentity *entities; /* parallel to bot->entity_names */
    size_t cap_entities;
    size_t cap_slots;
    ask_ref *asks;
    size_t n_asks, cap_asks;
    const char **results; /* `as:` names of look-ups and calls */
    size_t n_results, cap_results;
    inline_def *inlines;
    size_t n_inlines, cap_inlines;
    lintent *intents;
    size_t n_intents, cap_intents;
    pal_nlu_example *examples;
    size_t n_examples, cap_examples;
    size_t cap_patterns;
} loader;

/* ---- errors ------------------------------------------------------------- */

__attribute__((format(printf, 5, 0))) static pal_err vfail(loader *ld, pal_err err, int line,
                                                           int column, const char *fmt, va_list ap)
{
    if (!ld->errbuf || !ld->errlen)
        return err;
    int n = snprintf(ld->errbuf, ld->errlen, "%s:%d:%d: ", ld->path, line, column);
    if (n >= 0 && (size_t)n < ld->errlen)
        vsnprintf(ld->errbuf + n, ld->errlen - (size_t)n, fmt, ap);
    return err;
}

/* Writes "PATH:LINE:COLUMN: message" about node at and returns err. */
__attribute__((format(printf, 4, 5))) static pal_err fail(loader *ld, pal_err err, const ynode *at,
                                                          const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vfail(ld, err, at ? at->line : 1, at ? at->column : 1, fmt, ap);
    va_end(ap);
    return err;
}

__attribute__((format(printf, 5, 6))) static pal_err fail_pos(loader *ld, pal_err err, int line,
                                                              int column, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vfail(ld, err, line, column, fmt, ap);
    va_end(ap);
    return err;
}

/* "a, b or c" from a list of words, for messages. */
static const char *word_list(char *buf, size_t size, const char *const *words, size_t n)
{
    size_t used = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < n && used < size; i++) {
        const char *sep = i == 0 ? "" : i + 1 == n ? " or " : ", ";
        int w = snprintf(buf + used, size - used, "%s%s", sep, words[i]);
        if (w < 0)
            break;
        used += (size_t)w;
    }
    return buf;
}

/* ---- stage 1: YAML to tree ---------------------------------------------- */

static pal_err tree_build(loader *ld, const char *yaml, size_t len, ynode **root)
{
    pal_ytree_options options = {
        .path = ld->path,
        .max_nodes = LIMIT_NODES,
        .max_depth = LIMIT_DEPTH,
        .over_limits = PAL_ERR_LIMIT,
        .what = "a bot file",
        .one_document = "a bot file holds one bot",
        .empty = "expected a bot (bot:, languages:, contract:, intents:, flows:)",
    };
    return pal_ytree_parse(&options, yaml, len, ld->arena, root, ld->errbuf, ld->errlen);
}

/* ---- tree access ----------------------------------------------------------- */

/* The value of key in map, or NULL when absent. */
static const ynode *map_get(const ynode *map, const char *key)
{
    if (!map || map->kind != PAL_Y_MAP)
        return NULL;
    for (const ynode *k = map->first; k; k = k->next) {
        if (strcmp(k->text, key) == 0)
            return k->value;
    }
    return NULL;
}

/* Refuses any key of map not in keys[0..n). */
static pal_err check_keys(loader *ld, const ynode *map, const char *const *keys, size_t n,
                          const char *where)
{
    for (const ynode *k = map->first; k; k = k->next) {
        size_t i = 0;
        while (i < n && strcmp(k->text, keys[i]) != 0)
            i++;
        if (i == n) {
            char words[MSG_MAX];
            return fail(ld, PAL_ERR_PARSE, k, "unknown key '%s' in %s: expected %s", k->text, where,
                        word_list(words, sizeof(words), keys, n));
        }
    }
    return PAL_OK;
}

static pal_err require(loader *ld, const ynode *map, const char *key, const char *what,
                       const ynode **out)
{
    *out = map_get(map, key);
    if (!*out)
        return fail(ld, PAL_ERR_PARSE, map, "missing key '%s' (%s)", key, what);
    return PAL_OK;
}

static pal_err expect_map(loader *ld, const ynode *n, const char *what)
{
    if (n->kind != PAL_Y_MAP)
        return fail(ld, PAL_ERR_PARSE, n, "expected %s (a mapping of key: value)", what);
    return PAL_OK;
}

static pal_err count_limit(loader *ld, const ynode *n, size_t limit, const char *what)
{
    if (n->count > limit)
        return fail(ld, PAL_ERR_LIMIT, n, "more than %zu %s", limit, what);
    return PAL_OK;
}

/* A non-empty string. */
static pal_err get_string(loader *ld, const ynode *n, const char *what, const char **out)
{
    *out = NULL;
    if (n->kind != PAL_Y_SCALAR || n->null || n->len == 0)
        return fail(ld, PAL_ERR_PARSE, n, "expected %s (a non-empty string)", what);
    *out = n->text;
    return PAL_OK;
}

static bool is_name(const char *s)
{
    if (!(*s >= 'a' && *s <= 'z'))
        return false;
    size_t len = 1;
    for (s++; *s; s++, len++) {
        if (!((*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') || *s == '_'))
            return false;
    }
    return len <= LIMIT_NAME;
}

static pal_err check_name(loader *ld, const ynode *n, const char *what)
{
    if (n->kind != PAL_Y_SCALAR || n->null || !is_name(n->text))
        return fail(ld, PAL_ERR_PARSE, n,
                    "expected %s: a name of at most %d lowercase letters, digits and _, "
                    "starting with a letter ([a-z][a-z0-9_]*)",
                    what, LIMIT_NAME);
    return PAL_OK;
}

static pal_err get_name(loader *ld, const ynode *n, const char *what, const char **out)
{
    *out = NULL;
    pal_err err = check_name(ld, n, what);
    if (!err)
        *out = n->text;
    return err;
}

static pal_err get_long(loader *ld, const ynode *n, const char *what, long min, long max, long *out)
{
    bool ok = n->kind == PAL_Y_SCALAR && !n->null && n->len > 0 && n->len <= 9;
    for (size_t i = 0; ok && i < n->len; i++)
        ok = n->text[i] >= '0' && n->text[i] <= '9';
    long v = ok ? strtol(n->text, NULL, 10) : 0;
    if (!ok || v < min || v > max)
        return fail(ld, PAL_ERR_PARSE, n, "expected %s: a whole number from %ld to %ld", what, min,
                    max);
    *out = v;
    return PAL_OK;
}

static bool parse_number(const char *s, double *out)
{
    if (!*s || strspn(s, "0123456789.eE+-") != strlen(s))
        return false;
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (end == s || *end || errno || !isfinite(v))
        return false;
    *out = v;
    return true;
}

static pal_err get_double(loader *ld, const ynode *n, const char *what, double min, double max,
                          double *out)
{
    double v = 0;
    if (n->kind != PAL_Y_SCALAR || n->null || !parse_number(n->text, &v) || v < min || v > max)
        return fail(ld, PAL_ERR_PARSE, n, "expected %s: a number from %g to %g", what, min, max);
    *out = v;
    return PAL_OK;
}

/* A value that may be one item or a list of them: `when: order` or
 * `when: [order, reorder]`. */
static const ynode *items_first(const ynode *n)
{
    return n->kind == PAL_Y_SEQ ? n->first : n;
}

static const ynode *items_next(const ynode *n, const ynode *item)
{
    return n->kind == PAL_Y_SEQ ? item->next : NULL;
}

static size_t items_count(const ynode *n)
{
    return n->kind == PAL_Y_SEQ ? n->count : 1;
}

/* ---- lookups in what is built so far -------------------------------------- */

static int find_name(char *const *names, size_t n, const char *name)
{
    for (size_t i = 0; i < n; i++) {
        if (strcmp(names[i], name) == 0)
            return (int)i;
    }
    return -1;
}

static int find_slot(const pal_bot *bot, const char *name)
{
    for (size_t i = 0; i < bot->n_slots; i++) {
        if (strcmp(bot->slots[i].name, name) == 0)
            return (int)i;
    }
    return -1;
}

static bool is_result(const loader *ld, const char *name)
{
    for (size_t i = 0; i < ld->n_results; i++) {
        if (strcmp(ld->results[i], name) == 0)
            return true;
    }
    return false;
}

static int find_intent(const loader *ld, const char *name)
{
    for (size_t i = 0; i < ld->n_intents; i++) {
        if (strcmp(ld->intents[i].name, name) == 0)
            return (int)i;
    }
    return -1;
}

static const pal_named_reply *find_reply(const pal_bot *bot, const char *name)
{
    for (size_t i = 0; i < bot->n_replies; i++) {
        if (strcmp(bot->replies[i].name, name) == 0)
            return &bot->replies[i];
    }
    return NULL;
}

/* ---- templates ---------------------------------------------------------- */

static bool placeholder_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
           c == '-' || c == '.';
}

/* Every `{{...}}` of s must be one that template.c renders, naming a slot
 * ({{beer}}) or a field of a look-up or service answer ({{order.id}}): a
 * typo is caught here rather than shown to customers as an empty gap. */
static pal_err check_template(loader *ld, const ynode *at, const char *s)
{
    for (const char *open = strstr(s, "{{"); open; open = strstr(open + 1, "{{")) {
        const char *q = open + 2;
        while (*q == ' ')
            q++;
        const char *start = q;
        while (placeholder_char(*q))
            q++;
        const char *end = q;
        while (*q == ' ')
            q++;
        if (end == start || q[0] != '}' || q[1] != '}') {
            if (open[2] == '{')
                continue; /* "{{{x}}}": the placeholder starts one brace later */
            return fail(ld, PAL_ERR_PARSE, at,
                        "malformed placeholder in \"%.40s\": expected {{slot}} or "
                        "{{name.field}}",
                        open);
        }
        char name[LIMIT_NAME * 2 + 2];
        size_t len = (size_t)(end - start);
        const char *dot = memchr(start, '.', len);
        size_t head = dot ? (size_t)(dot - start) : len;
        if (head >= sizeof(name) || head == 0)
            return fail(ld, PAL_ERR_PARSE, at, "placeholder {{%.*s}}: expected a slot name",
                        (int)len, start);
        memcpy(name, start, head);
        name[head] = '\0';
        if (!dot) {
            if (find_slot(ld->bot, name) < 0)
                return fail(ld, PAL_ERR_PARSE, at,
                            "placeholder {{%s}}: no flow asks for a slot '%s'", name, name);
        } else {
            if (!is_result(ld, name))
                return fail(ld, PAL_ERR_PARSE, at,
                            "placeholder {{%.*s}}: no lookup or call stores its answer as '%s'",
                            (int)len, start, name);
            if ((size_t)(end - dot) < 2 || end[-1] == '.')
                return fail(ld, PAL_ERR_PARSE, at,
                            "placeholder {{%.*s}}: expected a field after '%s.'", (int)len, start,
                            name);
        }
        open = q + 1; /* the loop's +1 then skips the closing braces */
    }
    return PAL_OK;
}

/* ---- texts per language -------------------------------------------------- */

static void text_free(pal_bot_text *t)
{
    for (int l = 0; l < PAL_LANG_COUNT; l++) {
        for (size_t i = 0; i < t->n_variants[l]; i++)
            free(t->variants[l][i]);
        free(t->variants[l]);
        t->variants[l] = NULL;
        t->n_variants[l] = 0;
    }
}

static void text_copy(pal_bot_text *dst, const pal_bot_text *src)
{
    for (int l = 0; l < PAL_LANG_COUNT; l++) {
        dst->n_variants[l] = src->n_variants[l];
        dst->variants[l] = NULL;
        if (!src->n_variants[l])
            continue;
        dst->variants[l] = pal_xcalloc(src->n_variants[l], sizeof(char *));
        for (size_t i = 0; i < src->n_variants[l]; i++)
            dst->variants[l][i] = pal_xstrdup(src->variants[l][i]);
    }
}

static bool bot_speaks(const pal_bot *bot, pal_lang lang)
{
    for (size_t i = 0; i < bot->n_langs; i++) {
        if (bot->langs[i] == lang)
            return true;
    }
    return false;
}

static const char *bot_lang_list(const pal_bot *bot, char *buf, size_t size)
{
    const char *codes[PAL_BOT_MAX_LANGS];
    for (size_t i = 0; i < bot->n_langs; i++)
        codes[i] = pal_lang_code(bot->langs[i]);
    return word_list(buf, size, codes, bot->n_langs);
}

/* One language's text: a string or a list of strings (variants). */
static pal_err text_variants(loader *ld, const ynode *n, bool templates, const char *what,
                             pal_bot_text *out, pal_lang lang)
{
    if (n->kind == PAL_Y_SEQ) {
        if (n->count == 0)
            return fail(ld, PAL_ERR_PARSE, n, "expected %s: an empty list has no text", what);
        pal_err err = count_limit(ld, n, LIMIT_VARIANTS, "variants");
        if (err)
            return err;
    } else if (n->kind != PAL_Y_SCALAR) {
        return fail(ld, PAL_ERR_PARSE, n, "expected %s: a string or a list of strings", what);
    }
    out->variants[lang] = pal_xcalloc(items_count(n), sizeof(char *));
    for (const ynode *v = items_first(n); v; v = items_next(n, v)) {
        const char *s;
        pal_err err = get_string(ld, v, what, &s);
        if (!err && templates)
            err = check_template(ld, v, s);
        if (err)
            return err;
        out->variants[lang][out->n_variants[lang]++] = pal_xstrdup(s);
    }
    return PAL_OK;
}

/* Text per language (docs/bots.md): a string (the same in every language of
 * the bot) or a mapping from language to a string or a list of variants.
 * Every language of the bot must have its text. On error *out holds what
 * was built so far: the caller frees it with text_free() either way. */
static pal_err parse_text(loader *ld, const ynode *n, bool templates, const char *what,
                          pal_bot_text *out)
{
    char langs[64];
    if (n->kind == PAL_Y_SCALAR) {
        for (size_t i = 0; i < ld->bot->n_langs; i++) {
            pal_err err = text_variants(ld, n, templates, what, out, ld->bot->langs[i]);
            if (err)
                return err;
        }
        return PAL_OK;
    }
    if (n->kind != PAL_Y_MAP)
        return fail(ld, PAL_ERR_PARSE, n,
                    "expected %s: a string, or a text per language (%s: ...) with a string or "
                    "a list of variants",
                    what, bot_lang_list(ld->bot, langs, sizeof(langs)));
    for (const ynode *k = n->first; k; k = k->next) {
        pal_lang lang;
        if (!pal_lang_parse(k->text, &lang))
            return fail(ld, PAL_ERR_PARSE, k,
                        "unknown language '%s' in %s: expected a language of the bot (%s)", k->text,
                        what, bot_lang_list(ld->bot, langs, sizeof(langs)));
        if (!bot_speaks(ld->bot, lang))
            return fail(ld, PAL_ERR_PARSE, k,
                        "language '%s' in %s is not one of the bot's languages (%s)", k->text, what,
                        bot_lang_list(ld->bot, langs, sizeof(langs)));
        if (out->variants[lang])
            return fail(ld, PAL_ERR_PARSE, k, "language '%s' given twice in %s", k->text, what);
        pal_err err = text_variants(ld, k->value, templates, what, out, lang);
        if (err)
            return err;
    }
    for (size_t i = 0; i < ld->bot->n_langs; i++) {
        if (!out->variants[ld->bot->langs[i]])
            return fail(ld, PAL_ERR_PARSE, n,
                        "missing the '%s' text of %s: every language of "
                        "the bot needs one",
                        pal_lang_code(ld->bot->langs[i]), what);
    }
    return PAL_OK;
}

/* ---- top level: name, languages, settings -------------------------------- */

static pal_err parse_languages(loader *ld, const ynode *n)
{
    pal_bot *bot = ld->bot;
    if (n->kind == PAL_Y_MAP || items_count(n) == 0)
        return fail(ld, PAL_ERR_PARSE, n, "expected languages: fr, en or [fr, en]");
    if (items_count(n) > PAL_BOT_MAX_LANGS)
        return fail(ld, PAL_ERR_PARSE, n, "expected at most %d languages (fr and en)",
                    PAL_BOT_MAX_LANGS);
    for (const ynode *v = items_first(n); v; v = items_next(n, v)) {
        pal_lang lang;
        if (v->kind != PAL_Y_SCALAR || !pal_lang_parse(v->text, &lang))
            return fail(ld, PAL_ERR_PARSE, v, "unknown language '%s': expected fr or en",
                        v->kind == PAL_Y_SCALAR ? v->text : "");
        if (bot_speaks(bot, lang))
            return fail(ld, PAL_ERR_PARSE, v, "language '%s' listed twice", v->text);
        bot->langs[bot->n_langs++] = lang;
    }
    return PAL_OK;
}

static pal_err parse_settings(loader *ld, const ynode *n)
{
    static const char *const keys[] = {"threshold", "handoff_after", "dedup_window"};
    pal_bot *bot = ld->bot;
    if (n->null)
        return PAL_OK;
    pal_err err = expect_map(ld, n, "settings");
    if (!err)
        err = check_keys(ld, n, keys, 3, "settings");
    const ynode *v;
    if (!err && (v = map_get(n, "threshold")) != NULL) {
        double t;
        err = get_double(ld, v, "threshold", 0.0, 1.0, &t);
        bot->threshold = (float)t;
    }
    long l;
    if (!err && (v = map_get(n, "handoff_after")) != NULL) {
        err = get_long(ld, v, "handoff_after", 0, MAX_HANDOFF_AFTER, &l);
        bot->handoff_after = (int)l;
    }
    if (!err && (v = map_get(n, "dedup_window")) != NULL) {
        err = get_long(ld, v, "dedup_window (seconds)", 0, MAX_DEDUP_WINDOW, &l);
        bot->dedup_window = (int)l;
    }
    return err;
}

/* ---- entities ------------------------------------------------------------ */

static int find_entity(const loader *ld, const char *name)
{
    return find_name(ld->bot->entity_names, ld->bot->n_entities, name);
}

static lentity *add_entity(loader *ld, const char *name, pal_entity_kind kind)
{
    pal_bot *bot = ld->bot;
    pal_xreserve((void **)&bot->entity_names, &ld->cap_entity_names, bot->n_entities + 1,
                 sizeof(char *));
    pal_xreserve((void **)&ld->entities, &ld->cap_entities, bot->n_entities + 1, sizeof(lentity));
    bot->entity_names[bot->n_entities] = pal_xstrdup(name);
    lentity *e = &ld->entities[bot->n_entities++];
    *e = (lentity){.kind = kind};
    return e;
}

static pal_err entity_error(loader *ld, const ynode *at, pal_err err, const char *entity)
{
    return fail(ld, PAL_ERR_PARSE, at, "entity '%s' cannot be built: %s", entity, pal_err_str(err));
}

static pal_err parse_choices_entity(loader *ld, const char *name, const ynode *n)
{
    pal_err err = expect_map(ld, n, "choices: value: [synonym, ...]");
    if (!err && n->count == 0)
        err = fail(ld, PAL_ERR_PARSE, n, "expected at least one choice");
    if (!err)
        err = count_limit(ld, n, LIMIT_ITEMS, "choices");
    if (err)
        return err;
    lentity *e = add_entity(ld, name, PAL_ENTITY_CHOICE);
    e->values = pal_arena_alloc(ld->arena, n->count * sizeof(char *));
    const char *synonyms[LIMIT_ITEMS];
    for (const ynode *k = n->first; k; k = k->next) {
        const ynode *v = k->value;
        size_t count = 0;
        if (k->len == 0)
            return fail(ld, PAL_ERR_PARSE, k, "expected a choice value (a non-empty string)");
        if (v->kind == PAL_Y_SEQ) {
            if ((err = count_limit(ld, v, LIMIT_ITEMS, "synonyms")) != PAL_OK)
                return err;
            for (const ynode *s = v->first; s; s = s->next) {
                if ((err = get_string(ld, s, "a synonym", &synonyms[count])) != PAL_OK)
                    return err;
                count++;
            }
        } else if (v->kind == PAL_Y_SCALAR && !v->null) {
            if ((err = get_string(ld, v, "a synonym", &synonyms[count])) != PAL_OK)
                return err;
            count++;
        } else if (!v->null) {
            return fail(ld, PAL_ERR_PARSE, v, "expected the synonyms of '%s': a list of strings",
                        k->text);
        }
        err = pal_entity_set_add_choice(ld->bot->entities, name, k->text, synonyms, count);
        if (err)
            return entity_error(ld, k, err, name);
        e->values[e->n_values++] = k->text;
    }
    return PAL_OK;
}

/* n: the bounds, a null node or NULL for none. */
static pal_err parse_number_entity(loader *ld, const char *name, const ynode *at, const ynode *n)
{
    static const char *const keys[] = {"min", "max"};
    double min = 0, max = 1e15;
    const ynode *v;
    pal_err err = PAL_OK;
    if (n && !n->null) {
        err = expect_map(ld, n, "number bounds {min: ..., max: ...}");
        if (!err)
            err = check_keys(ld, n, keys, 2, "a number entity");
        if (!err && (v = map_get(n, "min")) != NULL)
            err = get_double(ld, v, "min", -1e15, 1e15, &min);
        if (!err && (v = map_get(n, "max")) != NULL)
            err = get_double(ld, v, "max", -1e15, 1e15, &max);
        if (!err && min > max)
            err = fail(ld, PAL_ERR_PARSE, n, "min (%g) is above max (%g)", min, max);
    }
    if (err)
        return err;
    add_entity(ld, name, PAL_ENTITY_NUMBER);
    err = pal_entity_set_add_number(ld->bot->entities, name, min, max);
    return err ? entity_error(ld, at, err, name) : PAL_OK;
}

static pal_err parse_entity(loader *ld, const ynode *key)
{
    static const char *const kinds[] = {"choices", "number", "pattern"};
    const char *name = key->text;
    const ynode *n = key->value;
    char words[MSG_MAX];
    pal_err err = check_name(ld, key, "an entity name");
    if (err)
        return err;
    if (n->kind == PAL_Y_SCALAR && strcmp(n->text, "postcode") == 0) {
        add_entity(ld, name, PAL_ENTITY_POSTCODE);
        err = pal_entity_set_add_postcode(ld->bot->entities, name);
        return err ? entity_error(ld, n, err, name) : PAL_OK;
    }
    if (n->kind == PAL_Y_SCALAR && strcmp(n->text, "number") == 0)
        return parse_number_entity(ld, name, n, NULL);
    if (n->kind != PAL_Y_MAP || n->count != 1)
        return fail(ld, PAL_ERR_PARSE, n,
                    "expected the kind of entity '%s': {choices: {...}}, {number: {min, max}}, "
                    "postcode, or {pattern: \"regex\"}",
                    name);
    const ynode *kind = n->first;
    if (strcmp(kind->text, "choices") == 0)
        return parse_choices_entity(ld, name, kind->value);
    if (strcmp(kind->text, "number") == 0)
        return parse_number_entity(ld, name, kind, kind->value);
    if (strcmp(kind->text, "pattern") == 0) {
        const char *regex;
        char pcre[MSG_MAX];
        if ((err = get_string(ld, kind->value, "a regular expression", &regex)) != PAL_OK)
            return err;
        add_entity(ld, name, PAL_ENTITY_PATTERN);
        pcre[0] = '\0';
        err = pal_entity_set_add_pattern(ld->bot->entities, name, regex, pcre, sizeof(pcre));
        if (err)
            return fail(ld, PAL_ERR_PARSE, kind->value, "invalid pattern of entity '%s': %s", name,
                        pcre[0] ? pcre : pal_err_str(err));
        return PAL_OK;
    }
    return fail(ld, PAL_ERR_PARSE, kind, "unknown entity kind '%s': expected %s or postcode",
                kind->text, word_list(words, sizeof(words), kinds, 3));
}

static pal_err parse_entities(loader *ld, const ynode *n)
{
    if (n->null)
        return PAL_OK;
    pal_err err = expect_map(ld, n, "entities: name: kind");
    if (!err)
        err = count_limit(ld, n, LIMIT_ITEMS, "entities");
    for (const ynode *k = err ? NULL : n->first; k && !err; k = k->next)
        err = parse_entity(ld, k);
    return err;
}

/* ---- flows, first walk: slots and result names ---------------------------- */

/* Forgiving: it only looks at what it needs and leaves every error about a
 * step's shape to the strict second walk. */
static void collect_steps(loader *ld, const ynode *steps)
{
    if (!steps || steps->kind != PAL_Y_SEQ)
        return;
    for (const ynode *step = steps->first; step; step = step->next) {
        if (step->kind != PAL_Y_MAP)
            continue;
        const ynode *ask = map_get(step, "ask");
        if (ask && ask->kind == PAL_Y_SCALAR) {
            pal_xreserve((void **)&ld->asks, &ld->cap_asks, ld->n_asks + 1, sizeof(ask_ref));
            const ynode *choices = map_get(step, "choices");
            ld->asks[ld->n_asks++] =
                (ask_ref){step, ask, choices && !choices->null ? choices : NULL};
        }
        static const char *const answering[] = {"lookup", "call"};
        for (int i = 0; i < 2; i++) {
            const ynode *as = map_get(map_get(step, answering[i]), "as");
            if (as && as->kind == PAL_Y_SCALAR && !is_result(ld, as->text) &&
                ld->n_results <= LIMIT_ITEMS) { /* one more than allowed: an error later */
                pal_xreserve((void **)&ld->results, &ld->cap_results, ld->n_results + 1,
                             sizeof(char *));
                ld->results[ld->n_results++] = as->text;
            }
        }
        collect_steps(ld, map_get(step, "then"));
        collect_steps(ld, map_get(step, "else"));
    }
}

static void choices_free(pal_choice *choices, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(choices[i].value);
        text_free(&choices[i].label);
    }
    free(choices);
}

/* An ask's inline `choices:` (value: label per language) become the choice
 * entity of its slot; the labels, in every language, are its synonyms. */
static pal_err parse_inline_choices(loader *ld, const ask_ref *ask)
{
    const char *slot = ask->name->text;
    const ynode *n = ask->choices;
    pal_err err = expect_map(ld, n, "choices: value: label per language");
    if (!err && n->count == 0)
        err = fail(ld, PAL_ERR_PARSE, n, "expected at least one choice");
    if (!err)
        err = count_limit(ld, n, LIMIT_BUTTONS, "choices");
    if (err)
        return err;
    pal_xreserve((void **)&ld->inlines, &ld->cap_inlines, ld->n_inlines + 1, sizeof(inline_def));
    inline_def *def = &ld->inlines[ld->n_inlines++];
    *def = (inline_def){.step = ask->step, .choices = pal_xcalloc(n->count, sizeof(pal_choice))};
    lentity *e = add_entity(ld, slot, PAL_ENTITY_CHOICE);
    e->values = pal_arena_alloc(ld->arena, n->count * sizeof(char *));
    for (const ynode *k = n->first; k; k = k->next) {
        pal_choice *c = &def->choices[def->n_choices++];
        if (k->len == 0)
            return fail(ld, PAL_ERR_PARSE, k, "expected a choice value (a non-empty string)");
        c->value = pal_xstrdup(k->text);
        if ((err = parse_text(ld, k->value, false, "a choice's label", &c->label)) != PAL_OK)
            return err;
        const char *synonyms[PAL_LANG_COUNT * LIMIT_VARIANTS];
        size_t count = 0;
        for (int l = 0; l < PAL_LANG_COUNT; l++) {
            for (size_t i = 0; i < c->label.n_variants[l]; i++)
                synonyms[count++] = c->label.variants[l][i];
        }
        err = pal_entity_set_add_choice(ld->bot->entities, slot, c->value, synonyms, count);
        if (err)
            return entity_error(ld, k, err, slot);
        e->values[e->n_values++] = k->text;
    }
    return PAL_OK;
}

/* Slots: every name an `ask:` asks for, in order of first appearance, each
 * with its entity (from entities: or from inline choices). */
static pal_err collect_slots(loader *ld, const ynode *flows)
{
    pal_bot *bot = ld->bot;
    if (flows && flows->kind == PAL_Y_MAP) {
        for (const ynode *k = flows->first; k; k = k->next)
            collect_steps(ld, map_get(k->value, "steps"));
    }
    if (ld->n_results > LIMIT_ITEMS)
        return fail(ld, PAL_ERR_LIMIT, flows, "more than %d names of lookup and call answers (as:)",
                    LIMIT_ITEMS);
    for (size_t i = 0; i < ld->n_asks; i++) {
        const ask_ref *ask = &ld->asks[i];
        pal_err err = check_name(ld, ask->name, "a slot name after ask:");
        if (err)
            return err;
        if (!ask->choices)
            continue;
        const char *slot = ask->name->text;
        for (size_t j = 0; j < i; j++) {
            if (ld->asks[j].choices && strcmp(ld->asks[j].name->text, slot) == 0)
                return fail(ld, PAL_ERR_PARSE, ask->choices,
                            "the choices of slot '%s' are already given at line %d", slot,
                            ld->asks[j].choices->line);
        }
        if (find_entity(ld, slot) >= 0)
            return fail(ld, PAL_ERR_PARSE, ask->choices,
                        "slot '%s' has inline choices, but entities: also defines '%s': keep "
                        "one of them",
                        slot, slot);
        if (bot->n_entities >= LIMIT_ITEMS)
            return fail(ld, PAL_ERR_LIMIT, ask->choices,
                        "more than %d entities, inline choices included", LIMIT_ITEMS);
        if ((err = parse_inline_choices(ld, ask)) != PAL_OK)
            return err;
    }
    for (size_t i = 0; i < ld->n_asks; i++) {
        const char *slot = ld->asks[i].name->text;
        if (find_slot(bot, slot) >= 0)
            continue;
        int entity = find_entity(ld, slot);
        if (entity < 0)
            return fail(ld, PAL_ERR_PARSE, ld->asks[i].name,
                        "unknown slot '%s': a slot is an entity of entities: or has inline "
                        "choices:",
                        slot);
        pal_xreserve((void **)&bot->slots, &ld->cap_slots, bot->n_slots + 1, sizeof(pal_slot));
        bot->slots[bot->n_slots++] =
            (pal_slot){pal_xstrdup(slot), entity, ld->entities[entity].kind};
    }
    return PAL_OK;
}

/* ---- replies and services ----------------------------------------------- */

static pal_err parse_replies(loader *ld, const ynode *n)
{
    pal_bot *bot = ld->bot;
    if (n->null)
        return PAL_OK;
    pal_err err = expect_map(ld, n, "replies: name: text");
    if (!err)
        err = count_limit(ld, n, LIMIT_ITEMS, "replies");
    if (err)
        return err;
    bot->replies = pal_xcalloc(n->count, sizeof(pal_named_reply));
    for (const ynode *k = n->first; k; k = k->next) {
        pal_named_reply *r = &bot->replies[bot->n_replies++];
        if ((err = check_name(ld, k, "a reply name")) != PAL_OK)
            return err;
        r->name = pal_xstrdup(k->text);
        if ((err = parse_text(ld, k->value, true, "a reply", &r->text)) != PAL_OK)
            return err;
    }
    return PAL_OK;
}

static bool is_url(const char *s)
{
    for (const char *c = s; *c; c++) {
        if ((unsigned char)*c <= ' ')
            return false;
    }
    return (strncmp(s, "http://", 7) == 0 && s[7]) || (strncmp(s, "https://", 8) == 0 && s[8]);
}

static pal_err parse_service(loader *ld, const ynode *key, pal_service *svc)
{
    static const char *const keys[] = {"url", "timeout_ms"};
    const ynode *n = key->value, *v;
    const char *url;
    long timeout = DEFAULT_TIMEOUT_MS;
    pal_err err = check_name(ld, key, "a service name");
    if (!err)
        err = expect_map(ld, n, "a service {url: ..., timeout_ms: ...}");
    if (!err)
        err = check_keys(ld, n, keys, 2, "a service");
    if (!err)
        err = require(ld, n, "url", "the service's http:// or https:// URL", &v);
    if (!err)
        err = get_string(ld, v, "the service's URL", &url);
    if (!err && (!is_url(url) || strlen(url) > LIMIT_URL))
        err = fail(ld, PAL_ERR_PARSE, v, "expected an http:// or https:// URL");
    const ynode *t = err ? NULL : map_get(n, "timeout_ms");
    if (t)
        err = get_long(ld, t, "timeout_ms", 1, MAX_TIMEOUT_MS, &timeout);
    if (err)
        return err;
    svc->name = pal_xstrdup(key->text);
    svc->timeout_ms = timeout;

    /* PALABRE_<BOT>_SERVICE_<NAME>_URL overrides the URL (names are [a-z0-9_]). */
    char var[2 * LIMIT_NAME + 32];
    snprintf(var, sizeof(var), "PALABRE_%s_SERVICE_%s_URL", ld->bot->name, key->text);
    for (char *c = var; *c; c++)
        *c = (char)toupper((unsigned char)*c);
    const char *env = getenv(var);
    if (env && *env) {
        if (!is_url(env) || strlen(env) > LIMIT_URL)
            return fail(ld, PAL_ERR_PARSE, v,
                        "%s overrides this URL but is not an http:// or https:// URL", var);
        url = env;
    }
    svc->url = pal_xstrdup(url);
    return PAL_OK;
}

static pal_err parse_services(loader *ld, const ynode *n)
{
    pal_bot *bot = ld->bot;
    if (n->null)
        return PAL_OK;
    pal_err err = expect_map(ld, n, "services: name: {url: ...}");
    if (!err)
        err = count_limit(ld, n, LIMIT_ITEMS, "services");
    if (err)
        return err;
    bot->services = pal_xcalloc(n->count, sizeof(pal_service));
    for (const ynode *k = n->first; k; k = k->next) {
        if ((err = parse_service(ld, k, &bot->services[bot->n_services++])) != PAL_OK)
            return err;
    }
    return PAL_OK;
}

/* ---- intents -------------------------------------------------------------- */

/* Built-in intents, understood by every bot in both languages. */
static const char *const BUILTIN_NAMES[PAL_BUILTIN_INTENTS] = {"help", "human", "cancel",
                                                               "restart"};

static const char *const BUILTIN_HELP[] = {"aide",
                                           "à l'aide",
                                           "que sais-tu faire ?",
                                           "qu'est-ce que tu sais faire",
                                           "comment ça marche ?",
                                           "menu",
                                           "je ne sais pas comment faire",
                                           "tu peux faire quoi ?",
                                           "quelles sont les options",
                                           "comment on fait ?",
                                           "besoin d'aide",
                                           "j'ai besoin d'aide",
                                           "help",
                                           "what can you do",
                                           "how does this work",
                                           "menu please",
                                           "I need help",
                                           "what are my options",
                                           "how do I use this",
                                           "what do you do",
                                           "help me please",
                                           "I don't understand how this works",
                                           "instructions",
                                           "what can I ask you",
                                           NULL};

static const char *const BUILTIN_HUMAN[] = {"un humain",
                                            "parler à quelqu'un",
                                            "je veux parler à un conseiller",
                                            "agent",
                                            "conseiller",
                                            "un vrai humain svp",
                                            "passez-moi quelqu'un",
                                            "je voudrais parler à une personne",
                                            "service client",
                                            "une vraie personne",
                                            "mettez-moi en relation avec un agent",
                                            "je veux un humain",
                                            "a human",
                                            "talk to someone",
                                            "agent please",
                                            "a real person",
                                            "I want to speak to a person",
                                            "customer service",
                                            "can I talk to a human",
                                            "representative",
                                            "connect me to an agent",
                                            "speak to someone please",
                                            "put me through to a person",
                                            "live agent",
                                            NULL};

static const char *const BUILTIN_CANCEL[] = {"annuler",
                                             "laisse tomber",
                                             "annule",
                                             "annule la commande",
                                             "je ne veux plus",
                                             "oublie",
                                             "finalement non",
                                             "c'est bon, laisse tomber",
                                             "j'arrête",
                                             "on arrête là",
                                             "annulez tout",
                                             "je change d'avis, annule",
                                             "cancel",
                                             "never mind",
                                             "stop the order",
                                             "cancel that",
                                             "forget it",
                                             "I don't want it anymore",
                                             "cancel my order",
                                             "nevermind",
                                             "drop it",
                                             "abort",
                                             "no, cancel that",
                                             "let's not do this",
                                             NULL};

static const char *const BUILTIN_RESTART[] = {"recommencer",
                                              "on reprend depuis le début",
                                              "recommence",
                                              "reprendre à zéro",
                                              "on recommence",
                                              "depuis le début",
                                              "repartir de zéro",
                                              "nouvelle demande",
                                              "je veux tout recommencer",
                                              "efface tout et recommence",
                                              "reprenons du début",
                                              "tout reprendre",
                                              "start over",
                                              "restart",
                                              "begin again",
                                              "from the beginning",
                                              "reset",
                                              "let's start again",
                                              "start from scratch",
                                              "new request",
                                              "start again please",
                                              "I want to start over",
                                              "clear everything and restart",
                                              "go back to the start",
                                              NULL};

static const char *const *const BUILTIN_EXAMPLES[PAL_BUILTIN_INTENTS] = {
    BUILTIN_HELP, BUILTIN_HUMAN, BUILTIN_CANCEL, BUILTIN_RESTART};

static int add_intent(loader *ld, const char *name, const ynode *at)
{
    pal_xreserve((void **)&ld->intents, &ld->cap_intents, ld->n_intents + 1, sizeof(lintent));
    ld->intents[ld->n_intents] = (lintent){name, at, -1, PAL_NLU_NONE};
    return (int)ld->n_intents++;
}

static pal_err add_example(loader *ld, const ynode *at, const char *intent, const char *text)
{
    if (ld->n_examples >= LIMIT_EXAMPLES)
        return fail(ld, PAL_ERR_LIMIT, at, "more than %d examples", LIMIT_EXAMPLES);
    pal_xreserve((void **)&ld->examples, &ld->cap_examples, ld->n_examples + 1,
                 sizeof(pal_nlu_example));
    ld->examples[ld->n_examples++] = (pal_nlu_example){intent, text};
    return PAL_OK;
}

/* A list of strings (or one string) of an intent: examples or patterns. */
static pal_err intent_strings(loader *ld, const ynode *n, const char *what)
{
    if (n->kind != PAL_Y_SEQ && (n->kind != PAL_Y_SCALAR || n->null))
        return fail(ld, PAL_ERR_PARSE, n, "expected %s: a list of strings", what);
    for (const ynode *s = items_first(n); s; s = items_next(n, s)) {
        const char *text;
        pal_err err = get_string(ld, s, what, &text);
        if (!err && s->len > LIMIT_EXAMPLE_BYTES)
            err = fail(ld, PAL_ERR_LIMIT, s, "%s longer than %d bytes", what, LIMIT_EXAMPLE_BYTES);
        if (err)
            return err;
    }
    return PAL_OK;
}

static pal_err add_pattern(loader *ld, const ynode *at, int intent)
{
    pal_bot *bot = ld->bot;
    char *folded = pal_text_fold_dup(at->text);
    if (!folded || !*folded) {
        free(folded);
        return fail(ld, PAL_ERR_PARSE, at, "expected a pattern with letters or digits");
    }
    pal_xreserve((void **)&bot->patterns, &ld->cap_patterns, bot->n_patterns + 1,
                 sizeof(pal_intent_pattern));
    /* The intent is the loader's index until training gives the classifier's. */
    bot->patterns[bot->n_patterns++] = (pal_intent_pattern){folded, intent};
    return PAL_OK;
}

static pal_err parse_intent(loader *ld, const ynode *key)
{
    const ynode *n = key->value;
    char langs[64];
    pal_err err = check_name(ld, key, "an intent name");
    if (!err)
        err = expect_map(ld, n, "an intent: fr: [examples], en: [examples], patterns: [...]");
    if (err)
        return err;
    bool none = strcmp(key->text, "none") == 0;
    if (strcmp(key->text, "oos") == 0) /* the classifier's other out-of-scope label */
        return fail(ld, PAL_ERR_PARSE, key,
                    "intent name 'oos' is reserved: give out-of-scope examples under 'none'");
    int intent = find_intent(ld, key->text);
    if (intent < 0)
        intent = add_intent(ld, key->text, key);
    else
        ld->intents[intent].at = key;
    size_t given = 0;
    for (const ynode *k = n->first; k; k = k->next) {
        const ynode *v = k->value;
        pal_lang lang;
        if (strcmp(k->text, "patterns") == 0) {
            if (none)
                return fail(ld, PAL_ERR_PARSE, k,
                            "the out-of-scope intent 'none' has no "
                            "patterns");
            if ((err = intent_strings(ld, v, "a pattern")) != PAL_OK)
                return err;
            for (const ynode *s = items_first(v); s; s = items_next(v, s)) {
                /* A pattern is also an example: "#monresultat" teaches the
                 * classifier the intent of "monresultat 75011". */
                if ((err = add_pattern(ld, s, intent)) != PAL_OK ||
                    (err = add_example(ld, s, ld->intents[intent].name, s->text)) != PAL_OK)
                    return err;
            }
        } else if (pal_lang_parse(k->text, &lang)) {
            if (!bot_speaks(ld->bot, lang))
                return fail(ld, PAL_ERR_PARSE, k,
                            "language '%s' is not one of the bot's languages (%s)", k->text,
                            bot_lang_list(ld->bot, langs, sizeof(langs)));
            if ((err = intent_strings(ld, v, "an example")) != PAL_OK)
                return err;
            for (const ynode *s = items_first(v); s; s = items_next(v, s)) {
                if ((err = add_example(ld, s, ld->intents[intent].name, s->text)) != PAL_OK)
                    return err;
            }
        } else {
            return fail(ld, PAL_ERR_PARSE, k,
                        "unknown key '%s' in intent '%s': expected a language (%s) or "
                        "patterns",
                        k->text, key->text, bot_lang_list(ld->bot, langs, sizeof(langs)));
        }
        given += items_count(v);
    }
    if (given == 0)
        return fail(ld, PAL_ERR_PARSE, n,
                    "intent '%s' has no example: give examples per language or patterns",
                    key->text);
    return PAL_OK;
}

static pal_err parse_intents(loader *ld, const ynode *n)
{
    for (int b = 0; b < PAL_BUILTIN_INTENTS; b++) {
        add_intent(ld, BUILTIN_NAMES[b], NULL);
        for (const char *const *ex = BUILTIN_EXAMPLES[b]; *ex; ex++) {
            pal_err err = add_example(ld, n, BUILTIN_NAMES[b], *ex);
            if (err)
                return err;
        }
    }
    pal_err err = expect_map(ld, n, "intents: name: {fr: [examples], en: [examples]}");
    if (!err && n->count == 0)
        err = fail(ld, PAL_ERR_PARSE, n, "expected at least one intent");
    if (!err)
        err = count_limit(ld, n, LIMIT_ITEMS, "intents");
    for (const ynode *k = err ? NULL : n->first; k && !err; k = k->next)
        err = parse_intent(ld, k);
    return err;
}

/* ---- flows, second walk: the steps -------------------------------------- */

static pal_err parse_steps(loader *ld, const ynode *n, int depth, const char *what,
                           pal_step_list *out);

static void steps_free(pal_step_list *list);

static void step_free(pal_step *s)
{
    switch (s->kind) {
    case PAL_STEP_ASK:
        text_free(&s->u.ask.prompt);
        text_free(&s->u.ask.retry);
        for (size_t i = 0; i < s->u.ask.n_buttons; i++)
            free(s->u.ask.buttons[i]);
        free(s->u.ask.buttons);
        choices_free(s->u.ask.choices, s->u.ask.n_choices);
        break;
    case PAL_STEP_SAY:
        text_free(&s->u.say.text);
        break;
    case PAL_STEP_LOOKUP:
        pal_botdata_query_free(s->u.lookup.query);
        free(s->u.lookup.params);
        free(s->u.lookup.as);
        text_free(&s->u.lookup.none);
        text_free(&s->u.lookup.choose_prompt);
        free(s->u.lookup.choose);
        break;
    case PAL_STEP_CALL:
        for (size_t i = 0; i < s->u.call.n_body; i++) {
            free(s->u.call.body[i].key);
            free(s->u.call.body[i].value);
        }
        free(s->u.call.body);
        free(s->u.call.as);
        text_free(&s->u.call.error);
        break;
    case PAL_STEP_IF:
        free(s->u.cond.value);
        steps_free(&s->u.cond.then_steps);
        steps_free(&s->u.cond.else_steps);
        break;
    case PAL_STEP_SET:
        for (size_t i = 0; i < s->u.set.count; i++)
            free(s->u.set.values[i]);
        free(s->u.set.slots);
        free(s->u.set.values);
        break;
    case PAL_STEP_HANDOFF:
        free(s->u.handoff.reason);
        break;
    case PAL_STEP_END:
        break;
    }
}

static void steps_free(pal_step_list *list)
{
    for (size_t i = 0; i < list->count; i++)
        step_free(&list->steps[i]);
    free(list->steps);
    list->steps = NULL;
    list->count = 0;
}

/* A slot named by n (a condition, set:, or query parameter). */
static pal_err known_slot(loader *ld, const ynode *at, const char *name, const char *where,
                          int *out)
{
    *out = find_slot(ld->bot, name);
    if (*out < 0)
        return fail(ld, PAL_ERR_PARSE, at, "unknown slot '%s' in %s: no flow asks for it", name,
                    where);
    return PAL_OK;
}

/* For a slot whose entity is a closed list of choices, a literal value
 * (conditions, set:) must be one of them. */
static pal_err check_choice_value(loader *ld, const ynode *at, int slot, const char *value)
{
    const lentity *e = &ld->entities[ld->bot->slots[slot].entity];
    if (e->kind != PAL_ENTITY_CHOICE || strstr(value, "{{"))
        return PAL_OK;
    for (size_t i = 0; i < e->n_values; i++) {
        if (strcmp(e->values[i], value) == 0)
            return PAL_OK;
    }
    char words[MSG_MAX];
    return fail(ld, PAL_ERR_PARSE, at, "slot '%s' has no value '%s': expected %s",
                ld->bot->slots[slot].name, value,
                word_list(words, sizeof(words), e->values, e->n_values));
}

static pal_err parse_ask(loader *ld, const ynode *n, pal_step *step)
{
    static const char *const keys[] = {"ask", "prompt", "retry", "tries", "buttons", "choices"};
    const ynode *v;
    long tries = DEFAULT_TRIES;
    step->kind = PAL_STEP_ASK;
    pal_err err = check_keys(ld, n, keys, 6, "an ask step");
    if (!err)
        err = check_name(ld, map_get(n, "ask"), "a slot name after ask:");
    if (err)
        return err;
    step->u.ask.slot = find_slot(ld->bot, map_get(n, "ask")->text);
    if (step->u.ask.slot < 0) /* the first walk saw every ask; be safe anyway */
        return fail(ld, PAL_ERR_PARSE, map_get(n, "ask"), "unknown slot '%s'",
                    map_get(n, "ask")->text);
    if ((err = require(ld, n, "prompt", "what the bot asks", &v)) != PAL_OK ||
        (err = parse_text(ld, v, true, "a prompt", &step->u.ask.prompt)) != PAL_OK)
        return err;
    if ((v = map_get(n, "retry")) != NULL &&
        (err = parse_text(ld, v, true, "a retry hint", &step->u.ask.retry)) != PAL_OK)
        return err;
    if ((v = map_get(n, "tries")) != NULL &&
        (err = get_long(ld, v, "tries", 1, MAX_TRIES, &tries)) != PAL_OK)
        return err;
    step->u.ask.tries = (int)tries;
    if ((v = map_get(n, "buttons")) != NULL) {
        if (v->kind != PAL_Y_SEQ || v->count == 0)
            return fail(ld, PAL_ERR_PARSE, v, "expected buttons: a list of strings");
        if ((err = count_limit(ld, v, LIMIT_BUTTONS, "buttons")) != PAL_OK)
            return err;
        step->u.ask.buttons = pal_xcalloc(v->count, sizeof(char *));
        for (const ynode *b = v->first; b; b = b->next) {
            const char *text;
            if ((err = get_string(ld, b, "a button", &text)) != PAL_OK ||
                (err = check_template(ld, b, text)) != PAL_OK)
                return err;
            step->u.ask.buttons[step->u.ask.n_buttons++] = pal_xstrdup(text);
        }
    }
    if ((v = map_get(n, "choices")) != NULL) {
        if (v->null)
            return fail(ld, PAL_ERR_PARSE, v, "expected choices: value: label per language");
        for (size_t i = 0; i < ld->n_inlines; i++) {
            if (ld->inlines[i].step == n) {
                step->u.ask.choices = ld->inlines[i].choices;
                step->u.ask.n_choices = ld->inlines[i].n_choices;
                ld->inlines[i].choices = NULL;
                ld->inlines[i].n_choices = 0;
            }
        }
    }
    return PAL_OK;
}

static pal_err parse_say(loader *ld, const ynode *n, pal_step *step)
{
    static const char *const keys[] = {"say"};
    step->kind = PAL_STEP_SAY;
    pal_err err = check_keys(ld, n, keys, 1, "a say step");
    if (err)
        return err;
    const ynode *v = map_get(n, "say");
    if (v->kind == PAL_Y_SCALAR) {
        const pal_named_reply *reply = find_reply(ld->bot, v->text);
        if (reply) {
            text_copy(&step->u.say.text, &reply->text);
            return PAL_OK;
        }
        /* A lone word is taken for a reply's name: a typo must not be said. */
        if (v->plain && is_name(v->text))
            return fail(ld, PAL_ERR_PARSE, v,
                        "unknown reply '%s': expected the name of a reply of replies: (to say "
                        "this word as text, quote it)",
                        v->text);
    }
    return parse_text(ld, v, true, "what to say", &step->u.say.text);
}

/* The look-up's and call's parameters may be given inside their mapping or
 * beside it in the step (docs/bots.md shows both readings). */
static const ynode *param(const ynode *inner, const ynode *step, const char *key)
{
    const ynode *v = map_get(inner, key);
    return v ? v : map_get(step, key);
}

static pal_err param_twice(loader *ld, const ynode *inner, const ynode *step,
                           const char *const *keys, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        const ynode *v = map_get(step, keys[i]);
        if (v && map_get(inner, keys[i]))
            return fail(ld, PAL_ERR_PARSE, v, "'%s' is given twice in this step", keys[i]);
    }
    return PAL_OK;
}

static pal_err get_result_name(loader *ld, const ynode *v, char **out)
{
    const char *name;
    pal_err err = get_name(ld, v, "a name for the answer (as:)", &name);
    if (err)
        return err;
    if (find_slot(ld->bot, name) >= 0)
        return fail(ld, PAL_ERR_PARSE, v, "'%s' is already a slot: give the answer another name",
                    name);
    *out = pal_xstrdup(name);
    return PAL_OK;
}

static pal_err parse_lookup(loader *ld, const ynode *n, pal_step *step)
{
    static const char *const keys[] = {"lookup", "none", "choose", "prompt"};
    static const char *const inner_keys[] = {"query", "as", "none", "choose", "prompt"};
    const ynode *in = map_get(n, "lookup"), *v;
    const char *sql, *choose;
    char msg[MSG_MAX];
    step->kind = PAL_STEP_LOOKUP;
    step->u.lookup.choose_slot = -1;
    pal_err err = check_keys(ld, n, keys, 4, "a lookup step");
    if (!err)
        err = expect_map(ld, in, "lookup: {query: \"SELECT ...\", as: name}");
    if (!err)
        err = check_keys(ld, in, inner_keys, 5, "lookup");
    if (!err)
        err = param_twice(ld, in, n, keys + 1, 3);
    if (!err)
        err = require(ld, in, "query", "a SELECT on the bot's data", &v);
    if (!err)
        err = get_string(ld, v, "a query", &sql);
    if (err)
        return err;
    if (!ld->bot->data)
        return fail(ld, PAL_ERR_PARSE, v,
                    "a lookup needs the bot's data: there is no data/ folder next to bot.yaml");
    msg[0] = '\0';
    err = pal_botdata_prepare(ld->bot->data, sql, &step->u.lookup.query, msg, sizeof(msg));
    if (err)
        return fail(ld, PAL_ERR_PARSE, v, "invalid query: %s", msg[0] ? msg : pal_err_str(err));
    size_t count = pal_botdata_query_param_count(step->u.lookup.query);
    step->u.lookup.params = pal_xcalloc(count + 1, sizeof(int));
    for (size_t i = 0; i < count; i++) {
        const char *name = pal_botdata_query_param_name(step->u.lookup.query, i);
        if ((err = known_slot(ld, v, name, "the query's parameters", &step->u.lookup.params[i])) !=
            PAL_OK)
            return err;
    }
    if ((err = require(ld, in, "as", "the name of the row in templates", &v)) != PAL_OK ||
        (err = get_result_name(ld, v, &step->u.lookup.as)) != PAL_OK)
        return err;
    if ((v = param(in, n, "none")) != NULL &&
        (err = parse_text(ld, v, true, "what to say when nothing is found",
                          &step->u.lookup.none)) != PAL_OK)
        return err;
    if ((v = param(in, n, "choose")) != NULL) {
        if ((err = get_string(ld, v, "the column to choose from (choose:)", &choose)) != PAL_OK)
            return err;
        step->u.lookup.choose = pal_xstrdup(choose);
        step->u.lookup.choose_slot = find_slot(ld->bot, choose);
    }
    if ((v = param(in, n, "prompt")) != NULL) {
        if (!step->u.lookup.choose)
            return fail(ld, PAL_ERR_PARSE, v,
                        "prompt: is the question \"which one?\" of choose:, which is missing");
        if ((err = parse_text(ld, v, true, "the question which one? (prompt:)",
                              &step->u.lookup.choose_prompt)) != PAL_OK)
            return err;
    }
    return PAL_OK;
}

static pal_err parse_call(loader *ld, const ynode *n, pal_step *step)
{
    static const char *const keys[] = {"call", "error"};
    static const char *const inner_keys[] = {"service", "body", "as", "error"};
    const ynode *in = map_get(n, "call"), *v;
    const char *service;
    step->kind = PAL_STEP_CALL;
    pal_err err = check_keys(ld, n, keys, 2, "a call step");
    if (!err)
        err = expect_map(ld, in, "call: {service: name, body: {...}, as: name}");
    if (!err)
        err = check_keys(ld, in, inner_keys, 4, "call");
    if (!err)
        err = param_twice(ld, in, n, keys + 1, 1);
    if (!err)
        err = require(ld, in, "service", "a service of services:", &v);
    if (!err)
        err = get_name(ld, v, "a service name", &service);
    if (err)
        return err;
    step->u.call.service = -1;
    for (size_t i = 0; i < ld->bot->n_services; i++) {
        if (strcmp(ld->bot->services[i].name, service) == 0)
            step->u.call.service = (int)i;
    }
    if (step->u.call.service < 0)
        return fail(ld, PAL_ERR_PARSE, v,
                    "unknown service '%s': expected a service of services:", service);
    if ((v = map_get(in, "body")) != NULL && !v->null) {
        if ((err = expect_map(ld, v, "a body {field: template, ...}")) != PAL_OK ||
            (err = count_limit(ld, v, LIMIT_BODY, "body fields")) != PAL_OK)
            return err;
        step->u.call.body = pal_xcalloc(v->count, sizeof(pal_kv));
        for (const ynode *k = v->first; k; k = k->next) {
            pal_kv *kv = &step->u.call.body[step->u.call.n_body++];
            if (k->len == 0)
                return fail(ld, PAL_ERR_PARSE, k, "expected a body field name");
            if (k->value->kind != PAL_Y_SCALAR)
                return fail(ld, PAL_ERR_PARSE, k->value,
                            "expected the value of body field '%s': a string (a template)",
                            k->text);
            if ((err = check_template(ld, k->value, k->value->text)) != PAL_OK)
                return err;
            kv->key = pal_xstrdup(k->text);
            kv->value = pal_xstrdup(k->value->null ? "" : k->value->text);
        }
    }
    if ((v = map_get(in, "as")) != NULL &&
        (err = get_result_name(ld, v, &step->u.call.as)) != PAL_OK)
        return err;
    if ((v = param(in, n, "error")) != NULL &&
        (err = parse_text(ld, v, true, "what to say when the service fails",
                          &step->u.call.error)) != PAL_OK)
        return err;
    return PAL_OK;
}

static const char *skip_spaces(const char *s)
{
    while (*s == ' ' || *s == '\t')
        s++;
    return s;
}

/* `slot == value`, `slot != value`, `slot`, `not slot`. */
static pal_err parse_condition(loader *ld, const ynode *v, pal_step *step)
{
    static const char *const syntax =
        "expected a condition: slot == value, slot != value, slot (is filled) or not slot";
    const char *text;
    pal_err err = get_string(ld, v, "a condition", &text);
    if (err)
        return err;
    char name[LIMIT_NAME + 2];
    const char *s = skip_spaces(text);
    const char *op = strstr(s, "==");
    const char *ne = strstr(s, "!=");
    if (!op || (ne && ne < op))
        op = ne;
    const char *name_end;
    step->u.cond.op = PAL_COND_SET;
    if (op) {
        step->u.cond.op = op[0] == '=' ? PAL_COND_EQ : PAL_COND_NE;
        name_end = op;
    } else if (strncmp(s, "not", 3) == 0 && (s[3] == ' ' || s[3] == '\t')) {
        step->u.cond.op = PAL_COND_UNSET;
        s = skip_spaces(s + 3);
        name_end = s + strlen(s);
    } else {
        name_end = s + strlen(s);
    }
    while (name_end > s && (name_end[-1] == ' ' || name_end[-1] == '\t'))
        name_end--;
    size_t len = (size_t)(name_end - s);
    if (len == 0 || len > LIMIT_NAME)
        return fail(ld, PAL_ERR_PARSE, v, "%s", syntax);
    memcpy(name, s, len);
    name[len] = '\0';
    if (!is_name(name))
        return fail(ld, PAL_ERR_PARSE, v, "%s", syntax);
    if ((err = known_slot(ld, v, name, "the condition", &step->u.cond.slot)) != PAL_OK)
        return err;
    if (!op)
        return PAL_OK;
    const char *value = skip_spaces(op + 2);
    size_t vlen = strlen(value);
    while (vlen > 0 && (value[vlen - 1] == ' ' || value[vlen - 1] == '\t'))
        vlen--;
    if (vlen >= 2 && (value[0] == '"' || value[0] == '\'') && value[vlen - 1] == value[0]) {
        value++;
        vlen -= 2;
    }
    if (vlen == 0)
        return fail(ld, PAL_ERR_PARSE, v, "%s", syntax);
    step->u.cond.value = pal_xstrndup(value, vlen);
    return check_choice_value(ld, v, step->u.cond.slot, step->u.cond.value);
}

static pal_err parse_if(loader *ld, const ynode *n, int depth, pal_step *step)
{
    static const char *const keys[] = {"if", "then", "else"};
    const ynode *v;
    step->kind = PAL_STEP_IF;
    pal_err err = check_keys(ld, n, keys, 3, "an if step");
    if (!err && depth + 1 >= PAL_BOT_MAX_STEP_DEPTH)
        err = fail(ld, PAL_ERR_LIMIT, n, "if steps nested more than %d deep",
                   PAL_BOT_MAX_STEP_DEPTH - 1);
    if (!err)
        err = parse_condition(ld, map_get(n, "if"), step);
    if (!err)
        err = require(ld, n, "then", "the steps to run when the condition holds", &v);
    if (!err)
        err = parse_steps(ld, v, depth + 1, "then:", &step->u.cond.then_steps);
    if (!err && (v = map_get(n, "else")) != NULL)
        err = parse_steps(ld, v, depth + 1, "else:", &step->u.cond.else_steps);
    return err;
}

static pal_err parse_set(loader *ld, const ynode *n, pal_step *step)
{
    static const char *const keys[] = {"set"};
    const ynode *v = map_get(n, "set");
    step->kind = PAL_STEP_SET;
    pal_err err = check_keys(ld, n, keys, 1, "a set step");
    if (!err)
        err = expect_map(ld, v, "set: {slot: value, ...}");
    if (!err && v->count == 0)
        err = fail(ld, PAL_ERR_PARSE, v, "expected at least one slot to set");
    if (!err)
        err = count_limit(ld, v, LIMIT_ITEMS, "slots to set");
    if (err)
        return err;
    step->u.set.slots = pal_xcalloc(v->count, sizeof(int));
    step->u.set.values = pal_xcalloc(v->count, sizeof(char *));
    for (const ynode *k = v->first; k; k = k->next) {
        size_t i = step->u.set.count;
        const char *value;
        if ((err = known_slot(ld, k, k->text, "set:", &step->u.set.slots[i])) != PAL_OK ||
            (err = get_string(ld, k->value, "a value (a template)", &value)) != PAL_OK ||
            (err = check_template(ld, k->value, value)) != PAL_OK ||
            (err = check_choice_value(ld, k->value, step->u.set.slots[i], value)) != PAL_OK)
            return err;
        step->u.set.values[i] = pal_xstrdup(value);
        step->u.set.count++;
    }
    return PAL_OK;
}

static pal_err parse_handoff(loader *ld, const ynode *n, pal_step *step)
{
    static const char *const keys[] = {"handoff"};
    const char *reason;
    step->kind = PAL_STEP_HANDOFF;
    pal_err err = check_keys(ld, n, keys, 1, "a handoff step");
    if (!err)
        err = get_string(ld, map_get(n, "handoff"), "the reason a person takes over", &reason);
    if (!err)
        step->u.handoff.reason = pal_xstrdup(reason);
    return err;
}

static const char *const STEP_KINDS[] = {"ask", "say", "lookup", "call", "if", "set", "handoff"};
enum { N_STEP_KINDS = 7 };

static pal_err parse_step(loader *ld, const ynode *n, int depth, pal_step *step)
{
    char words[MSG_MAX];
    step->line = n->line;
    if (n->kind == PAL_Y_SCALAR && strcmp(n->text, "end") == 0) {
        step->kind = PAL_STEP_END;
        return PAL_OK;
    }
    if (n->kind != PAL_Y_MAP)
        return fail(ld, PAL_ERR_PARSE, n, "expected a step: %s, or end",
                    word_list(words, sizeof(words), STEP_KINDS, N_STEP_KINDS));
    const ynode *kind = NULL;
    int which = -1;
    for (const ynode *k = n->first; k; k = k->next) {
        for (int i = 0; i < N_STEP_KINDS; i++) {
            if (strcmp(k->text, STEP_KINDS[i]) != 0)
                continue;
            if (kind)
                return fail(ld, PAL_ERR_PARSE, k,
                            "a step does one thing: '%s' and '%s' in the same step", kind->text,
                            k->text);
            kind = k;
            which = i;
        }
    }
    if (!kind)
        return fail(ld, PAL_ERR_PARSE, n->first ? n->first : n,
                    "unknown step '%s': expected %s, or end", n->first ? n->first->text : "",
                    word_list(words, sizeof(words), STEP_KINDS, N_STEP_KINDS));
    switch (which) {
    case 0:
        return parse_ask(ld, n, step);
    case 1:
        return parse_say(ld, n, step);
    case 2:
        return parse_lookup(ld, n, step);
    case 3:
        return parse_call(ld, n, step);
    case 4:
        return parse_if(ld, n, depth, step);
    case 5:
        return parse_set(ld, n, step);
    default:
        return parse_handoff(ld, n, step);
    }
}

static pal_err parse_steps(loader *ld, const ynode *n, int depth, const char *what,
                           pal_step_list *out)
{
    if (n->kind != PAL_Y_SEQ || n->count == 0)
        return fail(ld, PAL_ERR_PARSE, n, "expected %s a list of steps", what);
    pal_err err = count_limit(ld, n, LIMIT_ITEMS, "steps in one list");
    if (err)
        return err;
    out->steps = pal_xcalloc(n->count, sizeof(pal_step));
    for (const ynode *s = n->first; s; s = s->next) {
        /* Counted before it is parsed, so that pal_bot_free() frees what a
         * failing step already holds. */
        pal_step *step = &out->steps[out->count++];
        if ((err = parse_step(ld, s, depth, step)) != PAL_OK)
            return err;
    }
    return PAL_OK;
}

static pal_err parse_when(loader *ld, const ynode *n, int flow_index, pal_flow *flow)
{
    if (n->kind == PAL_Y_MAP || items_count(n) == 0)
        return fail(ld, PAL_ERR_PARSE, n, "expected when: an intent or a list of intents");
    pal_err err = count_limit(ld, n, LIMIT_ITEMS, "intents");
    if (err)
        return err;
    flow->when = pal_xcalloc(items_count(n), sizeof(int));
    for (const ynode *v = items_first(n); v; v = items_next(n, v)) {
        const char *name;
        if ((err = get_name(ld, v, "an intent name", &name)) != PAL_OK)
            return err;
        int intent = find_intent(ld, name);
        if (intent < 0 || strcmp(name, "none") == 0)
            return fail(ld, PAL_ERR_PARSE, v,
                        "unknown intent '%s': expected an intent of "
                        "intents: or a built-in one (help, human, cancel, "
                        "restart)",
                        name);
        lintent *li = &ld->intents[intent];
        if (li->flow >= 0)
            return fail(ld, PAL_ERR_PARSE, v, "intent '%s' already starts flow '%s'", name,
                        ld->bot->flows[li->flow].name);
        li->flow = flow_index;
        flow->when[flow->n_when++] = intent; /* the loader's index until training */
    }
    return PAL_OK;
}

static pal_err parse_flows(loader *ld, const ynode *n)
{
    static const char *const keys[] = {"when", "steps"};
    pal_bot *bot = ld->bot;
    pal_err err = expect_map(ld, n, "flows: name: {when: intent, steps: [...]}");
    if (!err && n->count == 0)
        err = fail(ld, PAL_ERR_PARSE, n, "expected at least one flow");
    if (!err)
        err = count_limit(ld, n, LIMIT_ITEMS, "flows");
    if (err)
        return err;
    bot->flows = pal_xcalloc(n->count, sizeof(pal_flow));
    for (const ynode *k = n->first; k; k = k->next) {
        int index = (int)bot->n_flows;
        pal_flow *flow = &bot->flows[bot->n_flows++];
        const ynode *v;
        if ((err = check_name(ld, k, "a flow name")) != PAL_OK)
            return err;
        flow->name = pal_xstrdup(k->text);
        if ((err = expect_map(ld, k->value, "a flow {when: intent, steps: [...]}")) != PAL_OK ||
            (err = check_keys(ld, k->value, keys, 2, "a flow")) != PAL_OK ||
            (err = require(ld, k->value, "when", "the intent that starts the flow", &v)) !=
                PAL_OK ||
            (err = parse_when(ld, v, index, flow)) != PAL_OK ||
            (err = require(ld, k->value, "steps", "what the flow does", &v)) != PAL_OK ||
            (err = parse_steps(ld, v, 0, "steps:", &flow->steps)) != PAL_OK)
            return err;
        flow->only_says = true;
        for (size_t i = 0; i < flow->steps.count; i++)
            flow->only_says = flow->only_says && flow->steps.steps[i].kind == PAL_STEP_SAY;
    }
    return PAL_OK;
}

/* ---- training ------------------------------------------------------------ */

static pal_err train(loader *ld, const ynode *intents_node)
{
    pal_bot *bot = ld->bot;
    pal_nlu_params params;
    char msg[MSG_MAX];
    pal_nlu_params_default(&params);
    params.threshold = bot->threshold;
    msg[0] = '\0';
    pal_err err =
        pal_nlu_train(ld->examples, ld->n_examples, &params, &bot->model, msg, sizeof(msg));
    if (err)
        return fail(ld, PAL_ERR_PARSE, intents_node, "the intents cannot be learnt: %s",
                    msg[0] ? msg : pal_err_str(err));
    for (size_t i = 0; i < ld->n_intents; i++) {
        lintent *li = &ld->intents[i];
        li->model_index = pal_nlu_intent_find(bot->model, li->name);
        if (li->model_index < 0 && strcmp(li->name, "none") != 0)
            return fail(ld, PAL_ERR_INTERNAL, li->at ? li->at : intents_node,
                        "intent '%s' is missing from the trained classifier", li->name);
    }
    for (int b = 0; b < PAL_BUILTIN_INTENTS; b++)
        bot->builtin[b] = ld->intents[b].model_index; /* built-ins come first */
    for (size_t i = 0; i < bot->n_patterns; i++)
        bot->patterns[i].intent = ld->intents[bot->patterns[i].intent].model_index;
    for (size_t f = 0; f < bot->n_flows; f++) {
        for (size_t i = 0; i < bot->flows[f].n_when; i++)
            bot->flows[f].when[i] = ld->intents[bot->flows[f].when[i]].model_index;
    }
    return PAL_OK;
}

/* ---- the whole file ------------------------------------------------------- */

static const char *const TOP_KEYS[] = {"bot",     "languages", "settings", "contract", "entities",
                                       "intents", "flows",     "replies",  "services"};

static pal_err parse_bot(loader *ld, const ynode *root)
{
    pal_bot *bot = ld->bot;
    const ynode *v, *intents, *flows;
    const char *name;
    pal_err err = expect_map(ld, root, "a bot (bot:, languages:, contract:, intents:, flows:)");
    if (!err)
        err = check_keys(ld, root, TOP_KEYS, 9, "a bot");
    if (!err)
        err = require(ld, root, "bot", "the bot's name", &v);
    if (!err)
        err = get_name(ld, v, "the bot's name", &name);
    if (err)
        return err;
    bot->name = pal_xstrdup(name);
    if ((err = require(ld, root, "languages", "fr, en or [fr, en]", &v)) != PAL_OK ||
        (err = parse_languages(ld, v)) != PAL_OK)
        return err;
    if ((v = map_get(root, "settings")) != NULL && (err = parse_settings(ld, v)) != PAL_OK)
        return err;
    if ((err = require(ld, root, "contract", "what the bot does and how to ask, per language",
                       &v)) != PAL_OK ||
        (err = require(ld, root, "intents", "what customers want, with examples", &intents)) !=
            PAL_OK ||
        (err = require(ld, root, "flows", "what the bot does for each intent", &flows)) != PAL_OK)
        return err;
    if ((v = map_get(root, "entities")) != NULL && (err = parse_entities(ld, v)) != PAL_OK)
        return err;
    if ((err = collect_slots(ld, flows)) != PAL_OK)
        return err;
    if ((err = parse_text(ld, map_get(root, "contract"), true, "the contract", &bot->contract)) !=
        PAL_OK)
        return err;
    if ((v = map_get(root, "replies")) != NULL && (err = parse_replies(ld, v)) != PAL_OK)
        return err;
    if ((v = map_get(root, "services")) != NULL && (err = parse_services(ld, v)) != PAL_OK)
        return err;
    if ((err = parse_intents(ld, intents)) != PAL_OK || (err = parse_flows(ld, flows)) != PAL_OK)
        return err;
    return train(ld, intents);
}

static void loader_free(loader *ld)
{
    for (size_t i = 0; i < ld->n_inlines; i++)
        choices_free(ld->inlines[i].choices, ld->inlines[i].n_choices);
    free(ld->inlines);
    free(ld->entities);
    free(ld->asks);
    free(ld->results);
    free(ld->intents);
    free(ld->examples);
    pal_arena_free(ld->arena);
}

pal_err pal_bot__parse_data(const char *yaml, size_t len, const char *path_for_errors,
                            pal_botdata *data, pal_bot **out, char *errbuf, size_t errlen)
{
    loader ld = {
        .path = path_for_errors ? path_for_errors : "bot.yaml", .errbuf = errbuf, .errlen = errlen};
    ynode *root = NULL;
    pal_err err;

    *out = NULL;
    if (errbuf && errlen)
        errbuf[0] = '\0';
    pal_bot *bot = pal_xcalloc(1, sizeof(*bot));
    bot->data = data;
    bot->threshold = DEFAULT_THRESHOLD;
    bot->handoff_after = DEFAULT_HANDOFF_AFTER;
    bot->dedup_window = DEFAULT_DEDUP_WINDOW;
    bot->entities = pal_entity_set_new();
    for (int b = 0; b < PAL_BUILTIN_INTENTS; b++)
        bot->builtin[b] = PAL_NLU_NONE;
    ld.bot = bot;
    ld.arena = pal_arena_new();

    if (len > BOT_FILE_MAX) {
        err = fail_pos(&ld, PAL_ERR_LIMIT, 1, 1, "the file is larger than %zu bytes", BOT_FILE_MAX);
        goto out;
    }
    if ((err = tree_build(&ld, yaml, len, &root)) != PAL_OK)
        goto out;
    err = parse_bot(&ld, root);
out:
    loader_free(&ld);
    if (err)
        pal_bot_free(bot);
    else
        *out = bot;
    return err;
}

pal_err pal_bot__parse(const char *yaml, size_t len, const char *path_for_errors,
                       const char *data_dir, pal_bot **out, char *errbuf, size_t errlen)
{
    pal_botdata *data = NULL;
    *out = NULL;
    if (data_dir) {
        pal_err err = pal_botdata_open(data_dir, &data, errbuf, errlen);
        if (err)
            return err;
    }
    return pal_bot__parse_data(yaml, len, path_for_errors, data, out, errbuf, errlen);
}

/* ---- files ----------------------------------------------------------------- */

pal_err pal_bot_load(const char *dir, pal_bot **out, char *errbuf, size_t errlen)
{
    size_t dlen = strlen(dir);
    char *path = pal_xmalloc(dlen + sizeof("/bot.yaml"));
    char *data_dir = pal_xmalloc(dlen + sizeof("/data"));
    char *text = NULL;
    size_t len = 0;
    struct stat st;

    *out = NULL;
    memcpy(path, dir, dlen);
    memcpy(path + dlen, "/bot.yaml", sizeof("/bot.yaml"));
    memcpy(data_dir, dir, dlen);
    memcpy(data_dir + dlen, "/data", sizeof("/data"));
    pal_err err = pal_file_read(path, BOT_FILE_MAX, &text, &len, errbuf, errlen);
    if (!err) {
        bool has_data = stat(data_dir, &st) == 0 && S_ISDIR(st.st_mode);
        err = pal_bot__parse(text, len, path, has_data ? data_dir : NULL, out, errbuf, errlen);
    }
    if (!err)
        (*out)->dir = pal_xstrdup(dir);
    free(text);
    free(path);
    free(data_dir);
    return err;
}

void pal_bot_free(pal_bot *bot)
{
    if (!bot)
        return;
    free(bot->name);
    free(bot->dir);
    text_free(&bot->contract);
    pal_entity_set_free(bot->entities);
    for (size_t i = 0; i < bot->n_entities; i++)
        free(bot->entity_names[i]);
    free(bot->entity_names);
    for (size_t i = 0; i < bot->n_slots; i++)
        free(bot->slots[i].name);
    free(bot->slots);
    pal_nlu_model_free(bot->model);
    for (size_t i = 0; i < bot->n_patterns; i++)
        free(bot->patterns[i].folded);
    free(bot->patterns);
    for (size_t f = 0; f < bot->n_flows; f++) {
        free(bot->flows[f].name);
        free(bot->flows[f].when);
        steps_free(&bot->flows[f].steps); /* queries first: they borrow bot->data */
    }
    free(bot->flows);
    for (size_t i = 0; i < bot->n_replies; i++) {
        free(bot->replies[i].name);
        text_free(&bot->replies[i].text);
    }
    free(bot->replies);
    for (size_t i = 0; i < bot->n_services; i++) {
        free(bot->services[i].name);
        free(bot->services[i].url);
    }
    free(bot->services);
    pal_botdata_close(bot->data);
    free(bot);
}

const char *pal_bot_name(const pal_bot *bot)
{
    return bot->name;
}

int pal_bot_dedup_window(const pal_bot *bot)
{
    return bot->dedup_window;
}
