/*
 * store_sqlite.c — the SQLite backend of store.h.
 *
 * One database file in WAL mode. The writer (pal_store) owns one read-write
 * connection and every statement it runs, prepared once at open; each
 * reader (pal_store_reader) owns a read-only connection and its own
 * statements. SQL texts are fixed: values are always bound, never spliced.
 *
 * Schema: versioned scripts in `migrations`, PRAGMA user_version holding how
 * many were applied; all pending scripts run in one transaction at open, and
 * a file written by a newer program is refused.
 *
 * The hot path is pal_store_ingest(): the writer keeps an in-memory map from
 * (bot, channel, external user) to the identity, customer and conversation
 * ids, so that a known customer costs one INSERT (the message; the unique
 * dedup index answers "seen before?"). The map is bounded (CACHE_MAX
 * entries, cleared when full) and transactional: entries added or changed
 * inside a transaction are remembered and dropped when it rolls back, so the
 * map never points at rows that were never committed. Only the writer
 * changes the database (one writer per file, as store.h says), so nothing
 * else can make the map stale.
 *
 * A turn is one UPDATE of the message, one of the conversation and one INSERT
 * per reply; RETURNING, INSERT ... SELECT from messages and CHECK (x IN (...))
 * are avoided on these paths because SQLite builds a temporary b-tree for each
 * of them on every run (measured: they tripled the cost of a message).
 *
 * Assumes SQLite ≥ 3.30 (UPSERT, FILTER) built thread-safe.
 */
#include "store/store.h"
#include "store/walbuf.h"

#include <errno.h>
#include <sqlite3.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "base/log.h"
#include "base/mem.h"

/* ---- schema ---------------------------------------------------------------------------- */

/*
 * migrations[i] brings a database from user_version i to i + 1. Append, never edit.
 *
 * Notes on version 1:
 *  - messages.bot scopes the dedup key: a key is unique per (bot, channel). It is stored on
 *    every message (outbound too), which also lets analytics count per bot without a join.
 *  - messages.identity_id is the identity that wrote (in) or receives (out) the message.
 *    messages.identity_id and messages.in_reply_to carry no REFERENCES clause on purpose:
 *    with foreign keys on, deleting an identity or a message would then scan all messages
 *    (no index on these columns, and indexing them would cost every insert).
 *  - The index on messages (conversation_id) holds the rowid, so it is ordered by
 *    (conversation_id, id): it serves both "messages of a conversation" and keyset paging.
 *  - messages_received (partial) lists unprocessed inbound messages in id order for recovery;
 *    a message leaves it when it is processed.
 *  - The unique keys are ordered so that they also serve the other look-ups: identities by
 *    (channel, external_id) without a bot, conversations by customer_id.
 *  - Delivery attempts live on the message (kept after the outbox row is gone).
 *  - CHECKs compare with = and OR, not IN (...): SQLite builds a temporary b-tree for an IN
 *    list each time the constraint runs, which tripled the cost of writing a message.
 */
static const char *const migrations[] = {
    "CREATE TABLE customers (\n"
    "    id INTEGER PRIMARY KEY,\n"
    "    created_at INTEGER NOT NULL\n"
    ");\n"
    "CREATE TABLE identities (\n"
    "    id INTEGER PRIMARY KEY,\n"
    "    bot TEXT NOT NULL,\n"
    "    channel TEXT NOT NULL,\n"
    "    external_id TEXT NOT NULL,\n"
    "    customer_id INTEGER NOT NULL REFERENCES customers (id),\n"
    "    opted_out INTEGER NOT NULL DEFAULT 0 CHECK (opted_out = 0 OR opted_out = 1),\n"
    "    consent_at INTEGER,\n"
    "    created_at INTEGER NOT NULL,\n"
    "    UNIQUE (channel, external_id, bot)\n"
    ");\n"
    "CREATE INDEX identities_customer ON identities (customer_id);\n"
    "CREATE TABLE conversations (\n"
    "    id INTEGER PRIMARY KEY,\n"
    "    bot TEXT NOT NULL,\n"
    "    customer_id INTEGER NOT NULL REFERENCES customers (id),\n"
    "    mode TEXT NOT NULL DEFAULT 'bot' CHECK (mode = 'bot' OR mode = 'person'),\n"
    "    lang TEXT,\n"
    "    state TEXT,\n"
    "    meta TEXT,\n"
    "    created_at INTEGER NOT NULL,\n"
    "    updated_at INTEGER NOT NULL\n"
    ");\n"
    "CREATE UNIQUE INDEX conversations_customer_bot ON conversations (customer_id, bot);\n"
    "CREATE TABLE messages (\n"
    "    id INTEGER PRIMARY KEY,\n"
    "    conversation_id INTEGER NOT NULL REFERENCES conversations (id),\n"
    "    identity_id INTEGER,\n"
    "    direction TEXT NOT NULL CHECK (direction = 'in' OR direction = 'out'),\n"
    "    bot TEXT NOT NULL,\n"
    "    channel TEXT NOT NULL,\n"
    "    channel_message_id TEXT,\n"
    "    dedup_key TEXT,\n"
    "    text TEXT NOT NULL,\n"
    "    quick_replies TEXT,\n"
    "    address TEXT,\n"
    "    status TEXT NOT NULL CHECK (\n"
    "        (direction = 'in' AND\n"
    "         (status = 'received' OR status = 'processed' OR status = 'ignored')) OR\n"
    "        (direction = 'out' AND\n"
    "         (status = 'sent' OR status = 'pending' OR status = 'failed'))),\n"
    "    in_reply_to INTEGER,\n"
    "    intent TEXT,\n"
    "    confidence REAL,\n"
    "    error TEXT,\n"
    "    attempts INTEGER NOT NULL DEFAULT 0,\n"
    "    created_at INTEGER NOT NULL,\n"
    "    sent_at INTEGER,\n"
    "    failed_at INTEGER\n"
    ");\n"
    "CREATE UNIQUE INDEX messages_dedup ON messages (bot, channel, dedup_key)\n"
    "    WHERE dedup_key IS NOT NULL;\n"
    "CREATE INDEX messages_conversation ON messages (conversation_id);\n"
    "CREATE INDEX messages_received ON messages (id) WHERE status = 'received';\n"
    "CREATE TABLE outbox (\n"
    "    message_id INTEGER PRIMARY KEY REFERENCES messages (id),\n"
    "    idempotency_key TEXT NOT NULL UNIQUE,\n"
    "    next_attempt_at INTEGER NOT NULL\n"
    ");\n"
    "CREATE TABLE events (\n"
    "    id INTEGER PRIMARY KEY,\n"
    "    conversation_id INTEGER REFERENCES conversations (id),\n"
    "    kind TEXT NOT NULL,\n"
    "    data TEXT,\n"
    "    at INTEGER NOT NULL\n"
    ");\n"
    "CREATE INDEX events_conversation ON events (conversation_id)\n"
    "    WHERE conversation_id IS NOT NULL;\n",
    /* 2: platforms' receipts (WhatsApp statuses, Messenger deliveries) on our messages,
     * found by the platform's id of the message. Only messages a platform numbered are in
     * the index: the api and webchat replies cost nothing more. */
    "ALTER TABLE messages ADD COLUMN receipt TEXT\n"
    "    CHECK (receipt IS NULL OR receipt = 'delivered' OR receipt = 'read');\n"
    "ALTER TABLE messages ADD COLUMN receipt_at INTEGER;\n"
    "CREATE INDEX messages_platform_id ON messages (channel_message_id, channel)\n"
    "    WHERE direction = 'out' AND channel_message_id IS NOT NULL;\n",
    /* 3: the conversation's engine state and meta after a turn are kept on the turn's inbound
     * message, no longer rewritten in the conversation's row at every turn. Conversations are
     * spread over the table, so that rewrite dirtied a page of its own per message, written
     * whole to the WAL and again at the checkpoint (~5 KB of the 13.5 written per message,
     * bench/http); the message row is appended next to the others. A conversation's state
     * (meta) is its latest message's that has one, or its row's (written at its creation,
     * and by older versions). Its updated_at is its latest message's time when that is
     * later. The row still changes with the mode and the language. */
    ("ALTER TABLE messages ADD COLUMN state TEXT;\n"
     "ALTER TABLE messages ADD COLUMN meta TEXT;\n"),
};

#define SCHEMA_VERSION ((int)(sizeof(migrations) / sizeof(migrations[0])))

enum {
    BUSY_TIMEOUT_MS = 5000,
    /* Pages of WAL (4 KiB pages: 12 MiB) before it is copied into the database: by the
     * committing writer (SQLite's autocheckpoint), or with checkpoint_deferred by
     * pal_store_checkpoint() on another thread. Inside the writer's commit every message
     * behind it waits: at 40 MiB the wait reached a second under load (p99 over 900 ms at
     * 5,000 messages/s), at 12 MiB ~15 ms every ~100 ms at full load. A checkpoint thread
     * tried when the writer still fsynced every commit itself was worse (its fsyncs of the
     * database delayed the writer's); with the syncer, it halves p99 (bench/http). */
    WAL_AUTOCHECKPOINT_PAGES = 3000,
    /* With checkpoint_deferred: the checkpointer's copy took the WAL up to some frame while
     * the writer went on committing; the writer copies the rest itself, at its next commit,
     * when there is at most this much (a few ms of messages; more → another pass), so that
     * the WAL is wholly copied and starts again from its beginning (SQLite restarts it only
     * then). */
    WAL_TAIL_PAGES = 1000,
    CHECKPOINT_MAX_PASSES = 4, /* ... passes of the checkpointer to get it that short */
    /* ... and past this length the writer checkpoints itself, as without the option: the
     * checkpointer is behind or failing, and a long WAL slows every read. */
    WAL_WRITER_LIMIT_PAGES = 4 * WAL_AUTOCHECKPOINT_PAGES,
    /* Per-connection page caches, in KiB (negative cache_size). The writer's holds the hot
     * conversations, identities and index pages of a busy server. */
    WRITER_CACHE_KIB = 64 * 1024,
    READER_CACHE_KIB = 8 * 1024,
    MAX_MESSAGES_PAGE = 1000, /* messages_after limit, conversation_json max_messages */
    MAX_CONVERSATIONS_PAGE = 500,
};
/* WAL size kept on disk after a checkpoint resets it. */
#define JOURNAL_SIZE_LIMIT_BYTES "67108864"
/* For a new file: a commit writes every page it dirtied to the WAL (and a checkpoint writes
 * it again into the database), and a batch of messages from many customers dirties a page
 * per new customer in the identities' index, wherever its id falls. Bytes written per
 * message follow the page size: with 50,000 customers (bench/http), 23.7 KB at 8 KiB,
 * 13.9 KB at 4 KiB, 9.7 KB at 2 KiB; messages per second were best at 4 KiB (2 KiB: no
 * faster, deeper trees), which is also the memory page. (An earlier measurement with few
 * customers had favoured 8 KiB: fewer frames when the same pages are rewritten.) */
#define PAGE_SIZE_BYTES "4096"

/* ---- statements ------------------------------------------------------------------------ */

/* The columns a message object is built from (message_json), in this order. */
#define MESSAGE_COLUMNS                                                                            \
    "m.id, m.conversation_id, m.direction, m.channel, m.text, m.quick_replies, "                   \
    "m.channel_message_id, m.status, m.in_reply_to, m.error, m.created_at, m.sent_at, "            \
    "m.receipt, m.receipt_at"

enum writer_statement {
    W_BEGIN,
    W_COMMIT,
    W_ROLLBACK,
    W_IDENTITY_FIND,
    W_CUSTOMER_INSERT,
    W_IDENTITY_INSERT,
    W_CONVERSATION_INSERT,
    W_INBOUND_INSERT,
    W_DEDUP_FIND,
    W_INBOUND_DONE,
    W_INBOUND_STATUS,
    W_CONVERSATION_TURN,
    W_OUTBOUND_INSERT,
    W_OUTBOX_INSERT,
    W_IDENTITY_EXISTS,
    W_CONSENT_UPDATE,
    W_EVENT_INSERT,
    W_OUTBOX_DELETE,
    W_OUTBOX_RESCHEDULE,
    W_MESSAGE_SENT,
    W_MESSAGE_RETRY,
    W_MESSAGE_FAILED,
    W_PENDING_INBOUND,
    W_PENDING_OUTBOX,
    W_RECEIPT_SEEN,
    W_RECEIPT_FAILED,
    W_COUNT
};

