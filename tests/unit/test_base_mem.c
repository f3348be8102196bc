/*
 * test_base_mem.c — the arena and the aborting allocators.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "base/err.h"
#include "base/mem.h"

static void arena_allocations_are_aligned_and_distinct(void **state)
{
    (void)state;
    pal_arena *a = pal_arena_new();
    char *prev = NULL;
    for (size_t i = 1; i < 5000; i++) {
        char *p = pal_arena_alloc(a, i % 97 + 1);
        assert_true(((uintptr_t)p % 16) == 0);
        memset(p, 0xAB, i % 97 + 1); /* ASan would catch an overlap or overflow */
        assert_ptr_not_equal(p, prev);
        prev = p;
    }
    pal_arena_free(a);
}

static void arena_big_blocks_and_reset(void **state)
{
    (void)state;
    pal_arena *a = pal_arena_new();
    for (int round = 0; round < 3; round++) {
        char *small = pal_arena_alloc(a, 10);
        char *big = pal_arena_alloc(a, 3 << 20); /* bigger than a chunk */
        memset(big, 1, 3 << 20);
        char *after = pal_arena_alloc(a, 10);
        memcpy(small, "123456789", 10);
        memcpy(after, "abcdefghi", 10);
        assert_string_equal(small, "123456789");
        assert_string_equal(after, "abcdefghi");
        pal_arena_reset(a);
    }
    char *s = pal_arena_strndup(a, "hello world", 5);
    assert_string_equal(s, "hello");
    pal_arena_free(a);
    pal_arena_free(NULL);
}

static void reserve_grows_geometrically(void **state)
{
    (void)state;
    int *v = NULL;
    size_t cap = 0;
    for (size_t i = 0; i < 10000; i++) {
        pal_xreserve((void **)&v, &cap, i + 1, sizeof(int));
        v[i] = (int)i;
    }
    assert_true(cap >= 10000 && cap < 40000);
    assert_int_equal(v[9999], 9999);
    free(v);
}

static void errors_have_descriptions(void **state)
{
    (void)state;
    for (int e = PAL_OK; e <= PAL_ERR_INTERNAL; e++) {
        const char *s = pal_err_str((pal_err)e);
        assert_non_null(s);
        assert_true(strlen(s) > 1);
    }
    assert_string_equal(pal_err_str((pal_err)999), "unknown error");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(arena_allocations_are_aligned_and_distinct),
        cmocka_unit_test(arena_big_blocks_and_reset),
        cmocka_unit_test(reserve_grows_geometrically),
        cmocka_unit_test(errors_have_descriptions),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
