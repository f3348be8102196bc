/*
 * config.c — the server's configuration (see config.h), driven by one table.
 *
 * settings[] below is the only place a setting is described: its name (the
 * YAML key and, through the same macro argument, the pal_config field), its
 * type, bounds, default, environment variable, secrecy and help. The YAML
 * reader, the environment, pal_config_set(), pal_config_validate(), --help
 * and pal_config_dump() all walk it; none of them names a setting. Defaults
 * are written as text and parsed by the same code as any other value, so a
 * default can never break its own bounds (pal_config_new() aborts if one
 * does: that is a bug in this table, caught by the first test).
 *
 * Loading is all or nothing: a file is applied to a copy of the
 * configuration that replaces it only when every value was good, and the
 * environment is parsed in full before anything is assigned.
 *
 * The file is read the way bot files are (dialog/bot_load.c): libfyaml's
 * event parser builds a small tree with 1-based positions in an arena.
 * Anchors, aliases, tags, several documents, duplicate keys, invalid UTF-8,
 * more than LIMIT_DEPTH levels or LIMIT_NODES nodes and files over 1 MiB are
 * refused, so a hostile file costs bounded time and memory.
 *
 * Assumes: secret values (api_token, every channel setting) never reach an
 * error message, a log line or a dump. No global mutable state.
 */
#include "server/config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <libfyaml.h>

#include "base/file.h"
#include "base/mem.h"
#include "base/ytree.h"
#include "text/utf8.h"

#define CONFIG_FILE_MAX ((size_t)1 << 20)

enum {
    LIMIT_DEPTH = 16,              /* YAML nesting: the format needs 5 */
    LIMIT_NODES = 100000,          /* YAML nodes in a file */
    LIMIT_BOTS = 1000,             /* entries of bots: */
    LIMIT_CHANNEL_SETTINGS = 1000, /* channel settings of one bot */
    LIMIT_NAME = 64,               /* bytes of a channel or channel setting name */
    LIMIT_PATH = 4096,             /* bytes of a path */
    LIMIT_CHANNEL_VALUE = 16384,   /* bytes of a channel setting (a PEM key fits) */
    LIMIT_SUGGEST = 64,            /* unknown names longer than this get no suggestion */
    WHY_MAX = 512,                 /* one reason, before its FILE:LINE:COL or variable */
    QUOTE_MAX = 48,                /* bytes of a bad value repeated in a message */
};

/* ---- the table ------------------------------------------------------------ */

typedef enum setting_type { SET_STRING = 0, SET_INT, SET_BOOL, SET_ENUM } setting_type;

typedef struct setting {
    const char *name; /* the YAML key, and the field's name */
    setting_type type;
    size_t offset;              /* of the field in pal_config: char *, int or bool */
    long long min, max;         /* SET_INT: bounds; SET_STRING: bytes */
    const char *default_text;   /* parsed like any value; NULL: unset (optional strings) */
    const char *const *choices; /* SET_ENUM: the accepted words, NULL-terminated */
    const char *env;            /* PALABRE_ + the name in upper case */
    bool secret;                /* never printed, never quoted in a message */
    bool optional;              /* a string that may be unset (NULL) */
    const char *help;           /* one line */
} setting;

static const char *const log_levels[] = {"debug", "info", "warn", "error", NULL};

/* The _Generic makes a row that names a field of the wrong type a compile
 * error instead of a write through the wrong pointer. */
#define FIELD(field, type) _Generic(((pal_config *)0)->field, type : offsetof(pal_config, field))

#define STRING(field, def, maxlen, env_name, text)                                                 \
    {                                                                                              \
        .name = #field, .type = SET_STRING, .offset = FIELD(field, char *), .min = 1,              \
        .max = (maxlen), .default_text = (def), .env = (env_name), .help = (text)                  \
    }
#define SECRET(field, maxlen, env_name, text)                                                      \
    {                                                                                              \
        .name = #field, .type = SET_STRING, .offset = FIELD(field, char *), .min = 1,              \
        .max = (maxlen), .env = (env_name), .secret = true, .optional = true, .help = (text)       \
    }
#define INT(field, def, lo, hi, env_name, text)                                                    \
    {                                                                                              \
        .name = #field, .type = SET_INT, .offset = FIELD(field, int), .min = (lo), .max = (hi),    \
        .default_text = #def, .env = (env_name), .help = (text)                                    \
    }
#define BOOL(field, def, env_name, text)                                                           \
    {                                                                                              \
        .name = #field, .type = SET_BOOL, .offset = FIELD(field, bool), .max = 1,                  \
        .default_text = #def, .env = (env_name), .help = (text)                                    \
    }
#define ENUM(field, def, words, env_name, text)                                                    \
    {                                                                                              \
        .name = #field, .type = SET_ENUM, .offset = FIELD(field, char *), .default_text = (def),   \
        .choices = (words), .env = (env_name), .help = (text)                                      \
    }

