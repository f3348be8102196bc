/*
 * ytree.h — a YAML document as a small tree of nodes with positions, for
 * palabre's own file formats (bots, the server's configuration).
 *
 * What it accepts is deliberately small: one document of mappings,
 * sequences and scalars; anchors, aliases and tags are refused (a bot
 * author should see the value where it is used), duplicate keys are
 * refused, text must be UTF-8 without NUL, and node count and nesting are
 * capped, so a hostile file costs bounded memory. Every error reads
 * "PATH:LINE:COLUMN: what", columns in characters.
 *
 * Threads: pal_ytree_parse is thread-safe (nothing shared).
 */
#ifndef PAL_BASE_YTREE_H
#define PAL_BASE_YTREE_H

#include <stdbool.h>
#include <stddef.h>

#include "base/err.h"
#include "base/mem.h"

enum { PAL_YTREE_MAX_DEPTH = 64 }; /* libfyaml's own nesting limit too */

typedef enum pal_ykind { PAL_Y_SCALAR = 0, PAL_Y_SEQ, PAL_Y_MAP } pal_ykind;

typedef struct pal_ynode pal_ynode;
struct pal_ynode {
    pal_ykind kind;
    bool null;        /* an empty, ~ or null plain scalar */
    bool plain;       /* a scalar written without quotes */
    int line, column; /* 1-based */
    const char *text; /* scalars: NUL-terminated (no NUL inside), in the arena */
    size_t len;
    pal_ynode *first, *last; /* sequence items, or mapping keys */
    size_t count;
    pal_ynode *next;  /* the next item or key of the parent */
    pal_ynode *value; /* mapping keys: their value (never NULL once built) */
};

typedef struct pal_ytree_options {
    const char *path;         /* named in messages */
    size_t max_nodes;         /* more: over_limits */
    size_t max_depth;         /* at most PAL_YTREE_MAX_DEPTH (0: that) */
    pal_err over_limits;      /* PAL_ERR_LIMIT or PAL_ERR_PARSE */
    const char *what;         /* "a bot file": "invalid UTF-8: a bot file is UTF-8 text" */
    const char *one_document; /* after "expected one YAML document: " */
    const char *empty;        /* after "the file is empty: "; NULL: an empty document is
                                 fine, and *root is NULL then */
} pal_ytree_options;

/* Parses text[0..len) (borrowed). On PAL_OK *root (OUT) is the document's
 * root node; every node and string lives in arena (borrowed). Errors:
 * PAL_ERR_PARSE (not such YAML), PAL_ERR_LIMIT (over the caps),
 * PAL_ERR_INTERNAL (libfyaml could not be set up); errbuf says where and
 * why. */
pal_err pal_ytree_parse(const pal_ytree_options *options, const char *text, size_t len,
                        pal_arena *arena, pal_ynode **root, char *errbuf, size_t errlen);

#endif