static const char *const writer_sql[W_COUNT] = {
    [W_BEGIN] = "BEGIN IMMEDIATE",
    [W_COMMIT] = "COMMIT",
    [W_ROLLBACK] = "ROLLBACK",
    [W_IDENTITY_FIND] =
        "SELECT i.id, i.customer_id, c.id FROM identities i "
        "LEFT JOIN conversations c ON c.customer_id = i.customer_id AND c.bot = i.bot "
        "WHERE i.channel = ?2 AND i.external_id = ?3 AND i.bot = ?1",
    [W_CUSTOMER_INSERT] = "INSERT INTO customers (created_at) VALUES (?1)",
    [W_IDENTITY_INSERT] =
        "INSERT INTO identities (bot, channel, external_id, customer_id, created_at) "
        "VALUES (?1, ?2, ?3, ?4, ?5)",
    /* With the first turn's state when it is known (pal_store_ingest_turn): one write of
     * the row instead of an insert and an update. */
    [W_CONVERSATION_INSERT] = "INSERT INTO conversations (bot, customer_id, mode, created_at, "
                              "updated_at, state, meta, lang) VALUES (?1, ?2, "
                              "coalesce(?4, 'bot'), ?3, coalesce(?5, ?3), ?6, ?7, ?8)",
    /* A duplicate dedup key violates messages_dedup: nothing is inserted, changes() is 0. */
    [W_INBOUND_INSERT] =
        "INSERT INTO messages (conversation_id, identity_id, direction, bot, channel, "
        "channel_message_id, dedup_key, text, address, status, created_at, intent, confidence, "
        "state, meta) "
        "VALUES (?1, ?2, 'in', ?3, ?4, ?5, ?6, ?7, ?8, coalesce(?10, 'received'), ?9, ?11, ?12, "
        "?13, ?14) "
        "ON CONFLICT DO NOTHING",
    [W_DEDUP_FIND] = "SELECT id, conversation_id FROM messages "
                     "WHERE bot = ?1 AND channel = ?2 AND dedup_key = ?3",
    [W_INBOUND_DONE] = "UPDATE messages SET status = ?3, intent = ?4, confidence = ?5, state = ?6, "
                       "meta = ?7 "
                       "WHERE id = ?1 AND conversation_id = ?2 AND direction = 'in' "
                       "AND status = 'received'",
    [W_INBOUND_STATUS] = "SELECT status FROM messages "
                         "WHERE id = ?1 AND conversation_id = ?2 AND direction = 'in'",
    /* Only when the mode or the language changes (state and meta are on the message:
     * migration 3). */
    [W_CONVERSATION_TURN] = "UPDATE conversations SET mode = coalesce(?2, mode), "
                            "lang = coalesce(?3, lang), updated_at = ?4 WHERE id = ?1 AND "
                            "((?2 IS NOT NULL AND ?2 IS NOT mode) OR "
                            "(?3 IS NOT NULL AND ?3 IS NOT lang))",
    /* A reply goes to the identity its message (?9) came from, for the same bot. Scalar
     * subqueries, not INSERT ... SELECT: reading the table written to, the latter copies its
     * rows into a temporary table first (5 µs a reply). */
    [W_OUTBOUND_INSERT] = "INSERT INTO messages (conversation_id, identity_id, direction, bot, "
                          "channel, text, quick_replies, address, status, in_reply_to, created_at, "
                          "sent_at) VALUES (?1, (SELECT identity_id FROM messages WHERE id = ?9), "
                          "'out', (SELECT bot FROM messages WHERE id = ?9), ?4, ?5, ?6, ?7, ?8, "
                          "?9, ?10, ?11)",
    [W_OUTBOX_INSERT] = "INSERT INTO outbox (message_id, idempotency_key, next_attempt_at) "
                        "VALUES (?1, 'palabre-' || ?1, ?2)",
    [W_IDENTITY_EXISTS] = "SELECT 1 FROM identities WHERE id = ?1",
    [W_CONSENT_UPDATE] = "UPDATE identities SET opted_out = ?2, consent_at = ?3 WHERE id = ?1",
    [W_EVENT_INSERT] =
        "INSERT INTO events (conversation_id, kind, data, at) VALUES (?1, ?2, ?3, ?4)",
    [W_OUTBOX_DELETE] = "DELETE FROM outbox WHERE message_id = ?1",
    [W_OUTBOX_RESCHEDULE] = "UPDATE outbox SET next_attempt_at = ?2 WHERE message_id = ?1",
    [W_MESSAGE_SENT] = "UPDATE messages SET status = 'sent', sent_at = ?2, "
                       "channel_message_id = coalesce(?3, channel_message_id) WHERE id = ?1",
    [W_MESSAGE_RETRY] = "UPDATE messages SET attempts = attempts + 1, error = ?2 WHERE id = ?1",
    [W_MESSAGE_FAILED] = "UPDATE messages SET status = 'failed', error = ?2, failed_at = ?3 "
                         "WHERE id = ?1",
    /* A receipt never goes back: delivered after read changes nothing. */
    [W_RECEIPT_SEEN] = "UPDATE messages SET receipt = ?4, receipt_at = ?5 "
                       "WHERE channel_message_id = ?3 AND channel = ?2 AND direction = 'out' "
                       "AND bot = ?1 AND status = 'sent' "
                       "AND (receipt IS NULL OR (receipt = 'delivered' AND ?4 = 'read'))",
    [W_RECEIPT_FAILED] = "UPDATE messages SET status = 'failed', error = ?4, failed_at = ?5 "
                         "WHERE channel_message_id = ?3 AND channel = ?2 AND direction = 'out' "
                         "AND bot = ?1",
    [W_PENDING_INBOUND] = "SELECT m.id, m.conversation_id, i.customer_id, m.identity_id, m.bot, "
                          "m.channel, i.external_id, m.text, m.address, m.created_at "
                          "FROM messages m LEFT JOIN identities i ON i.id = m.identity_id "
                          "WHERE m.status = 'received' ORDER BY m.id",
    [W_PENDING_OUTBOX] = "SELECT o.message_id, m.conversation_id, m.bot, m.channel, i.external_id, "
                         "m.address, m.text, m.quick_replies, o.idempotency_key, m.attempts, "
                         "o.next_attempt_at, m.in_reply_to, "
                         "(SELECT q.channel_message_id FROM messages q WHERE q.id = m.in_reply_to) "
                         "FROM outbox o JOIN messages m ON m.id = o.message_id "
                         "LEFT JOIN identities i ON i.id = m.identity_id ORDER BY o.message_id",
};

enum reader_statement {
    R_BEGIN,
    R_COMMIT,
    R_LOAD,
    R_FIND,
    R_DEDUP,
    R_INBOUND_STATUS,
    R_REPLIES,
    R_MESSAGES_AFTER,
    R_CONVERSATION,
    R_IDENTITIES,
    R_LAST_MESSAGES,
    R_LIST,
    R_LIST_IDENTITY,
    R_COUNT_ALL,
    R_COUNT
};

/* A conversation's last change: its row's, or its latest message's when later. */
#define UPDATED_AT                                                                                 \
    "max(c.updated_at, coalesce((SELECT m.created_at FROM messages m "                             \
    "WHERE m.conversation_id = c.id ORDER BY m.id DESC LIMIT 1), 0))"

/* The list's columns and its filters but the identity one; ?1 bot, ?2 mode, ?3 channel,
 * ?4 external user, ?5 before, ?6 limit. */
#define LIST_SELECT                                                                                \
    "SELECT c.id, c.bot, c.customer_id, c.mode, c.lang, c.created_at, " UPDATED_AT ", "            \
    "(SELECT count(*) FROM messages m WHERE m.conversation_id = c.id) FROM conversations c "       \
    "WHERE c.id < ?5 AND (?1 IS NULL OR c.bot = ?1) AND (?2 IS NULL OR c.mode = ?2) "
#define LIST_ORDER "ORDER BY c.id DESC LIMIT ?6"

static const char *const reader_sql[R_COUNT] = {
    [R_BEGIN] = "BEGIN",
    [R_COMMIT] = "COMMIT",
    [R_LOAD] = "SELECT c.id, c.customer_id, c.bot, c.mode, c.lang, coalesce((SELECT m.state "
               "FROM messages m WHERE m.conversation_id = c.id AND m.state IS NOT NULL "
               "ORDER BY m.id DESC LIMIT 1), c.state), coalesce((SELECT m.meta FROM messages m "
               "WHERE m.conversation_id = c.id AND m.meta IS NOT NULL ORDER BY m.id DESC "
               "LIMIT 1), c.meta) FROM conversations c WHERE c.id = ?1",
    [R_FIND] = "SELECT c.id FROM identities i "
               "JOIN conversations c ON c.customer_id = i.customer_id AND c.bot = i.bot "
               "WHERE i.channel = ?2 AND i.external_id = ?3 AND i.bot = ?1",
    [R_DEDUP] = "SELECT 1 FROM messages WHERE bot = ?1 AND channel = ?2 AND dedup_key = ?3 "
                "AND dedup_key IS NOT NULL",
    [R_INBOUND_STATUS] = "SELECT conversation_id, status FROM messages "
                         "WHERE id = ?1 AND direction = 'in'",
    /* Replies come after their message in its conversation: walk that part of the index. */
    [R_REPLIES] = "SELECT " MESSAGE_COLUMNS " FROM messages m WHERE m.conversation_id = ?1 "
                  "AND m.id > ?2 AND m.in_reply_to = ?2 ORDER BY m.id",
    [R_MESSAGES_AFTER] = "SELECT " MESSAGE_COLUMNS " FROM messages m WHERE m.conversation_id = ?1 "
                         "AND m.id > ?2 ORDER BY m.id LIMIT ?3",
    [R_CONVERSATION] =
        "SELECT c.id, c.bot, c.customer_id, c.mode, c.lang, c.created_at, " UPDATED_AT
        " FROM conversations c WHERE c.id = ?1",
    [R_IDENTITIES] = "SELECT channel, external_id FROM identities "
                     "WHERE customer_id = ?1 AND bot = ?2 ORDER BY id",
    [R_LAST_MESSAGES] = "SELECT " MESSAGE_COLUMNS " FROM messages m WHERE m.conversation_id = ?1 "
                        "ORDER BY m.id DESC LIMIT ?2",
    [R_LIST] = LIST_SELECT LIST_ORDER,
    [R_LIST_IDENTITY] = LIST_SELECT "AND c.customer_id IN (SELECT customer_id FROM identities "
                                    "WHERE channel = ?3 AND external_id = ?4) " LIST_ORDER,
    [R_COUNT_ALL] = "SELECT count(*) FILTER (WHERE direction = 'in'), "
                    "count(*) FILTER (WHERE status = 'received'), "
                    "count(*) FILTER (WHERE direction = 'out'), "
                    "count(*) FILTER (WHERE status = 'sent'), "
                    "count(*) FILTER (WHERE status = 'failed'), "
                    "(SELECT count(*) FROM outbox), (SELECT count(*) FROM conversations), "
                    "(SELECT count(*) FROM customers) FROM messages",
};

/* ---- the identity cache ---------------------------------------------------------------- */

enum {
    CACHE_MAX = 200000,     /* entries; the map is cleared when it reaches this */
    CACHE_MIN_SLOTS = 1024, /* slots are a power of two, at least twice the entries */
    CACHE_MAX_KEY = 256,    /* longer keys are not cached (they still work, from SQLite) */
};

/* What the writer knows of one (bot, channel, external user). */
typedef struct cache_entry {
    uint64_t hash;
    int64_t identity_id, customer_id;
    int64_t conversation_id; /* 0: the customer has no conversation with bot yet */
    uint32_t len[3];         /* of bot, channel, external user */
    bool journaled;          /* in the current transaction's journal */
    char key[];              /* bot NUL channel NUL external user NUL */
} cache_entry;

/* Open addressing with linear probing; entries are separate allocations so that the
 * journal can point at them while the table moves them around. */
typedef struct identity_cache {
    cache_entry **slots; /* cap slots, NULL when empty */
    size_t cap, count;
    cache_entry **journal; /* added or changed in the current transaction */
    size_t n_journal, journal_cap;
} identity_cache;

/* A looked-up key: its three parts with their lengths, and its hash. */
typedef struct cache_key {
    const char *part[3];
    size_t len[3];
    uint64_t hash;
    bool cacheable; /* short enough to be cached */
} cache_key;

