/*
 * test_store_sqlite.c — what palabre puts between the store and SQLite, exactly right.
 *
 * The page-cache wrapper (store/pcache.h): random index inserts over many transactions
 * (B-tree balancing swaps pages, the case the wrapper is for), rollbacks and deletes that free
 * pages, a VACUUM that shrinks the file, another connection's changes, all checked against a
 * model, by a reader that stays open, against a fresh connection (which has no cached pages
 * to be wrong with) and with SQLite's integrity check.
 *
 * The VFS that gathers a commit's WAL writes (store/walbuf.h): every commit is on disk, whole,
 * when SQLite says it is committed, and nothing more. Transactions of every size (one row;
 * hundreds of KiB, across the default VFS's 128 KiB write limit; past the 1 MiB gathering
 * limit), rollbacks, savepoints, checkpoints and WAL restarts, each checked at once by readers
 * on the default VFS (which read the WAL file, not the writer's memory); pages spilled to the
 * WAL and read back; processes killed with uncommitted frames in flight and right after a
 * commit, whose files must hold every commit and only those.
 *
 * main installs both, as palabre's main does.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sqlite3.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "store/pcache.h"
#include "store/walbuf.h"

typedef struct fixture {
    char dir[64];
    char path[128];
} fixture;

static int make_dir(void **state)
{
    fixture *f = calloc(1, sizeof(*f));
    if (!f)
        return -1;
    snprintf(f->dir, sizeof(f->dir), "/tmp/palabre-sqlite-XXXXXX");
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

/* What the page-cache test's table should hold. */
typedef struct key_model {
    int64_t rows, key_sum;
} key_model;

static void check_both(sqlite3 *writer, const char *path, const key_model *m)
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
    key_model m = {0};
    uint64_t seed = 0x9e3779b97f4a7c15u;
    for (int txn = 0; txn < 600; txn++) {
        exec_ok(db, "BEGIN");
        key_model next = m;
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

static sqlite3 *open_writer(const char *path, int cache_pages)
{
    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE,
                                     PAL_STORE_WALBUF_VFS),
                     SQLITE_OK);
    char sql[160];
    snprintf(sql, sizeof(sql),
             "PRAGMA page_size = 4096; PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; "
             "PRAGMA cache_size = %d",
             cache_pages);
    exec_ok(db, sql);
    exec_ok(db, "CREATE TABLE IF NOT EXISTS t (id INTEGER PRIMARY KEY, k INTEGER NOT NULL, "
                "pad BLOB)");
    return db;
}

/* What the table should hold. */
typedef struct model {
    int64_t rows, sum;
} model;

static void insert_rows(sqlite3 *db, int n, int pad_bytes, int64_t first_k, model *m)
{
    sqlite3_stmt *st = NULL;
    assert_int_equal(
        sqlite3_prepare_v2(db, "INSERT INTO t (k, pad) VALUES (?, randomblob(?))", -1, &st, NULL),
        SQLITE_OK);
    for (int i = 0; i < n; i++) {
        sqlite3_bind_int64(st, 1, first_k + i);
        sqlite3_bind_int(st, 2, pad_bytes);
        assert_int_equal(sqlite3_step(st), SQLITE_DONE);
        sqlite3_reset(st);
        m->rows++;
        m->sum += first_k + i;
    }
    sqlite3_finalize(st);
}

static void readers_see(sqlite3 *const *readers, size_t n, const model *m)
{
    for (size_t i = 0; i < n; i++) {
        assert_int_equal(int_of(readers[i], "SELECT count(*) FROM t"), m->rows);
        assert_int_equal(int_of(readers[i], "SELECT coalesce(sum(k), 0) FROM t"), m->sum);
    }
}