/* clang-format off */
static const setting settings[] = {
    STRING(listen, "127.0.0.1:8080", 256, "PALABRE_LISTEN",
           "address to listen on: IPV4:PORT, localhost:PORT or [IPV6]:PORT"),
    STRING(data_dir, "data", LIMIT_PATH, "PALABRE_DATA_DIR",
           "directory of the store (DATA_DIR/palabre.db)"),
    STRING(web_root, "web", LIMIT_PATH, "PALABRE_WEB_ROOT",
           "directory of the static pages (/chat, /widget.js)"),
    ENUM(log_level, "info", log_levels, "PALABRE_LOG_LEVEL",
         "least important log lines written"),
    SECRET(api_token, 1024, "PALABRE_API_TOKEN",
           "bearer token of the api channel (secret: prefer the environment)"),
    INT(http_threads, 2, 1, 256, "PALABRE_HTTP_THREADS",
        "threads answering HTTP requests"),
    INT(engine_threads, 2, 1, 256, "PALABRE_ENGINE_THREADS",
        "threads running conversations"),
    INT(delivery_threads, 2, 1, 256, "PALABRE_DELIVERY_THREADS",
        "threads sending replies to channel APIs"),
    INT(max_body_bytes, 65536, 1024, 64 << 20, "PALABRE_MAX_BODY_BYTES",
        "largest request body accepted (bytes)"),
    INT(max_webhook_body_bytes, 1048576, 1024, 64 << 20, "PALABRE_MAX_WEBHOOK_BODY_BYTES",
        "largest body accepted from a messaging platform's webhook (bytes): platforms batch "
        "events and resend what is refused, so this is larger than max_body_bytes"),
    INT(max_message_bytes, 4096, 1, 1 << 20, "PALABRE_MAX_MESSAGE_BYTES",
        "longest message text accepted (UTF-8 bytes)"),
    INT(max_connections, 4096, 1, 1000000, "PALABRE_MAX_CONNECTIONS",
        "simultaneous HTTP connections"),
    INT(queue_limit, 20000, 1, 10000000, "PALABRE_QUEUE_LIMIT",
        "messages accepted but not yet processed; over it: 503"),
    INT(conversation_cache, 50000, 16, 10000000, "PALABRE_CONVERSATION_CACHE",
        "conversations each engine thread keeps in memory (about 1.5 KB each); "
        "the others are read from the store when their customer writes"),
    INT(rate_customer_per_minute, 120, 0, 1000000, "PALABRE_RATE_CUSTOMER_PER_MINUTE",
        "messages per customer and minute, burst the same (0: no limit)"),
    INT(rate_ip_per_minute, 600, 0, 1000000, "PALABRE_RATE_IP_PER_MINUTE",
        "unauthenticated requests per IP address and minute (0: no limit)"),
    INT(repeat_window_seconds, -1, -1, 7 * 24 * 3600, "PALABRE_REPEAT_WINDOW_SECONDS",
        "the same look-up by the same customer is not answered twice within it "
        "(-1: each bot's dedup_window; 0: off)"),
    INT(retry_base_ms, 500, 1, 3600000, "PALABRE_RETRY_BASE_MS",
        "first retry of a failed send after this, then doubling"),
    INT(retry_max_ms, 60000, 1, 86400000, "PALABRE_RETRY_MAX_MS",
        "longest wait between two retries"),
    INT(max_attempts, 12, 1, 1000, "PALABRE_MAX_ATTEMPTS",
        "sends of one reply before it fails for good"),
    INT(shutdown_grace_seconds, 10, 0, 3600, "PALABRE_SHUTDOWN_GRACE_SECONDS",
        "on SIGTERM, time left to finish work in progress"),
    BOOL(store_sync_full, true, "PALABRE_STORE_SYNC_FULL",
         "make each commit of the store durable (fdatasync) before acknowledging it"),
};
/* clang-format on */

#define N_SETTINGS (sizeof(settings) / sizeof(settings[0]))

static void *field_of(pal_config *config, const setting *s)
{
    return (char *)config + s->offset;
}

static const void *field_of_const(const pal_config *config, const setting *s)
{
    return (const char *)config + s->offset;
}

/* By exact name; with dashes true, '-' also matches '_' ("--http-threads"). */
static const setting *find_setting(const char *name, bool dashes)
{
    for (size_t i = 0; i < N_SETTINGS; i++) {
        const char *a = settings[i].name, *b = name;
        while (*a && (*a == *b || (dashes && *a == '_' && *b == '-'))) {
            a++;
            b++;
        }
        if (!*a && !*b)
            return &settings[i];
    }
    return NULL;
}

/* ---- messages ------------------------------------------------------------- */

/* A value as it may appear in a message: at most QUOTE_MAX bytes (cut on a
 * character boundary, "..." added), control characters as '?'. */
static const char *quoted(char *buf, size_t size, const char *value)
{
    size_t len = strlen(value), n = 0;
    size_t keep = len <= QUOTE_MAX ? len : QUOTE_MAX;
    while (keep < len && keep > 0 && ((unsigned char)value[keep] & 0xC0) == 0x80)
        keep--;
    for (size_t i = 0; i < keep && n + 4 < size; i++) {
        unsigned char c = (unsigned char)value[i];
        buf[n++] = c < 0x20 || c == 0x7F ? '?' : (char)c;
    }
    if (keep < len && n + 4 < size) {
        memcpy(buf + n, "...", 3);
        n += 3;
    }
    buf[n] = '\0';
    return buf;
}

/* "a, b or c" */
static const char *word_list(char *buf, size_t size, const char *const *words)
{
    size_t used = 0;
    buf[0] = '\0';
    for (size_t i = 0; words[i] && used < size; i++) {
        const char *sep = i == 0 ? "" : words[i + 1] ? ", " : " or ";
        int w = snprintf(buf + used, size - used, "%s%s", sep, words[i]);
        if (w < 0)
            break;
        used += (size_t)w;
    }
    return buf;
}

/* What a setting expects, for "expected ..." messages. */
static const char *expected(const setting *s, char *buf, size_t size)
{
    switch (s->type) {
    case SET_STRING:
        return "a string";
    case SET_INT:
        snprintf(buf, size, "an integer from %lld to %lld", s->min, s->max);
        return buf;
    case SET_BOOL:
        return "true or false";
    case SET_ENUM: {
        char words[WHY_MAX / 2];
        snprintf(buf, size, "one of %s", word_list(words, sizeof(words), s->choices));
        return buf;
    }
    }
    return "a value";
}