static void cache_key_init(cache_key *key, const char *bot, const char *channel,
                           const char *external_user)
{
    /* FNV-1a over the parts and their terminating NULs, then a 64-bit finaliser (murmur3)
     * so that the low bits used to pick a slot depend on every byte. */
    uint64_t h = 14695981039346656037ULL;
    key->part[0] = bot;
    key->part[1] = channel;
    key->part[2] = external_user;
    size_t total = 0;
    for (int i = 0; i < 3; i++) {
        const unsigned char *p = (const unsigned char *)key->part[i];
        size_t n = 0;
        for (; p[n]; n++)
            h = (h ^ p[n]) * 1099511628211ULL;
        h *= 1099511628211ULL; /* the NUL */
        key->len[i] = n;
        total += n + 1;
    }
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdULL;
    h ^= h >> 33;
    h *= 0xc4ceb9fe1a85ec53ULL;
    h ^= h >> 33;
    key->hash = h;
    key->cacheable = total <= CACHE_MAX_KEY;
}

static bool cache_entry_is(const cache_entry *entry, const cache_key *key)
{
    if (entry->hash != key->hash)
        return false;
    const char *p = entry->key;
    for (int i = 0; i < 3; i++) {
        if (entry->len[i] != key->len[i] || memcmp(p, key->part[i], key->len[i]) != 0)
            return false;
        p += key->len[i] + 1;
    }
    return true;
}

static cache_entry *cache_find(const identity_cache *cache, const cache_key *key)
{
    if (cache->cap == 0 || !key->cacheable)
        return NULL;
    size_t mask = cache->cap - 1;
    for (size_t i = key->hash & mask;; i = (i + 1) & mask) {
        cache_entry *entry = cache->slots[i];
        if (!entry || cache_entry_is(entry, key))
            return entry;
    }
}

static void cache_place(cache_entry **slots, size_t cap, cache_entry *entry)
{
    size_t mask = cap - 1;
    size_t i = entry->hash & mask;
    while (slots[i])
        i = (i + 1) & mask;
    slots[i] = entry;
}

/* Forgets every entry (the table's memory is kept). */
static void cache_clear(identity_cache *cache)
{
    for (size_t i = 0; i < cache->cap; i++) {
        free(cache->slots[i]);
        cache->slots[i] = NULL;
    }
    cache->count = 0;
    cache->n_journal = 0;
}

static void cache_free(identity_cache *cache)
{
    cache_clear(cache);
    free(cache->slots);
    free(cache->journal);
    memset(cache, 0, sizeof(*cache));
}

/* Remembers that entry was added or changed in the current transaction. */
static void cache_journal(identity_cache *cache, cache_entry *entry)
{
    if (entry->journaled)
        return;
    pal_xreserve((void **)&cache->journal, &cache->journal_cap, cache->n_journal + 1,
                 sizeof(cache->journal[0]));
    cache->journal[cache->n_journal++] = entry;
    entry->journaled = true;
}

/* Adds what the database says of key; NULL when the key is too long to cache. Every entry
 * is added inside a transaction (ingest), so every entry starts in the journal. */
static cache_entry *cache_add(identity_cache *cache, const cache_key *key, int64_t identity_id,
                              int64_t customer_id, int64_t conversation_id)
{
    if (!key->cacheable)
        return NULL;
    if (cache->count >= CACHE_MAX)
        cache_clear(cache);
    if ((cache->count + 1) * 2 > cache->cap) {
        size_t cap = cache->cap ? cache->cap * 2 : CACHE_MIN_SLOTS;
        cache_entry **slots = pal_xcalloc(cap, sizeof(slots[0]));
        for (size_t i = 0; i < cache->cap; i++)
            if (cache->slots[i])
                cache_place(slots, cap, cache->slots[i]);
        free(cache->slots);
        cache->slots = slots;
        cache->cap = cap;
    }
    size_t key_size = key->len[0] + key->len[1] + key->len[2] + 3;
    cache_entry *entry = pal_xmalloc(sizeof(*entry) + key_size);
    entry->hash = key->hash;
    entry->identity_id = identity_id;
    entry->customer_id = customer_id;
    entry->conversation_id = conversation_id;
    entry->journaled = false;
    char *p = entry->key;
    for (int i = 0; i < 3; i++) {
        entry->len[i] = (uint32_t)key->len[i];
        memcpy(p, key->part[i], key->len[i] + 1);
        p += key->len[i] + 1;
    }
    cache_place(cache->slots, cache->cap, entry);
    cache->count++;
    cache_journal(cache, entry);
    return entry;
}

/* Removes entry (backward-shift deletion keeps every probe chain unbroken) and frees it. */
static void cache_remove(identity_cache *cache, cache_entry *entry)
{
    size_t mask = cache->cap - 1;
    size_t hole = entry->hash & mask;
    while (cache->slots[hole] != entry)
        hole = (hole + 1) & mask;
    for (size_t j = (hole + 1) & mask; cache->slots[j]; j = (j + 1) & mask) {
        size_t home = cache->slots[j]->hash & mask;
        /* slots[j] may fill the hole unless its home lies cyclically in (hole, j]. */
        bool stays = hole < j ? (hole < home && home <= j) : (hole < home || home <= j);
        if (!stays) {
            cache->slots[hole] = cache->slots[j];
            hole = j;
        }
    }
    cache->slots[hole] = NULL;
    cache->count--;
    free(entry);
}

/* The transaction committed: what the journal points at is now durable. */
static void cache_commit(identity_cache *cache)
{
    for (size_t i = 0; i < cache->n_journal; i++)
        cache->journal[i]->journaled = false;
    cache->n_journal = 0;
}

/* The transaction rolled back: forget what it added or changed (read again when needed). */
static void cache_rollback(identity_cache *cache)
{
    for (size_t i = 0; i < cache->n_journal; i++)
        cache_remove(cache, cache->journal[i]);
    cache->n_journal = 0;
}

/* ---- handles --------------------------------------------------------------------------- */

struct pal_store {
    sqlite3 *db;
    char *path;                   /* of the database file; readers open it too */
    bool in_transaction;          /* between pal_store_begin and commit/rollback */
    bool sync_by_caller;          /* sync_full with sync_deferred: pal_store_sync() fsyncs */
    int wal_fd;                   /* the WAL, opened by pal_store_sync() at its first call; -1 */
    bool checkpoint_by_caller;    /* checkpoint_deferred: pal_store_checkpoint() checkpoints */
    sqlite3 *checkpoint_db;       /* its connection, opened at its first pass; or NULL */
    atomic_int wal_frames;        /* frames in the WAL after the writer's last commit */
    atomic_int checkpoint_state;  /* enum checkpoint_state */
    atomic_int checkpoint_copied; /* CHECKPOINT_COPIED: the WAL's frames copied by that pass */
    atomic_int n_readers;
    identity_cache cache;
    sqlite3_stmt *stmt[W_COUNT];
};

/* The deferred checkpoint's passes. Only pal_store_checkpoint() moves IDLE → RUNNING →
 * COPIED (or back to IDLE when it could not copy), only the writer's commit COPIED → IDLE. */
enum checkpoint_state { CHECKPOINT_IDLE, CHECKPOINT_RUNNING, CHECKPOINT_COPIED };

struct pal_store_reader {
    pal_store *store;
    sqlite3 *db;
    sqlite3_stmt *stmt[R_COUNT];
};

/* ---- SQLite helpers -------------------------------------------------------------------- */

/* Binds parameters in sequence; the first failure sticks and the binds after it are skipped,
 * so a run of binds is checked once at its end (each result is still checked on its own,
 * never added). */
typedef struct binder {
    sqlite3_stmt *st;
    int rc;
} binder;

static void bind_i64(binder *b, int index, int64_t value)
{
    if (b->rc == SQLITE_OK)
        b->rc = sqlite3_bind_int64(b->st, index, value);
}

/* Binds value, or NULL when value is 0 (an optional id). */
static void bind_id(binder *b, int index, int64_t value)
{
    if (b->rc == SQLITE_OK)
        b->rc = value ? sqlite3_bind_int64(b->st, index, value) : sqlite3_bind_null(b->st, index);
}

static void bind_double(binder *b, int index, double value)
{
    if (b->rc == SQLITE_OK)
        b->rc = sqlite3_bind_double(b->st, index, value);
}

/* Binds text (borrowed until the statement is reset), or NULL. */
static void bind_text(binder *b, int index, const char *text)
{
    if (b->rc != SQLITE_OK)
        return;
    if (text)
        b->rc = sqlite3_bind_text(b->st, index, text, -1, SQLITE_STATIC);
    else
        b->rc = sqlite3_bind_null(b->st, index);
}

/* Readies st for its next use. sqlite3_reset's result repeats the last step's, which the
 * caller has already checked. */
static void stmt_done(sqlite3_stmt *st)
{
    (void)sqlite3_reset(st);
    (void)sqlite3_clear_bindings(st);
}

/* Steps a statement that returns no row. */
static int step_done(sqlite3_stmt *st)
{
    int rc = sqlite3_step(st);
    return rc == SQLITE_DONE ? SQLITE_OK : rc;
}

/* sqlite3_column_text without the cast; NULL for SQL NULL. */
static const char *column_text(sqlite3_stmt *st, int column)
{
    return (const char *)sqlite3_column_text(st, column);
}

/* A copy the caller frees, or NULL for SQL NULL. */
static char *column_strdup(sqlite3_stmt *st, int column)
{
    const char *text = column_text(st, column);
    return text ? pal_xstrndup(text, (size_t)sqlite3_column_bytes(st, column)) : NULL;
}

static pal_err translate(int rc)
{
    switch (rc & 0xff) {
    case SQLITE_OK:
        return PAL_OK;
    case SQLITE_CANTOPEN:
    case SQLITE_IOERR:
    case SQLITE_NOTADB:
    case SQLITE_READONLY:
    case SQLITE_PERM:
    case SQLITE_FULL:
    case SQLITE_CORRUPT:
        return PAL_ERR_IO;
    default:
        return PAL_ERR_INTERNAL;
    }
}

/* Logs a failed SQLite call of `what` once, at this boundary; returns PAL_ERR_INTERNAL. */
static pal_err sqlite_failed(sqlite3 *db, const char *what, int64_t id)
{
    pal_log(PAL_LOG_ERR, "store", "%s id=%lld: SQLite: %s", what, (long long)id,
            sqlite3_errmsg(db));
    return PAL_ERR_INTERNAL;
}

static int exec(sqlite3 *db, const char *sql)
{
    return sqlite3_exec(db, sql, NULL, NULL, NULL);
}

/* ---- times ----------------------------------------------------------------------------- */

/* ms since the epoch as RFC 3339 UTC with milliseconds: "2026-11-23T21:34:00.123Z". */
static json_t *time_json(int64_t ms)
{
    int64_t secs = ms / 1000, rem = ms % 1000;
    if (rem < 0) {
        secs -= 1;
        rem += 1000;
    }
    time_t t = (time_t)secs;
    struct tm tm;
    char text[64];
    if (!gmtime_r(&t, &tm))
        return json_null(); /* out of struct tm's range: not a time palabre writes */
    snprintf(text, sizeof(text), "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
             tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (int)rem);
    return json_string(text);
}

/* ---- JSON helpers ---------------------------------------------------------------------- */

/* jansson returns NULL for these only when out of memory (STYLE: allocation aborts). */
static json_t *json_must(json_t *value)
{
    if (!value)
        abort();
    return value;
}

static void put(json_t *object, const char *key, json_t *value)
{
    if (json_object_set_new(object, key, json_must(value)) != 0)
        abort();
}

static void append(json_t *array, json_t *value)
{
    if (json_array_append_new(array, json_must(value)) != 0)
        abort();
}

/* Puts column's text as key (null for SQL NULL, or nothing when skip_null). Stored texts were
 * checked by the writer's callers; one that is not UTF-8 means a damaged file. */
static pal_err put_text(json_t *object, const char *key, sqlite3_stmt *st, int column,
                        bool skip_null)
{
    const char *text = column_text(st, column);
    if (!text) {
        if (!skip_null)
            put(object, key, json_null());
        return PAL_OK;
    }
    json_t *value = json_stringn(text, (size_t)sqlite3_column_bytes(st, column));
    if (!value) {
        pal_log(PAL_LOG_ERR, "store", "stored %s is not UTF-8", key);
        return PAL_ERR_INTERNAL;
    }
    put(object, key, value);
    return PAL_OK;
}

static void put_time(json_t *object, const char *key, sqlite3_stmt *st, int column, bool skip_null)
{
    if (sqlite3_column_type(st, column) == SQLITE_NULL) {
        if (!skip_null)
            put(object, key, json_null());
        return;
    }
    put(object, key, time_json(sqlite3_column_int64(st, column)));
}

