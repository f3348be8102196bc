/*
 * test_guard_ratelimit.c — token buckets: bursts then refusals, refill over
 * simulated time, Retry-After, independent keys, a memory bound that holds
 * under a million distinct keys, and exact totals from several threads.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <pthread.h>

#include <cmocka.h>

#include "guard/ratelimit.h"

static bool take(pal_ratelimit *limiter, const char *key, int64_t now_ms, int *retry_after_s)
{
    return pal_ratelimit_take(limiter, key, strlen(key), now_ms, retry_after_s);
}

static void burst_then_refusal(void **state)
{
    (void)state;
    pal_ratelimit *limiter = pal_ratelimit_new(60, 5, 1000);
    assert_non_null(limiter);
    for (int i = 0; i < 5; i++)
        assert_true(take(limiter, "customer-1", 1000, NULL));
    int retry = -1;
    assert_false(take(limiter, "customer-1", 1000, &retry));
    assert_int_equal(retry, 1); /* 60 a minute: one a second */
    assert_false(take(limiter, "customer-1", 1000, NULL));
    pal_ratelimit_free(limiter);
}

static void refills_over_time(void **state)
{
    (void)state;
    /* 120 a minute: a token every 500 ms, burst of 3. */
    pal_ratelimit *limiter = pal_ratelimit_new(120, 3, 1000);
    int64_t t = 1000000;
    for (int i = 0; i < 3; i++)
        assert_true(take(limiter, "k", t, NULL));
    assert_false(take(limiter, "k", t, NULL));
    assert_false(take(limiter, "k", t + 499, NULL));
    assert_true(take(limiter, "k", t + 500, NULL));
    assert_false(take(limiter, "k", t + 500, NULL));
    /* A second later: two tokens back, not more. */
    assert_true(take(limiter, "k", t + 1500, NULL));
    assert_true(take(limiter, "k", t + 1500, NULL));
    assert_false(take(limiter, "k", t + 1500, NULL));
    /* A long pause refills the bucket to burst, never beyond. */
    t += 3600 * 1000;
    for (int i = 0; i < 3; i++)
        assert_true(take(limiter, "k", t, NULL));
    assert_false(take(limiter, "k", t, NULL));
    /* Steady traffic at the rate is always allowed. */
    for (int i = 1; i <= 100; i++)
        assert_true(take(limiter, "k", t + i * 500, NULL));
    /* A clock going back refills nothing. */
    assert_false(take(limiter, "k", t, NULL));
    pal_ratelimit_free(limiter);
}

static void retry_after_in_whole_seconds(void **state)
{
    (void)state;
    /* 2 a minute: a token every 30 s. */
    pal_ratelimit *limiter = pal_ratelimit_new(2, 1, 100);
    int retry = 0;
    assert_true(take(limiter, "ip", 0, &retry));
    assert_int_equal(retry, 0); /* untouched when allowed */
    assert_false(take(limiter, "ip", 0, &retry));
    assert_int_equal(retry, 30);
    assert_false(take(limiter, "ip", 10000, &retry));
    assert_int_equal(retry, 20);
    assert_false(take(limiter, "ip", 10001, &retry));
    assert_int_equal(retry, 20); /* 19.999 s: rounded up */
    assert_false(take(limiter, "ip", 29999, &retry));
    assert_int_equal(retry, 1); /* never 0 */
    assert_true(take(limiter, "ip", 30000, &retry));
    pal_ratelimit_free(limiter);

    /* 1000 a minute: 60 ms a token; still at least 1 s. */
    limiter = pal_ratelimit_new(1000, 1, 100);
    assert_true(take(limiter, "ip", 0, NULL));
    assert_false(take(limiter, "ip", 0, &retry));
    assert_int_equal(retry, 1);
    pal_ratelimit_free(limiter);
}

