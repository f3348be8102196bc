/*
 * convtest.c — parse and run a bot's conversation tests (see convtest.h and
 * docs/bots.md, "Conversation tests").
 *
 * Parsing has two stages, as the bot loader's: libfyaml's event parser
 * builds a small tree with 1-based positions (libfyaml 0.7's document API
 * gives no position for mappings and sequences), refusing aliases, anchors,
 * tags, several documents and duplicate keys; then the tree is checked key
 * by key and compiled: regexes with PCRE2, mock answers to JSON text with
 * jansson, slot, intent and service names against the bot.
 *
 * Running: a fresh conversation, one engine step per `user:`, each step's
 * expectations checked after its turn. A check is written as a predicate
 * that can also print its diff (out == NULL: only the verdict), so that the
 * verdict and the report cannot disagree.
 *
 * Assumes: test files are trusted no more than bot files; sizes, counts and
 * depth are bounded before anything is built.
 */
#include "dialog/convtest.h"

#define PCRE2_CODE_UNIT_WIDTH 8

#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <jansson.h>
#include <libfyaml.h>
#include <pcre2.h>

#include "base/mem.h"
#include "base/ytree.h"
#include "dialog/bot_model.h"
#include "dialog/transcript.h"
#include "nlu/classifier.h"
#include "text/utf8.h"

enum {
    LIMIT_NODES = 100000, /* YAML nodes in a test file */
    LIMIT_DEPTH = 32,     /* YAML nesting */
    LIMIT_KEYS = 1000,    /* keys of one mapping */
    LIMIT_STEPS = 1000,   /* steps of one test */
    LIMIT_ANSWERS = 100,  /* successive mock answers of one service */
    REGEX_MATCH_LIMIT = 1000000,
    MSG_MAX = 512,
};

/* ---- the parsed test ------------------------------------------------------------------ */

typedef enum match_kind { MATCH_EXACT = 0, MATCH_CONTAINS, MATCH_REGEX } match_kind;

typedef struct matcher {
    match_kind kind;
    char *text;       /* owned */
    pcre2_code *code; /* MATCH_REGEX: owned */
} matcher;

typedef struct slot_expect {
    int slot;
    char *value; /* owned; NULL: the slot must be unset */
} slot_expect;

typedef struct expect_step {
    char *user; /* owned */
    int line;
    bool check_bot;
    bool bot_list; /* one matcher per reply (else one for the whole turn) */
    matcher *bot;
    size_t n_bot;
    bool check_buttons;
    char **buttons;
    size_t n_buttons;
    slot_expect *slots;
    size_t n_slots;
    int handoff;   /* -1: not checked, else 0 or 1 */
    char *intent;  /* owned; NULL: not checked; "none": not understood */
    pal_lang lang; /* PAL_LANG_UNKNOWN: not checked */
} expect_step;

typedef struct service_mock {
    int service;    /* index into bot->services */
    char **answers; /* JSON texts, owned; NULL: the call fails */
    size_t n_answers;
} service_mock;

struct pal_convtest {
    const pal_bot *bot;
    char *path;
    char *name;
    pal_lang lang; /* PAL_LANG_UNKNOWN: the bot's default */
    service_mock *mocks;
    size_t n_mocks;
    expect_step *steps;
    size_t n_steps;
};

/* ---- the YAML tree ---------------------------------------------------------------------- */

typedef pal_ynode tnode;

typedef struct parser {
    const pal_bot *bot;
    const char *path;
    char *errbuf;
    size_t errlen;
    pal_arena *arena;
    pal_convtest *test;
} parser;