/* The message at st's current row (MESSAGE_COLUMNS) as the object store.h describes. */
static pal_err message_json(sqlite3_stmt *st, json_t **out)
{
    json_t *m = json_must(json_object());
    pal_err err = PAL_ERR_INTERNAL;
    const char *direction = column_text(st, 2);
    bool outbound = direction && strcmp(direction, "out") == 0;

    put(m, "id", json_integer(sqlite3_column_int64(st, 0)));
    put(m, "conversation_id", json_integer(sqlite3_column_int64(st, 1)));
    if (put_text(m, "direction", st, 2, false) != PAL_OK)
        goto out;
    if (put_text(m, "channel", st, 3, false) != PAL_OK)
        goto out;
    if (put_text(m, "text", st, 4, false) != PAL_OK)
        goto out;
    const char *quick_replies = column_text(st, 5);
    if (outbound && quick_replies) {
        json_t *array = json_loads(quick_replies, JSON_DECODE_ANY, NULL);
        if (json_is_array(array) && json_array_size(array) > 0)
            put(m, "quick_replies", array);
        else
            json_decref(array);
    }
    if (put_text(m, "channel_message_id", st, 6, true) != PAL_OK)
        goto out;
    if (put_text(m, "status", st, 7, false) != PAL_OK)
        goto out;
    if (outbound && sqlite3_column_type(st, 8) != SQLITE_NULL)
        put(m, "in_reply_to", json_integer(sqlite3_column_int64(st, 8)));
    /* The last delivery error is kept, but shown only when delivery failed for good. */
    const char *status = column_text(st, 7);
    if (status && strcmp(status, "failed") == 0 && put_text(m, "error", st, 9, true) != PAL_OK)
        goto out;
    put_time(m, "created_at", st, 10, false);
    if (outbound) {
        put_time(m, "sent_at", st, 11, true);
        if (put_text(m, "receipt", st, 12, true) != PAL_OK)
            goto out;
        put_time(m, "receipt_at", st, 13, true);
    }
    *out = m;
    m = NULL;
    err = PAL_OK;
out:
    json_decref(m);
    return err;
}

/* ---- open and close -------------------------------------------------------------------- */

int pal_store_schema_version(void)
{
    return SCHEMA_VERSION;
}

/* mkdir of path's directory (one level) when it is missing. */
static pal_err make_parent_dir(const char *path, char *errbuf, size_t errlen)
{
    const char *slash = strrchr(path, '/');
    if (!slash || slash == path)
        return PAL_OK;
    char *dir = pal_xstrndup(path, (size_t)(slash - path));
    pal_err err = PAL_OK;
    if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
        pal_err_format(errbuf, errlen, "%s: %s", dir, strerror(errno));
        err = PAL_ERR_IO;
    }
    free(dir);
    return err;
}

static void finalize_all(sqlite3_stmt **stmt, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        (void)sqlite3_finalize(stmt[i]); /* repeats the last step's result: already seen */
        stmt[i] = NULL;
    }
}

static int prepare_all(sqlite3 *db, const char *const *sql, sqlite3_stmt **stmt, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        int rc = sqlite3_prepare_v3(db, sql[i], -1, SQLITE_PREPARE_PERSISTENT, &stmt[i], NULL);
        if (rc != SQLITE_OK)
            return rc;
    }
    return SQLITE_OK;
}

/* The writer's commit hook with checkpoint_deferred (it replaces SQLite's autocheckpoint,
 * itself such a hook): notes the WAL's length for pal_store_checkpoint_due(), and copies the
 * WAL itself when the checkpointer's pass left only a short tail (the WAL then restarts at the
 * next transaction), or when the WAL is over its limit. A checkpoint refused as busy (the
 * checkpointer's pass runs) is simply left for later. */
static int after_wal_commit(void *arg, sqlite3 *db, const char *schema, int frames)
{
    pal_store *store = arg;
    atomic_store(&store->wal_frames, frames);
    int state = atomic_load(&store->checkpoint_state);
    int copied = atomic_load(&store->checkpoint_copied);
    bool tail = state == CHECKPOINT_COPIED && frames >= copied && frames - copied <= WAL_TAIL_PAGES;
    if (tail || frames >= WAL_WRITER_LIMIT_PAGES) {
        int log = 0, ckpt = 0;
        int rc = sqlite3_wal_checkpoint_v2(db, schema, SQLITE_CHECKPOINT_PASSIVE, &log, &ckpt);
        if (rc == SQLITE_OK && ckpt == log) /* all copied: the next transaction restarts it */
            atomic_store(&store->wal_frames, 0);
        else if (rc != SQLITE_OK && rc != SQLITE_BUSY)
            pal_log(PAL_LOG_ERR, "store", "checkpoint of %s by the writer: SQLite: %s", store->path,
                    sqlite3_errmsg(db));
    }
    if (state == CHECKPOINT_COPIED)
        atomic_store(&store->checkpoint_state, CHECKPOINT_IDLE);
    return SQLITE_OK;
}

/* Sets the WAL journal mode and the writer's pragmas. */
static int configure_writer(pal_store *store, bool sync_full)
{
    sqlite3 *db = store->db;
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_busy_timeout(db, BUSY_TIMEOUT_MS);
    if (rc != SQLITE_OK)
        goto out;
    /* Only takes effect while the file is empty, before it is in WAL mode. */
    rc = exec(db, "PRAGMA page_size = " PAGE_SIZE_BYTES);
    if (rc != SQLITE_OK)
        goto out;
    rc = sqlite3_prepare_v2(db, "PRAGMA journal_mode = WAL", -1, &st, NULL);
    if (rc != SQLITE_OK)
        goto out;
    rc = sqlite3_step(st);
    if (rc != SQLITE_ROW)
        goto out;
    const char *mode = column_text(st, 0);
    if (!mode || strcmp(mode, "wal") != 0) {
        rc = SQLITE_CANTOPEN; /* e.g. a file system without shared memory */
        goto out;
    }
    rc = exec(db, sync_full ? "PRAGMA synchronous = FULL" : "PRAGMA synchronous = NORMAL");
    if (rc != SQLITE_OK)
        goto out;
    rc = exec(db, "PRAGMA foreign_keys = ON");
    if (rc != SQLITE_OK)
        goto out;
    rc = exec(db, "PRAGMA journal_size_limit = " JOURNAL_SIZE_LIMIT_BYTES);
    if (rc != SQLITE_OK)
        goto out;
    if (store->checkpoint_by_caller)
        (void)sqlite3_wal_hook(db, after_wal_commit, store); /* returns the previous hook */
    else if (sqlite3_wal_autocheckpoint(db, WAL_AUTOCHECKPOINT_PAGES) != SQLITE_OK) {
        rc = SQLITE_INTERNAL;
        goto out;
    }
    char sql[64];
    snprintf(sql, sizeof(sql), "PRAGMA cache_size = -%d", WRITER_CACHE_KIB);
    rc = exec(db, sql);
    if (rc != SQLITE_OK)
        goto out;
    rc = exec(db, "PRAGMA temp_store = MEMORY");
out:
    (void)sqlite3_finalize(st); /* its result is the step's, checked above */
    return rc == SQLITE_ROW || rc == SQLITE_DONE ? SQLITE_OK : rc;
}

/* Applies the missing migrations in one transaction. */
static pal_err migrate(sqlite3 *db, const char *path, char *why, size_t why_len)
{
    sqlite3_stmt *st = NULL;
    pal_err err = PAL_ERR_INTERNAL;
    bool began = false;
    int version = 0;

    if (exec(db, "BEGIN IMMEDIATE") != SQLITE_OK)
        goto out;
    began = true;
    if (sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &st, NULL) != SQLITE_OK)
        goto out;
    if (sqlite3_step(st) != SQLITE_ROW)
        goto out;
    version = sqlite3_column_int(st, 0);
    if (version > SCHEMA_VERSION || version < 0) {
        pal_err_format(why, why_len,
                       "%s: schema version %d is newer than this program's (%d): upgrade palabre",
                       path, version, SCHEMA_VERSION);
        err = PAL_ERR_STATE;
        goto out;
    }
    for (int v = version; v < SCHEMA_VERSION; v++)
        if (exec(db, migrations[v]) != SQLITE_OK)
            goto out;
    if (version < SCHEMA_VERSION) {
        char sql[64];
        snprintf(sql, sizeof(sql), "PRAGMA user_version = %d", SCHEMA_VERSION);
        if (exec(db, sql) != SQLITE_OK)
            goto out;
    }
    if (exec(db, "COMMIT") != SQLITE_OK)
        goto out;
    began = false;
    if (version < SCHEMA_VERSION)
        pal_log(PAL_LOG_INFO, "store", "%s: schema migrated from version %d to %d", path, version,
                SCHEMA_VERSION);
    err = PAL_OK;
out:
    if (err == PAL_ERR_INTERNAL) {
        pal_err io = translate(sqlite3_errcode(db));
        err = io == PAL_OK ? PAL_ERR_INTERNAL : io;
        pal_err_format(why, why_len, "%s: migrating from version %d: SQLite: %s", path, version,
                       sqlite3_errmsg(db));
    }
    (void)sqlite3_finalize(st); /* its result is the step's, checked above */
    if (began)
        (void)exec(db, "ROLLBACK"); /* best effort: closing the connection rolls back too */
    return err;
}

pal_err pal_store_open(const char *path, const pal_store_options *options, pal_store **out,
                       char *errbuf, size_t errlen)
{
    pal_store *store = NULL;
    pal_err err = PAL_ERR_INVALID;
    char why[1024] = "";
    int rc;

    if (!path || !*path || !out) {
        pal_err_format(why, sizeof(why), "no database path");
        goto out;
    }
    *out = NULL;
    if (!sqlite3_threadsafe()) {
        pal_err_format(why, sizeof(why), "SQLite is built without thread support");
        err = PAL_ERR_INTERNAL;
        goto out;
    }
    err = make_parent_dir(path, why, sizeof(why));
    if (err != PAL_OK)
        goto out;

    store = pal_xcalloc(1, sizeof(*store));
    store->path = pal_xstrdup(path);
    store->wal_fd = -1;
    store->sync_by_caller = options && options->sync_full && options->sync_deferred;
    store->checkpoint_by_caller = options && options->checkpoint_deferred;
    atomic_init(&store->n_readers, 0);
    atomic_init(&store->wal_frames, 0);
    atomic_init(&store->checkpoint_state, CHECKPOINT_IDLE);
    atomic_init(&store->checkpoint_copied, 0);
    /* FULLMUTEX although the writer is for one thread at a time (store.h): should a caller
     * break that rule, SQLite serialises the calls instead of corrupting its own memory (and
     * perhaps the file). Costs about 4% of a message's instructions. */
    /* The WAL's writes gathered into one per commit when main installed that VFS. */
    rc = sqlite3_open_v2(path, &store->db,
                         SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX,
                         sqlite3_vfs_find(PAL_STORE_WALBUF_VFS) ? PAL_STORE_WALBUF_VFS : NULL);
    if (rc == SQLITE_OK)
        rc = configure_writer(store, options && options->sync_full && !store->sync_by_caller);
    if (rc != SQLITE_OK) {
        pal_err_format(why, sizeof(why), "%s: SQLite: %s", path,
                       store->db ? sqlite3_errmsg(store->db) : sqlite3_errstr(rc));
        err = translate(rc);
        goto out;
    }
    err = migrate(store->db, path, why, sizeof(why));
    if (err != PAL_OK)
        goto out;
    rc = prepare_all(store->db, writer_sql, store->stmt, W_COUNT);
    if (rc != SQLITE_OK) {
        pal_err_format(why, sizeof(why), "%s: preparing statements: SQLite: %s", path,
                       sqlite3_errmsg(store->db));
        err = PAL_ERR_INTERNAL;
        goto out;
    }
    pal_log(PAL_LOG_DEBUG, "store", "opened %s (synchronous=%s)", path,
            store->sync_by_caller           ? "by pal_store_sync"
            : options && options->sync_full ? "full"
                                            : "normal");
    *out = store;
    store = NULL;
    err = PAL_OK;
out:
    if (err != PAL_OK) {
        pal_log(PAL_LOG_ERR, "store", "open: %s (%s)", why, pal_err_str(err));
        pal_err_format(errbuf, errlen, "%s", why);
    }
    pal_store_close(store);
    return err;
}