/* Edit distance, for "did you mean". Both strings at most LIMIT_SUGGEST bytes. */
static size_t distance(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    size_t row[LIMIT_SUGGEST + 1];
    for (size_t j = 0; j <= lb; j++)
        row[j] = j;
    for (size_t i = 1; i <= la; i++) {
        size_t diagonal = row[0];
        row[0] = i;
        for (size_t j = 1; j <= lb; j++) {
            size_t up = row[j];
            size_t best = diagonal + (a[i - 1] != b[j - 1]);
            if (up + 1 < best)
                best = up + 1;
            if (row[j - 1] + 1 < best)
                best = row[j - 1] + 1;
            row[j] = best;
            diagonal = up;
        }
    }
    return row[lb];
}

/* The known name closest to name, when it is close enough to be a typo. */
static const char *suggestion(const char *name)
{
    if (strlen(name) > LIMIT_SUGGEST)
        return NULL;
    const char *best = NULL;
    size_t best_distance = 3; /* at most two edits */
    for (size_t i = 0; i <= N_SETTINGS; i++) {
        const char *candidate = i < N_SETTINGS ? settings[i].name : "bots";
        size_t d = distance(name, candidate);
        if (d < best_distance) {
            best = candidate;
            best_distance = d;
        }
    }
    return best;
}

static void unknown_setting(char *why, size_t size, const char *name)
{
    char q[QUOTE_MAX + 8];
    const char *near = suggestion(name);
    if (near)
        snprintf(why, size, "unknown setting '%s' (did you mean '%s'?)", quoted(q, sizeof(q), name),
                 near);
    else
        snprintf(why, size, "unknown setting '%s' (palabre serve --help lists them)",
                 quoted(q, sizeof(q), name));
}

/* ---- values --------------------------------------------------------------- */

/* A parsed value, not yet assigned. */
typedef struct value {
    long long number; /* SET_INT, SET_BOOL */
    char *text;       /* SET_STRING, SET_ENUM: owned, NULL for unset */
} value;

/* Strict decimal: an optional '-', digits, nothing else (no space, no '+',
 * no hex, no trailing junk). false on anything else or overflow. */
static bool parse_integer(const char *text, long long *out, bool *overflow)
{
    const char *p = text + (*text == '-');
    *overflow = false;
    if (!*p || strspn(p, "0123456789") != strlen(p))
        return false;
    errno = 0;
    char *end = NULL;
    long long v = strtoll(text, &end, 10);
    if (errno == ERANGE) {
        *overflow = true;
        return false;
    }
    if (errno || !end || *end)
        return false;
    *out = v;
    return true;
}

static bool parse_bool(const char *text, bool *out)
{
    static const char *const yes[] = {"true", "yes", "1"};
    static const char *const no[] = {"false", "no", "0"};
    for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
        if (strcasecmp(text, yes[i]) == 0) {
            *out = true;
            return true;
        }
        if (strcasecmp(text, no[i]) == 0) {
            *out = false;
            return true;
        }
    }
    return false;
}

/* A string setting's value: UTF-8, no control character (allowed lists the
 * ones that are, e.g. "\n" for channel settings), 1..max bytes. NULL when
 * good, else the reason (static). */
static const char *string_problem(const char *text, size_t max, const char *allowed)
{
    size_t len = strlen(text);
    if (len == 0)
        return "is empty";
    if (len > max)
        return "is too long";
    if (!pal_utf8_valid(text, len))
        return "is not valid UTF-8";
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)text[i];
        if ((c < 0x20 || c == 0x7F) && !strchr(allowed, (char)c))
            return "holds a control character";
    }
    return NULL;
}

/* Parses text for s into *out (OUT; out->text is the caller's). On false,
 * why says what is wrong, without the setting's name and, for a secret,
 * without its value. */
static bool parse_value(const setting *s, const char *text, value *out, char *why, size_t size)
{
    char q[QUOTE_MAX + 8], exp[WHY_MAX / 2];
    const char *shown = s->secret ? "(hidden)" : quoted(q, sizeof(q), text);
    *out = (value){0};
    switch (s->type) {
    case SET_STRING: {
        const char *problem = string_problem(text, (size_t)s->max, "");
        if (problem) {
            if (strcmp(problem, "is too long") == 0)
                snprintf(why, size, "the value is longer than %lld bytes", s->max);
            else if (strcmp(problem, "is empty") == 0 && s->optional)
                snprintf(why, size, "the value is empty (leave the setting out for none)");
            else
                snprintf(why, size, "the value %s", problem);
            return false;
        }
        out->text = pal_xstrdup(text);
        return true;
    }
    case SET_INT: {
        long long v = 0;
        bool overflow = false;
        if (!parse_integer(text, &v, &overflow) && !overflow) {
            snprintf(why, size, "'%s' is not an integer (expected %s)", shown,
                     expected(s, exp, sizeof(exp)));
            return false;
        }
        if (overflow || v < s->min || v > s->max) {
            snprintf(why, size, "%s is out of range (expected %s)", shown,
                     expected(s, exp, sizeof(exp)));
            return false;
        }
        out->number = v;
        return true;
    }
    case SET_BOOL: {
        bool b = false;
        if (!parse_bool(text, &b)) {
            snprintf(why, size, "'%s' is not a boolean (true, false, yes, no, 1 or 0)", shown);
            return false;
        }
        out->number = b;
        return true;
    }
    case SET_ENUM:
        for (size_t i = 0; s->choices[i]; i++) {
            if (strcasecmp(text, s->choices[i]) == 0) {
                out->text = pal_xstrdup(s->choices[i]);
                return true;
            }
        }
        snprintf(why, size, "'%s' is not %s", shown, expected(s, exp, sizeof(exp)));
        return false;
    }
    snprintf(why, size, "unknown setting type");
    return false;
}

