/*
 * template.h — `{{slot}}` and `{{name.field}}` in a bot's texts.
 *
 * A template is a bot author's text with placeholders: `{{quantity}}`,
 * `{{ order.id }}` (spaces inside the braces are allowed). Rendering
 * replaces each placeholder by what the caller's resolver returns for its
 * name; an unknown name renders as nothing. Anything that is not a
 * well-formed placeholder (a lone `{{`, a name with other characters than
 * letters, digits, `_`, `-` and `.`) is kept as written.
 *
 * The resolver decides what may be inserted: the engine resolves only slot
 * values and stored look-up/service results, never the customer's text
 * (SPEC.md §4, bot safety). Pure and thread-safe (each thread its arena).
 */
#ifndef PAL_DIALOG_TEMPLATE_H
#define PAL_DIALOG_TEMPLATE_H

#include <stdbool.h>

#include "base/mem.h"
#include "base/slice.h"

/* The value of placeholder `name` (borrowed; must stay valid until the
 * render returns), or NULL when there is none. ctx is the caller's. */
typedef const char *(*pal_template_resolve)(const void *ctx, pal_slice name);

/* Renders the NUL-terminated tpl. The result is NUL-terminated and owned by
 * arena (a copy even when tpl has no placeholder). */
char *pal_template_render(pal_arena *arena, const char *tpl, pal_template_resolve resolve,
                          const void *ctx);

/* True when tpl holds at least one well-formed placeholder. */
bool pal_template_has_placeholder(const char *tpl);

#endif
