/*
 * ytree.c — YAML text into a small tree (see ytree.h), with libfyaml's
 * event parser: one pass, positions kept, anchors/aliases/tags refused,
 * duplicate keys refused, sizes capped.
 */
#include "base/ytree.h"

#include <libfyaml.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "text/utf8.h"

typedef struct ybuild {
    const pal_ytree_options *options;
    size_t max_depth;
    pal_arena *arena;
    char *errbuf;
    size_t errlen;
} ybuild;

__attribute__((format(printf, 5, 0))) static pal_err vfail(ybuild *ld, pal_err err, int line,
                                                           int column, const char *fmt, va_list ap)
{
    if (!ld->errbuf || !ld->errlen)
        return err;
    int n = snprintf(ld->errbuf, ld->errlen, "%s:%d:%d: ", ld->options->path, line, column);
    if (n >= 0 && (size_t)n < ld->errlen)
        vsnprintf(ld->errbuf + n, ld->errlen - (size_t)n, fmt, ap);
    return err;
}

__attribute__((format(printf, 4, 5))) static pal_err fail(ybuild *ld, pal_err err,
                                                          const pal_ynode *at, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vfail(ld, err, at ? at->line : 1, at ? at->column : 1, fmt, ap);
    va_end(ap);
    return err;
}

__attribute__((format(printf, 5, 6))) static pal_err fail_pos(ybuild *ld, pal_err err, int line,
                                                              int column, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vfail(ld, err, line, column, fmt, ap);
    va_end(ap);
    return err;
}

typedef struct frame {
    pal_ynode *node;
    pal_ynode *key; /* a mapping's key still waiting for its value */
} frame;

static void diag_discard(struct fy_diag *diag, void *user, const char *buf, size_t len)
{
    (void)diag;
    (void)user;
    (void)buf;
    (void)len;
}

static void node_append(pal_ynode *parent, pal_ynode *child)
{
    if (parent->last)
        parent->last->next = child;
    else
        parent->first = child;
    parent->last = child;
    parent->count++;
}

static int cmp_key(const void *a, const void *b)
{
    const pal_ynode *x = *(const pal_ynode *const *)a;
    const pal_ynode *y = *(const pal_ynode *const *)b;
    return strcmp(x->text, y->text);
}

static bool before(const pal_ynode *a, const pal_ynode *b)
{
    return a->line < b->line || (a->line == b->line && a->column < b->column);
}

/* Duplicate keys are refused: YAML says a mapping's keys are unique, and a
 * second `order:` flow silently replacing the first would be a bug to hunt. */
static pal_err check_duplicate_keys(ybuild *ld, const pal_ynode *map)
{
    if (map->count < 2)
        return PAL_OK;
    const pal_ynode **keys = pal_xmalloc(map->count * sizeof(*keys));
    size_t n = 0;
    for (const pal_ynode *k = map->first; k; k = k->next)
        keys[n++] = k;
    qsort(keys, n, sizeof(*keys), cmp_key);
    pal_err err = PAL_OK;
    for (size_t i = 1; i < n; i++) {
        if (strcmp(keys[i - 1]->text, keys[i]->text) != 0)
            continue;
        const pal_ynode *first = before(keys[i - 1], keys[i]) ? keys[i - 1] : keys[i];
        const pal_ynode *second = first == keys[i] ? keys[i - 1] : keys[i];
        err = fail(ld, PAL_ERR_PARSE, second, "duplicate key '%s' (first at line %d)", second->text,
                   first->line);
        break;
    }
    free(keys);
    return err;
}

static bool is_null_text(const char *s)
{
    return !*s || strcmp(s, "~") == 0 || strcmp(s, "null") == 0 || strcmp(s, "Null") == 0 ||
           strcmp(s, "NULL") == 0;
}

/* Puts n in its place: root, sequence item, mapping key or value. */
static pal_err attach(ybuild *ld, frame *stack, size_t depth, pal_ynode *n, pal_ynode **root)
{
    if (depth == 0) {
        *root = n;
        return PAL_OK;
    }
    frame *top = &stack[depth - 1];
    if (top->node->kind == PAL_Y_SEQ) {
        node_append(top->node, n);
        return PAL_OK;
    }
    if (!top->key) {
        if (n->kind != PAL_Y_SCALAR || n->null)
            return fail(ld, PAL_ERR_PARSE, n, "expected a key (a plain string)");
        node_append(top->node, n);
        top->key = n;
        return PAL_OK;
    }
    top->key->value = n;
    top->key = NULL;
    return PAL_OK;
}

