/*
 * mem.h — allocation that never returns NULL, and a bump arena.
 *
 * Allocation failure aborts the process (as Redis and h2o do): palabre's
 * memory use is bounded by explicit limits on input sizes, so running out
 * of memory is a configuration error, not a condition to limp through.
 *
 * pal_arena is a per-request / per-message allocator: many small
 * allocations, freed in one go with pal_arena_reset(). Not thread-safe; give
 * each thread its own.
 */
#ifndef PAL_BASE_MEM_H
#define PAL_BASE_MEM_H

#include <stddef.h>

/* Like malloc/calloc/realloc/strdup, but abort on failure. Caller frees with free(). */
void *pal_xmalloc(size_t size);
void *pal_xcalloc(size_t count, size_t size);
void *pal_xrealloc(void *ptr, size_t size);
char *pal_xstrdup(const char *s);
char *pal_xstrndup(const char *s, size_t len);

/* Grow *array (of *cap elements of elem_size) so that it holds at least need elements. */
void pal_xreserve(void **array, size_t *cap, size_t need, size_t elem_size);

typedef struct pal_arena pal_arena; /* opaque */

/* A new empty arena; caller frees with pal_arena_free(). */
pal_arena *pal_arena_new(void);
/* NULL is a no-op. */
void pal_arena_free(pal_arena *arena);
/* Forget every allocation (memory is kept for reuse, up to one chunk). */
void pal_arena_reset(pal_arena *arena);
/* size bytes aligned for any object; owned by the arena until reset/free. */
void *pal_arena_alloc(pal_arena *arena, size_t size);
/* A NUL-terminated copy of s[0..len); owned by the arena. */
char *pal_arena_strndup(pal_arena *arena, const char *s, size_t len);

#endif
