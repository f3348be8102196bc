/*
 * mem.c — aborting allocators and the bump arena.
 *
 * The arena allocates chunks of at least PAL_ARENA_CHUNK bytes; a request
 * larger than a chunk gets a chunk of its own. Reset keeps the first chunk
 * so that a steady stream of similar messages allocates nothing.
 */
#include "base/mem.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { PAL_ARENA_CHUNK = 64 * 1024, PAL_ARENA_ALIGN = 16 };

static void die_oom(size_t size)
{
    fprintf(stderr, "palabre: out of memory (%zu bytes)\n", size);
    abort();
}

void *pal_xmalloc(size_t size)
{
    void *p = malloc(size ? size : 1);
    if (!p)
        die_oom(size);
    return p;
}

void *pal_xcalloc(size_t count, size_t size)
{
    void *p = calloc(count ? count : 1, size ? size : 1);
    if (!p)
        die_oom(count * size);
    return p;
}

void *pal_xrealloc(void *ptr, size_t size)
{
    void *p = realloc(ptr, size ? size : 1);
    if (!p)
        die_oom(size);
    return p;
}

char *pal_xstrdup(const char *s)
{
    return pal_xstrndup(s, strlen(s));
}

char *pal_xstrndup(const char *s, size_t len)
{
    char *p = pal_xmalloc(len + 1);
    memcpy(p, s, len);
    p[len] = '\0';
    return p;
}

void pal_xreserve(void **array, size_t *cap, size_t need, size_t elem_size)
{
    if (need <= *cap)
        return;
    size_t next = *cap ? *cap : 8;
    while (next < need) {
        if (next > SIZE_MAX / 2 / elem_size)
            die_oom(SIZE_MAX);
        next *= 2;
    }
    *array = pal_xrealloc(*array, next * elem_size);
    *cap = next;
}

typedef struct arena_chunk {
    struct arena_chunk *next;
    size_t size; /* usable bytes after the header */
    size_t used;
} arena_chunk;

struct pal_arena {
    arena_chunk *head; /* current chunk; older ones follow */
};

static size_t chunk_header(void)
{
    return (sizeof(arena_chunk) + PAL_ARENA_ALIGN - 1) & ~(size_t)(PAL_ARENA_ALIGN - 1);
}

static arena_chunk *chunk_new(size_t size)
{
    arena_chunk *c = pal_xmalloc(chunk_header() + size);
    c->next = NULL;
    c->size = size;
    c->used = 0;
    return c;
}

pal_arena *pal_arena_new(void)
{
    pal_arena *a = pal_xcalloc(1, sizeof(*a));
    a->head = chunk_new(PAL_ARENA_CHUNK);
    return a;
}

void pal_arena_free(pal_arena *arena)
{
    if (!arena)
        return;
    arena_chunk *c = arena->head;
    while (c) {
        arena_chunk *next = c->next;
        free(c);
        c = next;
    }
    free(arena);
}

void pal_arena_reset(pal_arena *arena)
{
    /* Keep one standard chunk: big one-off chunks and extra ones go back. */
    arena_chunk *keep = NULL;
    arena_chunk *c = arena->head;
    while (c) {
        arena_chunk *next = c->next;
        if (!keep && c->size == PAL_ARENA_CHUNK)
            keep = c;
        else
            free(c);
        c = next;
    }
    arena->head = keep ? keep : chunk_new(PAL_ARENA_CHUNK);
    arena->head->next = NULL;
    arena->head->used = 0;
}

void *pal_arena_alloc(pal_arena *arena, size_t size)
{
    size = (size + PAL_ARENA_ALIGN - 1) & ~(size_t)(PAL_ARENA_ALIGN - 1);
    if (size == 0)
        size = PAL_ARENA_ALIGN;
    arena_chunk *c = arena->head;
    if (c->size - c->used < size) {
        if (size > PAL_ARENA_CHUNK / 4) {
            /* A big block gets its own chunk, linked behind the current one
             * so the current chunk's free space stays usable. */
            arena_chunk *big = chunk_new(size);
            big->used = size;
            big->next = c->next;
            c->next = big;
            return (char *)big + chunk_header();
        }
        c = chunk_new(PAL_ARENA_CHUNK);
        c->next = arena->head;
        arena->head = c;
    }
    void *p = (char *)c + chunk_header() + c->used;
    c->used += size;
    return p;
}

char *pal_arena_strndup(pal_arena *arena, const char *s, size_t len)
{
    char *p = pal_arena_alloc(arena, len + 1);
    memcpy(p, s, len);
    p[len] = '\0';
    return p;
}