/* Assigns v (taking ownership of v->text) to s's field. */
static void assign(pal_config *config, const setting *s, value *v)
{
    void *field = field_of(config, s);
    switch (s->type) {
    case SET_STRING:
    case SET_ENUM: {
        char **slot = field;
        free(*slot);
        *slot = v->text;
        break;
    }
    case SET_INT:
        *(int *)field = (int)v->number; /* within [min, max], which fit an int */
        break;
    case SET_BOOL:
        *(bool *)field = v->number != 0;
        break;
    }
    v->text = NULL;
}

/* ---- configuration objects ------------------------------------------------ */

static void bots_free(pal_config_bot *bots, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(bots[i].path);
        for (size_t j = 0; j < bots[i].n_settings; j++) {
            free(bots[i].settings[j].channel);
            free(bots[i].settings[j].name);
            free(bots[i].settings[j].value);
        }
        free(bots[i].settings);
    }
    free(bots);
}

/* Frees what config owns, not config itself. */
static void contents_free(pal_config *config)
{
    for (size_t i = 0; i < N_SETTINGS; i++) {
        if (settings[i].type == SET_STRING || settings[i].type == SET_ENUM)
            free(*(char **)field_of(config, &settings[i]));
    }
    bots_free(config->bots, config->n_bots);
}

static pal_config *config_clone(const pal_config *config)
{
    pal_config *copy = pal_xmalloc(sizeof(*copy));
    *copy = *config;
    for (size_t i = 0; i < N_SETTINGS; i++) {
        if (settings[i].type != SET_STRING && settings[i].type != SET_ENUM)
            continue;
        char **slot = field_of(copy, &settings[i]);
        if (*slot)
            *slot = pal_xstrdup(*slot);
    }
    copy->bots = config->n_bots ? pal_xcalloc(config->n_bots, sizeof(*copy->bots)) : NULL;
    for (size_t b = 0; b < config->n_bots; b++) {
        const pal_config_bot *from = &config->bots[b];
        pal_config_bot *to = &copy->bots[b];
        to->path = pal_xstrdup(from->path);
        to->n_settings = from->n_settings;
        to->settings =
            from->n_settings ? pal_xcalloc(from->n_settings, sizeof(*to->settings)) : NULL;
        for (size_t j = 0; j < from->n_settings; j++) {
            to->settings[j].channel = pal_xstrdup(from->settings[j].channel);
            to->settings[j].name = pal_xstrdup(from->settings[j].name);
            to->settings[j].value = pal_xstrdup(from->settings[j].value);
        }
    }
    return copy;
}

/* config takes everything from staged, which is freed. */
static void config_replace(pal_config *config, pal_config *staged)
{
    contents_free(config);
    *config = *staged;
    free(staged);
}

pal_config *pal_config_new(void)
{
    pal_config *config = pal_xcalloc(1, sizeof(*config));
    for (size_t i = 0; i < N_SETTINGS; i++) {
        const setting *s = &settings[i];
        if (!s->default_text)
            continue;
        value v;
        char why[WHY_MAX];
        if (!parse_value(s, s->default_text, &v, why, sizeof(why))) {
            /* A bad row in settings[]: a bug, caught by the unit tests. */
            fprintf(stderr, "palabre: default of %s: %s\n", s->name, why);
            abort();
        }
        assign(config, s, &v);
    }
    return config;
}

void pal_config_free(pal_config *config)
{
    if (!config)
        return;
    contents_free(config);
    free(config);
}

static pal_config_bot *bot_append(pal_config *config, const char *path)
{
    config->bots = pal_xrealloc(config->bots, (config->n_bots + 1) * sizeof(*config->bots));
    pal_config_bot *bot = &config->bots[config->n_bots++];
    *bot = (pal_config_bot){.path = pal_xstrdup(path)};
    return bot;
}

void pal_config_add_bot(pal_config *config, const char *path)
{
    if (config && path)
        bot_append(config, path);
}

/* ---- the YAML tree --------------------------------------------------------- */

typedef pal_ynode ynode;

typedef struct reader {
    const char *path;
    char *errbuf;
    size_t errlen;
    pal_arena *arena;
} reader;

__attribute__((format(printf, 5, 6))) static pal_err fail_pos(reader *rd, pal_err err, int line,
                                                              int column, const char *fmt, ...)
{
    if (!rd->errbuf || !rd->errlen)
        return err;
    int n = snprintf(rd->errbuf, rd->errlen, "%s:%d:%d: ", rd->path, line, column);
    if (n >= 0 && (size_t)n < rd->errlen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(rd->errbuf + n, rd->errlen - (size_t)n, fmt, ap);
        va_end(ap);
    }
    return err;
}

#define fail(rd, node, ...) fail_pos(rd, PAL_ERR_PARSE, (node)->line, (node)->column, __VA_ARGS__)

static pal_err tree_build(reader *rd, const char *yaml, size_t len, ynode **root)
{
    pal_ytree_options options = {
        .path = rd->path,
        .max_nodes = LIMIT_NODES,
        .max_depth = LIMIT_DEPTH,
        .over_limits = PAL_ERR_PARSE,
        .what = "a configuration file",
        .one_document = "a configuration is one mapping",
        .empty = NULL, /* an empty file changes nothing */
    };
    return pal_ytree_parse(&options, yaml, len, rd->arena, root, rd->errbuf, rd->errlen);
}

/* ---- from the tree into a configuration ------------------------------------ */

static const char *kind_name(const ynode *n)
{
    return n->kind == PAL_Y_MAP ? "a mapping" : n->kind == PAL_Y_SEQ ? "a list" : "a scalar";
}