__attribute__((format(printf, 5, 6))) static pal_err fail_pos(parser *p, pal_err err, int line,
                                                              int column, const char *fmt, ...)
{
    char msg[MSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    pal_err_format(p->errbuf, p->errlen, "%s:%d:%d: %s", p->path, line, column, msg);
    return err;
}

__attribute__((format(printf, 3, 4))) static pal_err fail(parser *p, const tnode *n,
                                                          const char *fmt, ...)
{
    char msg[MSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    return fail_pos(p, PAL_ERR_PARSE, n->line, n->column, "%s", msg);
}

static pal_err tree_build(parser *p, const char *text, size_t len, tnode **root)
{
    pal_ytree_options options = {
        .path = p->path,
        .max_nodes = LIMIT_NODES,
        .max_depth = LIMIT_DEPTH,
        .over_limits = PAL_ERR_LIMIT,
        .what = "a test file",
        .one_document = "a test file holds one conversation",
        .empty = NULL, /* the checks of the tree say what is missing */
    };
    return pal_ytree_parse(&options, text, len, p->arena, root, p->errbuf, p->errlen);
}

/* ---- tree access ---------------------------------------------------------------------- */

static const tnode *map_get(const tnode *map, const char *key)
{
    for (const tnode *k = map->first; k; k = k->next) {
        if (strcmp(k->text, key) == 0)
            return k->value;
    }
    return NULL;
}

/* Every key of map is one of keys[0..n); what names the map in the message. */
static pal_err check_keys(parser *p, const tnode *map, const char *const *keys, size_t n,
                          const char *what)
{
    for (const tnode *k = map->first; k; k = k->next) {
        bool known = false;
        for (size_t i = 0; i < n && !known; i++)
            known = strcmp(k->text, keys[i]) == 0;
        if (known)
            continue;
        char list[MSG_MAX] = "";
        size_t used = 0;
        for (size_t i = 0; i < n && used < sizeof(list); i++)
            used +=
                (size_t)snprintf(list + used, sizeof(list) - used, "%s%s", i ? ", " : "", keys[i]);
        return fail(p, k, "unknown key '%s' in %s: expected one of %s", k->text, what, list);
    }
    return PAL_OK;
}

static pal_err expect_scalar(parser *p, const tnode *n, const char *what)
{
    if (n->kind != PAL_Y_SCALAR || n->null)
        return fail(p, n, "expected %s", what);
    return PAL_OK;
}

static char *copy_text(const tnode *n)
{
    return pal_xstrndup(n->text, n->len);
}

/* ---- compiling ------------------------------------------------------------------------ */

static pal_err parse_lang(parser *p, const tnode *n, pal_lang *out)
{
    pal_err err = expect_scalar(p, n, "a language code: fr or en");
    if (err)
        return err;
    pal_lang lang;
    if (!pal_lang_parse(n->text, &lang))
        return fail(p, n, "expected a language code: fr or en");
    for (size_t i = 0; i < p->bot->n_langs; i++) {
        if (p->bot->langs[i] == lang) {
            *out = lang;
            return PAL_OK;
        }
    }
    return fail(p, n, "bot %s does not speak '%s'", p->bot->name, n->text);
}

static pal_err compile_regex(parser *p, const tnode *n, matcher *m)
{
    int code;
    PCRE2_SIZE offset;
    m->code = pcre2_compile((PCRE2_SPTR)n->text, n->len, PCRE2_UTF, &code, &offset, NULL);
    if (m->code)
        return PAL_OK;
    PCRE2_UCHAR msg[256];
    if (pcre2_get_error_message(code, msg, sizeof(msg)) < 0)
        snprintf((char *)msg, sizeof(msg), "invalid pattern");
    return fail(p, n, "bad regex: %s (at character %zu of the pattern)", (const char *)msg,
                (size_t)offset + 1);
}

static pal_err parse_matcher(parser *p, const tnode *n, matcher *m)
{
    static const char *const keys[] = {"contains", "regex"};
    static const char expected[] =
        "a reply: a string (the exact text), {contains: text} or {regex: pattern}";
    if (n->kind == PAL_Y_SCALAR) {
        pal_err err = expect_scalar(p, n, expected);
        if (err)
            return err;
        /* A block scalar (|) ends with a line end that no reply has. */
        size_t len = n->len;
        while (len > 0 && n->text[len - 1] == '\n')
            len--;
        m->kind = MATCH_EXACT;
        m->text = pal_xstrndup(n->text, len);
        return PAL_OK;
    }
    if (n->kind != PAL_Y_MAP || n->count != 1)
        return fail(p, n, "expected %s", expected);
    pal_err err = check_keys(p, n, keys, 2, "a reply expectation");
    if (!err)
        err = expect_scalar(p, n->first->value, "a text");
    if (err)
        return err;
    const tnode *v = n->first->value;
    m->kind = strcmp(n->first->text, "regex") == 0 ? MATCH_REGEX : MATCH_CONTAINS;
    m->text = copy_text(v);
    return m->kind == MATCH_REGEX ? compile_regex(p, v, m) : PAL_OK;
}

static pal_err parse_bot(parser *p, const tnode *n, expect_step *s)
{
    s->check_bot = true;
    if (n->kind != PAL_Y_SEQ) {
        s->bot = pal_xcalloc(1, sizeof(*s->bot));
        s->n_bot = 1;
        return parse_matcher(p, n, &s->bot[0]);
    }
    s->bot_list = true;
    if (n->count > LIMIT_STEPS)
        return fail_pos(p, PAL_ERR_LIMIT, n->line, n->column, "more than %d replies", LIMIT_STEPS);
    s->bot = pal_xcalloc(n->count + 1, sizeof(*s->bot));
    for (const tnode *item = n->first; item; item = item->next) {
        pal_err err = parse_matcher(p, item, &s->bot[s->n_bot++]);
        if (err)
            return err;
    }
    return PAL_OK;
}

static pal_err parse_buttons(parser *p, const tnode *n, expect_step *s)
{
    if (n->kind != PAL_Y_SEQ)
        return fail(p, n, "expected the list of quick replies offered, e.g. [Bud, Coors]");
    s->check_buttons = true;
    s->buttons = pal_xcalloc(n->count + 1, sizeof(*s->buttons));
    for (const tnode *item = n->first; item; item = item->next) {
        pal_err err = expect_scalar(p, item, "a quick reply's text");
        if (err)
            return err;
        s->buttons[s->n_buttons++] = copy_text(item);
    }
    return PAL_OK;
}

static int slot_index(const pal_bot *bot, const char *name)
{
    for (size_t i = 0; i < bot->n_slots; i++) {
        if (strcmp(bot->slots[i].name, name) == 0)
            return (int)i;
    }
    return -1;
}

/* "a, b, c" (or "none"): the names a test may use, for error messages. */
static void slot_names(const pal_bot *bot, char *buf, size_t len)
{
    size_t used = 0;
    snprintf(buf, len, "none");
    for (size_t i = 0; i < bot->n_slots && used < len; i++)
        used += (size_t)snprintf(buf + used, len - used, "%s%s", i ? ", " : "", bot->slots[i].name);
}

static void service_names(const pal_bot *bot, char *buf, size_t len)
{
    size_t used = 0;
    snprintf(buf, len, "none");
    for (size_t i = 0; i < bot->n_services && used < len; i++)
        used +=
            (size_t)snprintf(buf + used, len - used, "%s%s", i ? ", " : "", bot->services[i].name);
}

static pal_err parse_slots(parser *p, const tnode *n, expect_step *s)
{
    if (n->kind != PAL_Y_MAP)
        return fail(p, n, "expected slot values after the turn: {slot: value, ...} (~: unset)");
    s->slots = pal_xcalloc(n->count + 1, sizeof(*s->slots));
    for (const tnode *k = n->first; k; k = k->next) {
        int slot = slot_index(p->bot, k->text);
        if (slot < 0) {
            char names[MSG_MAX];
            slot_names(p->bot, names, sizeof(names));
            return fail(p, k, "bot %s has no slot '%s' (its slots: %s)", p->bot->name, k->text,
                        names);
        }
        const tnode *v = k->value;
        if (v->kind != PAL_Y_SCALAR)
            return fail(p, v, "expected the slot's value (a string), or ~ for unset");
        slot_expect *e = &s->slots[s->n_slots++];
        e->slot = slot;
        e->value = v->null ? NULL : copy_text(v);
    }
    return PAL_OK;
}

static pal_err parse_handoff(parser *p, const tnode *n, expect_step *s)
{
    if (n->kind == PAL_Y_SCALAR && n->plain && strcmp(n->text, "true") == 0)
        s->handoff = 1;
    else if (n->kind == PAL_Y_SCALAR && n->plain && strcmp(n->text, "false") == 0)
        s->handoff = 0;
    else
        return fail(p, n, "expected true (a person has taken over) or false");
    return PAL_OK;
}

static pal_err parse_intent(parser *p, const tnode *n, expect_step *s)
{
    pal_err err = expect_scalar(p, n, "an intent name, or none (not understood)");
    if (err)
        return err;
    if (strcmp(n->text, "none") != 0 && pal_nlu_intent_find(p->bot->model, n->text) < 0)
        return fail(p, n, "bot %s has no intent '%s'", p->bot->name, n->text);
    s->intent = copy_text(n);
    return PAL_OK;
}

static pal_err parse_step(parser *p, const tnode *n, expect_step *s)
{
    static const char *const keys[] = {"user",    "bot",    "buttons", "slots",
                                       "handoff", "intent", "lang"};
    s->handoff = -1;
    s->line = n->line;
    if (n->kind != PAL_Y_MAP)
        return fail(p, n, "expected a step: {user: what the customer says, bot: ...}");
    pal_err err = check_keys(p, n, keys, sizeof(keys) / sizeof(keys[0]), "a step");
    if (err)
        return err;
    const tnode *v = map_get(n, "user");
    if (!v)
        return fail(p, n, "expected user: (what the customer says) in each step");
    if (v->kind != PAL_Y_SCALAR || v->null) /* "" is a message; nothing or ~ is a slip */
        return fail(p, v, "expected what the customer says (a string; \"\" for an empty one)");
    s->user = copy_text(v);
    if ((v = map_get(n, "bot")) != NULL && (err = parse_bot(p, v, s)) != PAL_OK)
        return err;
    if ((v = map_get(n, "buttons")) != NULL && (err = parse_buttons(p, v, s)) != PAL_OK)
        return err;
    if ((v = map_get(n, "slots")) != NULL && (err = parse_slots(p, v, s)) != PAL_OK)
        return err;
    if ((v = map_get(n, "handoff")) != NULL && (err = parse_handoff(p, v, s)) != PAL_OK)
        return err;
    if ((v = map_get(n, "intent")) != NULL && (err = parse_intent(p, v, s)) != PAL_OK)
        return err;
    if ((v = map_get(n, "lang")) != NULL && (err = parse_lang(p, v, &s->lang)) != PAL_OK)
        return err;
    return PAL_OK;
}

/* A mock answer's YAML as JSON: quoted scalars are strings; plain ones are
 * null, booleans or numbers when they read as such (YAML 1.2 core schema). */
static json_t *to_json(const tnode *n)
{
    if (n->kind == PAL_Y_MAP) {
        json_t *o = json_object();
        for (const tnode *k = n->first; k; k = k->next)
            json_object_set_new(o, k->text, to_json(k->value));
        return o;
    }
    if (n->kind == PAL_Y_SEQ) {
        json_t *a = json_array();
        for (const tnode *item = n->first; item; item = item->next)
            json_array_append_new(a, to_json(item));
        return a;
    }
    if (!n->plain)
        return json_stringn(n->text, n->len);
    if (n->null)
        return json_null();
    if (strcmp(n->text, "true") == 0 || strcmp(n->text, "false") == 0)
        return json_boolean(n->text[0] == 't');
    char *end = NULL;
    errno = 0;
    long long i = strtoll(n->text, &end, 10);
    if (end != n->text && *end == '\0' && errno == 0 && strspn(n->text, "-0123456789") == n->len)
        return json_integer((json_int_t)i);
    double d = strtod(n->text, &end);
    if (end != n->text && *end == '\0' && errno == 0 &&
        strspn(n->text, "-+.0123456789eE") == n->len)
        return json_real(d);
    return json_stringn(n->text, n->len);
}

static pal_err parse_answer(parser *p, const tnode *n, char **out)
{
    *out = NULL;
    if (n->kind == PAL_Y_SCALAR && n->plain && strcmp(n->text, "error") == 0)
        return PAL_OK;
    if (n->kind != PAL_Y_MAP)
        return fail(p, n,
                    "expected the service's answer (a mapping, sent as a JSON object) or "
                    "error (the call fails)");
    json_t *json = to_json(n);
    *out = json_dumps(json, JSON_COMPACT);
    json_decref(json);
    if (!*out)
        return fail_pos(p, PAL_ERR_INTERNAL, n->line, n->column, "cannot encode the answer");
    return PAL_OK;
}

static int service_index(const pal_bot *bot, const char *name)
{
    for (size_t i = 0; i < bot->n_services; i++) {
        if (strcmp(bot->services[i].name, name) == 0)
            return (int)i;
    }
    return -1;
}

static pal_err parse_services(parser *p, const tnode *n)
{
    pal_convtest *t = p->test;
    if (n->kind != PAL_Y_MAP)
        return fail(p, n, "expected services: {name: answer, ...}");
    t->mocks = pal_xcalloc(n->count + 1, sizeof(*t->mocks));
    for (const tnode *k = n->first; k; k = k->next) {
        int service = service_index(p->bot, k->text);
        if (service < 0) {
            char names[MSG_MAX];
            service_names(p->bot, names, sizeof(names));
            return fail(p, k, "bot %s has no service '%s' (its services: %s)", p->bot->name,
                        k->text, names);
        }
        service_mock *m = &t->mocks[t->n_mocks++];
        m->service = service;
        const tnode *v = k->value;
        /* A list: the answers to successive calls, the last one repeating. */
        size_t n_answers = v->kind == PAL_Y_SEQ ? v->count : 1;
        if (n_answers == 0 || n_answers > LIMIT_ANSWERS)
            return fail(p, v, "expected from 1 to %d answers", LIMIT_ANSWERS);
        m->answers = pal_xcalloc(n_answers, sizeof(*m->answers));
        const tnode *item = v->kind == PAL_Y_SEQ ? v->first : v;
        for (; item && m->n_answers < n_answers; item = item->next) {
            pal_err err = parse_answer(p, item, &m->answers[m->n_answers++]);
            if (err)
                return err;
        }
    }
    return PAL_OK;
}

static pal_err compile(parser *p, const tnode *root)
{
    static const char *const keys[] = {"name", "lang", "services", "steps"};
    pal_convtest *t = p->test;
    if (!root)
        return fail_pos(p, PAL_ERR_PARSE, 1, 1,
                        "the file is empty: expected a test (name:, steps: [{user: ..., "
                        "bot: ...}])");
    if (root->kind != PAL_Y_MAP)
        return fail(p, root, "expected a test: a mapping with name:, steps: ...");
    pal_err err = check_keys(p, root, keys, 4, "a test");
    if (err)
        return err;
    const tnode *v = map_get(root, "name");
    if (v) {
        if ((err = expect_scalar(p, v, "the test's name (a string)")) != PAL_OK)
            return err;
        t->name = copy_text(v);
    }
    if ((v = map_get(root, "lang")) != NULL && (err = parse_lang(p, v, &t->lang)) != PAL_OK)
        return err;
    if ((v = map_get(root, "services")) != NULL && (err = parse_services(p, v)) != PAL_OK)
        return err;
    v = map_get(root, "steps");
    if (!v)
        return fail(p, root, "expected steps: [{user: ..., bot: ...}, ...]");
    if (v->kind != PAL_Y_SEQ || v->count == 0)
        return fail(p, v, "expected steps: a list of at least one {user: ..., bot: ...}");
    if (v->count > LIMIT_STEPS)
        return fail_pos(p, PAL_ERR_LIMIT, v->line, v->column, "more than %d steps", LIMIT_STEPS);
    t->steps = pal_xcalloc(v->count, sizeof(*t->steps));
    for (const tnode *item = v->first; item; item = item->next) {
        if ((err = parse_step(p, item, &t->steps[t->n_steps++])) != PAL_OK)
            return err;
    }
    return PAL_OK;
}

pal_err pal_convtest_parse(const pal_bot *bot, const char *text, size_t len, const char *path,
                           pal_convtest **out, char *errbuf, size_t errlen)
{
    pal_convtest *t = pal_xcalloc(1, sizeof(*t));
    parser p = {bot, path ? path : "test.yaml", errbuf, errlen, pal_arena_new(), t};
    tnode *root = NULL;
    pal_err err;

    *out = NULL;
    t->bot = bot;
    t->path = pal_xstrdup(p.path);
    if (len > PAL_CONVTEST_MAX_BYTES)
        err = fail_pos(&p, PAL_ERR_LIMIT, 1, 1, "a test file holds at most %zu bytes",
                       PAL_CONVTEST_MAX_BYTES);
    else if ((err = tree_build(&p, text, len, &root)) == PAL_OK)
        err = compile(&p, root);
    pal_arena_free(p.arena);
    if (err) {
        pal_convtest_free(t);
        return err;
    }
    *out = t;
    return PAL_OK;
}

pal_err pal_convtest_load(const pal_bot *bot, const char *path, pal_convtest **out, char *errbuf,
                          size_t errlen)
{
    FILE *f = fopen(path, "rb");
    char *text = NULL;
    size_t len = 0;
    pal_err err = PAL_ERR_IO;
    struct stat st;

    *out = NULL;
    if (!f || fstat(fileno(f), &st) != 0) {
        pal_err_format(errbuf, errlen, "%s: %s", path, strerror(errno));
        goto out;
    }
    if (!S_ISREG(st.st_mode)) {
        pal_err_format(errbuf, errlen, "%s: not a regular file", path);
        goto out;
    }
    if ((size_t)st.st_size > PAL_CONVTEST_MAX_BYTES) {
        err = PAL_ERR_LIMIT;
        pal_err_format(errbuf, errlen, "%s:1:1: a test file holds at most %zu bytes", path,
                       PAL_CONVTEST_MAX_BYTES);
        goto out;
    }
    /* Read up to one byte more than the cap: the file may grow meanwhile. */
    text = pal_xmalloc(PAL_CONVTEST_MAX_BYTES + 2);
    len = fread(text, 1, PAL_CONVTEST_MAX_BYTES + 1, f);
    if (ferror(f)) {
        pal_err_format(errbuf, errlen, "%s: read error", path);
        goto out;
    }
    err = pal_convtest_parse(bot, text, len, path, out, errbuf, errlen);
out:
    free(text);
    if (f)
        fclose(f);
    return err;
}

void pal_convtest_free(pal_convtest *test)
{
    if (!test)
        return;
    for (size_t i = 0; i < test->n_steps; i++) {
        expect_step *s = &test->steps[i];
        free(s->user);
        for (size_t k = 0; k < s->n_bot; k++) {
            free(s->bot[k].text);
            pcre2_code_free(s->bot[k].code);
        }
        free(s->bot);
        for (size_t k = 0; k < s->n_buttons; k++)
            free(s->buttons[k]);
        free(s->buttons);
        for (size_t k = 0; k < s->n_slots; k++)
            free(s->slots[k].value);
        free(s->slots);
        free(s->intent);
    }
    free(test->steps);
    for (size_t i = 0; i < test->n_mocks; i++) {
        for (size_t k = 0; k < test->mocks[i].n_answers; k++)
            free(test->mocks[i].answers[k]);
        free(test->mocks[i].answers);
    }
    free(test->mocks);
    free(test->name);
    free(test->path);
    free(test);
}

const char *pal_convtest_name(const pal_convtest *test)
{
    return test->name;
}

/* ---- running -------------------------------------------------------------------------- */

typedef pal_err (*call_fn)(void *ctx, const char *url, long timeout_ms, const char *body,
                           char **response);

typedef struct run_ctx {
    const pal_convtest *test;
    size_t *calls; /* calls so far to each mock */
    call_fn call;  /* for services the test does not mock; may be NULL */
    pal_arena *arena;
    pcre2_match_context *match_ctx;
    pcre2_match_data *match_data;
} run_ctx;

static pal_err mock_call(void *ctx, const char *url, long timeout_ms, const char *body,
                         char **response)
{
    run_ctx *r = ctx;
    const pal_convtest *t = r->test;
    *response = NULL;
    for (size_t i = 0; i < t->n_mocks; i++) {
        const service_mock *m = &t->mocks[i];
        if (strcmp(t->bot->services[m->service].url, url) != 0)
            continue;
        size_t k = r->calls[i] < m->n_answers ? r->calls[i] : m->n_answers - 1;
        r->calls[i]++;
        if (!m->answers[k])
            return PAL_ERR_IO;
        *response = pal_xstrdup(m->answers[k]);
        return PAL_OK;
    }
    return r->call ? r->call(NULL, url, timeout_ms, body, response) : PAL_ERR_STATE;
}

/* s quoted, with its line ends and quotes escaped. */
static void print_quoted(FILE *f, const char *s)
{
    fputc('"', f);
    for (; *s; s++) {
        if (*s == '\n')
            fputs("\\n", f);
        else if (*s == '"' || *s == '\\')
            fprintf(f, "\\%c", *s);
        else
            fputc(*s, f);
    }
    fputc('"', f);
}

static void print_matcher(FILE *f, const matcher *m)
{
    if (m->kind == MATCH_CONTAINS)
        fputs("contains ", f);
    else if (m->kind == MATCH_REGEX)
        fputs("regex ", f);
    print_quoted(f, m->text);
}

static bool matches(run_ctx *r, const matcher *m, const char *text)
{
    switch (m->kind) {
    case MATCH_EXACT:
        return strcmp(text, m->text) == 0;
    case MATCH_CONTAINS:
        return strstr(text, m->text) != NULL;
    case MATCH_REGEX:
        return pcre2_match(m->code, (PCRE2_SPTR)text, strlen(text), 0, 0, r->match_data,
                           r->match_ctx) >= 0;
    }
    return false;
}

/* The turn's replies as one text, one reply a line. */
static const char *joined_replies(run_ctx *r, const pal_turn *turn)
{
    size_t len = 1;
    for (size_t i = 0; i < turn->n_replies; i++)
        len += strlen(turn->replies[i].text ? turn->replies[i].text : "") + 1;
    char *text = pal_arena_alloc(r->arena, len), *at = text;
    *at = '\0';
    for (size_t i = 0; i < turn->n_replies; i++) {
        const char *reply = turn->replies[i].text ? turn->replies[i].text : "";
        size_t n = strlen(reply);
        if (i)
            *at++ = '\n';
        memcpy(at, reply, n + 1);
        at += n;
    }
    return text;
}

static const char *reply_text(const pal_turn *turn, size_t i)
{
    return turn->replies[i].text ? turn->replies[i].text : "";
}

/* The checks of one step: each returns whether it holds and, when it does
 * not and out is not NULL, writes what was expected and what came. */

static bool check_bot(run_ctx *r, const expect_step *s, const pal_turn *turn, FILE *out)
{
    if (!s->check_bot)
        return true;
    if (!s->bot_list) {
        if (matches(r, &s->bot[0], joined_replies(r, turn)))
            return true;
        if (out) {
            fputs("    expected bot: ", out);
            print_matcher(out, &s->bot[0]);
            fputs("\n    got      bot: ", out);
            for (size_t i = 0; i < turn->n_replies; i++) {
                fputs(i ? ", " : "", out);
                print_quoted(out, reply_text(turn, i));
            }
            fputs(turn->n_replies ? "\n" : "(nothing)\n", out);
        }
        return false;
    }
    if (s->n_bot != turn->n_replies) {
        if (out)
            fprintf(out, "    expected %zu repl%s, got %zu\n", s->n_bot,
                    s->n_bot == 1 ? "y" : "ies", turn->n_replies);
        return false;
    }
    for (size_t i = 0; i < s->n_bot; i++) {
        if (matches(r, &s->bot[i], reply_text(turn, i)))
            continue;
        if (out) {
            fprintf(out, "    expected reply %zu: ", i + 1);
            print_matcher(out, &s->bot[i]);
            fprintf(out, "\n    got      reply %zu: ", i + 1);
            print_quoted(out, reply_text(turn, i));
            fputc('\n', out);
        }
        return false;
    }
    return true;
}

static size_t turn_buttons(const pal_turn *turn)
{
    size_t n = 0;
    for (size_t i = 0; i < turn->n_replies; i++)
        n += turn->replies[i].n_buttons;
    return n;
}

static const char *turn_button(const pal_turn *turn, size_t k)
{
    for (size_t i = 0; i < turn->n_replies; i++) {
        if (k < turn->replies[i].n_buttons)
            return turn->replies[i].buttons[k];
        k -= turn->replies[i].n_buttons;
    }
    return "";
}

static void print_button_list(FILE *f, const char *const *buttons, size_t n)
{
    fputc('[', f);
    for (size_t i = 0; i < n; i++) {
        fputs(i ? ", " : "", f);
        print_quoted(f, buttons[i]);
    }
    fputs("]\n", f);
}

static bool check_buttons(const expect_step *s, const pal_turn *turn, FILE *out)
{
    if (!s->check_buttons)
        return true;
    size_t n = turn_buttons(turn);
    bool same = n == s->n_buttons;
    for (size_t k = 0; same && k < n; k++)
        same = strcmp(turn_button(turn, k), s->buttons[k]) == 0;
    if (same || !out)
        return same;
    fputs("    expected buttons: ", out);
    print_button_list(out, (const char *const *)s->buttons, s->n_buttons);
    fputs("    got      buttons: [", out);
    for (size_t k = 0; k < n; k++) {
        fputs(k ? ", " : "", out);
        print_quoted(out, turn_button(turn, k));
    }
    fputs("]\n", out);
    return false;
}

static bool check_slots(const pal_convtest *t, const expect_step *s, const pal_conversation *conv,
                        FILE *out)
{
    bool ok = true;
    for (size_t i = 0; i < s->n_slots; i++) {
        const slot_expect *e = &s->slots[i];
        const char *name = t->bot->slots[e->slot].name;
        const char *got = pal_conversation_slot(conv, name);
        if (e->value ? got && strcmp(got, e->value) == 0 : got == NULL)
            continue;
        ok = false;
        if (!out)
            break;
        fprintf(out, "    expected slot %s: ", name);
        if (e->value)
            print_quoted(out, e->value);
        else
            fputs("(unset)", out);
        fprintf(out, "\n    got      slot %s: ", name);
        if (got)
            print_quoted(out, got);
        else
            fputs("(unset)", out);
        fputc('\n', out);
    }
    return ok;
}

static bool check_state(const expect_step *s, const pal_turn *turn, const pal_conversation *conv,
                        FILE *out)
{
    bool ok = true;
    bool handed = pal_conversation_handed_over(conv);
    if (s->handoff >= 0 && handed != (s->handoff == 1)) {
        ok = false;
        if (out)
            fprintf(out, "    expected handoff: %s\n    got      handoff: %s\n",
                    s->handoff ? "true" : "false", handed ? "true" : "false");
    }
    const char *intent = turn->intent ? turn->intent : "none";
    if (s->intent && strcmp(s->intent, intent) != 0) {
        ok = false;
        if (out)
            fprintf(out, "    expected intent: %s\n    got      intent: %s (%.2f)\n", s->intent,
                    intent, (double)turn->confidence);
    }
    if (s->lang != PAL_LANG_UNKNOWN && s->lang != turn->lang) {
        ok = false;
        if (out)
            fprintf(out, "    expected lang: %s\n    got      lang: %s\n", pal_lang_code(s->lang),
                    pal_lang_code(turn->lang));
    }
    return ok;
}

static bool check_step(run_ctx *r, const expect_step *s, const pal_turn *turn,
                       const pal_conversation *conv, FILE *out)
{
    /* Every check runs (no short-circuit) so that the diff lists them all. */
    bool ok = check_bot(r, s, turn, out);
    ok = check_buttons(s, turn, out) && ok;
    ok = check_slots(r->test, s, conv, out) && ok;
    ok = check_state(s, turn, conv, out) && ok;
    return ok;
}

static void print_slots(FILE *f, const pal_convtest *t, const pal_conversation *conv)
{
    size_t shown = 0;
    fputs("  slots after the turn:", f);
    for (size_t i = 0; i < t->bot->n_slots; i++) {
        const char *v = pal_conversation_slot(conv, t->bot->slots[i].name);
        if (!v)
            continue;
        fprintf(f, " %s=", t->bot->slots[i].name);
        print_quoted(f, v);
        shown++;
    }
    fputs(shown ? "\n" : " (none)\n", f);
}

static void print_step_head(FILE *f, const pal_convtest *t, size_t i)
{
    fprintf(f, "  step %zu of %zu (%s:%d), the customer says: ", i + 1, t->n_steps, t->path,
            t->steps[i].line);
    print_quoted(f, t->steps[i].user);
    fputc('\n', f);
}

void pal_convtest_run(const pal_convtest *test, pal_analyzer *analyzer, call_fn call, bool verbose,
                      FILE *report, bool *passed)
{
    const pal_bot *bot = test->bot;
    pal_conversation *conv = pal_conversation_new(bot);
    run_ctx r = {test,
                 pal_xcalloc(test->n_mocks + 1, sizeof(size_t)),
                 call,
                 pal_arena_new(),
                 pcre2_match_context_create(NULL),
                 pcre2_match_data_create(32, NULL)};
    pal_engine_actions actions = {&r, pal_engine_lookup_direct, mock_call};
    pal_turn turn;

    *passed = true;
    if (!r.match_ctx || !r.match_data)
        abort(); /* allocation failure (STYLE: memory) */
    /* A catastrophic pattern fails its match instead of running for ever. */
    pcre2_set_match_limit(r.match_ctx, REGEX_MATCH_LIMIT);
    if (test->lang != PAL_LANG_UNKNOWN)
        pal_conversation_set_lang(conv, test->lang);
    for (size_t i = 0; i < test->n_steps; i++) {
        const expect_step *s = &test->steps[i];
        pal_arena_reset(r.arena);
        pal_err err = pal_engine_step(bot, analyzer, conv, s->user, strlen(s->user), &actions,
                                      r.arena, &turn);
        if (err) {
            print_step_head(report, test, i);
            fprintf(report, "    the engine refused the message: %s\n", pal_err_str(err));
            *passed = false;
            break;
        }
        bool ok = check_step(&r, s, &turn, conv, NULL);
        if (verbose || !ok) {
            print_step_head(report, test, i);
            if (!ok)
                check_step(&r, s, &turn, conv, report);
            fputs("  the bot:\n", report);
            if (turn.n_replies == 0 && !turn.handoff)
                fputs("    (says nothing)\n", report);
            pal_transcript_turn(report, "    ", &turn);
            if (!ok)
                print_slots(report, test, conv);
            pal_transcript_debug(report, "  ", &turn);
        }
        if (!ok) {
            *passed = false;
            break;
        }
    }
    pcre2_match_data_free(r.match_data);
    pcre2_match_context_free(r.match_ctx);
    pal_arena_free(r.arena);
    free(r.calls);
    pal_conversation_free(conv);
}