static void keys_are_independent(void **state)
{
    (void)state;
    pal_ratelimit *limiter = pal_ratelimit_new(60, 2, 1000);
    assert_true(take(limiter, "alice", 0, NULL));
    assert_true(take(limiter, "alice", 0, NULL));
    assert_false(take(limiter, "alice", 0, NULL));
    assert_true(take(limiter, "bob", 0, NULL));
    assert_true(take(limiter, "bob", 0, NULL));
    assert_false(take(limiter, "bob", 0, NULL));
    /* Keys are bytes: a prefix, an embedded NUL or the empty key are others. */
    assert_true(take(limiter, "alic", 0, NULL));
    assert_true(pal_ratelimit_take(limiter, "alice\0x", 7, 0, NULL));
    assert_true(pal_ratelimit_take(limiter, NULL, 0, 0, NULL));
    assert_true(pal_ratelimit_take(limiter, "", 0, 0, NULL));
    assert_false(pal_ratelimit_take(limiter, NULL, 0, 0, NULL));
    unsigned char ip4[4] = {192, 0, 2, 1}, ip4b[4] = {192, 0, 2, 2};
    assert_true(pal_ratelimit_take(limiter, ip4, 4, 0, NULL));
    assert_true(pal_ratelimit_take(limiter, ip4, 4, 0, NULL));
    assert_false(pal_ratelimit_take(limiter, ip4, 4, 0, NULL));
    assert_true(pal_ratelimit_take(limiter, ip4b, 4, 0, NULL));
    assert_int_equal(pal_ratelimit_count(limiter), 7);
    pal_ratelimit_free(limiter);
}

static void zero_rate_is_unlimited_and_bad_arguments_refused(void **state)
{
    (void)state;
    pal_ratelimit *limiter = pal_ratelimit_new(0, 0, 10);
    assert_non_null(limiter);
    for (int i = 0; i < 100000; i++)
        assert_true(take(limiter, "anyone", 0, NULL));
    assert_int_equal(pal_ratelimit_count(limiter), 0);
    pal_ratelimit_free(limiter);

    assert_null(pal_ratelimit_new(-1, 1, 10));
    assert_null(pal_ratelimit_new(60, -1, 10));
    assert_null(pal_ratelimit_new(60, 1, 0));
    assert_null(pal_ratelimit_new(0.0 / 0.0, 1, 10));
    assert_null(pal_ratelimit_new(60, 1.0 / 0.0, 10));
    pal_ratelimit_free(NULL);

    /* A burst below 1 counts as 1; a tiny rate waits long but stays sane. */
    limiter = pal_ratelimit_new(1e-12, 0, 1);
    int retry = 0;
    assert_true(take(limiter, "k", 0, NULL));
    assert_false(take(limiter, "k", 0, &retry));
    assert_true(retry >= 1);
    pal_ratelimit_free(limiter);
}

static void memory_bound_under_a_million_keys(void **state)
{
    (void)state;
    const size_t max_keys = 10000;
    pal_ratelimit *limiter = pal_ratelimit_new(60, 10, max_keys);
    char key[32];
    for (int i = 0; i < 1000000; i++) {
        int n = snprintf(key, sizeof(key), "flood-%d", i);
        /* Every new key starts with a full bucket: allowed. */
        assert_true(pal_ratelimit_take(limiter, key, (size_t)n, i / 100, NULL));
        if (i % 100000 == 0)
            assert_true(pal_ratelimit_count(limiter) <= max_keys);
    }
    size_t count = pal_ratelimit_count(limiter);
    assert_true(count <= max_keys);
    assert_true(count >= max_keys / 2); /* the tables are used, not emptied */

    /* After the flood, a key still gets exactly its burst. */
    for (int i = 0; i < 10; i++)
        assert_true(take(limiter, "regular", 20000, NULL));
    assert_false(take(limiter, "regular", 20000, NULL));
    pal_ratelimit_free(limiter);

    /* max_keys smaller than the number of shards still holds. */
    limiter = pal_ratelimit_new(60, 1, 3);
    for (int i = 0; i < 1000; i++) {
        int n = snprintf(key, sizeof(key), "k%d", i);
        assert_true(pal_ratelimit_take(limiter, key, (size_t)n, 0, NULL));
        assert_true(pal_ratelimit_count(limiter) <= 3);
    }
    pal_ratelimit_free(limiter);
}