static pal_err read_setting(reader *rd, const setting *s, const ynode *n, pal_config *config)
{
    char why[WHY_MAX], exp[WHY_MAX / 2];
    value v = {0};
    if (n->kind != PAL_Y_SCALAR)
        return fail(rd, n, "%s: expected %s, not %s", s->name, expected(s, exp, sizeof(exp)),
                    kind_name(n));
    if (n->null) {
        if (!s->optional)
            return fail(rd, n, "%s: expected %s, the value is empty", s->name,
                        expected(s, exp, sizeof(exp)));
        assign(config, s, &v); /* unset */
        return PAL_OK;
    }
    if (!parse_value(s, n->text, &v, why, sizeof(why)))
        return fail(rd, n, "%s: %s", s->name, why);
    assign(config, s, &v);
    return PAL_OK;
}

/* A channel or channel setting name: 1..LIMIT_NAME bytes of letters, digits,
 * '_', '-' and '.', starting with a letter or a digit. */
static bool is_channel_name(const char *s)
{
    size_t len = strlen(s);
    if (len == 0 || len > LIMIT_NAME)
        return false;
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        bool alnum = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
        if (!alnum && (i == 0 || (c != '_' && c != '-' && c != '.')))
            return false;
    }
    return true;
}

static pal_err check_channel_name(reader *rd, const ynode *key, const char *what)
{
    char q[QUOTE_MAX + 8];
    if (!is_channel_name(key->text))
        return fail(rd, key,
                    "'%s' is not a %s: at most %d letters, digits, '_', '-' or '.', starting "
                    "with a letter or digit",
                    quoted(q, sizeof(q), key->text), what, LIMIT_NAME);
    return PAL_OK;
}

/* A typo in a channel's name would leave the channel silently off. */
static bool known_channel(const char *name)
{
    static const char *const known[] = {"api",      "webchat",  "directline", "messenger",
                                        "whatsapp", "telegram", "x",          "twilio"};
    for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++)
        if (strcmp(known[i], name) == 0)
            return true;
    return false;
}

static pal_err read_channels(reader *rd, const ynode *channels, pal_config_bot *bot)
{
    if (channels->kind == PAL_Y_SCALAR && channels->null)
        return PAL_OK;
    if (channels->kind != PAL_Y_MAP)
        return fail(rd, channels, "channels: expected a mapping of CHANNEL: {NAME: value}, not %s",
                    kind_name(channels));
    for (const ynode *ck = channels->first; ck; ck = ck->next) {
        pal_err err = check_channel_name(rd, ck, "channel name");
        if (err)
            return err;
        if (!known_channel(ck->text))
            return fail(rd, ck,
                        "unknown channel '%s': expected api, webchat, directline, messenger, "
                        "whatsapp, telegram, x or twilio",
                        ck->text);
        const ynode *map = ck->value;
        if (map->kind == PAL_Y_SCALAR && map->null)
            continue;
        if (map->kind != PAL_Y_MAP)
            return fail(rd, map, "channel %s: expected a mapping of NAME: value, not %s", ck->text,
                        kind_name(map));
        for (const ynode *k = map->first; k; k = k->next) {
            if ((err = check_channel_name(rd, k, "channel setting name")) != PAL_OK)
                return err;
            const ynode *v = k->value;
            if (v->kind != PAL_Y_SCALAR || v->null)
                return fail(rd, v, "%s.%s: expected a string, not %s", ck->text, k->text,
                            v->kind == PAL_Y_SCALAR ? "an empty value" : kind_name(v));
            /* The value may be a credential: the message never repeats it. */
            const char *problem = string_problem(v->text, LIMIT_CHANNEL_VALUE, "\t\n\r");
            if (problem)
                return fail(rd, v, "%s.%s: the value %s%s", ck->text, k->text, problem,
                            strcmp(problem, "is too long") == 0 ? " (more than 16384 bytes)" : "");
            if (bot->n_settings >= LIMIT_CHANNEL_SETTINGS)
                return fail(rd, k, "more than %d channel settings for one bot",
                            LIMIT_CHANNEL_SETTINGS);
            bot->settings =
                pal_xrealloc(bot->settings, (bot->n_settings + 1) * sizeof(*bot->settings));
            bot->settings[bot->n_settings++] = (struct pal_config_channel_setting){
                .channel = pal_xstrdup(ck->text),
                .name = pal_xstrdup(k->text),
                .value = pal_xstrdup(v->text),
            };
        }
    }
    return PAL_OK;
}

static pal_err read_bot_path(reader *rd, const ynode *n, const char **out)
{
    if (n->kind != PAL_Y_SCALAR || n->null)
        return fail(rd, n, "a bot's path: expected a directory, not %s",
                    n->kind == PAL_Y_SCALAR ? "an empty value" : kind_name(n));
    const char *problem = string_problem(n->text, LIMIT_PATH, "");
    if (problem)
        return fail(rd, n, "a bot's path %s", problem);
    *out = n->text;
    return PAL_OK;
}

static pal_err read_bots(reader *rd, const ynode *list, pal_config *config)
{
    bots_free(config->bots, config->n_bots);
    config->bots = NULL;
    config->n_bots = 0;
    if (list->kind == PAL_Y_SCALAR && list->null)
        return PAL_OK;
    if (list->kind != PAL_Y_SEQ)
        return fail(rd, list, "bots: expected a list of bot directories, not %s", kind_name(list));
    if (list->count > LIMIT_BOTS)
        return fail(rd, list, "bots: more than %d bots", LIMIT_BOTS);
    for (const ynode *item = list->first; item; item = item->next) {
        const char *path = NULL;
        pal_err err;
        if (item->kind != PAL_Y_MAP) {
            if ((err = read_bot_path(rd, item, &path)) != PAL_OK)
                return err;
            bot_append(config, path);
            continue;
        }
        const ynode *path_node = NULL, *channels = NULL;
        for (const ynode *k = item->first; k; k = k->next) {
            if (strcmp(k->text, "path") == 0)
                path_node = k->value;
            else if (strcmp(k->text, "channels") == 0)
                channels = k->value;
            else
                return fail(rd, k, "unknown key '%s' in a bot: expected path or channels", k->text);
        }
        if (!path_node)
            return fail(rd, item, "a bot: missing key 'path' (its directory)");
        if ((err = read_bot_path(rd, path_node, &path)) != PAL_OK)
            return err;
        pal_config_bot *bot = bot_append(config, path);
        if (channels && (err = read_channels(rd, channels, bot)) != PAL_OK)
            return err;
    }
    return PAL_OK;
}