static void commits_of_every_size_are_seen_at_once(void **state)
{
    fixture *f = *state;
    sqlite3 *db = open_writer(f->path, 2000);
    sqlite3 *readers[2] = {NULL, NULL};
    assert_int_equal(sqlite3_open_v2(f->path, &readers[0], SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    assert_int_equal(
        sqlite3_open_v2(f->path, &readers[1], SQLITE_OPEN_READONLY, PAL_STORE_WALBUF_VFS),
        SQLITE_OK);
    model m = {0};
    /* rows × bytes: one row; a few pages; ~128 KiB, about the default VFS's largest write;
     * ~2 MiB, past the gathering limit */
    const int sizes[][2] = {{1, 10}, {20, 3000}, {33, 3900}, {32, 4000}, {500, 4000}, {3, 50}};
    int64_t k = 1;
    for (int round = 0; round < 12; round++) {
        for (size_t s = 0; s < sizeof(sizes) / sizeof(sizes[0]); s++) {
            exec_ok(db, "BEGIN");
            insert_rows(db, sizes[s][0], sizes[s][1], k, &m);
            k += sizes[s][0];
            exec_ok(db, "COMMIT");
            readers_see(readers, 2, &m);
        }
        /* a rollback, and a savepoint half kept */
        model kept = m;
        exec_ok(db, "BEGIN");
        insert_rows(db, 40, 3000, k, &m);
        exec_ok(db, "ROLLBACK");
        m = kept;
        readers_see(readers, 2, &m);
        exec_ok(db, "BEGIN; SAVEPOINT a");
        insert_rows(db, 5, 100, k, &m);
        kept = m;
        exec_ok(db, "SAVEPOINT b");
        insert_rows(db, 50, 3000, k + 5, &m);
        exec_ok(db, "ROLLBACK TO b; RELEASE a; COMMIT");
        m = kept;
        k += 100;
        readers_see(readers, 2, &m);
        if (round % 4 == 3) /* copied into the database, the WAL restarts at its beginning */
            exec_ok(db, "PRAGMA wal_checkpoint(TRUNCATE)");
        else if (round % 4 == 1)
            exec_ok(db, "PRAGMA wal_checkpoint(PASSIVE)");
    }
    check_ok(readers[0]);
    assert_true(m.rows > 6000);
    sqlite3_close(readers[0]);
    sqlite3_close(readers[1]);
    sqlite3_close(db);

    /* and from the file alone */
    sqlite3 *fresh = NULL;
    assert_int_equal(sqlite3_open_v2(f->path, &fresh, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    readers_see(&fresh, 1, &m);
    check_ok(fresh);
    sqlite3_close(fresh);
}

/* With a cache of a few pages, a big transaction writes pages to the WAL before its
 * commit and reads them back from there: gathered bytes must be written before. */
static void pages_spilled_to_the_wal_are_read_back(void **state)
{
    fixture *f = *state;
    sqlite3 *db = open_writer(f->path, 20);
    model m = {0};
    for (int round = 0; round < 3; round++) {
        exec_ok(db, "BEGIN");
        insert_rows(db, 300, 3000, 1 + round * 1000, &m);
        assert_int_equal(int_of(db, "SELECT count(*) FROM t"), m.rows);
        assert_int_equal(int_of(db, "SELECT sum(k) FROM t"), m.sum);
        m.sum += int_of(db, "SELECT sum(k) FROM t WHERE id % 3 = 0");
        exec_ok(db, "UPDATE t SET k = k * 2 WHERE id % 3 = 0");
        assert_int_equal(int_of(db, "SELECT sum(k) FROM t"), m.sum);
        exec_ok(db, "COMMIT");
    }
    sqlite3 *reader = NULL;
    assert_int_equal(sqlite3_open_v2(f->path, &reader, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    readers_see(&reader, 1, &m);
    check_ok(reader);
    sqlite3_close(reader);
    sqlite3_close(db);
}

/* A child process commits `commits` transactions, then either leaves a big one unfinished
 * (a small cache makes SQLite write its pages to the WAL before the commit) or not, and dies
 * without closing anything. */
static void child_commits_then_dies(const char *path, int commits, int unfinished)
{
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        sqlite3 *db = open_writer(path, 50);
        model ignored = {0};
        for (int i = 0; i < commits; i++) {
            exec_ok(db, "BEGIN");
            insert_rows(db, 1 + i % 7, 1000 + 400 * (i % 9), 1000000 + i * 10, &ignored);
            exec_ok(db, "COMMIT");
        }
        if (unfinished) {
            exec_ok(db, "BEGIN");
            insert_rows(db, 400, 4000, 5000000, &ignored); /* ~1.6 MB: spilled, gathered */
        }
        _exit(0); /* as kill -9 would: no close, no checkpoint, nothing flushed but the OS's */
    }
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

static void a_dead_process_leaves_its_commits_and_only_them(void **state)
{
    fixture *f = *state;
    sqlite3 *db = open_writer(f->path, 2000); /* creates the table */
    sqlite3_close(db);
    int64_t expected = 0;
    for (int run = 0; run < 4; run++) {
        int commits = 10 + run * 13;
        child_commits_then_dies(f->path, commits, run % 2);
        for (int i = 0; i < commits; i++)
            expected += 1 + i % 7;
        sqlite3 *check = NULL;
        assert_int_equal(sqlite3_open(f->path, &check), SQLITE_OK);
        assert_int_equal(int_of(check, "SELECT count(*) FROM t"), expected);
        assert_int_equal(int_of(check, "SELECT count(*) FROM t WHERE k >= 5000000"), 0);
        check_ok(check);
        sqlite3_close(check);
    }
}

int main(void)
{
    /* In palabre main's order (the VFS's install starts SQLite); each twice: idempotent. */
    if (!pal_store_pcache_install() || !pal_store_pcache_install() || !pal_store_walbuf_install() ||
        !pal_store_walbuf_install()) {
        fputs("the page-cache wrapper or the WAL-gathering VFS could not be installed\n", stderr);
        return 1;
    }
#define T(f) cmocka_unit_test_setup_teardown(f, make_dir, remove_dir)
    const struct CMUnitTest tests[] = {
        T(random_inserts_rollbacks_and_vacuum_match_a_model),
        T(commits_of_every_size_are_seen_at_once),
        T(pages_spilled_to_the_wal_are_read_back),
        T(a_dead_process_leaves_its_commits_and_only_them),
    };
#undef T
    return cmocka_run_group_tests(tests, NULL, NULL);
}
