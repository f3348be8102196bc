/*
 * test_store.c — the SQLite store: schema and migrations, ingest with dedup and the identity
 * cache across rollbacks, turns and their replies, the outbox, recovery after a crash, what
 * readers see, the JSON the API shows, and texts that must come back byte for byte.
 *
 * Every test gets a fresh folder from mkdtemp (its state); the database lives in a
 * subfolder that the store creates. Some checks read the file directly with SQLite, to see
 * what was stored rather than what the store says it stored.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdatomic.h>
#include <unistd.h>

#include <cmocka.h>

#include "base/log.h"
#include "store/pcache.h"
#include "store/store.h"
#include "store/walbuf.h"

#define T0 INT64_C(1700000000000) /* 2023-11-14T22:13:20.000Z */

typedef struct fixture {
    char *dir;      /* from mkdtemp */
    char path[512]; /* dir/data/palabre.db: data/ does not exist yet */
} fixture;

static void remove_tree(const char *dir)
{
    DIR *d = opendir(dir);
    if (d) {
        struct dirent *e;
        char path[4096];
        while ((e = readdir(d)) != NULL) {
            if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
                continue;
            snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
            if (unlink(path) != 0)
                remove_tree(path);
        }
        closedir(d);
    }
    rmdir(dir);
}

static int make_dir(void **state)
{
    fixture *f = calloc(1, sizeof(*f));
    if (!f)
        return -1;
    f->dir = strdup("/tmp/palabre-store-XXXXXX");
    if (!f->dir || !mkdtemp(f->dir)) {
        free(f->dir);
        free(f);
        return -1;
    }
    snprintf(f->path, sizeof(f->path), "%s/data/palabre.db", f->dir);
    *state = f;
    return 0;
}

static int remove_dir(void **state)
{
    fixture *f = *state;
    remove_tree(f->dir);
    free(f->dir);
    free(f);
    return 0;
}

static pal_store *open_store(const fixture *f)
{
    pal_store_options options = {.sync_full = false};
    pal_store *store = NULL;
    char err[512] = "";
    pal_err e = pal_store_open(f->path, &options, &store, err, sizeof(err));
    if (e != PAL_OK)
        fail_msg("open %s: %s (%s)", f->path, err, pal_err_str(e));
    return store;
}

static pal_store_reader *open_reader(pal_store *store)
{
    pal_store_reader *reader = NULL;
    assert_int_equal(pal_store_reader_open(store, &reader), PAL_OK);
    assert_non_null(reader);
    return reader;
}