static pal_err read_root(reader *rd, const ynode *root, pal_config *config)
{
    if (!root || (root->kind == PAL_Y_SCALAR && root->null))
        return PAL_OK; /* an empty file (or only comments) changes nothing */
    if (root->kind != PAL_Y_MAP)
        return fail(rd, root, "expected settings (a mapping of name: value), not %s",
                    kind_name(root));
    for (const ynode *k = root->first; k; k = k->next) {
        pal_err err;
        if (strcmp(k->text, "bots") == 0) {
            err = read_bots(rd, k->value, config);
        } else {
            const setting *s = find_setting(k->text, false);
            if (!s) {
                char why[WHY_MAX];
                unknown_setting(why, sizeof(why), k->text);
                return fail(rd, k, "%s", why);
            }
            err = read_setting(rd, s, k->value, config);
        }
        if (err)
            return err;
    }
    return PAL_OK;
}

/* Reads the YAML text[0..len) named path (for messages) into config. */
static pal_err load_text(pal_config *config, const char *path, const char *text, size_t len,
                         char *errbuf, size_t errlen)
{
    ynode *root = NULL;
    pal_config *staged = NULL;
    reader rd = {.path = path, .errbuf = errbuf, .errlen = errlen};
    pal_err err;

    rd.arena = pal_arena_new();
    if ((err = tree_build(&rd, text, len, &root)) != PAL_OK)
        goto out;
    staged = config_clone(config);
    if ((err = read_root(&rd, root, staged)) != PAL_OK)
        goto out;
    config_replace(config, staged);
    staged = NULL;
out:
    pal_config_free(staged);
    pal_arena_free(rd.arena);
    return err;
}

pal_err pal_config__load_text(pal_config *config, const char *name, const char *text, size_t len,
                              char *errbuf, size_t errlen)
{
    pal_err_format(errbuf, errlen, "%s", "");
    if (len > CONFIG_FILE_MAX) {
        pal_err_format(errbuf, errlen, "%s: larger than 1 MiB", name);
        return PAL_ERR_LIMIT;
    }
    return load_text(config, name, text, len, errbuf, errlen);
}

pal_err pal_config_load_file(pal_config *config, const char *path, char *errbuf, size_t errlen)
{
    char *text = NULL;
    size_t len = 0;

    pal_err_format(errbuf, errlen, "%s", "");
    pal_err err = pal_file_read(path, CONFIG_FILE_MAX, &text, &len, errbuf, errlen);
    if (!err)
        err = load_text(config, path, text, len, errbuf, errlen);
    free(text);
    return err;
}

/* ---- environment and command line ------------------------------------------ */

pal_err pal_config_load_env(pal_config *config, char *(*getenv_fn)(const char *name), char *errbuf,
                            size_t errlen)
{
    value parsed[N_SETTINGS];
    bool present[N_SETTINGS];
    pal_err err = PAL_OK;

    pal_err_format(errbuf, errlen, "%s", "");
    memset(parsed, 0, sizeof(parsed));
    memset(present, 0, sizeof(present));
    if (!getenv_fn)
        return PAL_OK;
    /* Everything is parsed before anything is assigned: all or nothing. */
    for (size_t i = 0; i < N_SETTINGS; i++) {
        const char *text = getenv_fn(settings[i].env);
        if (!text)
            continue;
        char why[WHY_MAX];
        if (!parse_value(&settings[i], text, &parsed[i], why, sizeof(why))) {
            pal_err_format(errbuf, errlen, "%s: %s", settings[i].env, why);
            err = PAL_ERR_PARSE;
            goto out;
        }
        present[i] = true;
    }
    for (size_t i = 0; i < N_SETTINGS; i++) {
        if (present[i])
            assign(config, &settings[i], &parsed[i]);
    }
out:
    for (size_t i = 0; i < N_SETTINGS; i++)
        free(parsed[i].text);
    return err;
}

pal_err pal_config_set(pal_config *config, const char *name, const char *value_text, char *errbuf,
                       size_t errlen)
{
    char why[WHY_MAX];
    value v = {0};
    pal_err_format(errbuf, errlen, "%s", "");
    const setting *s = name ? find_setting(name, true) : NULL;
    if (!s) {
        if (name && strcmp(name, "bots") == 0)
            snprintf(why, sizeof(why), "bots are listed in the file or given as BOT_DIR arguments");
        else
            unknown_setting(why, sizeof(why), name ? name : "");
        pal_err_format(errbuf, errlen, "%s", why);
        return PAL_ERR_NOT_FOUND;
    }
    if (!value_text) {
        if (!s->optional) {
            pal_err_format(errbuf, errlen, "%s: needs a value", s->name);
            return PAL_ERR_PARSE;
        }
        assign(config, s, &v); /* unset */
        return PAL_OK;
    }
    if (!parse_value(s, value_text, &v, why, sizeof(why))) {
        pal_err_format(errbuf, errlen, "%s: %s", s->name, why);
        return PAL_ERR_PARSE;
    }
    assign(config, s, &v);
    return PAL_OK;
}

/* ---- validation ------------------------------------------------------------ */