void pal_store_close(pal_store *store)
{
    if (!store)
        return;
    int readers = atomic_load(&store->n_readers);
    if (readers != 0)
        pal_log(PAL_LOG_ERR, "store", "closing with %d reader(s) still open", readers);
    if (store->in_transaction)
        pal_store_rollback(store);
    finalize_all(store->stmt, W_COUNT);
    if (store->wal_fd >= 0)
        close(store->wal_fd);
    /* Before the writer's, whose close is then the last and checkpoints the WAL away. */
    if (sqlite3_close(store->checkpoint_db) != SQLITE_OK)
        pal_log(PAL_LOG_ERR, "store", "close %s (checkpointer): SQLite: %s", store->path,
                sqlite3_errmsg(store->checkpoint_db));
    if (sqlite3_close(store->db) != SQLITE_OK)
        pal_log(PAL_LOG_ERR, "store", "close %s: SQLite: %s", store->path,
                sqlite3_errmsg(store->db));
    cache_free(&store->cache);
    free(store->path);
    free(store);
}

/* ---- transactions ---------------------------------------------------------------------- */

/* After a failed statement: SQLite may have rolled the whole transaction back by itself
 * (disk full, I/O error); then forget it, so that later calls fail instead of writing
 * outside any transaction. */
static void check_transaction(pal_store *store)
{
    if (store->in_transaction && sqlite3_get_autocommit(store->db)) {
        pal_log(PAL_LOG_ERR, "store", "SQLite rolled back the transaction");
        store->in_transaction = false;
        cache_rollback(&store->cache);
    }
}

pal_err pal_store_begin(pal_store *store)
{
    if (!store || store->in_transaction)
        return PAL_ERR_STATE;
    sqlite3_stmt *st = store->stmt[W_BEGIN];
    int rc = step_done(st);
    stmt_done(st);
    if (rc != SQLITE_OK)
        return sqlite_failed(store->db, "begin", 0);
    store->in_transaction = true;
    return PAL_OK;
}

pal_err pal_store_commit(pal_store *store)
{
    if (!store || !store->in_transaction)
        return PAL_ERR_STATE;
    sqlite3_stmt *st = store->stmt[W_COMMIT];
    int rc = step_done(st);
    stmt_done(st);
    if (rc != SQLITE_OK) {
        pal_err err = sqlite_failed(store->db, "commit", 0);
        /* Leave no transaction, as rollback does: what was not committed is lost. */
        pal_store_rollback(store);
        return err;
    }
    store->in_transaction = false;
    cache_commit(&store->cache);
    return PAL_OK;
}

/* The WAL's directory entry must be durable too: SQLite creates the file without syncing its
 * directory. */
static pal_err sync_parent_dir(const char *path)
{
    char *dir = pal_xstrdup(path);
    char *slash = strrchr(dir, '/');
    if (slash)
        *(slash == dir ? slash + 1 : slash) = '\0';
    int fd = open(slash ? dir : ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    pal_err err = PAL_OK;
    if (fd < 0 || fsync(fd) != 0)
        err = PAL_ERR_IO;
    if (fd >= 0)
        close(fd);
    free(dir);
    return err;
}

/* In WAL mode with synchronous = NORMAL a commit writes its frames to the WAL without an
 * fsync, and a checkpoint syncs the WAL before copying it and the database after: so one
 * fdatasync of the WAL (any descriptor of the file will do) makes every commit before it
 * durable, and it can run while the writer already fills the next transaction. */
pal_err pal_store_sync(pal_store *store)
{
    if (!store)
        return PAL_ERR_STATE;
    if (!store->sync_by_caller)
        return PAL_OK;
    if (store->wal_fd < 0) {
        size_t n = strlen(store->path) + sizeof("-wal");
        char *wal = pal_xmalloc(n);
        snprintf(wal, n, "%s-wal", store->path);
        store->wal_fd = open(wal, O_RDWR | O_CLOEXEC);
        int open_errno = errno;
        free(wal);
        if (store->wal_fd < 0) {
            pal_log(PAL_LOG_ERR, "store", "cannot open the WAL of %s to sync it: %s", store->path,
                    strerror(open_errno));
            return PAL_ERR_IO;
        }
        if (sync_parent_dir(store->path) != PAL_OK) {
            pal_log(PAL_LOG_ERR, "store", "cannot sync the directory of %s: %s", store->path,
                    strerror(errno));
            return PAL_ERR_IO;
        }
    }
    if (fdatasync(store->wal_fd) != 0) {
        pal_log(PAL_LOG_ERR, "store", "fdatasync of the WAL of %s: %s", store->path,
                strerror(errno));
        return PAL_ERR_IO;
    }
    return PAL_OK;
}

bool pal_store_checkpoint_due(const pal_store *store)
{
    return store && store->checkpoint_by_caller &&
           atomic_load(&store->checkpoint_state) == CHECKPOINT_IDLE &&
           atomic_load(&store->wal_frames) >= WAL_AUTOCHECKPOINT_PAGES;
}

/* The checkpointer's own connection: copying needs no page cache of note. */
static int open_checkpoint_db(pal_store *store)
{
    int rc = sqlite3_open_v2(store->path, &store->checkpoint_db,
                             SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, NULL);
    if (rc == SQLITE_OK)
        rc = exec(store->checkpoint_db, "PRAGMA cache_size = 16");
    /* NORMAL (or FULL, the same here): sync the WAL before copying it, the database after */
    if (rc == SQLITE_OK)
        rc = exec(store->checkpoint_db, "PRAGMA synchronous = NORMAL");
    if (rc != SQLITE_OK) {
        pal_log(PAL_LOG_ERR, "store", "cannot open %s to checkpoint it: SQLite: %s", store->path,
                store->checkpoint_db ? sqlite3_errmsg(store->checkpoint_db) : sqlite3_errstr(rc));
        (void)sqlite3_close(store->checkpoint_db);
        store->checkpoint_db = NULL;
    }
    return rc;
}

/* SQLite syncs the database file only at the end of a checkpoint that copied the whole WAL
 * (before the WAL may be overwritten), which the checkpointer's pass cannot be while the
 * writer commits: that fsync would fall to the writer's short pass, with all the pages this
 * pass wrote to flush (~9 ms here). Flushing them now leaves it little. */
static int sync_database_file(sqlite3 *db)
{
    sqlite3_file *file = NULL;
    int rc = sqlite3_file_control(db, "main", SQLITE_FCNTL_FILE_POINTER, &file);
    if (rc == SQLITE_OK && (!file || !file->pMethods))
        rc = SQLITE_MISUSE;
    if (rc == SQLITE_OK)
        rc = file->pMethods->xSync(file, SQLITE_SYNC_NORMAL);
    return rc;
}

pal_err pal_store_checkpoint(pal_store *store)
{
    if (!store)
        return PAL_ERR_STATE;
    if (!pal_store_checkpoint_due(store))
        return PAL_OK;
    if (!store->checkpoint_db && open_checkpoint_db(store) != SQLITE_OK)
        return PAL_ERR_IO;
    int expected = CHECKPOINT_IDLE;
    if (!atomic_compare_exchange_strong(&store->checkpoint_state, &expected, CHECKPOINT_RUNNING))
        return PAL_OK;
    int frames = 0, copied = 0, rc = SQLITE_OK;
    for (int pass = 0; pass < CHECKPOINT_MAX_PASSES; pass++) {
        rc = sqlite3_wal_checkpoint_v2(store->checkpoint_db, NULL, SQLITE_CHECKPOINT_PASSIVE,
                                       &frames, &copied);
        /* The writer went on meanwhile: copy what it wrote too (a shorter pass each time
         * while copying outruns writing) until it is short enough for the writer's own. */
        int now = atomic_load(&store->wal_frames);
        if (rc != SQLITE_OK || copied <= 0 || now < copied || now - copied <= WAL_TAIL_PAGES)
            break;
    }
    if (rc == SQLITE_OK && copied > 0)
        rc = sync_database_file(store->checkpoint_db);
    if (rc == SQLITE_OK && copied > 0) {
        atomic_store(&store->checkpoint_copied, copied);
        atomic_store(&store->checkpoint_state, CHECKPOINT_COPIED);
        return PAL_OK;
    }
    atomic_store(&store->checkpoint_state, CHECKPOINT_IDLE);
    if (rc == SQLITE_OK || rc == SQLITE_BUSY) /* nothing to copy, or the writer's pass runs */
        return PAL_OK;
    pal_log(PAL_LOG_ERR, "store", "checkpoint of %s: SQLite: %s", store->path,
            sqlite3_errmsg(store->checkpoint_db));
    return PAL_ERR_IO;
}

void pal_store_rollback(pal_store *store)
{
    if (!store)
        return;
    if (!sqlite3_get_autocommit(store->db)) {
        sqlite3_stmt *st = store->stmt[W_ROLLBACK];
        if (step_done(st) != SQLITE_OK)
            (void)sqlite_failed(store->db, "rollback", 0);
        stmt_done(st);
    }
    store->in_transaction = false;
    cache_rollback(&store->cache);
}

/* ---- ingest ---------------------------------------------------------------------------- */

/* Runs the INSERT that b bound (when every bind succeeded) and returns the new row's id in
 * *id; the statement is reset either way. */
static int insert_row(sqlite3 *db, const binder *b, int64_t *id)
{
    int rc = b->rc == SQLITE_OK ? step_done(b->st) : b->rc;
    if (rc == SQLITE_OK)
        *id = sqlite3_last_insert_rowid(db);
    stmt_done(b->st);
    return rc;
}

/* The identity, customer and conversation of (bot, channel, external user) from the
 * database, creating the customer and identity when missing; *conversation_id is 0 when
 * there is no conversation yet. */
static int identity_resolve(pal_store *store, const pal_inbound *in, int64_t *identity_id,
                            int64_t *customer_id, int64_t *conversation_id)
{
    sqlite3_stmt *st = store->stmt[W_IDENTITY_FIND];
    binder b = {st, SQLITE_OK};
    bind_text(&b, 1, in->bot);
    bind_text(&b, 2, in->channel);
    bind_text(&b, 3, in->external_user);
    int rc = b.rc;
    if (rc != SQLITE_OK)
        goto out;
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        *identity_id = sqlite3_column_int64(st, 0);
        *customer_id = sqlite3_column_int64(st, 1);
        *conversation_id = sqlite3_column_int64(st, 2); /* 0 for NULL */
        rc = SQLITE_OK;
        goto out;
    }
    if (rc != SQLITE_DONE)
        goto out;
    stmt_done(st);

    st = store->stmt[W_CUSTOMER_INSERT];
    b = (binder){st, SQLITE_OK};
    bind_i64(&b, 1, in->received_at);
    rc = insert_row(store->db, &b, customer_id);
    if (rc != SQLITE_OK)
        goto out;

    st = store->stmt[W_IDENTITY_INSERT];
    b = (binder){st, SQLITE_OK};
    bind_text(&b, 1, in->bot);
    bind_text(&b, 2, in->channel);
    bind_text(&b, 3, in->external_user);
    bind_i64(&b, 4, *customer_id);
    bind_i64(&b, 5, in->received_at);
    rc = insert_row(store->db, &b, identity_id);
    *conversation_id = 0;
out:
    stmt_done(st);
    return rc;
}

/* The earlier message with in's dedup key. */
static int dedup_find(pal_store *store, const pal_inbound *in, pal_ingested *out)
{
    sqlite3_stmt *st = store->stmt[W_DEDUP_FIND];
    binder b = {st, SQLITE_OK};
    bind_text(&b, 1, in->bot);
    bind_text(&b, 2, in->channel);
    bind_text(&b, 3, in->dedup_key);
    int rc = b.rc;
    if (rc != SQLITE_OK)
        goto out;
    rc = sqlite3_step(st);
    if (rc != SQLITE_ROW) {
        /* The insert saw a conflict, so the row exists: anything else is SQLite failing. */
        rc = rc == SQLITE_DONE ? SQLITE_INTERNAL : rc;
        goto out;
    }
    out->message_id = sqlite3_column_int64(st, 0);
    out->conversation_id = sqlite3_column_int64(st, 1);
    rc = SQLITE_OK;
out:
    stmt_done(st);
    return rc;
}

/* pal_store_ingest; with turn (not NULL), the message is written already processed and a
 * new conversation with the turn's state. */