/* The position of an event; empty values have none: they take their key's. */
static void event_position(struct fy_event *event, const frame *stack, size_t depth, int *line,
                           int *column)
{
    const struct fy_mark *mark = fy_event_start_mark(event);
    if (mark) {
        *line = mark->line + 1;
        *column = mark->column + 1;
        return;
    }
    *line = 1;
    *column = 1;
    if (depth > 0) {
        const pal_ynode *near = stack[depth - 1].key ? stack[depth - 1].key : stack[depth - 1].node;
        *line = near->line;
        *column = near->column;
    }
}

static pal_err syntax_error(ybuild *ld, struct fy_diag *diag)
{
    void *iter = NULL;
    struct fy_diag_error *e;
    while ((e = fy_diag_errors_iterate(diag, &iter)) != NULL) {
        if (e->type < FYET_ERROR)
            continue;
        /* libfyaml's collected positions are already 1-based. */
        return fail_pos(ld, PAL_ERR_PARSE, e->line > 0 ? e->line : 1, e->column > 0 ? e->column : 1,
                        "invalid YAML: %s", e->msg ? e->msg : "syntax error");
    }
    return fail_pos(ld, PAL_ERR_PARSE, 1, 1, "invalid YAML");
}

/* One event into the tree. *done is set at the end of the stream. */
static pal_err tree_event(ybuild *ld, struct fy_event *event, frame *stack, size_t *depth,
                          size_t *nodes, int *documents, pal_ynode **root, bool *done)
{
    int line, column;
    event_position(event, stack, *depth, &line, &column);
    switch (event->type) {
    case FYET_STREAM_START:
    case FYET_DOCUMENT_END:
        return PAL_OK;
    case FYET_STREAM_END:
        *done = true;
        return PAL_OK;
    case FYET_DOCUMENT_START:
        if (++*documents > 1)
            return fail_pos(ld, PAL_ERR_PARSE, line, column, "expected one YAML document: %s",
                            ld->options->one_document);
        return PAL_OK;
    case FYET_ALIAS: /* marked on its name, after the '*' */
        return fail_pos(ld, PAL_ERR_PARSE, line, column > 1 ? column - 1 : column,
                        "aliases (*name) are not supported: write the value out");
    case FYET_MAPPING_END:
    case FYET_SEQUENCE_END: {
        if (*depth == 0)
            return fail_pos(ld, PAL_ERR_PARSE, line, column, "unexpected end of a collection");
        pal_ynode *closed = stack[*depth - 1].node;
        (*depth)--;
        return closed->kind == PAL_Y_MAP ? check_duplicate_keys(ld, closed) : PAL_OK;
    }
    case FYET_SCALAR:
    case FYET_MAPPING_START:
    case FYET_SEQUENCE_START:
        break;
    default:
        return fail_pos(ld, PAL_ERR_PARSE, line, column, "unexpected YAML event");
    }
    struct fy_token *anchor = fy_event_get_anchor_token(event);
    struct fy_token *tag = fy_event_get_tag_token(event);
    if (anchor || tag) {
        const struct fy_mark *mark = fy_token_start_mark(anchor ? anchor : tag);
        if (mark) {
            /* An anchor's mark is on its name, after the '&'. */
            line = mark->line + 1;
            column = mark->column + (anchor && mark->column > 0 ? 0 : 1);
        }
        return fail_pos(ld, PAL_ERR_PARSE, line, column, "%s",
                        anchor ? "anchors (&name) and aliases are not supported: write the "
                                 "value out"
                               : "tags (!name) are not supported");
    }
    if (++*nodes > ld->options->max_nodes)
        return fail_pos(ld, ld->options->over_limits, line, column, "more than %zu YAML nodes",
                        ld->options->max_nodes);
    pal_ynode *n = pal_arena_alloc(ld->arena, sizeof(*n));
    memset(n, 0, sizeof(*n));
    n->line = line;
    n->column = column;
    if (event->type == FYET_SCALAR) {
        size_t len = 0;
        const char *text = fy_token_get_text(event->scalar.value, &len);
        if (!text)
            len = 0;
        n->kind = PAL_Y_SCALAR;
        n->text = pal_arena_strndup(ld->arena, text ? text : "", len);
        n->len = len;
        enum fy_scalar_style style = fy_token_scalar_style(event->scalar.value);
        n->plain = style == FYSS_PLAIN;
        /* libfyaml marks a quoted scalar after its quote; authors expect the quote. */
        if ((style == FYSS_SINGLE_QUOTED || style == FYSS_DOUBLE_QUOTED) && n->column > 1)
            n->column--;
        if (pal_utf8_check_text(n->text, len, NULL) != PAL_OK)
            return fail(ld, PAL_ERR_PARSE, n, "a string holds a NUL character or invalid UTF-8");
        n->null = n->plain && is_null_text(n->text);
        return attach(ld, stack, *depth, n, root);
    }
    n->kind = event->type == FYET_MAPPING_START ? PAL_Y_MAP : PAL_Y_SEQ;
    pal_err err = attach(ld, stack, *depth, n, root);
    if (err)
        return err;
    if (*depth == ld->max_depth)
        return fail_pos(ld, ld->options->over_limits, line, column,
                        "nested more than %zu levels deep", ld->max_depth);
    stack[(*depth)++] = (frame){n, NULL};
    return PAL_OK;
}