/* The integer a query returns, read straight from the file. */
static int64_t sql_int(const fixture *f, const char *sql)
{
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    assert_int_equal(sqlite3_open_v2(f->path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
        fail_msg("%s: %s", sql, sqlite3_errmsg(db));
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    int64_t value = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    sqlite3_close(db);
    return value;
}

static pal_store_counts counts(pal_store *store)
{
    pal_store_reader *reader = open_reader(store);
    pal_store_counts c;
    assert_int_equal(pal_store_count(reader, &c), PAL_OK);
    pal_store_reader_close(reader);
    return c;
}

static pal_inbound inbound(const char *bot, const char *channel, const char *user,
                           const char *dedup_key, const char *text, int64_t at)
{
    return (pal_inbound){.bot = bot,
                         .channel = channel,
                         .external_user = user,
                         .dedup_key = dedup_key,
                         .text = text,
                         .received_at = at};
}

/* Ingests one message in its own transaction. */
static pal_ingested ingest1(pal_store *store, pal_inbound in)
{
    pal_ingested got;
    assert_int_equal(pal_store_begin(store), PAL_OK);
    assert_int_equal(pal_store_ingest(store, &in, &got), PAL_OK);
    assert_int_equal(pal_store_commit(store), PAL_OK);
    return got;
}

/* A turn for the message got, with the given replies, returned in the answer. */
static pal_turn_record turn_for(const pal_ingested *got, const pal_outbound *replies, size_t n,
                                int64_t at)
{
    return (pal_turn_record){.conversation_id = got->conversation_id,
                             .message_id = got->message_id,
                             .inbound_status = "processed",
                             .intent = "greet",
                             .confidence = 0.9,
                             .channel = "api",
                             .delivery = PAL_DELIVERY_RETURNED,
                             .replies = replies,
                             .n_replies = n,
                             .identity_id = got->identity_id,
                             .consent = -1,
                             .at = at};
}

static pal_err record1(pal_store *store, const pal_turn_record *turn, int64_t *reply_ids)
{
    assert_int_equal(pal_store_begin(store), PAL_OK);
    pal_err e = pal_store_record_turn(store, turn, reply_ids);
    if (e == PAL_OK)
        assert_int_equal(pal_store_commit(store), PAL_OK);
    else
        pal_store_rollback(store);
    return e;
}

static const char *str(json_t *object, const char *key)
{
    json_t *value = json_object_get(object, key);
    if (!json_is_string(value))
        fail_msg("\"%s\" is not a string", key);
    return json_string_value(value);
}

static int64_t num(json_t *object, const char *key)
{
    json_t *value = json_object_get(object, key);
    if (!json_is_integer(value))
        fail_msg("\"%s\" is not an integer", key);
    return (int64_t)json_integer_value(value);
}

/* ---- schema --------------------------------------------------------------------------- */

static void open_creates_schema_and_directory(void **state)
{
    fixture *f = *state;
    pal_store *store = open_store(f);
    assert_int_equal(pal_store_schema_version(), 3);
    assert_int_equal(sql_int(f, "PRAGMA user_version"), pal_store_schema_version());
    assert_int_equal(sql_int(f, "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND "
                                "name IN ('customers', 'identities', 'conversations', "
                                "'messages', 'outbox', 'events')"),
                     6);
    pal_store_counts c = counts(store);
    assert_int_equal(c.inbound + c.outbound + c.conversations + c.customers + c.outbox, 0);
    pal_store_close(store);
    pal_store_close(NULL);

    /* The file is in WAL mode for good (the mode is stored in the file). */
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    assert_int_equal(sqlite3_open_v2(f->path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_prepare_v2(db, "PRAGMA journal_mode", -1, &st, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    assert_string_equal((const char *)sqlite3_column_text(st, 0), "wal");
    sqlite3_finalize(st);
    sqlite3_close(db);
}

static void open_fails_cleanly(void **state)
{
    fixture *f = *state;
    pal_store *store = (pal_store *)f; /* must be reset to NULL */
    char err[512] = "";
    char path[600];
    /* Two missing levels: only one is created. */
    snprintf(path, sizeof(path), "%s/a/b/palabre.db", f->dir);
    assert_int_equal(pal_store_open(path, NULL, &store, err, sizeof(err)), PAL_ERR_IO);
    assert_null(store);
    assert_non_null(strstr(err, "/a"));
    /* Not a database. */
    snprintf(path, sizeof(path), "%s/junk.db", f->dir);
    FILE *junk = fopen(path, "w");
    assert_non_null(junk);
    for (int i = 0; i < 200; i++)
        fputs("this is not an SQLite database, only text. ", junk);
    fclose(junk);
    assert_int_equal(pal_store_open(path, NULL, &store, err, sizeof(err)), PAL_ERR_IO);
    assert_null(store);
    assert_int_equal(pal_store_open(NULL, NULL, &store, err, sizeof(err)), PAL_ERR_INVALID);
}

static void reopen_keeps_data(void **state)
{
    fixture *f = *state;
    pal_store *store = open_store(f);
    pal_ingested first = ingest1(store, inbound("stade", "api", "u1", "k1", "bonjour", T0));
    pal_store_close(store);

    store = open_store(f);
    pal_store_counts c = counts(store);
    assert_int_equal(c.inbound, 1);
    assert_int_equal(c.customers, 1);
    /* The same customer is found again (not from a cache: this is a new handle). */
    pal_ingested again = ingest1(store, inbound("stade", "api", "u1", "k2", "re", T0 + 1));
    assert_int_equal(again.conversation_id, first.conversation_id);
    assert_int_equal(again.customer_id, first.customer_id);
    assert_int_equal(again.identity_id, first.identity_id);
    assert_false(again.new_conversation);
    assert_true(again.message_id > first.message_id);
    /* The key stored before the reopen is still a duplicate. */
    pal_ingested dup = ingest1(store, inbound("stade", "api", "u1", "k1", "bonjour", T0 + 2));
    assert_true(dup.duplicate);
    assert_int_equal(dup.message_id, first.message_id);
    pal_store_close(store);
}

/* With sync_deferred the writer's commits are made durable by pal_store_sync(), which another
 * thread runs while the writer goes on (the server's syncer): every commit is kept, a sync at
 * any moment succeeds, and without the option the call does nothing. */
typedef struct syncer_arg {
    pal_store *store;
    atomic_int stop; /* set by the main thread once, read here */
    int syncs, failures;
} syncer_arg;

static void *sync_loop(void *arg)
{
    syncer_arg *a = arg;
    while (!atomic_load(&a->stop)) {
        if (pal_store_sync(a->store) != PAL_OK)
            a->failures++;
        a->syncs++;
    }
    return NULL;
}

static void deferred_sync_from_another_thread(void **state)
{
    fixture *f = *state;
    pal_store_options options = {.sync_full = true, .sync_deferred = true};
    pal_store *store = NULL;
    char err[512] = "";
    assert_int_equal(pal_store_open(f->path, &options, &store, err, sizeof(err)), PAL_OK);
    syncer_arg arg = {.store = store};
    pthread_t thread;
    assert_int_equal(pthread_create(&thread, NULL, sync_loop, &arg), 0);
    for (int i = 0; i < 200; i++) {
        char user[16], key[16];
        snprintf(user, sizeof(user), "u%d", i % 37);
        snprintf(key, sizeof(key), "k%d", i);
        ingest1(store, inbound("stade", "api", user, key, "bonjour", T0 + i));
    }
    atomic_store(&arg.stop, 1);
    assert_int_equal(pthread_join(thread, NULL), 0);
    assert_int_equal(arg.failures, 0);
    assert_true(arg.syncs > 0);
    assert_int_equal(pal_store_sync(store), PAL_OK);
    pal_store_close(store);
    assert_int_equal(sql_int(f, "SELECT count(*) FROM messages"), 200);
    assert_int_equal(sql_int(f, "SELECT count(*) FROM customers"), 37);

    /* without the option: commits are synced by SQLite (or not at all); the call is a no-op */
    store = open_store(f);
    assert_int_equal(pal_store_sync(store), PAL_OK);
    pal_store_close(store);
    assert_int_equal(pal_store_sync(NULL), PAL_ERR_STATE);
}

/* With checkpoint_deferred the WAL is copied into the database by pal_store_checkpoint(),
 * called when pal_store_checkpoint_due() says so (the server's checkpointer thread), and the
 * writer finishes the copy: the WAL keeps starting again from its beginning, so its file
 * stays near the threshold (3,000 pages) instead of growing to the writer's own limit
 * (12,000), and nothing written is lost. Here the passes come between commits, so the
 * bound is exact; the next test runs them on another thread, against a writer going flat
 * out. */
static long file_size(const char *path)
{
    FILE *fp = fopen(path, "rb");
    if (!fp)
        return -1;
    long size = fseek(fp, 0, SEEK_END) == 0 ? ftell(fp) : -1;
    fclose(fp);
    return size;
}

enum { PAGE_MESSAGES = 16000 }; /* ~3.5 KB each, a page each: 16,000 pages through the WAL */

/* Ingests message i of the page-sized series (101 customers). */
static void ingest_page_message(pal_store *store, int i)
{
    char user[16], key[16], text[3500];
    memset(text, 'a', sizeof(text) - 1);
    text[sizeof(text) - 1] = '\0';
    snprintf(user, sizeof(user), "u%d", i % 101);
    snprintf(key, sizeof(key), "k%d", i);
    memcpy(text, key, strlen(key));
    ingest1(store, inbound("stade", "api", user, key, text, T0 + i));
}

static void check_page_messages(const fixture *f)
{
    assert_int_equal(sql_int(f, "SELECT count(*) FROM messages"), PAGE_MESSAGES);
    assert_int_equal(sql_int(f, "SELECT count(DISTINCT substr(text, 1, 7)) FROM messages"),
                     PAGE_MESSAGES);
    assert_int_equal(sql_int(f, "SELECT count(*) FROM customers"), 101);
    assert_int_equal(sql_int(f, "SELECT count(*) FROM pragma_integrity_check WHERE "
                                "integrity_check = 'ok'"),
                     1);
}

static pal_store *open_deferred(const fixture *f)
{
    pal_store_options options = {
        .sync_full = true, .sync_deferred = true, .checkpoint_deferred = true};
    pal_store *store = NULL;
    char err[512] = "";
    assert_int_equal(pal_store_open(f->path, &options, &store, err, sizeof(err)), PAL_OK);
    return store;
}

static long wal_bytes(const fixture *f)
{
    char wal[600];
    snprintf(wal, sizeof(wal), "%s-wal", f->path);
    return file_size(wal);
}

static void deferred_checkpoint_keeps_the_wal_short(void **state)
{
    fixture *f = *state;
    pal_store *store = open_deferred(f);
    assert_false(pal_store_checkpoint_due(store));
    int passes = 0;
    for (int i = 0; i < PAGE_MESSAGES; i++) {
        ingest_page_message(store, i);
        if (pal_store_checkpoint_due(store)) {
            assert_int_equal(pal_store_checkpoint(store), PAL_OK);
            assert_false(pal_store_checkpoint_due(store)); /* copied: not due again */
            passes++;
        }
    }
    assert_int_equal(pal_store_sync(store), PAL_OK);
    assert_true(passes >= 4);
    /* 3,000 pages and the commit that crossed them, never the writer's 12,000 */
    assert_true(wal_bytes(f) > 0);
    assert_true(wal_bytes(f) < 3100L * (4096 + 24));
    pal_store_close(store);
    check_page_messages(f);

    /* without the option the call does nothing and is never due */
    store = open_store(f);
    assert_false(pal_store_checkpoint_due(store));
    assert_int_equal(pal_store_checkpoint(store), PAL_OK);
    pal_store_close(store);
    assert_false(pal_store_checkpoint_due(NULL));
    assert_int_equal(pal_store_checkpoint(NULL), PAL_ERR_STATE);
}

typedef struct checkpointer_arg {
    pal_store *store;
    atomic_int stop; /* set by the main thread once, read here */
    int passes, failures;
} checkpointer_arg;

static void *checkpoint_loop(void *arg)
{
    checkpointer_arg *a = arg;
    while (!atomic_load(&a->stop)) {
        if (!pal_store_checkpoint_due(a->store)) {
            usleep(200);
            continue;
        }
        if (pal_store_checkpoint(a->store) != PAL_OK)
            a->failures++;
        a->passes++;
    }
    return NULL;
}

static void deferred_checkpoint_from_another_thread(void **state)
{
    fixture *f = *state;
    pal_store *store = open_deferred(f);
    checkpointer_arg arg = {.store = store};
    pthread_t thread;
    assert_int_equal(pthread_create(&thread, NULL, checkpoint_loop, &arg), 0);
    for (int i = 0; i < PAGE_MESSAGES; i++) {
        ingest_page_message(store, i);
        if (i % 64 == 0)
            assert_int_equal(pal_store_sync(store), PAL_OK);
    }
    atomic_store(&arg.stop, 1);
    assert_int_equal(pthread_join(thread, NULL), 0);
    assert_int_equal(arg.failures, 0);
    assert_true(arg.passes >= 1);
    /* How short depends on how the two threads were scheduled; never past the writer's
     * own limit (12,000 pages) and its commit. */
    assert_true(wal_bytes(f) < 12100L * (4096 + 24));
    pal_store_close(store);
    check_page_messages(f);
}

static void refuses_newer_schema(void **state)
{
    fixture *f = *state;
    pal_store_close(open_store(f));
    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open(f->path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db, "PRAGMA user_version = 99", NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);

    pal_store *store = NULL;
    char err[512] = "";
    assert_int_equal(pal_store_open(f->path, NULL, &store, err, sizeof(err)), PAL_ERR_STATE);
    assert_null(store);
    assert_non_null(strstr(err, "newer"));
    /* Nothing was changed by the refusal. */
    assert_int_equal(sql_int(f, "PRAGMA user_version"), 99);
}

/* ---- ingest --------------------------------------------------------------------------- */

static void ingest_creates_customer_identity_conversation(void **state)
{
    fixture *f = *state;
    pal_store *store = open_store(f);
    pal_ingested a = ingest1(store, inbound("stade", "api", "alice", "a1", "bonjour", T0));
    assert_false(a.duplicate);
    assert_true(a.new_conversation);
    assert_true(a.message_id > 0 && a.conversation_id > 0);
    assert_true(a.customer_id > 0 && a.identity_id > 0);
    pal_store_counts c = counts(store);
    assert_int_equal(c.customers, 1);
    assert_int_equal(c.conversations, 1);
    assert_int_equal(c.inbound, 1);
    assert_int_equal(c.inbound_received, 1);
    assert_int_equal(sql_int(f, "SELECT count(*) FROM identities WHERE bot = 'stade' AND "
                                "channel = 'api' AND external_id = 'alice' AND opted_out = 0"),
                     1);
    assert_int_equal(sql_int(f, "SELECT mode = 'bot' FROM conversations"), 1);

    /* Alice again: same conversation. */
    pal_ingested a2 = ingest1(store, inbound("stade", "api", "alice", "a2", "ça va ?", T0 + 5));
    assert_false(a2.new_conversation);
    assert_int_equal(a2.conversation_id, a.conversation_id);
    assert_int_equal(a2.identity_id, a.identity_id);
    assert_true(a2.message_id > a.message_id);
    /* Bob, or Alice on another channel or with another bot: another customer. */
    pal_ingested b = ingest1(store, inbound("stade", "api", "bob", "b1", "hi", T0 + 6));
    pal_ingested aw = ingest1(store, inbound("stade", "webchat", "alice", "w1", "hi", T0 + 7));
    pal_ingested ab = ingest1(store, inbound("assistant", "api", "alice", "x1", "hi", T0 + 8));
    assert_true(b.new_conversation && aw.new_conversation && ab.new_conversation);
    assert_true(b.customer_id != a.customer_id && aw.customer_id != a.customer_id);
    assert_true(ab.conversation_id != a.conversation_id);
    c = counts(store);
    assert_int_equal(c.customers, 4);
    assert_int_equal(c.conversations, 4);
    assert_int_equal(c.inbound, 5);

    pal_store_reader *reader = open_reader(store);
    int64_t found = 0;
    assert_int_equal(pal_store_find_conversation(reader, "stade", "api", "alice", &found), PAL_OK);
    assert_int_equal(found, a.conversation_id);
    assert_int_equal(pal_store_find_conversation(reader, "stade", "api", "carol", &found),
                     PAL_ERR_NOT_FOUND);
    pal_store_reader_close(reader);
    pal_store_close(store);
}

static void dedup_key_is_scoped_by_bot_and_channel(void **state)
{
    fixture *f = *state;
    pal_store *store = open_store(f);
    pal_ingested first = ingest1(store, inbound("stade", "messenger", "u1", "mid.1", "un", T0));

    /* Same key, same bot and channel (even from someone else): a duplicate, nothing written. */
    pal_ingested again = ingest1(store, inbound("stade", "messenger", "u1", "mid.1", "un", T0 + 1));
    assert_true(again.duplicate);
    assert_false(again.new_conversation);
    assert_int_equal(again.message_id, first.message_id);
    assert_int_equal(again.conversation_id, first.conversation_id);
    pal_store_counts c = counts(store);
    assert_int_equal(c.inbound, 1);
    assert_int_equal(c.customers, 1);

    /* Same key with another bot, or on another channel: new messages. */
    pal_ingested other_bot =
        ingest1(store, inbound("assistant", "messenger", "u1", "mid.1", "x", T0));
    pal_ingested other_channel =
        ingest1(store, inbound("stade", "telegram", "u1", "mid.1", "y", T0));
    assert_false(other_bot.duplicate);
    assert_false(other_channel.duplicate);
    assert_true(other_bot.message_id != first.message_id);
    assert_true(other_channel.message_id != other_bot.message_id);

    /* No key: never a duplicate. */
    pal_ingested n1 = ingest1(store, inbound("stade", "messenger", "u1", NULL, "sans clé", T0));
    pal_ingested n2 = ingest1(store, inbound("stade", "messenger", "u1", NULL, "sans clé", T0));
    assert_false(n1.duplicate);
    assert_false(n2.duplicate);
    assert_true(n2.message_id != n1.message_id);
    assert_int_equal(counts(store).inbound, 5);

    /* Within one transaction too. */
    pal_inbound in = inbound("stade", "messenger", "u2", "mid.2", "deux", T0);
    pal_ingested x, y;
    assert_int_equal(pal_store_begin(store), PAL_OK);
    assert_int_equal(pal_store_ingest(store, &in, &x), PAL_OK);
    assert_int_equal(pal_store_ingest(store, &in, &y), PAL_OK);
    assert_int_equal(pal_store_commit(store), PAL_OK);
    assert_false(x.duplicate);
    assert_true(y.duplicate);
    assert_int_equal(y.message_id, x.message_id);
    assert_int_equal(counts(store).inbound, 6);
    pal_store_close(store);
}

static void rollback_discards_and_cache_follows(void **state)
{
    fixture *f = *state;
    pal_store *store = open_store(f);
    pal_ingested known = ingest1(store, inbound("stade", "api", "known", "k0", "hello", T0));

    pal_inbound fresh = inbound("stade", "api", "fresh", "k1", "new customer", T0 + 1);
    pal_inbound known2 = inbound("stade", "api", "known", "k2", "again", T0 + 2);
    pal_ingested got;
    assert_int_equal(pal_store_begin(store), PAL_OK);
    assert_int_equal(pal_store_ingest(store, &fresh, &got), PAL_OK);
    assert_true(got.new_conversation);
    int64_t rolled_back_conversation = got.conversation_id;
    assert_int_equal(pal_store_ingest(store, &known2, &got), PAL_OK);
    pal_store_rollback(store);

    pal_store_counts c = counts(store);
    assert_int_equal(c.customers, 1);
    assert_int_equal(c.conversations, 1);
    assert_int_equal(c.inbound, 1);
    /* Calls outside a transaction are refused. */
    assert_int_equal(pal_store_ingest(store, &fresh, &got), PAL_ERR_STATE);
    assert_int_equal(pal_store_commit(store), PAL_ERR_STATE);
    pal_store_rollback(store); /* harmless */

    /* The customer created in the rolled-back transaction is created again, for real. */
    pal_ingested again = ingest1(store, fresh);
    assert_true(again.new_conversation);
    assert_false(again.duplicate);
    pal_ingested k2 = ingest1(store, known2);
    assert_false(k2.duplicate);
    assert_int_equal(k2.conversation_id, known.conversation_id);
    c = counts(store);
    assert_int_equal(c.customers, 2);
    assert_int_equal(c.conversations, 2);
    assert_int_equal(c.inbound, 3);
    /* Its ids point at rows that exist. */
    pal_store_reader *reader = open_reader(store);
    pal_conversation_row row;
    assert_int_equal(pal_store_load_conversation(reader, again.conversation_id, &row), PAL_OK);
    assert_int_equal(row.customer_id, again.customer_id);
    pal_conversation_row_clear(&row);
    int64_t found = 0;
    assert_int_equal(pal_store_find_conversation(reader, "stade", "api", "fresh", &found), PAL_OK);
    assert_int_equal(found, again.conversation_id);
    if (rolled_back_conversation != again.conversation_id)
        assert_int_equal(pal_store_load_conversation(reader, rolled_back_conversation, &row),
                         PAL_ERR_NOT_FOUND);
    pal_store_reader_close(reader);
    assert_int_equal(sql_int(f, "SELECT count(*) FROM identities WHERE external_id = 'fresh'"), 1);

    /* Many new customers in one rolled-back batch, then the same batch committed. */
    char user[32];
    for (int round = 0; round < 2; round++) {
        assert_int_equal(pal_store_begin(store), PAL_OK);
        for (int i = 0; i < 3000; i++) {
            snprintf(user, sizeof(user), "batch-%d", i);
            pal_inbound in = inbound("stade", "api", user, NULL, "x", T0 + 10 + i);
            assert_int_equal(pal_store_ingest(store, &in, &got), PAL_OK);
            assert_true(got.new_conversation);
        }
        if (round == 0)
            pal_store_rollback(store);
        else
            assert_int_equal(pal_store_commit(store), PAL_OK);
    }
    c = counts(store);
    assert_int_equal(c.customers, 3002);
    assert_int_equal(c.conversations, 3002);
    /* And they are known now. */
    assert_int_equal(pal_store_begin(store), PAL_OK);
    for (int i = 0; i < 3000; i += 7) {
        snprintf(user, sizeof(user), "batch-%d", i);
        pal_inbound in = inbound("stade", "api", user, NULL, "y", T0 + 20000);
        assert_int_equal(pal_store_ingest(store, &in, &got), PAL_OK);
        assert_false(got.new_conversation);
    }
    assert_int_equal(pal_store_commit(store), PAL_OK);
    assert_int_equal(counts(store).customers, 3002);
    pal_store_close(store);
}

/* ---- turns ---------------------------------------------------------------------------- */

static void record_turn_returned(void **state)
{
    fixture *f = *state;
    pal_store *store = open_store(f);
    pal_ingested got = ingest1(store, inbound("stade", "api", "u1", "k1", "2 corona", T0));

    pal_store_reader *reader = open_reader(store);
    json_t *replies = NULL;
    bool processed = true;
    assert_int_equal(pal_store_replies_to(reader, got.message_id, &replies, &processed), PAL_OK);
    assert_false(processed);
    assert_int_equal(json_array_size(replies), 0);
    json_decref(replies);

    pal_outbound out[2] = {{.text = "C'est noté.", .quick_replies_json = "[\"Oui\",\"Non\"]"},
                           {.text = "Autre chose ?", .quick_replies_json = NULL}};
    pal_turn_record turn = turn_for(&got, out, 2, T0 + 123);
    turn.state_json = "{\"turn\":1}";
    turn.meta_json = "{\"consent\":true}";
    turn.lang = "fr";
    int64_t ids[2] = {0, 0};
    assert_int_equal(record1(store, &turn, ids), PAL_OK);
    assert_true(ids[0] > got.message_id);
    assert_true(ids[1] > ids[0]);

    pal_store_counts c = counts(store);
    assert_int_equal(c.inbound_received, 0);
    assert_int_equal(c.outbound, 2);
    assert_int_equal(c.outbound_sent, 2);
    assert_int_equal(c.outbox, 0);

    assert_int_equal(pal_store_replies_to(reader, got.message_id, &replies, &processed), PAL_OK);
    assert_true(processed);
    assert_int_equal(json_array_size(replies), 2);
    json_t *r0 = json_array_get(replies, 0);
    assert_int_equal(num(r0, "id"), ids[0]);
    assert_int_equal(num(r0, "conversation_id"), got.conversation_id);
    assert_string_equal(str(r0, "direction"), "out");
    assert_string_equal(str(r0, "channel"), "api");
    assert_string_equal(str(r0, "text"), "C'est noté.");
    assert_string_equal(str(r0, "status"), "sent");
    assert_int_equal(num(r0, "in_reply_to"), got.message_id);
    assert_string_equal(str(r0, "created_at"), "2023-11-14T22:13:20.123Z");
    assert_string_equal(str(r0, "sent_at"), "2023-11-14T22:13:20.123Z");
    json_t *qr = json_object_get(r0, "quick_replies");
    assert_int_equal(json_array_size(qr), 2);
    assert_string_equal(json_string_value(json_array_get(qr, 1)), "Non");
    assert_null(json_object_get(r0, "error"));
    json_t *r1 = json_array_get(replies, 1);
    assert_string_equal(str(r1, "text"), "Autre chose ?");
    assert_null(json_object_get(r1, "quick_replies"));
    json_decref(replies);

    pal_conversation_row row;
    assert_int_equal(pal_store_load_conversation(reader, got.conversation_id, &row), PAL_OK);
    assert_string_equal(row.bot, "stade");
    assert_string_equal(row.mode, "bot");
    assert_string_equal(row.lang, "fr");
    assert_string_equal(row.state_json, "{\"turn\":1}");
    assert_string_equal(row.meta_json, "{\"consent\":true}");
    pal_conversation_row_clear(&row);
    assert_int_equal(sql_int(f, "SELECT count(*) FROM messages WHERE intent = 'greet' AND "
                                "confidence > 0.89 AND status = 'processed'"),
                     1);

    /* A turn with NULL state/meta/lang keeps them; mode changes. */
    pal_ingested got2 = ingest1(store, inbound("stade", "api", "u1", "k2", "agent", T0 + 1000));
    pal_turn_record turn2 = turn_for(&got2, NULL, 0, T0 + 2000);
    turn2.mode = "person";
    turn2.inbound_status = "ignored";
    assert_int_equal(record1(store, &turn2, NULL), PAL_OK);
    assert_int_equal(pal_store_load_conversation(reader, got.conversation_id, &row), PAL_OK);
    assert_string_equal(row.mode, "person");
    assert_string_equal(row.lang, "fr");
    assert_string_equal(row.state_json, "{\"turn\":1}");
    assert_string_equal(row.meta_json, "{\"consent\":true}");
    pal_conversation_row_clear(&row);
    assert_int_equal(pal_store_replies_to(reader, got2.message_id, &replies, &processed), PAL_OK);
    assert_true(processed); /* ignored counts as done */
    assert_int_equal(json_array_size(replies), 0);
    json_decref(replies);

    /* The same message cannot be recorded twice; unknown ones are not found. Neither writes. */
    assert_int_equal(record1(store, &turn, ids), PAL_ERR_STATE);
    pal_turn_record bad = turn;
    bad.message_id = 999999;
    assert_int_equal(record1(store, &bad, ids), PAL_ERR_NOT_FOUND);
    bad = turn;
    bad.conversation_id = got.conversation_id + 1000;
    assert_int_equal(record1(store, &bad, ids), PAL_ERR_NOT_FOUND);
    bad = turn;
    bad.inbound_status = "done";
    assert_int_equal(record1(store, &bad, ids), PAL_ERR_INVALID);
    assert_int_equal(counts(store).outbound, 2);
    assert_int_equal(pal_store_replies_to(reader, 424242, &replies, &processed), PAL_ERR_NOT_FOUND);
    assert_null(replies);
    pal_store_reader_close(reader);
    pal_store_close(store);
}

/* Collects outbox items. */
typedef struct outbox_seen {
    int n;
    int64_t ids[8];
    char keys[8][64];
    char users[8][64];
    int attempts[8];
    int64_t next[8];
} outbox_seen;

static bool collect_outbox(void *ctx, const pal_outbox_item *item)
{
    outbox_seen *seen = ctx;
    assert_true(seen->n < 8);
    seen->ids[seen->n] = item->message_id;
    snprintf(seen->keys[seen->n], sizeof(seen->keys[0]), "%s", item->idempotency_key);
    snprintf(seen->users[seen->n], sizeof(seen->users[0]), "%s", item->external_user);
    seen->attempts[seen->n] = item->attempts;
    seen->next[seen->n] = item->next_attempt_at;
    assert_string_equal(item->bot, "stade");
    assert_string_equal(item->channel, "messenger");
    assert_string_equal(item->address, "{\"psid\":\"42\"}");
    seen->n++;
    return true;
}

/* The server's path: stored and processed in one go, each row written once. */
static void ingest_turn_writes_rows_once(void **state)
{
    fixture *f = *state;
    pal_store *store = open_store(f);
    pal_inbound in = inbound("stade", "api", "u9", "k9", "bonjour", T0);
    pal_outbound out[1] = {{.text = "Bonjour !", .quick_replies_json = "[\"Bud\"]"}};
    pal_ingested none = {0};
    pal_turn_record turn = turn_for(&none, out, 1, T0 + 7);
    turn.state_json = "{\"turn\":1}";
    turn.meta_json = "{\"m\":1}";
    turn.lang = "en";
    turn.consent = 0; /* an opt-in with the first message: the identity is known by then */
    int64_t ids[1] = {0};
    pal_ingested got;
    assert_int_equal(pal_store_begin(store), PAL_OK);
    assert_int_equal(pal_store_ingest_turn(store, &in, &turn, &got, ids), PAL_OK);
    assert_int_equal(pal_store_commit(store), PAL_OK);
    assert_false(got.duplicate);
    assert_true(got.new_conversation);
    assert_int_equal(turn.message_id, got.message_id);
    assert_int_equal(turn.conversation_id, got.conversation_id);
    assert_int_equal(turn.identity_id, got.identity_id);
    assert_true(ids[0] > got.message_id);
    assert_int_equal(sql_int(f, "SELECT count(*) FROM messages WHERE direction = 'in' AND "
                                "status = 'processed' AND intent = 'greet' AND confidence > 0.8"),
                     1);
    assert_int_equal(sql_int(f, "SELECT count(*) FROM conversations WHERE state = '{\"turn\":1}' "
                                "AND meta = '{\"m\":1}' AND lang = 'en' AND mode = 'bot' AND "
                                "created_at = 1700000000000 AND updated_at = 1700000000007"),
                     1);

    /* The next message of the conversation updates it; a repeat of the first is a duplicate
     * and records nothing. */
    pal_inbound next = inbound("stade", "api", "u9", "k10", "2 bud", T0 + 100);
    pal_turn_record turn2 = turn_for(&none, out, 1, T0 + 107);
    turn2.state_json = "{\"turn\":2}";
    turn2.mode = "person";
    pal_ingested got2, again;
    pal_turn_record turn3 = turn_for(&none, out, 1, T0 + 200);
    assert_int_equal(pal_store_begin(store), PAL_OK);
    assert_int_equal(pal_store_ingest_turn(store, &next, &turn2, &got2, ids), PAL_OK);
    assert_int_equal(pal_store_ingest_turn(store, &in, &turn3, &again, ids), PAL_OK);
    /* a malformed turn is refused before anything is written */
    turn3.inbound_status = "weird";
    assert_int_equal(pal_store_ingest_turn(store, &next, &turn3, &again, ids), PAL_ERR_INVALID);
    assert_int_equal(pal_store_commit(store), PAL_OK);
    assert_false(got2.new_conversation);
    assert_int_equal(got2.conversation_id, got.conversation_id);
    assert_true(again.duplicate);
    assert_int_equal(again.message_id, got.message_id);
    assert_int_equal(turn3.message_id, 0);
    /* the state goes with the message; the row changes because the mode did */
    assert_int_equal(sql_int(f, "SELECT count(*) FROM conversations WHERE state = '{\"turn\":1}' "
                                "AND meta = '{\"m\":1}' AND mode = 'person' AND "
                                "updated_at = 1700000000107"),
                     1);
    assert_int_equal(sql_int(f, "SELECT count(*) FROM messages WHERE state = '{\"turn\":2}' "
                                "AND text = '2 bud'"),
                     1);
    pal_store_counts c = counts(store);
    assert_int_equal(c.inbound, 2);
    assert_int_equal(c.inbound_received, 0);
    assert_int_equal(c.outbound, 2);

    /* A turn that changes neither meta, mode nor language leaves the row alone: its state is
     * read from the message, and the conversation's updated_at is its latest message's. */
    pal_inbound third = inbound("stade", "api", "u9", "k11", "merci", T0 + 300);
    pal_turn_record turn4 = turn_for(&none, out, 1, T0 + 307);
    turn4.state_json = "{\"turn\":3}";
    turn4.mode = "person";
    turn4.lang = "en";
    pal_ingested got4;
    assert_int_equal(pal_store_begin(store), PAL_OK);
    assert_int_equal(pal_store_ingest_turn(store, &third, &turn4, &got4, ids), PAL_OK);
    assert_int_equal(pal_store_commit(store), PAL_OK);
    assert_int_equal(sql_int(f, "SELECT updated_at FROM conversations"), T0 + 107);
    pal_store_reader *reader = open_reader(store);
    pal_conversation_row row;
    assert_int_equal(pal_store_load_conversation(reader, got.conversation_id, &row), PAL_OK);
    assert_string_equal(row.state_json, "{\"turn\":3}");
    assert_string_equal(row.mode, "person");
    assert_string_equal(row.meta_json, "{\"m\":1}");
    pal_conversation_row_clear(&row);
    json_t *conv = NULL;
    assert_int_equal(pal_store_conversation_json(reader, got.conversation_id, 10, &conv), PAL_OK);
    assert_string_equal(str(conv, "updated_at"), "2023-11-14T22:13:20.307Z");
    json_decref(conv);
    json_t *list = NULL;
    pal_conversation_filter all = {.limit = 10};
    assert_int_equal(pal_store_list_conversations(reader, &all, &list), PAL_OK);
    json_t *first = json_array_get(json_object_get(list, "conversations"), 0);
    assert_string_equal(str(first, "updated_at"), "2023-11-14T22:13:20.307Z");
    json_decref(list);
    pal_store_reader_close(reader);
    pal_store_close(store);
}

/* A store written by schema 2 kept the state in the conversation's row only: after the
 * migration, that state is still the conversation's until a turn stores a newer one. */
static void state_of_schema_2_survives_migration(void **state)
{
    fixture *f = *state;
    pal_store *store = open_store(f);
    pal_ingested got = ingest1(store, inbound("stade", "api", "u1", "k1", "bonjour", T0));
    pal_store_close(store);
    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open(f->path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db,
                                  "UPDATE conversations SET state = '{\"old\":1}', "
                                  "meta = '{\"m\":0}';"
                                  "ALTER TABLE messages DROP COLUMN state;"
                                  "ALTER TABLE messages DROP COLUMN meta;"
                                  "PRAGMA user_version = 2;",
                                  NULL, NULL, NULL),
                     SQLITE_OK);
    sqlite3_close(db);

    store = open_store(f);
    assert_int_equal(sql_int(f, "PRAGMA user_version"), 3);
    pal_store_reader *reader = open_reader(store);
    pal_conversation_row row;
    assert_int_equal(pal_store_load_conversation(reader, got.conversation_id, &row), PAL_OK);
    assert_string_equal(row.state_json, "{\"old\":1}");
    assert_string_equal(row.meta_json, "{\"m\":0}");
    pal_conversation_row_clear(&row);
    pal_ingested got2 = ingest1(store, inbound("stade", "api", "u1", "k2", "re", T0 + 5));
    pal_turn_record turn = turn_for(&got2, NULL, 0, T0 + 6);
    turn.state_json = "{\"new\":2}";
    assert_int_equal(record1(store, &turn, NULL), PAL_OK);
    assert_int_equal(pal_store_load_conversation(reader, got.conversation_id, &row), PAL_OK);
    assert_string_equal(row.state_json, "{\"new\":2}");
    assert_string_equal(row.meta_json, "{\"m\":0}"); /* the turn kept it */
    pal_conversation_row_clear(&row);
    pal_store_reader_close(reader);
    pal_store_close(store);
}

static void record_turn_outbox_and_delivery(void **state)
{
    fixture *f = *state;
    pal_store *store = open_store(f);
    pal_inbound in = inbound("stade", "messenger", "psid-42", "mid.1", "bonjour", T0);
    in.address = "{\"psid\":\"42\"}";
    pal_ingested got = ingest1(store, in);

    pal_outbound out[3] = {
        {.text = "un"}, {.text = "deux", .quick_replies_json = "[\"a\"]"}, {.text = "trois"}};
    pal_turn_record turn = turn_for(&got, out, 3, T0 + 10);
    turn.channel = "messenger";
    turn.address = in.address;
    turn.delivery = PAL_DELIVERY_OUTBOX;
    int64_t ids[3];
    assert_int_equal(record1(store, &turn, ids), PAL_OK);

    pal_store_counts c = counts(store);
    assert_int_equal(c.outbound, 3);
    assert_int_equal(c.outbound_sent, 0);
    assert_int_equal(c.outbox, 3);

    outbox_seen seen = {0};
    assert_int_equal(pal_store_outbox_pending(store, collect_outbox, &seen), PAL_OK);
    assert_int_equal(seen.n, 3);
    char want[64];
    for (int i = 0; i < 3; i++) {
        assert_int_equal(seen.ids[i], ids[i]);
        snprintf(want, sizeof(want), "palabre-%lld", (long long)ids[i]);
        assert_string_equal(seen.keys[i], want);
        assert_string_equal(seen.users[i], "psid-42");
        assert_int_equal(seen.attempts[i], 0);
        assert_int_equal(seen.next[i], T0 + 10);
    }

    /* Retry, then sent; another fails for good. */
    assert_int_equal(pal_store_begin(store), PAL_OK);
    assert_int_equal(pal_store_outbox_retry(store, ids[0], T0 + 5000, "HTTP 503"), PAL_OK);
    assert_int_equal(pal_store_outbox_retry(store, ids[0], T0 + 9000, "timeout"), PAL_OK);
    assert_int_equal(pal_store_commit(store), PAL_OK);
    seen = (outbox_seen){0};
    assert_int_equal(pal_store_outbox_pending(store, collect_outbox, &seen), PAL_OK);
    assert_int_equal(seen.attempts[0], 2);
    assert_int_equal(seen.next[0], T0 + 9000);

    assert_int_equal(pal_store_begin(store), PAL_OK);
    assert_int_equal(pal_store_outbox_sent(store, ids[0], "m_platform_1", T0 + 9500), PAL_OK);
    assert_int_equal(pal_store_outbox_failed(store, ids[1], "user blocked the page", T0 + 9600),
                     PAL_OK);
    /* Already done: not in the outbox any more. */
    assert_int_equal(pal_store_outbox_sent(store, ids[0], NULL, T0 + 9700), PAL_ERR_NOT_FOUND);
    assert_int_equal(pal_store_outbox_failed(store, ids[1], "x", T0 + 9700), PAL_ERR_NOT_FOUND);
    assert_int_equal(pal_store_outbox_retry(store, 123456, T0, "x"), PAL_ERR_NOT_FOUND);
    assert_int_equal(pal_store_commit(store), PAL_OK);
    assert_int_equal(pal_store_outbox_sent(store, ids[2], NULL, T0), PAL_ERR_STATE); /* no txn */

    c = counts(store);
    assert_int_equal(c.outbox, 1);
    assert_int_equal(c.outbound_sent, 1);
    assert_int_equal(c.outbound_failed, 1);
    seen = (outbox_seen){0};
    assert_int_equal(pal_store_outbox_pending(store, collect_outbox, &seen), PAL_OK);
    assert_int_equal(seen.n, 1);
    assert_int_equal(seen.ids[0], ids[2]);

    /* Receipts: read, then a late "delivered" that must not go back; another bot's or an
     * unknown id changes nothing; outside a transaction refused. */
    assert_int_equal(
        pal_store_receipt(store, "stade", "messenger", "m_platform_1", "read", NULL, T0 + 9800),
        PAL_ERR_STATE);
    assert_int_equal(pal_store_begin(store), PAL_OK);
    assert_int_equal(
        pal_store_receipt(store, "stade", "messenger", "m_platform_1", "read", NULL, T0 + 9800),
        PAL_OK);
    assert_int_equal(pal_store_receipt(store, "stade", "messenger", "m_platform_1", "delivered",
                                       NULL, T0 + 9900),
                     PAL_OK);
    assert_int_equal(pal_store_receipt(store, "other", "messenger", "m_platform_1", "failed",
                                       "131047 x", T0 + 9900),
                     PAL_OK);
    assert_int_equal(
        pal_store_receipt(store, "stade", "messenger", "m_unknown", "failed", "x", T0 + 9900),
        PAL_OK);
    assert_int_equal(
        pal_store_receipt(store, "stade", "messenger", "m_platform_1", "sent", NULL, T0 + 9900),
        PAL_OK);
    assert_int_equal(pal_store_commit(store), PAL_OK);
    c = counts(store);
    assert_int_equal(c.outbound_sent, 1);
    assert_int_equal(c.outbound_failed, 1);

    pal_store_reader *reader = open_reader(store);
    json_t *replies = NULL;
    bool processed = false;
    assert_int_equal(pal_store_replies_to(reader, got.message_id, &replies, &processed), PAL_OK);
    assert_int_equal(json_array_size(replies), 3);
    json_t *sent = json_array_get(replies, 0), *failed = json_array_get(replies, 1);
    assert_string_equal(str(sent, "receipt"), "read");
    assert_string_equal(str(sent, "receipt_at"), "2023-11-14T22:13:29.800Z");
    json_t *pending = json_array_get(replies, 2);
    assert_string_equal(str(sent, "status"), "sent");
    assert_string_equal(str(sent, "channel_message_id"), "m_platform_1");
    assert_null(json_object_get(sent, "error")); /* retried twice, then delivered */
    assert_string_equal(str(sent, "sent_at"), "2023-11-14T22:13:29.500Z");
    assert_string_equal(str(failed, "status"), "failed");
    assert_string_equal(str(failed, "error"), "user blocked the page");
    assert_null(json_object_get(failed, "sent_at"));
    assert_string_equal(str(pending, "status"), "pending");
    assert_null(json_object_get(pending, "sent_at"));
    assert_null(json_object_get(pending, "channel_message_id"));
    json_decref(replies);
    pal_store_reader_close(reader);
    pal_store_close(store);
}

static void consent_and_events(void **state)
{
    fixture *f = *state;
    pal_store *store = open_store(f);
    pal_ingested got = ingest1(store, inbound("stade", "messenger", "u1", "m1", "STOP", T0));
    pal_turn_record turn = turn_for(&got, NULL, 0, T0 + 50);
    turn.consent = 1;
    turn.event_kind = "opt_out";
    turn.event_data_json = "{\"keyword\":\"STOP\"}";
    assert_int_equal(record1(store, &turn, NULL), PAL_OK);
    assert_int_equal(sql_int(f, "SELECT opted_out FROM identities"), 1);
    assert_int_equal(sql_int(f, "SELECT consent_at FROM identities"), T0 + 50);
    assert_int_equal(sql_int(f, "SELECT count(*) FROM events WHERE kind = 'opt_out' AND "
                                "data = '{\"keyword\":\"STOP\"}' AND conversation_id IS NOT NULL"),
                     1);

    pal_ingested back = ingest1(store, inbound("stade", "messenger", "u1", "m2", "START", T0 + 60));
    turn = turn_for(&back, NULL, 0, T0 + 70);
    turn.consent = 0;
    assert_int_equal(record1(store, &turn, NULL), PAL_OK);
    assert_int_equal(sql_int(f, "SELECT opted_out FROM identities"), 0);
    assert_int_equal(sql_int(f, "SELECT consent_at FROM identities"), T0 + 70);

    /* An unknown identity: not found, and the message stays unprocessed. */
    pal_ingested third = ingest1(store, inbound("stade", "messenger", "u1", "m3", "x", T0 + 80));
    turn = turn_for(&third, NULL, 0, T0 + 90);
    turn.consent = 1;
    turn.identity_id = 9999;
    assert_int_equal(record1(store, &turn, NULL), PAL_ERR_NOT_FOUND);
    assert_int_equal(counts(store).inbound_received, 1);

    /* An event outside a turn, with and without a conversation. */
    assert_int_equal(pal_store_begin(store), PAL_OK);
    assert_int_equal(pal_store_event(store, 0, "bot_reloaded", "{\"bot\":\"stade\"}", T0), PAL_OK);
    assert_int_equal(pal_store_event(store, got.conversation_id, "handoff", NULL, T0), PAL_OK);
    assert_int_equal(pal_store_commit(store), PAL_OK);
    assert_int_equal(sql_int(f, "SELECT count(*) FROM events WHERE conversation_id IS NULL"), 1);
    assert_int_equal(sql_int(f, "SELECT count(*) FROM events"), 3);
    pal_store_close(store);
}

/* ---- recovery ------------------------------------------------------------------------- */

typedef struct pending_seen {
    int n, stop_after;
    int64_t ids[8];
    char texts[8][32];
    char users[8][32];
    int64_t identity[8], customer[8], conversation[8], at[8];
} pending_seen;

static bool collect_pending(void *ctx, const pal_pending_inbound *m)
{
    pending_seen *seen = ctx;
    assert_true(seen->n < 8);
    seen->ids[seen->n] = m->message_id;
    snprintf(seen->texts[seen->n], sizeof(seen->texts[0]), "%s", m->text);
    snprintf(seen->users[seen->n], sizeof(seen->users[0]), "%s", m->external_user);
    seen->identity[seen->n] = m->identity_id;
    seen->customer[seen->n] = m->customer_id;
    seen->conversation[seen->n] = m->conversation_id;
    seen->at[seen->n] = m->received_at;
    assert_string_equal(m->bot, "stade");
    assert_string_equal(m->channel, "api");
    seen->n++;
    return seen->n != seen->stop_after;
}

static void pending_inbound_after_crash(void **state)
{
    fixture *f = *state;
    pal_store *store = open_store(f);
    pal_ingested a1 = ingest1(store, inbound("stade", "api", "alice", "1", "a-un", T0));
    pal_ingested b1 = ingest1(store, inbound("stade", "api", "bob", "2", "b-un", T0 + 1));
    pal_ingested a2 = ingest1(store, inbound("stade", "api", "alice", "3", "a-deux", T0 + 2));
    pal_ingested b2 = ingest1(store, inbound("stade", "api", "bob", "4", "b-deux", T0 + 3));
    pal_turn_record turn = turn_for(&b1, NULL, 0, T0 + 10);
    assert_int_equal(record1(store, &turn, NULL), PAL_OK);
    /* A batch that never commits: lost with the "crash". */
    pal_inbound lost = inbound("stade", "api", "carol", "5", "perdu", T0 + 4);
    pal_ingested got;
    assert_int_equal(pal_store_begin(store), PAL_OK);
    assert_int_equal(pal_store_ingest(store, &lost, &got), PAL_OK);
    pal_store_close(store);

    store = open_store(f);
    pending_seen seen = {0};
    assert_int_equal(pal_store_pending_inbound(store, collect_pending, &seen), PAL_OK);
    assert_int_equal(seen.n, 3);
    assert_int_equal(seen.ids[0], a1.message_id);
    assert_int_equal(seen.ids[1], a2.message_id);
    assert_int_equal(seen.ids[2], b2.message_id);
    assert_string_equal(seen.texts[0], "a-un");
    assert_string_equal(seen.texts[1], "a-deux");
    assert_string_equal(seen.texts[2], "b-deux");
    assert_string_equal(seen.users[2], "bob");
    assert_int_equal(seen.identity[1], a2.identity_id);
    assert_int_equal(seen.customer[1], a2.customer_id);
    assert_int_equal(seen.conversation[2], b2.conversation_id);
    assert_int_equal(seen.at[2], T0 + 3);

    /* The callback can stop the walk. */
    seen = (pending_seen){.stop_after = 1};
    assert_int_equal(pal_store_pending_inbound(store, collect_pending, &seen), PAL_OK);
    assert_int_equal(seen.n, 1);

    /* Processing them after the restart works (and they leave the list). */
    turn = turn_for(&a1, NULL, 0, T0 + 20);
    assert_int_equal(record1(store, &turn, NULL), PAL_OK);
    seen = (pending_seen){0};
    assert_int_equal(pal_store_pending_inbound(store, collect_pending, &seen), PAL_OK);
    assert_int_equal(seen.n, 2);
    assert_int_equal(seen.ids[0], a2.message_id);
    pal_store_close(store);
}

/* ---- readers -------------------------------------------------------------------------- */

static void reader_sees_committed_data_only(void **state)
{
    fixture *f = *state;
    pal_store *store = open_store(f);
    pal_store_reader *reader = open_reader(store);
    pal_store_counts c;

    pal_inbound in = inbound("stade", "api", "u1", "k1", "hello", T0);
    pal_ingested got;
    assert_int_equal(pal_store_begin(store), PAL_OK);
    assert_int_equal(pal_store_ingest(store, &in, &got), PAL_OK);
    assert_int_equal(pal_store_count(reader, &c), PAL_OK);
    assert_int_equal(c.inbound, 0);
    int64_t found = 0;
    assert_int_equal(pal_store_find_conversation(reader, "stade", "api", "u1", &found),
                     PAL_ERR_NOT_FOUND);
    json_t *page = NULL;
    assert_int_equal(pal_store_conversation_json(reader, got.conversation_id, 10, &page),
                     PAL_ERR_NOT_FOUND);
    assert_int_equal(pal_store_commit(store), PAL_OK);

    assert_int_equal(pal_store_count(reader, &c), PAL_OK);
    assert_int_equal(c.inbound, 1);
    assert_int_equal(pal_store_find_conversation(reader, "stade", "api", "u1", &found), PAL_OK);
    assert_int_equal(found, got.conversation_id);
    pal_store_reader_close(reader);
    pal_store_reader_close(NULL);
    pal_store_close(store);
}

typedef struct reader_thread {
    pal_store *store;
    int64_t last_seen;
    bool failed;
} reader_thread;

static void *read_while_writing(void *arg)
{
    reader_thread *t = arg;
    for (int i = 0; i < 20; i++) {
        pal_store_reader *reader = NULL;
        if (pal_store_reader_open(t->store, &reader) != PAL_OK) {
            t->failed = true;
            return NULL;
        }
        for (int j = 0; j < 10; j++) {
            pal_store_counts c;
            /* Committed batches are whole: never a partial batch of 10. */
            if (pal_store_count(reader, &c) != PAL_OK || c.inbound % 10 != 0 ||
                c.inbound < t->last_seen)
                t->failed = true;
            t->last_seen = c.inbound;
        }
        pal_store_reader_close(reader);
    }
    return NULL;
}

static void readers_from_threads(void **state)
{
    fixture *f = *state;
    pal_store *store = open_store(f);
    reader_thread t[3] = {{.store = store}, {.store = store}, {.store = store}};
    pthread_t threads[3];
    for (int i = 0; i < 3; i++)
        assert_int_equal(pthread_create(&threads[i], NULL, read_while_writing, &t[i]), 0);
    char user[32];
    for (int batch = 0; batch < 50; batch++) {
        assert_int_equal(pal_store_begin(store), PAL_OK);
        for (int i = 0; i < 10; i++) {
            snprintf(user, sizeof(user), "u%d", i);
            pal_inbound in = inbound("stade", "api", user, NULL, "x", T0 + batch);
            pal_ingested got;
            assert_int_equal(pal_store_ingest(store, &in, &got), PAL_OK);
        }
        assert_int_equal(pal_store_commit(store), PAL_OK);
    }
    for (int i = 0; i < 3; i++) {
        assert_int_equal(pthread_join(threads[i], NULL), 0);
        assert_false(t[i].failed);
    }
    assert_int_equal(counts(store).inbound, 500);
    pal_store_close(store);
}

static void messages_and_conversation_json(void **state)
{
    fixture *f = *state;
    pal_store *store = open_store(f);
    pal_ingested first = ingest1(store, inbound("stade", "webchat", "w1", "k0", "msg 0", T0));
    int64_t ids[12];
    ids[0] = first.message_id;
    char text[32], key[32];
    /* 6 inbound messages, each answered by one reply: 12 messages. */
    for (int i = 0; i < 6; i++) {
        pal_ingested got = first;
        if (i > 0) {
            snprintf(text, sizeof(text), "msg %d", i);
            snprintf(key, sizeof(key), "k%d", i);
            got = ingest1(store, inbound("stade", "webchat", "w1", key, text, T0 + i * 1000));
            ids[2 * i] = got.message_id;
        }
        snprintf(text, sizeof(text), "reply %d", i);
        pal_outbound reply = {.text = text};
        pal_turn_record turn = turn_for(&got, &reply, 1, T0 + i * 1000 + 1);
        turn.channel = "webchat";
        turn.lang = "en";
        assert_int_equal(record1(store, &turn, &ids[2 * i + 1]), PAL_OK);
    }

    pal_store_reader *reader = open_reader(store);
    json_t *list = NULL;
    assert_int_equal(pal_store_messages_after(reader, first.conversation_id, 0, 100, &list),
                     PAL_OK);
    assert_int_equal(json_array_size(list), 12);
    for (size_t i = 0; i < 12; i++)
        assert_int_equal(num(json_array_get(list, i), "id"), ids[i]);
    json_t *m0 = json_array_get(list, 0);
    assert_string_equal(str(m0, "direction"), "in");
    assert_string_equal(str(m0, "status"), "processed");
    assert_string_equal(str(m0, "created_at"), "2023-11-14T22:13:20.000Z");
    assert_null(json_object_get(m0, "in_reply_to"));
    assert_null(json_object_get(m0, "sent_at"));
    json_decref(list);

    assert_int_equal(pal_store_messages_after(reader, first.conversation_id, ids[7], 3, &list),
                     PAL_OK);
    assert_int_equal(json_array_size(list), 3);
    assert_int_equal(num(json_array_get(list, 0), "id"), ids[8]);
    assert_int_equal(num(json_array_get(list, 2), "id"), ids[10]);
    json_decref(list);
    assert_int_equal(pal_store_messages_after(reader, first.conversation_id, ids[11], 3, &list),
                     PAL_OK);
    assert_int_equal(json_array_size(list), 0);
    json_decref(list);
    assert_int_equal(pal_store_messages_after(reader, first.conversation_id, 0, 0, &list),
                     PAL_ERR_INVALID);

    json_t *c = NULL;
    assert_int_equal(pal_store_conversation_json(reader, first.conversation_id, 5, &c), PAL_OK);
    assert_int_equal(num(c, "id"), first.conversation_id);
    assert_string_equal(str(c, "bot"), "stade");
    assert_string_equal(str(c, "mode"), "bot");
    assert_string_equal(str(c, "lang"), "en");
    assert_string_equal(str(c, "created_at"), "2023-11-14T22:13:20.000Z");
    assert_string_equal(str(c, "updated_at"), "2023-11-14T22:13:25.001Z");
    json_t *customer = json_object_get(c, "customer");
    assert_int_equal(num(customer, "id"), first.customer_id);
    json_t *identities = json_object_get(customer, "identities");
    assert_int_equal(json_array_size(identities), 1);
    assert_string_equal(str(json_array_get(identities, 0), "channel"), "webchat");
    assert_string_equal(str(json_array_get(identities, 0), "external_id"), "w1");
    json_t *messages = json_object_get(c, "messages");
    assert_int_equal(json_array_size(messages), 5);
    for (size_t i = 0; i < 5; i++) /* the 5 most recent, oldest first */
        assert_int_equal(num(json_array_get(messages, i), "id"), ids[7 + i]);
    assert_true(json_is_true(json_object_get(c, "messages_truncated")));
    json_decref(c);

    assert_int_equal(pal_store_conversation_json(reader, first.conversation_id, 12, &c), PAL_OK);
    assert_int_equal(json_array_size(json_object_get(c, "messages")), 12);
    assert_true(json_is_false(json_object_get(c, "messages_truncated")));
    json_decref(c);
    assert_int_equal(pal_store_conversation_json(reader, 0, 12, &c), PAL_ERR_NOT_FOUND);
    assert_null(c);
    pal_store_reader_close(reader);
    pal_store_close(store);
}

/* The ids of a page, and its next_before (0 for null). */
static int page_ids(json_t *page, int64_t *ids, int max, int64_t *next)
{
    json_t *list = json_object_get(page, "conversations");
    assert_true(json_is_array(list));
    int n = (int)json_array_size(list);
    assert_true(n <= max);
    for (int i = 0; i < n; i++)
        ids[i] = num(json_array_get(list, (size_t)i), "id");
    json_t *nb = json_object_get(page, "next_before");
    assert_non_null(nb);
    *next = json_is_null(nb) ? 0 : (int64_t)json_integer_value(nb);
    return n;
}

static void list_conversations_filters_and_pages(void **state)
{
    fixture *f = *state;
    pal_store *store = open_store(f);
    int64_t stade[7], assistant[3];
    char user[32];
    /* 7 stade conversations (the 3rd in person mode), 3 assistant ones, interleaved. */
    for (int i = 0, s = 0, a = 0; i < 10; i++) {
        snprintf(user, sizeof(user), "user-%d", i);
        bool is_stade = i % 3 != 2;
        pal_ingested got = ingest1(
            store, inbound(is_stade ? "stade" : "assistant", "api", user, NULL, "hi", T0 + i));
        if (is_stade)
            stade[s++] = got.conversation_id;
        else
            assistant[a++] = got.conversation_id;
        if (is_stade && s == 3) {
            pal_turn_record turn = turn_for(&got, NULL, 0, T0 + 100);
            turn.mode = "person";
            assert_int_equal(record1(store, &turn, NULL), PAL_OK);
        }
    }
    /* user-0 also writes on webchat to the stade bot: a separate identity and customer. */
    ingest1(store, inbound("stade", "webchat", "user-0", NULL, "hi", T0 + 50));

    pal_store_reader *reader = open_reader(store);
    json_t *page = NULL;
    int64_t ids[12], next = 0;

    /* Three pages of the stade bot's conversations on api: 3 + 3 + 2 (webchat included). */
    pal_conversation_filter filter = {.bot = "stade", .limit = 3};
    int64_t all[8] = {0};
    int n_all = 0;
    for (int p = 0; p < 3; p++) {
        assert_int_equal(pal_store_list_conversations(reader, &filter, &page), PAL_OK);
        int n = page_ids(page, ids, 3, &next);
        assert_int_equal(n, p < 2 ? 3 : 2);
        for (int i = 0; i < n; i++)
            all[n_all++] = ids[i];
        if (p < 2)
            assert_int_equal(next, ids[2]);
        else
            assert_int_equal(next, 0);
        json_t *c0 = json_array_get(json_object_get(page, "conversations"), 0);
        assert_string_equal(str(c0, "bot"), "stade");
        assert_int_equal(num(c0, "messages"), 1);
        json_decref(page);
        filter.before = next;
    }
    assert_int_equal(n_all, 8);
    for (int i = 1; i < n_all; i++)
        assert_true(all[i] < all[i - 1]); /* newest first, no repeats */
    assert_int_equal(all[n_all - 1], stade[0]);

    /* Exactly a full last page: next_before is null, no empty page after it. */
    filter = (pal_conversation_filter){.bot = "assistant", .limit = 3};
    assert_int_equal(pal_store_list_conversations(reader, &filter, &page), PAL_OK);
    assert_int_equal(page_ids(page, ids, 3, &next), 3);
    assert_int_equal(next, 0);
    assert_int_equal(ids[0], assistant[2]);
    json_decref(page);

    /* Mode, identity, all bots. */
    filter = (pal_conversation_filter){.mode = "person", .limit = 10};
    assert_int_equal(pal_store_list_conversations(reader, &filter, &page), PAL_OK);
    assert_int_equal(page_ids(page, ids, 10, &next), 1);
    assert_int_equal(ids[0], stade[2]);
    json_t *c0 = json_array_get(json_object_get(page, "conversations"), 0);
    assert_string_equal(str(c0, "mode"), "person");
    assert_true(json_is_null(json_object_get(c0, "lang")));
    json_decref(page);

    filter = (pal_conversation_filter){.channel = "api", .external_user = "user-4", .limit = 10};
    assert_int_equal(pal_store_list_conversations(reader, &filter, &page), PAL_OK);
    assert_int_equal(page_ids(page, ids, 10, &next), 1);
    assert_int_equal(ids[0], stade[3]);
    json_decref(page);
    filter.bot = "assistant"; /* user-4 writes to stade only */
    assert_int_equal(pal_store_list_conversations(reader, &filter, &page), PAL_OK);
    assert_int_equal(page_ids(page, ids, 10, &next), 0);
    json_decref(page);

    filter = (pal_conversation_filter){.limit = 500};
    assert_int_equal(pal_store_list_conversations(reader, &filter, &page), PAL_OK);
    assert_int_equal(page_ids(page, ids, 12, &next), 11);
    assert_int_equal(next, 0);
    json_decref(page);

    filter = (pal_conversation_filter){.limit = 0};
    assert_int_equal(pal_store_list_conversations(reader, &filter, &page), PAL_ERR_INVALID);
    filter = (pal_conversation_filter){.limit = 501};
    assert_int_equal(pal_store_list_conversations(reader, &filter, &page), PAL_ERR_INVALID);
    filter = (pal_conversation_filter){.external_user = "user-1", .limit = 5}; /* no channel */
    assert_int_equal(pal_store_list_conversations(reader, &filter, &page), PAL_ERR_INVALID);
    /* A hostile filter value is a value, not SQL. */
    filter = (pal_conversation_filter){.bot = "stade' OR '1'='1", .limit = 5};
    assert_int_equal(pal_store_list_conversations(reader, &filter, &page), PAL_OK);
    assert_int_equal(page_ids(page, ids, 10, &next), 0);
    json_decref(page);

    pal_store_counts c;
    assert_int_equal(pal_store_count(reader, &c), PAL_OK);
    assert_int_equal(c.conversations, 11);
    assert_int_equal(c.customers, 11);
    assert_int_equal(c.inbound, 11);
    assert_int_equal(c.inbound_received, 10);
    pal_store_reader_close(reader);
    pal_store_close(store);
}

/* ---- texts ---------------------------------------------------------------------------- */

static void hostile_strings_round_trip(void **state)
{
    fixture *f = *state;
    pal_store *store = open_store(f);
    enum { LONG_TEXT = 1 << 20 };
    char *long_text = malloc(LONG_TEXT + 1);
    assert_non_null(long_text);
    for (size_t i = 0; i < LONG_TEXT; i++)
        long_text[i] = (char)('a' + i % 26);
    memcpy(long_text + LONG_TEXT - 4, "\xF0\x9F\x8D\xBA", 4); /* ends with a beer mug */
    long_text[LONG_TEXT] = '\0';

    const char *texts[] = {
        "it's \"quoted\" -- '; DROP TABLE messages; --",
        "100% %s %n %d \\ \\\\ ?1 :name @x $y",
        "emoji 🍺🇫🇷 👩‍👩‍👧 and accents: éèêë ÀÇ œ",
        "tab\there\nnew line\r\nend",
        "",
        long_text,
    };
    const char *user = "o'brien \"%\" 🍺";
    const char *bot = "bot'; --";
    int64_t conversation = 0;
    for (size_t i = 0; i < sizeof(texts) / sizeof(texts[0]); i++) {
        pal_inbound in = inbound(bot, "api", user, texts[i], texts[i], T0 + (int64_t)i);
        in.address = "{\"q\":\"'\\\"%\"}";
        pal_ingested got = ingest1(store, in);
        assert_false(got.duplicate);
        conversation = got.conversation_id;
        pal_outbound reply = {.text = texts[i], .quick_replies_json = "[\"l'été 🍺\",\"100%\"]"};
        pal_turn_record turn = turn_for(&got, &reply, 1, T0 + 100 + (int64_t)i);
        turn.state_json = texts[i];
        int64_t id;
        assert_int_equal(record1(store, &turn, &id), PAL_OK);
    }
    /* The hostile dedup keys are keys like any other. */
    pal_ingested dup = ingest1(store, inbound(bot, "api", user, texts[0], "again", T0));
    assert_true(dup.duplicate);

    pal_store_reader *reader = open_reader(store);
    int64_t found = 0;
    assert_int_equal(pal_store_find_conversation(reader, bot, "api", user, &found), PAL_OK);
    assert_int_equal(found, conversation);
    json_t *list = NULL;
    assert_int_equal(pal_store_messages_after(reader, conversation, 0, 100, &list), PAL_OK);
    assert_int_equal(json_array_size(list), 12);
    for (size_t i = 0; i < 6; i++) {
        json_t *in = json_array_get(list, 2 * i), *out = json_array_get(list, 2 * i + 1);
        assert_string_equal(str(in, "text"), texts[i]);
        assert_string_equal(str(out, "text"), texts[i]);
        json_t *qr = json_object_get(out, "quick_replies");
        assert_string_equal(json_string_value(json_array_get(qr, 0)), "l'été 🍺");
    }
    json_decref(list);
    pal_conversation_row row;
    assert_int_equal(pal_store_load_conversation(reader, conversation, &row), PAL_OK);
    assert_string_equal(row.state_json, long_text);
    assert_string_equal(row.bot, bot);
    pal_conversation_row_clear(&row);
    json_t *c = NULL;
    assert_int_equal(pal_store_conversation_json(reader, conversation, 2, &c), PAL_OK);
    json_t *identity =
        json_array_get(json_object_get(json_object_get(c, "customer"), "identities"), 0);
    assert_string_equal(str(identity, "external_id"), user);
    json_decref(c);
    pal_store_reader_close(reader);
    free(long_text);
    pal_store_close(store);
}

int main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, make_dir, remove_dir)
    const struct CMUnitTest tests[] = {
        T(open_creates_schema_and_directory),
        T(open_fails_cleanly),
        T(reopen_keeps_data),
        T(deferred_sync_from_another_thread),
        T(deferred_checkpoint_keeps_the_wal_short),
        T(deferred_checkpoint_from_another_thread),
        T(refuses_newer_schema),
        T(ingest_turn_writes_rows_once),
        T(state_of_schema_2_survives_migration),
        T(ingest_creates_customer_identity_conversation),
        T(dedup_key_is_scoped_by_bot_and_channel),
        T(rollback_discards_and_cache_follows),
        T(record_turn_returned),
        T(record_turn_outbox_and_delivery),
        T(consent_and_events),
        T(pending_inbound_after_crash),
        T(reader_sees_committed_data_only),
        T(readers_from_threads),
        T(messages_and_conversation_json),
        T(list_conversations_filters_and_pages),
        T(hostile_strings_round_trip),
    };
#undef T
    /* The errors these tests provoke on purpose would be logged; keep the output cmocka's. */
    pal_log_set_level(PAL_LOG_OFF);
    /* As palabre's main does, so that the store is tested with the cache it runs with. */
    if (!pal_store_pcache_install() || !pal_store_walbuf_install())
        return 1;
    return cmocka_run_group_tests(tests, NULL, NULL);
}