static pal_err ingest(pal_store *store, const pal_inbound *inbound, pal_ingested *out,
                      const pal_turn_record *turn)
{
    const pal_inbound *in = inbound;
    pal_err err = PAL_ERR_INVALID;
    int rc = SQLITE_OK;
    cache_key key;

    if (!store || !in || !out || !in->bot || !in->channel || !in->external_user || !in->text)
        goto out;
    memset(out, 0, sizeof(*out));
    err = PAL_ERR_STATE;
    if (!store->in_transaction)
        goto out;
    err = PAL_ERR_INTERNAL;

    cache_key_init(&key, in->bot, in->channel, in->external_user);
    cache_entry *entry = cache_find(&store->cache, &key);
    if (entry) {
        out->identity_id = entry->identity_id;
        out->customer_id = entry->customer_id;
        out->conversation_id = entry->conversation_id;
    } else {
        rc = identity_resolve(store, in, &out->identity_id, &out->customer_id,
                              &out->conversation_id);
        if (rc != SQLITE_OK)
            goto out;
        entry = cache_add(&store->cache, &key, out->identity_id, out->customer_id,
                          out->conversation_id);
    }

    if (out->conversation_id == 0) {
        sqlite3_stmt *st = store->stmt[W_CONVERSATION_INSERT];
        binder b = {st, SQLITE_OK};
        bind_text(&b, 1, in->bot);
        bind_i64(&b, 2, out->customer_id);
        bind_i64(&b, 3, in->received_at);
        if (turn) {
            bind_text(&b, 4, turn->mode);
            bind_i64(&b, 5, turn->at);
            bind_text(&b, 6, turn->state_json);
            bind_text(&b, 7, turn->meta_json);
            bind_text(&b, 8, turn->lang);
        }
        rc = insert_row(store->db, &b, &out->conversation_id);
        if (rc != SQLITE_OK)
            goto out;
        out->new_conversation = true;
        if (entry) {
            entry->conversation_id = out->conversation_id;
            cache_journal(&store->cache, entry);
        }
    }

    sqlite3_stmt *st = store->stmt[W_INBOUND_INSERT];
    binder b = {st, SQLITE_OK};
    bind_i64(&b, 1, out->conversation_id);
    bind_i64(&b, 2, out->identity_id);
    bind_text(&b, 3, in->bot);
    bind_text(&b, 4, in->channel);
    bind_text(&b, 5, in->channel_message_id);
    bind_text(&b, 6, in->dedup_key);
    bind_text(&b, 7, in->text);
    bind_text(&b, 8, in->address);
    bind_i64(&b, 9, in->received_at);
    if (turn) {
        bind_text(&b, 10, turn->inbound_status);
        bind_text(&b, 11, turn->intent);
        bind_double(&b, 12, turn->confidence);
        bind_text(&b, 13, turn->state_json);
        bind_text(&b, 14, turn->meta_json);
    }
    rc = b.rc != SQLITE_OK ? b.rc : step_done(st);
    bool inserted = rc == SQLITE_OK && sqlite3_changes(store->db) == 1;
    if (inserted)
        out->message_id = sqlite3_last_insert_rowid(store->db);
    stmt_done(st);
    if (rc != SQLITE_OK)
        goto out;
    if (!inserted) {
        out->duplicate = true;
        rc = dedup_find(store, in, out);
        if (rc != SQLITE_OK)
            goto out;
    }
    err = PAL_OK;
out:
    if (err == PAL_ERR_INTERNAL) {
        (void)sqlite_failed(store->db, "ingest conversation", out->conversation_id);
        check_transaction(store);
    }
    return err;
}

pal_err pal_store_ingest(pal_store *store, const pal_inbound *inbound, pal_ingested *out)
{
    return ingest(store, inbound, out, NULL);
}

/* ---- turns ----------------------------------------------------------------------------- */

static bool turn_valid(const pal_turn_record *turn, const int64_t *reply_ids)
{
    if (!turn || !turn->inbound_status || (turn->n_replies > 0 && !turn->channel))
        return false;
    if (strcmp(turn->inbound_status, "processed") != 0 &&
        strcmp(turn->inbound_status, "ignored") != 0)
        return false;
    if (turn->mode && strcmp(turn->mode, "bot") != 0 && strcmp(turn->mode, "person") != 0)
        return false;
    if (turn->consent < -1 || turn->consent > 1 || (turn->consent != -1 && turn->identity_id <= 0))
        return false;
    if (turn->delivery != PAL_DELIVERY_RETURNED && turn->delivery != PAL_DELIVERY_OUTBOX)
        return false;
    if (turn->n_replies > 0 && (!turn->replies || !reply_ids))
        return false;
    for (size_t i = 0; i < turn->n_replies; i++)
        if (!turn->replies[i].text)
            return false;
    return true;
}

/* Whether a row exists for the one-id query st. */
static int row_exists(sqlite3_stmt *st, int64_t id, bool *exists)
{
    int rc = sqlite3_bind_int64(st, 1, id);
    if (rc == SQLITE_OK) {
        rc = sqlite3_step(st);
        *exists = rc == SQLITE_ROW;
        rc = rc == SQLITE_ROW || rc == SQLITE_DONE ? SQLITE_OK : rc;
    }
    stmt_done(st);
    return rc;
}

/* Why the inbound message of turn could not be marked: missing, or already processed. */
static pal_err inbound_missing(pal_store *store, const pal_turn_record *turn)
{
    sqlite3_stmt *st = store->stmt[W_INBOUND_STATUS];
    binder b = {st, SQLITE_OK};
    bind_i64(&b, 1, turn->message_id);
    bind_i64(&b, 2, turn->conversation_id);
    int rc = b.rc != SQLITE_OK ? b.rc : sqlite3_step(st);
    pal_err err = rc == SQLITE_ROW    ? PAL_ERR_STATE
                  : rc == SQLITE_DONE ? PAL_ERR_NOT_FOUND
                                      : PAL_ERR_INTERNAL;
    stmt_done(st);
    return err;
}

/* Inserts reply i of turn (conversation, bot and identity from its inbound message); *id
 * receives its id. */
static int reply_insert(pal_store *store, const pal_turn_record *turn, size_t i, int64_t *id)
{
    const pal_outbound *reply = &turn->replies[i];
    bool returned = turn->delivery == PAL_DELIVERY_RETURNED;
    sqlite3_stmt *st = store->stmt[W_OUTBOUND_INSERT];
    binder b = {st, SQLITE_OK};
    bind_i64(&b, 1, turn->conversation_id);
    bind_text(&b, 4, turn->channel);
    bind_text(&b, 5, reply->text);
    bind_text(&b, 6, reply->quick_replies_json);
    bind_text(&b, 7, turn->address);
    bind_text(&b, 8, returned ? "sent" : "pending");
    bind_i64(&b, 9, turn->message_id);
    bind_i64(&b, 10, turn->at);
    if (returned)
        bind_i64(&b, 11, turn->at);
    else
        bind_id(&b, 11, 0);
    int rc = insert_row(store->db, &b, id);
    if (rc != SQLITE_OK || returned)
        return rc;

    st = store->stmt[W_OUTBOX_INSERT];
    b = (binder){st, SQLITE_OK};
    bind_i64(&b, 1, *id);
    bind_i64(&b, 2, turn->at);
    rc = b.rc != SQLITE_OK ? b.rc : step_done(st);
    stmt_done(st);
    return rc;
}

/* Runs the UPDATE st (bound by the caller); *changed says whether it matched a row. */
static int update_row(pal_store *store, sqlite3_stmt *st, bool *changed)
{
    int rc = step_done(st);
    *changed = rc == SQLITE_OK && sqlite3_changes(store->db) > 0;
    stmt_done(st);
    return rc;
}

/* pal_store_record_turn; inbound_written: the message was inserted already processed;
 * conversation_written: the conversation was inserted with this turn's state. */
static pal_err record_turn(pal_store *store, const pal_turn_record *turn, int64_t *reply_ids,
                           bool inbound_written, bool conversation_written)
{
    pal_err err = PAL_ERR_INVALID;
    bool changed = false;
    sqlite3_stmt *st;
    binder b;
    int rc;

    if (!store || !turn_valid(turn, reply_ids))
        goto out;
    err = PAL_ERR_STATE;
    if (!store->in_transaction)
        goto out;
    err = PAL_ERR_INTERNAL;

    /* Everything that can be missing is checked before anything is written, so that
     * PAL_ERR_NOT_FOUND and PAL_ERR_STATE leave the transaction as it was. */
    if (turn->consent != -1) {
        if (row_exists(store->stmt[W_IDENTITY_EXISTS], turn->identity_id, &changed) != SQLITE_OK)
            goto out;
        if (!changed) {
            err = PAL_ERR_NOT_FOUND;
            goto out;
        }
    }

    if (!inbound_written) {
        st = store->stmt[W_INBOUND_DONE];
        b = (binder){st, SQLITE_OK};
        bind_i64(&b, 1, turn->message_id);
        bind_i64(&b, 2, turn->conversation_id);
        bind_text(&b, 3, turn->inbound_status);
        bind_text(&b, 4, turn->intent);
        bind_double(&b, 5, turn->confidence);
        bind_text(&b, 6, turn->state_json);
        bind_text(&b, 7, turn->meta_json);
        rc = b.rc != SQLITE_OK ? b.rc : update_row(store, st, &changed);
        if (rc != SQLITE_OK)
            goto out;
        if (!changed) {
            err = inbound_missing(store, turn);
            goto out;
        }
    }

    /* The message belongs to the conversation (checked above, or just inserted into it), and
     * foreign keys keep the conversation. Its row changes only when the mode or the
     * language does: state and meta went with the message. */
    if (!conversation_written) {
        st = store->stmt[W_CONVERSATION_TURN];
        b = (binder){st, SQLITE_OK};
        bind_i64(&b, 1, turn->conversation_id);
        bind_text(&b, 2, turn->mode);
        bind_text(&b, 3, turn->lang);
        bind_i64(&b, 4, turn->at);
        rc = b.rc != SQLITE_OK ? b.rc : update_row(store, st, &changed);
        if (rc != SQLITE_OK)
            goto out;
    }

    for (size_t i = 0; i < turn->n_replies; i++)
        if (reply_insert(store, turn, i, &reply_ids[i]) != SQLITE_OK)
            goto out;

    if (turn->consent != -1) {
        st = store->stmt[W_CONSENT_UPDATE];
        b = (binder){st, SQLITE_OK};
        bind_i64(&b, 1, turn->identity_id);
        bind_i64(&b, 2, turn->consent);
        bind_i64(&b, 3, turn->at);
        rc = b.rc != SQLITE_OK ? b.rc : step_done(st);
        stmt_done(st);
        if (rc != SQLITE_OK)
            goto out;
    }

    if (turn->event_kind) {
        st = store->stmt[W_EVENT_INSERT];
        b = (binder){st, SQLITE_OK};
        bind_i64(&b, 1, turn->conversation_id);
        bind_text(&b, 2, turn->event_kind);
        bind_text(&b, 3, turn->event_data_json);
        bind_i64(&b, 4, turn->at);
        rc = b.rc != SQLITE_OK ? b.rc : step_done(st);
        stmt_done(st);
        if (rc != SQLITE_OK)
            goto out;
    }
    err = PAL_OK;
out:
    if (err == PAL_ERR_INTERNAL) {
        (void)sqlite_failed(store->db, "record turn conversation", turn->conversation_id);
        check_transaction(store);
    }
    return err;
}

pal_err pal_store_record_turn(pal_store *store, const pal_turn_record *turn, int64_t *reply_ids)
{
    return record_turn(store, turn, reply_ids, false, false);
}

pal_err pal_store_ingest_turn(pal_store *store, const pal_inbound *inbound, pal_turn_record *turn,
                              pal_ingested *out, int64_t *reply_ids)
{
    if (!store || !turn)
        return PAL_ERR_INVALID;
    /* identity_id is not known yet: checked with a stand-in */
    pal_turn_record probe = *turn;
    probe.identity_id = 1;
    if (!turn_valid(&probe, reply_ids))
        return PAL_ERR_INVALID;
    pal_err err = ingest(store, inbound, out, turn);
    if (err || out->duplicate)
        return err;
    turn->message_id = out->message_id;
    turn->conversation_id = out->conversation_id;
    turn->identity_id = out->identity_id;
    return record_turn(store, turn, reply_ids, true, out->new_conversation);
}

/* ---- outbox ---------------------------------------------------------------------------- */

/* Runs outbox_op (?1 message id, ?2 *outbox_value when not NULL) and then, when it touched
 * an outbox row, message_op on the message (text and at bound as that statement needs). */
