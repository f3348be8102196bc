/*
 * template.c — rendering `{{name}}` placeholders (see template.h).
 *
 * One pass over the template: literal runs are copied, each well-formed
 * placeholder is resolved once and its value appended. The output buffer
 * lives in the caller's arena and starts with room for the template plus
 * some values; it doubles (a new arena block) in the rare case it must, so
 * the cost is linear in what is written.
 */
#include "dialog/template.h"

#include <string.h>

enum { RENDER_SLACK = 64 };

typedef struct out_buf {
    pal_arena *arena;
    char *ptr;
    size_t len, cap; /* cap excludes the terminating NUL */
} out_buf;

static void buf_append(out_buf *b, const char *s, size_t n)
{
    if (b->len + n > b->cap) {
        size_t cap = b->cap * 2;
        if (cap < b->len + n)
            cap = b->len + n;
        char *grown = pal_arena_alloc(b->arena, cap + 1);
        memcpy(grown, b->ptr, b->len);
        b->ptr = grown;
        b->cap = cap;
    }
    memcpy(b->ptr + b->len, s, n);
    b->len += n;
}

static bool name_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
           c == '-' || c == '.';
}

/* If a well-formed placeholder starts at p (which points at "{{"), sets
 * *name and returns the byte just after its "}}"; otherwise NULL. */
static const char *parse_placeholder(const char *p, pal_slice *name)
{
    const char *q = p + 2;
    while (*q == ' ')
        q++;
    const char *start = q;
    while (name_char(*q))
        q++;
    const char *end = q;
    while (*q == ' ')
        q++;
    if (end == start || q[0] != '}' || q[1] != '}')
        return NULL;
    *name = (pal_slice){start, (size_t)(end - start)};
    return q + 2;
}

bool pal_template_has_placeholder(const char *tpl)
{
    for (const char *p = strstr(tpl, "{{"); p; p = strstr(p + 1, "{{")) {
        pal_slice name;
        if (parse_placeholder(p, &name))
            return true;
    }
    return false;
}

char *pal_template_render(pal_arena *arena, const char *tpl, pal_template_resolve resolve,
                          const void *ctx)
{
    size_t tpl_len = strlen(tpl);
    out_buf b = {arena, pal_arena_alloc(arena, tpl_len + RENDER_SLACK + 1), 0,
                 tpl_len + RENDER_SLACK};
    const char *p = tpl;
    for (;;) {
        const char *open = strstr(p, "{{");
        if (!open) {
            buf_append(&b, p, strlen(p));
            break;
        }
        pal_slice name;
        const char *after = parse_placeholder(open, &name);
        if (!after) {
            /* Not a placeholder: keep the first brace, look again after it. */
            buf_append(&b, p, (size_t)(open - p) + 1);
            p = open + 1;
            continue;
        }
        buf_append(&b, p, (size_t)(open - p));
        const char *value = resolve(ctx, name);
        if (value)
            buf_append(&b, value, strlen(value));
        p = after;
    }
    b.ptr[b.len] = '\0';
    return b.ptr;
}