static void flood_does_not_reset_a_spent_key(void **state)
{
    (void)state;
    /* "busy" has spent its burst; a flood of new keys at the same moment
     * fills the table many times over. Eviction takes the fullest buckets
     * of a sample: the new keys (one token spent) go before "busy" (two
     * spent), so "busy" is never forgotten and given a fresh burst. */
    pal_ratelimit *limiter = pal_ratelimit_new(60, 2, 6400);
    char key[32];
    assert_true(take(limiter, "busy", 0, NULL));
    assert_true(take(limiter, "busy", 0, NULL));
    for (int i = 0; i < 200000; i++) {
        int n = snprintf(key, sizeof(key), "new-%d", i);
        assert_true(pal_ratelimit_take(limiter, key, (size_t)n, 0, NULL));
        if (i % 1000 == 0)
            assert_false(take(limiter, "busy", 0, NULL));
    }
    assert_true(pal_ratelimit_count(limiter) <= 6400);
    pal_ratelimit_free(limiter);
}

enum { THREADS = 4, SHARED_KEYS = 200, BURST = 10, ROUNDS = 50 };

typedef struct worker_arg {
    pal_ratelimit *limiter;
    int id;
    long allowed_shared;
    long allowed_own;
} worker_arg;

static void *worker(void *p)
{
    worker_arg *arg = p;
    char key[32];
    for (int round = 0; round < ROUNDS; round++) {
        for (int k = 0; k < SHARED_KEYS; k++) {
            int n = snprintf(key, sizeof(key), "shared-%d", k);
            if (pal_ratelimit_take(arg->limiter, key, (size_t)n, 5000, NULL))
                arg->allowed_shared++;
            n = snprintf(key, sizeof(key), "own-%d-%d", arg->id, k);
            if (pal_ratelimit_take(arg->limiter, key, (size_t)n, 5000, NULL))
                arg->allowed_own++;
        }
    }
    return NULL;
}

static void concurrent_totals_are_exact(void **state)
{
    (void)state;
    /* The clock stands still: each key allows exactly its burst, whichever
     * threads ask and however their calls interleave. */
    pal_ratelimit *limiter = pal_ratelimit_new(60, BURST, 100000);
    pthread_t threads[THREADS];
    worker_arg args[THREADS];
    for (int i = 0; i < THREADS; i++) {
        args[i] = (worker_arg){.limiter = limiter, .id = i};
        assert_int_equal(pthread_create(&threads[i], NULL, worker, &args[i]), 0);
    }
    long shared = 0;
    for (int i = 0; i < THREADS; i++) {
        assert_int_equal(pthread_join(threads[i], NULL), 0);
        shared += args[i].allowed_shared;
        assert_int_equal(args[i].allowed_own, (long)SHARED_KEYS * BURST);
    }
    assert_int_equal(shared, (long)SHARED_KEYS * BURST);
    assert_int_equal(pal_ratelimit_count(limiter), (size_t)SHARED_KEYS * (THREADS + 1));
    pal_ratelimit_free(limiter);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(burst_then_refusal),
        cmocka_unit_test(refills_over_time),
        cmocka_unit_test(retry_after_in_whole_seconds),
        cmocka_unit_test(keys_are_independent),
        cmocka_unit_test(zero_rate_is_unlimited_and_bad_arguments_refused),
        cmocka_unit_test(memory_bound_under_a_million_keys),
        cmocka_unit_test(flood_does_not_reset_a_spent_key),
        cmocka_unit_test(concurrent_totals_are_exact),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