static pal_err outbox_change(pal_store *store, const char *what, int64_t message_id,
                             enum writer_statement outbox_op, const int64_t *outbox_value,
                             enum writer_statement message_op, const char *text, int64_t at)
{
    pal_err err = PAL_ERR_STATE;
    if (!store->in_transaction)
        goto out;
    err = PAL_ERR_INTERNAL;

    sqlite3_stmt *st = store->stmt[outbox_op];
    binder b = {st, SQLITE_OK};
    bind_i64(&b, 1, message_id);
    if (outbox_value)
        bind_i64(&b, 2, *outbox_value);
    int rc = b.rc != SQLITE_OK ? b.rc : step_done(st);
    int changes = sqlite3_changes(store->db);
    stmt_done(st);
    if (rc != SQLITE_OK)
        goto out;
    if (changes == 0) {
        err = PAL_ERR_NOT_FOUND;
        goto out;
    }

    st = store->stmt[message_op];
    b = (binder){st, SQLITE_OK};
    bind_i64(&b, 1, message_id);
    switch (message_op) {
    case W_MESSAGE_SENT: /* ?2 sent_at, ?3 channel message id */
        bind_i64(&b, 2, at);
        bind_text(&b, 3, text);
        break;
    case W_MESSAGE_FAILED: /* ?2 error, ?3 failed_at */
        bind_text(&b, 2, text);
        bind_i64(&b, 3, at);
        break;
    default: /* W_MESSAGE_RETRY: ?2 error */
        bind_text(&b, 2, text);
        break;
    }
    rc = b.rc != SQLITE_OK ? b.rc : step_done(st);
    stmt_done(st);
    if (rc != SQLITE_OK)
        goto out;
    err = PAL_OK;
out:
    if (err == PAL_ERR_INTERNAL) {
        (void)sqlite_failed(store->db, what, message_id);
        check_transaction(store);
    }
    return err;
}

pal_err pal_store_outbox_sent(pal_store *store, int64_t message_id, const char *channel_message_id,
                              int64_t at)
{
    if (!store)
        return PAL_ERR_INVALID;
    return outbox_change(store, "outbox sent message", message_id, W_OUTBOX_DELETE, NULL,
                         W_MESSAGE_SENT, channel_message_id, at);
}

pal_err pal_store_outbox_retry(pal_store *store, int64_t message_id, int64_t next_attempt_at,
                               const char *error)
{
    if (!store)
        return PAL_ERR_INVALID;
    return outbox_change(store, "outbox retry message", message_id, W_OUTBOX_RESCHEDULE,
                         &next_attempt_at, W_MESSAGE_RETRY, error, 0);
}

pal_err pal_store_outbox_failed(pal_store *store, int64_t message_id, const char *error, int64_t at)
{
    if (!store)
        return PAL_ERR_INVALID;
    return outbox_change(store, "outbox failed message", message_id, W_OUTBOX_DELETE, NULL,
                         W_MESSAGE_FAILED, error, at);
}

pal_err pal_store_receipt(pal_store *store, const char *bot, const char *channel,
                          const char *platform_id, const char *status, const char *error,
                          int64_t at)
{
    if (!store || !bot || !channel || !platform_id || !status)
        return PAL_ERR_INVALID;
    bool failed = strcmp(status, "failed") == 0;
    if (!failed && strcmp(status, "delivered") != 0 && strcmp(status, "read") != 0)
        return PAL_OK; /* "sent": we knew */
    if (!store->in_transaction)
        return PAL_ERR_STATE;
    sqlite3_stmt *st = store->stmt[failed ? W_RECEIPT_FAILED : W_RECEIPT_SEEN];
    binder b = {st, SQLITE_OK};
    bind_text(&b, 1, bot);
    bind_text(&b, 2, channel);
    bind_text(&b, 3, platform_id);
    bind_text(&b, 4, failed ? (error ? error : "failed (no reason given)") : status);
    bind_i64(&b, 5, at);
    int rc = b.rc != SQLITE_OK ? b.rc : step_done(st);
    stmt_done(st);
    if (rc != SQLITE_OK) {
        (void)sqlite_failed(store->db, "receipt", 0);
        check_transaction(store);
        return PAL_ERR_INTERNAL;
    }
    return PAL_OK;
}

pal_err pal_store_event(pal_store *store, int64_t conversation_id, const char *kind,
                        const char *data_json, int64_t at)
{
    if (!store || !kind)
        return PAL_ERR_INVALID;
    sqlite3_stmt *st = store->stmt[W_EVENT_INSERT];
    binder b = {st, SQLITE_OK};
    bind_id(&b, 1, conversation_id);
    bind_text(&b, 2, kind);
    bind_text(&b, 3, data_json);
    bind_i64(&b, 4, at);
    int rc = b.rc != SQLITE_OK ? b.rc : step_done(st);
    stmt_done(st);
    if (rc == SQLITE_OK)
        return PAL_OK;
    pal_err err = sqlite_failed(store->db, "event conversation", conversation_id);
    check_transaction(store);
    return err;
}

/* ---- recovery -------------------------------------------------------------------------- */

pal_err pal_store_pending_inbound(pal_store *store,
                                  bool (*each)(void *ctx, const pal_pending_inbound *message),
                                  void *ctx)
{
    if (!store || !each)
        return PAL_ERR_INVALID;
    sqlite3_stmt *st = store->stmt[W_PENDING_INBOUND];
    pal_err err = PAL_ERR_INTERNAL;
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        pal_pending_inbound m = {
            .message_id = sqlite3_column_int64(st, 0),
            .conversation_id = sqlite3_column_int64(st, 1),
            .customer_id = sqlite3_column_int64(st, 2),
            .identity_id = sqlite3_column_int64(st, 3),
            .bot = column_text(st, 4),
            .channel = column_text(st, 5),
            .external_user = column_text(st, 6),
            .text = column_text(st, 7),
            .address = column_text(st, 8),
            .received_at = sqlite3_column_int64(st, 9),
        };
        if (!each(ctx, &m)) {
            rc = SQLITE_DONE;
            break;
        }
    }
    if (rc != SQLITE_DONE)
        goto out;
    err = PAL_OK;
out:
    if (err != PAL_OK)
        (void)sqlite_failed(store->db, "pending inbound", 0);
    stmt_done(st);
    return err;
}

pal_err pal_store_outbox_pending(pal_store *store,
                                 bool (*each)(void *ctx, const pal_outbox_item *item), void *ctx)
{
    if (!store || !each)
        return PAL_ERR_INVALID;
    sqlite3_stmt *st = store->stmt[W_PENDING_OUTBOX];
    pal_err err = PAL_ERR_INTERNAL;
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        pal_outbox_item item = {
            .message_id = sqlite3_column_int64(st, 0),
            .conversation_id = sqlite3_column_int64(st, 1),
            .bot = column_text(st, 2),
            .channel = column_text(st, 3),
            .external_user = column_text(st, 4),
            .address = column_text(st, 5),
            .text = column_text(st, 6),
            .quick_replies_json = column_text(st, 7),
            .idempotency_key = column_text(st, 8),
            .attempts = sqlite3_column_int(st, 9),
            .next_attempt_at = sqlite3_column_int64(st, 10),
            .in_reply_to = sqlite3_column_int64(st, 11),
            .in_reply_to_client_id = column_text(st, 12),
        };
        if (!each(ctx, &item)) {
            rc = SQLITE_DONE;
            break;
        }
    }
    if (rc != SQLITE_DONE)
        goto out;
    err = PAL_OK;
out:
    if (err != PAL_OK)
        (void)sqlite_failed(store->db, "outbox pending", 0);
    stmt_done(st);
    return err;
}

/* ---- readers --------------------------------------------------------------------------- */

pal_err pal_store_reader_open(pal_store *store, pal_store_reader **out)
{
    pal_store_reader *reader = NULL;
    pal_err err = PAL_ERR_INVALID;
    int rc;

    if (!store || !out)
        goto out;
    *out = NULL;
    err = PAL_ERR_INTERNAL;
    reader = pal_xcalloc(1, sizeof(*reader));
    /* Only store->path (never changed after open) and the atomic count are shared. */
    rc =
        sqlite3_open_v2(store->path, &reader->db, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX, NULL);
    if (rc != SQLITE_OK) {
        err = translate(rc);
        goto out;
    }
    if (sqlite3_busy_timeout(reader->db, BUSY_TIMEOUT_MS) != SQLITE_OK)
        goto out;
    char sql[64];
    snprintf(sql, sizeof(sql), "PRAGMA cache_size = -%d", READER_CACHE_KIB);
    if (exec(reader->db, sql) != SQLITE_OK)
        goto out;
    if (exec(reader->db, "PRAGMA temp_store = MEMORY") != SQLITE_OK)
        goto out;
    if (prepare_all(reader->db, reader_sql, reader->stmt, R_COUNT) != SQLITE_OK)
        goto out;
    reader->store = store;
    atomic_fetch_add(&store->n_readers, 1);
    *out = reader;
    reader = NULL;
    err = PAL_OK;
out:
    if (reader) {
        pal_log(PAL_LOG_ERR, "store", "reader open %s: SQLite: %s", store->path,
                reader->db ? sqlite3_errmsg(reader->db) : "cannot open");
        finalize_all(reader->stmt, R_COUNT);
        (void)sqlite3_close(reader->db);
        free(reader);
    }
    return err;
}

void pal_store_reader_close(pal_store_reader *reader)
{
    if (!reader)
        return;
    finalize_all(reader->stmt, R_COUNT);
    if (sqlite3_close(reader->db) != SQLITE_OK)
        pal_log(PAL_LOG_ERR, "store", "reader close: SQLite: %s", sqlite3_errmsg(reader->db));
    atomic_fetch_sub(&reader->store->n_readers, 1);
    free(reader);
}

/* A read transaction, so that the statements of one call see one snapshot. */
static int read_begin(pal_store_reader *reader)
{
    sqlite3_stmt *st = reader->stmt[R_BEGIN];
    int rc = step_done(st);
    stmt_done(st);
    return rc;
}

static void read_end(pal_store_reader *reader)
{
    if (sqlite3_get_autocommit(reader->db))
        return;
    sqlite3_stmt *st = reader->stmt[R_COMMIT];
    if (step_done(st) != SQLITE_OK)
        pal_log(PAL_LOG_ERR, "store", "reader commit: SQLite: %s", sqlite3_errmsg(reader->db));
    stmt_done(st);
}

pal_err pal_store_load_conversation(pal_store_reader *reader, int64_t conversation_id,
                                    pal_conversation_row *out)
{
    if (!reader || !out)
        return PAL_ERR_INVALID;
    memset(out, 0, sizeof(*out));
    sqlite3_stmt *st = reader->stmt[R_LOAD];
    pal_err err = PAL_ERR_INTERNAL;
    int rc = sqlite3_bind_int64(st, 1, conversation_id);
    if (rc != SQLITE_OK)
        goto out;
    rc = sqlite3_step(st);
    if (rc == SQLITE_DONE) {
        err = PAL_ERR_NOT_FOUND;
        goto out;
    }
    if (rc != SQLITE_ROW)
        goto out;
    out->id = sqlite3_column_int64(st, 0);
    out->customer_id = sqlite3_column_int64(st, 1);
    out->bot = column_strdup(st, 2);
    out->mode = column_strdup(st, 3);
    out->lang = column_strdup(st, 4);
    out->state_json = column_strdup(st, 5);
    out->meta_json = column_strdup(st, 6);
    err = PAL_OK;
out:
    if (err == PAL_ERR_INTERNAL)
        (void)sqlite_failed(reader->db, "load conversation", conversation_id);
    stmt_done(st);
    return err;
}

void pal_conversation_row_clear(pal_conversation_row *row)
{
    if (!row)
        return;
    free(row->bot);
    free(row->mode);
    free(row->lang);
    free(row->state_json);
    free(row->meta_json);
    memset(row, 0, sizeof(*row));
}

pal_err pal_store_find_conversation(pal_store_reader *reader, const char *bot, const char *channel,
                                    const char *external_user, int64_t *conversation_id)
{
    if (!reader || !bot || !channel || !external_user || !conversation_id)
        return PAL_ERR_INVALID;
    sqlite3_stmt *st = reader->stmt[R_FIND];
    pal_err err = PAL_ERR_INTERNAL;
    binder b = {st, SQLITE_OK};
    bind_text(&b, 1, bot);
    bind_text(&b, 2, channel);
    bind_text(&b, 3, external_user);
    int rc = b.rc != SQLITE_OK ? b.rc : sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        *conversation_id = sqlite3_column_int64(st, 0);
        err = PAL_OK;
    } else if (rc == SQLITE_DONE) {
        err = PAL_ERR_NOT_FOUND;
    }
    if (err == PAL_ERR_INTERNAL)
        (void)sqlite_failed(reader->db, "find conversation", 0);
    stmt_done(st);
    return err;
}

