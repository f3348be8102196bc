/*
 * test_store_pcache.c — SQLite behind palabre's page-cache wrapper (store/pcache.h) stays
 * exactly right: random index inserts over many transactions (B-tree balancing swaps pages,
 * the case the wrapper is for), rollbacks and deletes that free pages, a VACUUM that shrinks
 * the file, another connection's changes, all checked against a model, by a reader that stays open,
 * against a fresh connection (which has no cached pages to be wrong with) and with SQLite's
 * integrity check.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sqlite3.h>
#include <unistd.h>

#include <cmocka.h>

#include "store/pcache.h"

typedef struct fixture {
    char dir[64];
    char path[128];
} fixture;

static int make_dir(void **state)
{
    fixture *f = calloc(1, sizeof(*f));
    if (!f)
        return -1;
    snprintf(f->dir, sizeof(f->dir), "/tmp/palabre-pcache-XXXXXX");
    if (!mkdtemp(f->dir)) {
        free(f);
        return -1;
    }
    snprintf(f->path, sizeof(f->path), "%s/t.db", f->dir);
    *state = f;
    return 0;
}

static int remove_dir(void **state)
{
    fixture *f = *state;
    char path[160];
    const char *suffixes[] = {"", "-wal", "-shm"};
    for (size_t i = 0; i < sizeof(suffixes) / sizeof(suffixes[0]); i++) {
        snprintf(path, sizeof(path), "%s%s", f->path, suffixes[i]);
        unlink(path);
    }
    rmdir(f->dir);
    free(f);
    return 0;
}

static void exec_ok(sqlite3 *db, const char *sql)
{
    char *why = NULL;
    if (sqlite3_exec(db, sql, NULL, NULL, &why) != SQLITE_OK)
        fail_msg("%s: %s", sql, why ? why : "?");
}

static int64_t int_of(sqlite3 *db, const char *sql)
{
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
        fail_msg("%s: %s", sql, sqlite3_errmsg(db));
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    int64_t value = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return value;
}

static void check_ok(sqlite3 *db)
{
    sqlite3_stmt *st = NULL;
    assert_int_equal(sqlite3_prepare_v2(db, "PRAGMA integrity_check", -1, &st, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    assert_string_equal((const char *)sqlite3_column_text(st, 0), "ok");
    sqlite3_finalize(st);
}

/* What the table should hold. */
typedef struct model {
    int64_t rows, key_sum;
} model;

static void check_both(sqlite3 *writer, const char *path, const model *m)
{
    assert_int_equal(int_of(writer, "SELECT count(*) FROM t"), m->rows);
    assert_int_equal(int_of(writer, "SELECT coalesce(sum(k), 0) FROM t INDEXED BY t_k"),
                     m->key_sum);
    sqlite3 *fresh = NULL;
    assert_int_equal(sqlite3_open_v2(path, &fresh, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    assert_int_equal(int_of(fresh, "SELECT count(*) FROM t"), m->rows);
    assert_int_equal(int_of(fresh, "SELECT coalesce(sum(k), 0) FROM t INDEXED BY t_k"), m->key_sum);
    check_ok(fresh);
    sqlite3_close(fresh);
    check_ok(writer);
}

static void install_is_idempotent(void **state)
{
    (void)state;
    assert_true(pal_store_pcache_install()); /* main installed it: a second call says so */
}

static void random_inserts_rollbacks_and_vacuum_match_a_model(void **state)
{
    fixture *f = *state;
    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open(f->path, &db), SQLITE_OK);
    exec_ok(db, "PRAGMA page_size = 4096; PRAGMA journal_mode = WAL; "
                "PRAGMA cache_size = -65536; PRAGMA wal_autocheckpoint = 500");
    exec_ok(db, "CREATE TABLE t (id INTEGER PRIMARY KEY, k INTEGER NOT NULL, pad BLOB);"
                "CREATE INDEX t_k ON t (k)");
    sqlite3_stmt *insert = NULL;
    assert_int_equal(
        sqlite3_prepare_v2(db, "INSERT INTO t (k, pad) VALUES (?, zeroblob(?))", -1, &insert, NULL),
        SQLITE_OK);
    /* A reader that stays open, as the server's do: its cache must follow every change. */
    sqlite3 *reader = NULL;
    assert_int_equal(sqlite3_open_v2(f->path, &reader, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    model m = {0};
    uint64_t seed = 0x9e3779b97f4a7c15u;
    for (int txn = 0; txn < 600; txn++) {
        exec_ok(db, "BEGIN");
        model next = m;
        for (int i = 0; i < 40; i++) {
            seed = seed * 6364136223846793005u + 1442695040888963407u;
            int64_t k = (int64_t)(seed >> 40); /* random: inserts all over the index */
            sqlite3_bind_int64(insert, 1, k);
            sqlite3_bind_int(insert, 2, (int)(seed % 700));
            assert_int_equal(sqlite3_step(insert), SQLITE_DONE);
            sqlite3_reset(insert);
            next.rows++;
            next.key_sum += k;
        }
        if (txn % 7 == 3) { /* frees pages: later transactions reuse them out of order */
            next.rows -= int_of(db, "SELECT count(*) FROM t WHERE k % 5 = 0");
            next.key_sum -= int_of(db, "SELECT coalesce(sum(k), 0) FROM t WHERE k % 5 = 0");
            exec_ok(db, "DELETE FROM t WHERE k % 5 = 0");
        }
        if (txn % 5 == 4) {
            exec_ok(db, "ROLLBACK"); /* the cache must drop the pages past the end again */
        } else {
            exec_ok(db, "COMMIT");
            m = next;
        }
        assert_int_equal(int_of(reader, "SELECT count(*) FROM t INDEXED BY t_k"), m.rows);
        assert_int_equal(int_of(reader, "SELECT coalesce(sum(k), 0) FROM t"), m.key_sum);
        if (txn % 50 == 25) { /* another connection changes pages the writer has cached */
            sqlite3 *other = NULL;
            assert_int_equal(sqlite3_open(f->path, &other), SQLITE_OK);
            m.rows -= int_of(other, "SELECT count(*) FROM t WHERE k % 11 = 0");
            m.key_sum -= int_of(other, "SELECT coalesce(sum(k), 0) FROM t WHERE k % 11 = 0");
            exec_ok(other, "DELETE FROM t WHERE k % 11 = 0");
            sqlite3_close(other);
            assert_int_equal(int_of(db, "SELECT count(*) FROM t INDEXED BY t_k"), m.rows);
        }
        if (txn % 150 == 149)
            check_both(db, f->path, &m);
        if (txn == 300)
            exec_ok(db, "VACUUM"); /* the file shrinks: truncations below the last one */
    }
    sqlite3_finalize(insert);
    check_both(db, f->path, &m);
    assert_true(m.rows > 10000);
    sqlite3_close(reader);
    sqlite3_close(db);
}

int main(void)
{
    /* Before any other SQLite call, as in palabre's main. */
    if (!pal_store_pcache_install()) {
        fputs("the page-cache wrapper could not be installed\n", stderr);
        return 1;
    }
#define T(f) cmocka_unit_test_setup_teardown(f, make_dir, remove_dir)
    const struct CMUnitTest tests[] = {
        T(install_is_idempotent),
        T(random_inserts_rollbacks_and_vacuum_match_a_model),
    };
#undef T
    return cmocka_run_group_tests(tests, NULL, NULL);
}