/* "1".."65535", digits only. */
static bool parse_port(const char *text)
{
    size_t len = strlen(text);
    if (len == 0 || len > 5 || strspn(text, "0123456789") != len)
        return false;
    long port = strtol(text, NULL, 10);
    return port >= 1 && port <= 65535;
}

/* IPV4:PORT, localhost:PORT or [IPV6]:PORT. NULL when good, else why. */
static const char *listen_problem(const char *listen)
{
    char host[INET6_ADDRSTRLEN + 1];
    unsigned char addr[sizeof(struct in6_addr)];
    const char *port;
    if (listen[0] == '[') {
        const char *close = strchr(listen, ']');
        if (!close || close[1] != ':')
            return "expected [IPV6]:PORT, e.g. [::1]:8080";
        size_t n = (size_t)(close - listen - 1);
        if (n == 0 || n >= sizeof(host))
            return "expected an IPv6 address between the brackets";
        memcpy(host, listen + 1, n);
        host[n] = '\0';
        if (inet_pton(AF_INET6, host, addr) != 1)
            return "expected an IPv6 address between the brackets";
        port = close + 2;
    } else {
        const char *colon = strrchr(listen, ':');
        if (!colon)
            return "expected HOST:PORT, e.g. 127.0.0.1:8080";
        size_t n = (size_t)(colon - listen);
        if (memchr(listen, ':', n))
            return "an IPv6 address goes between brackets: [::1]:8080";
        if (n == 0 || n >= sizeof(host))
            return "expected an IPv4 address or localhost before the port";
        memcpy(host, listen, n);
        host[n] = '\0';
        if (strcmp(host, "localhost") != 0 && inet_pton(AF_INET, host, addr) != 1)
            return "expected an IPv4 address (e.g. 127.0.0.1) or localhost before the port";
        port = colon + 1;
    }
    if (!parse_port(port))
        return "expected a port from 1 to 65535";
    return NULL;
}

pal_err pal_config_validate(const pal_config *config, char *errbuf, size_t errlen)
{
    pal_err_format(errbuf, errlen, "%s", "");
    /* The fields are public: re-check what parsing guarantees, in case a
     * caller wrote one directly. */
    for (size_t i = 0; i < N_SETTINGS; i++) {
        const setting *s = &settings[i];
        const void *field = field_of_const(config, s);
        char exp[WHY_MAX / 2];
        if (s->type == SET_INT) {
            int v = *(const int *)field;
            if (v < s->min || v > s->max) {
                pal_err_format(errbuf, errlen, "%s: %d is out of range (expected %s)", s->name, v,
                               expected(s, exp, sizeof(exp)));
                return PAL_ERR_INVALID;
            }
        } else if (s->type == SET_STRING || s->type == SET_ENUM) {
            const char *v = *(const char *const *)field;
            if (!v && s->optional)
                continue;
            value parsed;
            char why[WHY_MAX];
            if (!v) {
                pal_err_format(errbuf, errlen, "%s: not set", s->name);
                return PAL_ERR_INVALID;
            }
            if (!parse_value(s, v, &parsed, why, sizeof(why))) {
                pal_err_format(errbuf, errlen, "%s: %s", s->name, why);
                return PAL_ERR_INVALID;
            }
            free(parsed.text);
        }
    }
    const char *problem = listen_problem(config->listen);
    if (problem) {
        char q[QUOTE_MAX + 8];
        pal_err_format(errbuf, errlen, "listen: '%s': %s", quoted(q, sizeof(q), config->listen),
                       problem);
        return PAL_ERR_INVALID;
    }
    if (config->retry_base_ms > config->retry_max_ms) {
        pal_err_format(errbuf, errlen, "retry_base_ms (%d) is larger than retry_max_ms (%d)",
                       config->retry_base_ms, config->retry_max_ms);
        return PAL_ERR_INVALID;
    }
    if (config->max_message_bytes > config->max_body_bytes) {
        pal_err_format(errbuf, errlen,
                       "max_message_bytes (%d) is larger than max_body_bytes (%d): no message "
                       "that long could arrive",
                       config->max_message_bytes, config->max_body_bytes);
        return PAL_ERR_INVALID;
    }
    for (size_t b = 0; b < config->n_bots; b++) {
        const char *path = config->bots[b].path;
        if (!path || !*path) {
            pal_err_format(errbuf, errlen, "bots: entry %zu has no directory", b + 1);
            return PAL_ERR_INVALID;
        }
        for (size_t j = 0; j < b; j++) {
            if (strcmp(config->bots[j].path, path) == 0) {
                char q[QUOTE_MAX + 8];
                pal_err_format(errbuf, errlen, "bots: '%s' is listed twice",
                               quoted(q, sizeof(q), path));
                return PAL_ERR_INVALID;
            }
        }
    }
    return PAL_OK;
}

/* ---- channel settings ------------------------------------------------------ */