pal_err pal_store_seen_dedup_key(pal_store_reader *reader, const char *bot, const char *channel,
                                 const char *dedup_key, bool *seen)
{
    if (!reader || !bot || !channel || !dedup_key || !seen)
        return PAL_ERR_INVALID;
    sqlite3_stmt *st = reader->stmt[R_DEDUP];
    pal_err err = PAL_ERR_INTERNAL;
    binder b = {st, SQLITE_OK};
    bind_text(&b, 1, bot);
    bind_text(&b, 2, channel);
    bind_text(&b, 3, dedup_key);
    int rc = b.rc != SQLITE_OK ? b.rc : sqlite3_step(st);
    if (rc == SQLITE_ROW || rc == SQLITE_DONE) {
        *seen = rc == SQLITE_ROW;
        err = PAL_OK;
    } else {
        (void)sqlite_failed(reader->db, "dedup key", 0);
    }
    stmt_done(st);
    return err;
}

/* Appends the message rows st returns (bound by the caller) to array; *n receives how many
 * rows were read. */
static pal_err messages_into(sqlite3_stmt *st, json_t *array, size_t *n)
{
    pal_err err = PAL_OK;
    int rc;
    *n = 0;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        json_t *m = NULL;
        err = message_json(st, &m);
        if (err != PAL_OK)
            return err;
        append(array, m);
        (*n)++;
    }
    return rc == SQLITE_DONE ? PAL_OK : PAL_ERR_INTERNAL;
}

pal_err pal_store_replies_to(pal_store_reader *reader, int64_t message_id, json_t **out,
                             bool *processed)
{
    if (!reader || !out || !processed)
        return PAL_ERR_INVALID;
    *out = NULL;
    *processed = false;
    json_t *replies = json_must(json_array());
    sqlite3_stmt *st = reader->stmt[R_INBOUND_STATUS];
    pal_err err = PAL_ERR_INTERNAL;
    bool in_read = false;
    int64_t conversation_id = 0;
    size_t n = 0;

    if (read_begin(reader) != SQLITE_OK)
        goto out;
    in_read = true;
    binder b = {st, SQLITE_OK};
    bind_i64(&b, 1, message_id);
    int rc = b.rc != SQLITE_OK ? b.rc : sqlite3_step(st);
    if (rc == SQLITE_DONE)
        err = PAL_ERR_NOT_FOUND;
    if (rc != SQLITE_ROW)
        goto out;
    conversation_id = sqlite3_column_int64(st, 0);
    const char *status = column_text(st, 1);
    bool done = status && strcmp(status, "received") != 0;
    stmt_done(st);

    st = reader->stmt[R_REPLIES];
    if (done) {
        b = (binder){st, SQLITE_OK};
        bind_i64(&b, 1, conversation_id);
        bind_i64(&b, 2, message_id);
        if (b.rc != SQLITE_OK)
            goto out;
        err = messages_into(st, replies, &n);
        if (err != PAL_OK)
            goto out;
    }
    *processed = done;
    *out = replies;
    replies = NULL;
    err = PAL_OK;
out:
    if (err == PAL_ERR_INTERNAL)
        (void)sqlite_failed(reader->db, "replies to message", message_id);
    stmt_done(st);
    if (in_read)
        read_end(reader);
    json_decref(replies);
    return err;
}

pal_err pal_store_messages_after(pal_store_reader *reader, int64_t conversation_id,
                                 int64_t after_id, int limit, json_t **out)
{
    if (!reader || !out || limit < 1 || limit > MAX_MESSAGES_PAGE)
        return PAL_ERR_INVALID;
    *out = NULL;
    json_t *messages = json_must(json_array());
    sqlite3_stmt *st = reader->stmt[R_MESSAGES_AFTER];
    pal_err err = PAL_ERR_INTERNAL;
    size_t n = 0;
    binder b = {st, SQLITE_OK};
    bind_i64(&b, 1, conversation_id);
    bind_i64(&b, 2, after_id);
    bind_i64(&b, 3, limit);
    if (b.rc != SQLITE_OK)
        goto out;
    err = messages_into(st, messages, &n);
    if (err != PAL_OK)
        goto out;
    *out = messages;
    messages = NULL;
out:
    if (err == PAL_ERR_INTERNAL)
        (void)sqlite_failed(reader->db, "messages after, conversation", conversation_id);
    stmt_done(st);
    json_decref(messages);
    return err;
}

/* The customer's identities with the conversation's bot, into customer["identities"]. */
static pal_err identities_json(pal_store_reader *reader, int64_t customer_id, const char *bot,
                               json_t *customer)
{
    sqlite3_stmt *st = reader->stmt[R_IDENTITIES];
    json_t *identities = json_must(json_array());
    pal_err err = PAL_ERR_INTERNAL;
    binder b = {st, SQLITE_OK};
    bind_i64(&b, 1, customer_id);
    bind_text(&b, 2, bot);
    if (b.rc != SQLITE_OK)
        goto out;
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        json_t *identity = json_must(json_object());
        append(identities, identity);
        if (put_text(identity, "channel", st, 0, false) != PAL_OK)
            goto out;
        if (put_text(identity, "external_id", st, 1, false) != PAL_OK)
            goto out;
    }
    if (rc != SQLITE_DONE)
        goto out;
    put(customer, "identities", identities);
    identities = NULL;
    err = PAL_OK;
out:
    stmt_done(st);
    json_decref(identities);
    return err;
}

/* The most recent max messages, oldest first, into conversation["messages"]. */
static pal_err last_messages_json(pal_store_reader *reader, int64_t conversation_id, int max,
                                  json_t *conversation)
{
    sqlite3_stmt *st = reader->stmt[R_LAST_MESSAGES];
    json_t *newest_first = json_must(json_array());
    pal_err err = PAL_ERR_INTERNAL;
    size_t n = 0;
    binder b = {st, SQLITE_OK};
    bind_i64(&b, 1, conversation_id);
    bind_i64(&b, 2, (int64_t)max + 1); /* one more says whether there were more */
    if (b.rc != SQLITE_OK)
        goto out;
    err = messages_into(st, newest_first, &n);
    if (err != PAL_OK)
        goto out;
    bool truncated = n > (size_t)max;
    json_t *messages = json_must(json_array());
    for (size_t i = truncated ? (size_t)max : n; i > 0; i--)
        if (json_array_append(messages, json_array_get(newest_first, i - 1)) != 0)
            abort();
    put(conversation, "messages", messages);
    put(conversation, "messages_truncated", json_boolean(truncated));
out:
    stmt_done(st);
    json_decref(newest_first);
    return err;
}

pal_err pal_store_conversation_json(pal_store_reader *reader, int64_t conversation_id,
                                    int max_messages, json_t **out)
{
    if (!reader || !out || max_messages < 0 || max_messages > MAX_MESSAGES_PAGE)
        return PAL_ERR_INVALID;
    *out = NULL;
    sqlite3_stmt *st = reader->stmt[R_CONVERSATION];
    json_t *c = json_must(json_object());
    pal_err err = PAL_ERR_INTERNAL;
    bool in_read = false;

    if (read_begin(reader) != SQLITE_OK)
        goto out;
    in_read = true;
    int rc = sqlite3_bind_int64(st, 1, conversation_id);
    if (rc != SQLITE_OK)
        goto out;
    rc = sqlite3_step(st);
    if (rc == SQLITE_DONE)
        err = PAL_ERR_NOT_FOUND;
    if (rc != SQLITE_ROW)
        goto out;
    put(c, "id", json_integer(sqlite3_column_int64(st, 0)));
    if (put_text(c, "bot", st, 1, false) != PAL_OK)
        goto out;
    json_t *customer = json_must(json_object());
    put(c, "customer", customer);
    int64_t customer_id = sqlite3_column_int64(st, 2);
    put(customer, "id", json_integer(customer_id));
    if (put_text(c, "mode", st, 3, false) != PAL_OK)
        goto out;
    if (put_text(c, "lang", st, 4, false) != PAL_OK)
        goto out;
    put_time(c, "created_at", st, 5, false);
    put_time(c, "updated_at", st, 6, false);
    stmt_done(st);

    err = identities_json(reader, customer_id, json_string_value(json_object_get(c, "bot")),
                          customer);
    if (err != PAL_OK)
        goto out;
    err = last_messages_json(reader, conversation_id, max_messages, c);
    if (err != PAL_OK)
        goto out;
    *out = c;
    c = NULL;
out:
    if (err == PAL_ERR_INTERNAL)
        (void)sqlite_failed(reader->db, "conversation json", conversation_id);
    stmt_done(st);
    if (in_read)
        read_end(reader);
    json_decref(c);
    return err;
}

pal_err pal_store_list_conversations(pal_store_reader *reader,
                                     const pal_conversation_filter *filter, json_t **out)
{
    if (!reader || !filter || !out || filter->limit < 1 || filter->limit > MAX_CONVERSATIONS_PAGE)
        return PAL_ERR_INVALID;
    if (!filter->channel != !filter->external_user || filter->before < 0)
        return PAL_ERR_INVALID;
    *out = NULL;
    bool by_identity = filter->external_user != NULL;
    sqlite3_stmt *st = reader->stmt[by_identity ? R_LIST_IDENTITY : R_LIST];
    json_t *list = json_must(json_array());
    json_t *page = NULL;
    pal_err err = PAL_ERR_INTERNAL;
    int64_t last_id = 0;
    int n = 0, rc;

    binder b = {st, SQLITE_OK};
    bind_text(&b, 1, filter->bot);
    bind_text(&b, 2, filter->mode);
    if (by_identity) {
        bind_text(&b, 3, filter->channel);
        bind_text(&b, 4, filter->external_user);
    }
    bind_i64(&b, 5, filter->before > 0 ? filter->before : INT64_MAX);
    bind_i64(&b, 6, (int64_t)filter->limit + 1); /* one more says whether a next page exists */
    if (b.rc != SQLITE_OK)
        goto out;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW && n < filter->limit) {
        json_t *c = json_must(json_object());
        append(list, c);
        last_id = sqlite3_column_int64(st, 0);
        put(c, "id", json_integer(last_id));
        if (put_text(c, "bot", st, 1, false) != PAL_OK)
            goto out;
        put(c, "customer_id", json_integer(sqlite3_column_int64(st, 2)));
        if (put_text(c, "mode", st, 3, false) != PAL_OK)
            goto out;
        if (put_text(c, "lang", st, 4, false) != PAL_OK)
            goto out;
        put_time(c, "created_at", st, 5, false);
        put_time(c, "updated_at", st, 6, false);
        put(c, "messages", json_integer(sqlite3_column_int64(st, 7)));
        n++;
    }
    if (rc != SQLITE_ROW && rc != SQLITE_DONE)
        goto out;
    page = json_must(json_object());
    put(page, "conversations", list);
    list = NULL;
    put(page, "next_before", rc == SQLITE_ROW ? json_integer(last_id) : json_null());
    *out = page;
    err = PAL_OK;
out:
    if (err == PAL_ERR_INTERNAL)
        (void)sqlite_failed(reader->db, "list conversations", filter->before);
    stmt_done(st);
    json_decref(list);
    return err;
}

pal_err pal_store_count(pal_store_reader *reader, pal_store_counts *out)
{
    if (!reader || !out)
        return PAL_ERR_INVALID;
    memset(out, 0, sizeof(*out));
    sqlite3_stmt *st = reader->stmt[R_COUNT_ALL];
    pal_err err = PAL_ERR_INTERNAL;
    if (sqlite3_step(st) == SQLITE_ROW) {
        out->inbound = sqlite3_column_int64(st, 0);
        out->inbound_received = sqlite3_column_int64(st, 1);
        out->outbound = sqlite3_column_int64(st, 2);
        out->outbound_sent = sqlite3_column_int64(st, 3);
        out->outbound_failed = sqlite3_column_int64(st, 4);
        out->outbox = sqlite3_column_int64(st, 5);
        out->conversations = sqlite3_column_int64(st, 6);
        out->customers = sqlite3_column_int64(st, 7);
        err = PAL_OK;
    } else {
        (void)sqlite_failed(reader->db, "count", 0);
    }
    stmt_done(st);
    return err;
}