/* Line and column (in characters) of byte offset off of valid text[0..off). */
static void offset_position(const char *text, size_t off, int *line, int *column)
{
    size_t line_start = 0;
    int l = 1;
    for (size_t i = 0; i < off; i++) {
        if (text[i] == '\n') {
            l++;
            line_start = i + 1;
        }
    }
    *line = l;
    *column = (int)pal_utf8_length(text + line_start, off - line_start) + 1;
}

static pal_err tree_build(ybuild *ld, const char *yaml, size_t len, pal_ynode **root)
{
    struct fy_diag *diag = NULL;
    struct fy_parser *parser = NULL;
    struct fy_event *event = NULL;
    frame stack[PAL_YTREE_MAX_DEPTH];
    size_t depth = 0, nodes = 0;
    int documents = 0;
    bool done = false;
    pal_err err = PAL_ERR_INTERNAL;
    size_t bad;

    *root = NULL;
    if (pal_utf8_check_text(yaml, len, &bad) != PAL_OK) {
        int line, column;
        offset_position(yaml, bad, &line, &column);
        return fail_pos(ld, PAL_ERR_PARSE, line, column,
                        yaml[bad] ? "invalid UTF-8: %s is UTF-8 text"
                                  : "a NUL byte: %s is UTF-8 text",
                        ld->options->what);
    }

    struct fy_diag_cfg dcfg;
    fy_diag_cfg_default(&dcfg);
    dcfg.fp = NULL;
    dcfg.output_fn = diag_discard;
    dcfg.colorize = false;
    diag = fy_diag_create(&dcfg);
    if (!diag) {
        err = fail_pos(ld, PAL_ERR_INTERNAL, 1, 1, "libfyaml: cannot create diagnostics");
        goto out;
    }
    fy_diag_set_collect_errors(diag, true);
    struct fy_parse_cfg cfg = {.flags = FYPCF_QUIET | FYPCF_COLLECT_DIAG, .diag = diag};
    parser = fy_parser_create(&cfg);
    if (!parser || fy_parser_set_string(parser, yaml, len) != 0) {
        err = fail_pos(ld, PAL_ERR_INTERNAL, 1, 1, "libfyaml: cannot create a parser");
        goto out;
    }
    while (!done) {
        event = fy_parser_parse(parser);
        if (!event) {
            if (fy_parser_get_stream_error(parser) || fy_diag_got_error(diag)) {
                err = syntax_error(ld, diag);
                goto out;
            }
            break;
        }
        err = tree_event(ld, event, stack, &depth, &nodes, &documents, root, &done);
        fy_parser_event_free(parser, event);
        event = NULL;
        if (err)
            goto out;
    }
    if (fy_diag_got_error(diag)) {
        err = syntax_error(ld, diag);
        goto out;
    }
    if (!*root && !ld->options->empty) {
        err = PAL_OK; /* an empty document is allowed: *root stays NULL */
        goto out;
    }
    if (!*root) {
        err = fail_pos(ld, PAL_ERR_PARSE, 1, 1, "the file is empty: %s", ld->options->empty);
        goto out;
    }
    err = PAL_OK;
out:
    if (event)
        fy_parser_event_free(parser, event);
    fy_parser_destroy(parser);
    if (diag)
        fy_diag_destroy(diag);
    return err;
}

pal_err pal_ytree_parse(const pal_ytree_options *options, const char *text, size_t len,
                        pal_arena *arena, pal_ynode **root, char *errbuf, size_t errlen)
{
    ybuild ld = {
        .options = options,
        .max_depth = options->max_depth > 0 && options->max_depth < PAL_YTREE_MAX_DEPTH
                         ? options->max_depth
                         : PAL_YTREE_MAX_DEPTH,
        .arena = arena,
        .errbuf = errbuf,
        .errlen = errlen,
    };
    return tree_build(&ld, text, len, root);
}