/* Appends s upper-cased, every byte not [A-Z0-9] as '_'. */
static size_t env_append(char *out, size_t at, const char *s)
{
    for (; *s; s++) {
        char c = *s;
        if (c >= 'a' && c <= 'z')
            c = (char)(c - 'a' + 'A');
        out[at++] = (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ? c : '_';
    }
    return at;
}

/* The last component of path, ignoring trailing slashes: [*start, *start + *len). */
static void last_component(const char *path, const char **start, size_t *len)
{
    size_t end = strlen(path);
    while (end > 1 && path[end - 1] == '/')
        end--;
    size_t begin = end;
    while (begin > 0 && path[begin - 1] != '/')
        begin--;
    *start = path + begin;
    *len = end - begin;
}

static const pal_config_bot *find_bot(const pal_config *config, size_t bot_index,
                                      const char *bot_name)
{
    if (bot_index < config->n_bots)
        return &config->bots[bot_index];
    if (!bot_name)
        return NULL;
    size_t name_len = strlen(bot_name);
    for (size_t b = 0; b < config->n_bots; b++) {
        const char *start;
        size_t len;
        last_component(config->bots[b].path, &start, &len);
        if (len == name_len && memcmp(start, bot_name, len) == 0)
            return &config->bots[b];
    }
    return NULL;
}

const char *pal_config_channel(const pal_config *config, size_t bot_index, const char *bot_name,
                               const char *channel, const char *name,
                               char *(*getenv_fn)(const char *name))
{
    if (!config || !channel || !name)
        return NULL;
    if (getenv_fn && bot_name) {
        size_t size = sizeof("PALABRE___") + strlen(bot_name) + strlen(channel) + strlen(name);
        char *var = pal_xmalloc(size);
        size_t at = env_append(var, 0, "PALABRE_");
        at = env_append(var, at, bot_name);
        var[at++] = '_';
        at = env_append(var, at, channel);
        var[at++] = '_';
        at = env_append(var, at, name);
        var[at] = '\0';
        const char *from_env = getenv_fn(var);
        free(var);
        if (from_env)
            return from_env;
    }
    const pal_config_bot *bot = find_bot(config, bot_index, bot_name);
    if (!bot)
        return NULL;
    for (size_t i = 0; i < bot->n_settings; i++) {
        if (strcmp(bot->settings[i].channel, channel) == 0 &&
            strcmp(bot->settings[i].name, name) == 0)
            return bot->settings[i].value;
    }
    return NULL;
}

/* ---- help and dump ---------------------------------------------------------- */

void pal_config_print_help(FILE *out)
{
    int name_w = (int)strlen("SETTING"), default_w = (int)strlen("DEFAULT");
    for (size_t i = 0; i < N_SETTINGS; i++) {
        int n = (int)strlen(settings[i].name);
        int d = (int)strlen(settings[i].default_text ? settings[i].default_text : "(none)");
        name_w = n > name_w ? n : name_w;
        default_w = d > default_w ? d : default_w;
    }
    fprintf(out, "Settings, in the --config file (YAML), as PALABRE_* environment variables or\n"
                 "with --set NAME=VALUE (each overrides the one before):\n\n");
    fprintf(out, "  %-*s  %-*s  %s\n", name_w, "SETTING", default_w, "DEFAULT", "ENVIRONMENT");
    for (size_t i = 0; i < N_SETTINGS; i++) {
        const setting *s = &settings[i];
        fprintf(out, "  %-*s  %-*s  %s\n", name_w, s->name, default_w,
                s->default_text ? s->default_text : "(none)", s->env);
        fprintf(out, "      %s", s->help);
        if (s->type == SET_INT)
            fprintf(out, " (%lld..%lld)", s->min, s->max);
        else if (s->type == SET_BOOL)
            fputs(" (true|false)", out);
        for (size_t c = 0; s->type == SET_ENUM && s->choices[c]; c++)
            fprintf(out, "%s%s", c == 0 ? " (" : "|", s->choices[c]);
        fputs(s->type == SET_ENUM ? ")\n" : "\n", out);
    }
    fprintf(out, "\n  bots: a list of bot directories, each a path or {path: DIR, channels:\n"
                 "      {CHANNEL: {NAME: value}}}; a channel setting is overridden by\n"
                 "      PALABRE_<BOT>_<CHANNEL>_<NAME> (upper case, other characters as _).\n");
}

/* s as a double-quoted YAML scalar. */
static void yaml_string(FILE *out, const char *s)
{
    fputc('"', out);
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\')
            fprintf(out, "\\%c", c);
        else if (c == '\n')
            fputs("\\n", out);
        else if (c == '\t')
            fputs("\\t", out);
        else if (c < 0x20 || c == 0x7F)
            fprintf(out, "\\x%02x", c);
        else
            fputc(c, out);
    }
    fputc('"', out);
}

void pal_config_dump(const pal_config *config, FILE *out)
{
    fprintf(out, "# palabre configuration in effect (secrets shown as (set))\n");
    for (size_t i = 0; i < N_SETTINGS; i++) {
        const setting *s = &settings[i];
        const void *field = field_of_const(config, s);
        fprintf(out, "%s: ", s->name);
        switch (s->type) {
        case SET_STRING:
        case SET_ENUM: {
            const char *v = *(const char *const *)field;
            if (!v)
                fputs("null", out);
            else if (s->secret)
                fputs("(set)", out);
            else
                yaml_string(out, v);
            break;
        }
        case SET_INT:
            fprintf(out, "%d", *(const int *)field);
            break;
        case SET_BOOL:
            fputs(*(const bool *)field ? "true" : "false", out);
            break;
        }
        fputc('\n', out);
    }
    if (config->n_bots == 0) {
        fputs("bots: []\n", out);
        return;
    }
    fputs("bots:\n", out);
    for (size_t b = 0; b < config->n_bots; b++) {
        const pal_config_bot *bot = &config->bots[b];
        fputs("  - path: ", out);
        yaml_string(out, bot->path);
        fputc('\n', out);
        if (bot->n_settings == 0)
            continue;
        /* Channel settings may be credentials: only their names are shown. */
        fputs("    channels:\n", out);
        for (size_t i = 0; i < bot->n_settings; i++) {
            const char *channel = bot->settings[i].channel;
            size_t first = 0;
            while (strcmp(bot->settings[first].channel, channel) != 0)
                first++;
            if (first < i)
                continue; /* printed with its channel's first setting */
            fputs("      ", out);
            yaml_string(out, channel);
            fputs(":\n", out);
            for (size_t j = i; j < bot->n_settings; j++) {
                if (strcmp(bot->settings[j].channel, channel) != 0)
                    continue;
                fputs("        ", out);
                yaml_string(out, bot->settings[j].name);
                fputs(": (set)\n", out);
            }
        }
    }
}
