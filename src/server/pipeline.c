/*
 * pipeline.c — writer thread, engine workers and their hand-offs.
 *
 * A `job` is one customer message on its way: made by pal_pipeline_submit()
 * (or by recovery), ingested by the writer, processed by the worker that
 * owns its conversation, recorded by the writer, then freed. The same
 * allocation travels through the queues, so a message costs a handful of
 * allocations whatever it goes through.
 *
 * Workers keep the conversations they serve in memory (a bounded cache,
 * least recently used out): the state in memory is always at least as new as
 * the store's, because a worker only evicts a conversation whose recorded
 * turns are all committed (`pending` counts the others).
 */
#include "server/pipeline.h"

#include <curl/curl.h>
#include <jansson.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/log.h"
#include "base/mem.h"
#include "channels/api.h"
#include "dialog/engine.h"
#include "dialog/http_actions.h"
#include "guard/consent.h"
#include "nlu/hash.h"
#include "server/delivery.h"
#include "server/queue.h"
#include "text/analyze.h"

enum {
    WRITER_BATCH_MAX = 2048, /* jobs in one transaction */
    RECENT_MAX = 16,         /* look-ups remembered per conversation */
    TURN_LOOKUPS_MAX = 8,    /* look-ups remembered per turn */
    HEARTBEAT_MS = 15000,
    MAX_REPROCESS = 3,   /* a turn whose commit failed is processed again this often */
    DEDUP_SEEN_MAX = 32, /* dedup keys a worker remembers per customer */
};

typedef enum job_kind {
    JOB_NEW,           /* a new message, on its way to its worker */
    JOB_MESSAGE,       /* processed by its worker: store it and its turn together */
    JOB_TURN,          /* a message stored earlier, now processed: record the turn */
    JOB_OUTBOX_RESULT, /* a delivery outcome: record it */
    JOB_RECEIPT,       /* a platform's receipt for one of our messages: record it */
} job_kind;

typedef struct conv_entry conv_entry;

typedef struct job {
    pal_qitem link;
    job_kind kind;
    /* the message */
    size_t bot_index;
    pal_inbound in; /* strings point into block */
    const char *lang;
    char *block;
    pal_delivery delivery;
    pal_progress_fn progress;
    void *progress_ctx;
    bool want_processed;
    bool counted; /* holds one of queue_limit's places */
    bool recovered;
    bool ingested; /* stored before processing (recovery): ing is valid */
    bool skip;     /* its worker saw its dedup key before: store nothing new */
    int reprocessed;
    uint64_t identity; /* identity_key(): picks the worker */
    pal_ingested ing;
    /* the turn (worker) */
    conv_entry *entry;
    pal_turn_record rec;
    pal_outbound *replies;
    size_t n_replies;
    char **strings; /* owned: reply texts, quick replies, intent */
    size_t n_strings;
    char *state_json, *meta_json;
    int64_t *reply_ids;
    /* a delivery outcome */
    pal_delivery_item *item; /* borrowed from the deliverer until recorded */
    pal_send_result result;
    int64_t next_attempt_at;
    bool give_up;
    pthread_mutex_t *done_mutex; /* outcome jobs: the deliverer waits for the record */
    pthread_cond_t *done_cond;
    bool *done;
    /* a receipt: in.channel, in.channel_message_id (the platform's id of our
     * message), receipt_status, receipt_error (in the block) */
    const char *receipt_status, *receipt_error;
} job;

struct conv_entry {
    uint64_t identity; /* the customer (bot, channel, external id) it is keyed by */
    size_t bot_index;
    char *channel, *external_user;
    uint64_t dedup_seen[DEDUP_SEEN_MAX]; /* hashes of recent dedup keys, a ring */
    size_t dedup_next;
    pal_conversation *conversation;
    char **opted_out; /* channels the customer opted out of */
    size_t n_opted_out;
    uint64_t recent_key[RECENT_MAX];
    int64_t recent_at[RECENT_MAX];
    size_t n_recent;
    atomic_int pending; /* turns handed to the writer, not committed yet */
    atomic_bool stale;  /* a commit failed: reload from the store */
    conv_entry *hash_next, *lru_prev, *lru_next;
};

typedef struct worker {
    struct pal_pipeline *owner;
    pthread_t thread;
    pal_queue inbox;
    pal_analyzer *analyzer;
    pal_arena *arena;
    pal_store_reader *reader;
    void *curl; /* CURL easy handle for the bots' service calls */
    conv_entry **buckets;
    size_t n_buckets, n_entries;
    conv_entry *lru_head, *lru_tail; /* head: most recent */
} worker;

struct pal_watch {
    uint64_t identity; /* identity_key() of the customer watched */
    pal_watch_fn fn;
    void *ctx;
    pal_watch *prev, *next;
};

struct pal_pipeline {
    pal_store *store;
    const pal_pipeline_bot *bots;
    size_t n_bots;
    pal_pipeline_options options;
    pal_queue writer_inbox;
    pthread_t writer_thread;
    worker *workers;
    int n_workers;
    pal_deliverer *deliverer;
    atomic_int in_flight;
    atomic_bool accepting, ready;
    /* live watchers: a list, walked after commits that touch conversations */
    pthread_mutex_t watch_mutex;
    pal_watch *watches;
    atomic_int n_watches;
    int64_t last_heartbeat;
    bool stopped; /* pal_pipeline_stop() ran (the main thread's) */
    /* writer statistics, logged at stop */
    int64_t transactions, jobs_written;
    /* the syncer (syncer_main): the committed batch it is to make durable */
    pthread_t syncer_thread;
    pthread_mutex_t sync_mutex;
    pthread_cond_t sync_cond;
    pal_qitem *sync_batch;
    bool sync_stop;
    pal_qitem syncer_free; /* pushed to the writer's inbox: the syncer is free again */
    /* the checkpointer (checkpointer_main), woken by the syncer when the store's WAL is due
     * to be copied into the database; under sync_mutex, stopped by sync_stop */
    pthread_t checkpointer_thread;
    pthread_cond_t checkpoint_cond;
    bool checkpoint_wanted;
    atomic_int writer_held; /* jobs in the open transaction or with the syncer */
    /* replies go to the deliverer until it stops (pal_pipeline_stop); after that they stay
     * in the outbox for the next start */
    pthread_mutex_t deliver_mutex;
    bool deliverer_stopped;
};

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- jobs -------------------------------------------------------------- */

/* Copies the inbound strings into one block owned by the job. */
static job *job_new(const pal_submission *s, int64_t at)
{
    const char *src[] = {s->channel, s->external_user, s->dedup_key, s->channel_message_id,
                         s->text,    s->address,       s->lang};
    enum { N = sizeof(src) / sizeof(src[0]) };
    size_t len[N], total = 0;
    for (size_t i = 0; i < N; i++) {
        len[i] = src[i] ? strlen(src[i]) + 1 : 0;
        total += len[i];
    }
    job *j = pal_xcalloc(1, sizeof(*j));
    char *dst[N];
    j->block = pal_xmalloc(total ? total : 1);
    char *p = j->block;
    for (size_t i = 0; i < N; i++) {
        dst[i] = src[i] ? memcpy(p, src[i], len[i]) : NULL;
        p += len[i];
    }
    j->kind = JOB_NEW;
    j->bot_index = s->bot_index;
    j->in.channel = dst[0];
    j->in.external_user = dst[1];
    j->in.dedup_key = dst[2];
    j->in.channel_message_id = dst[3];
    j->in.text = dst[4];
    j->in.address = dst[5];
    j->lang = dst[6];
    j->in.received_at = at;
    j->delivery = s->delivery;
    j->progress = s->progress;
    j->progress_ctx = s->progress_ctx;
    j->want_processed = s->want_processed;
    return j;
}

static void job_clear_turn(job *j)
{
    for (size_t i = 0; i < j->n_strings; i++)
        free(j->strings[i]);
    free(j->strings);
    free(j->replies);
    free(j->state_json);
    free(j->meta_json);
    free(j->reply_ids);
    j->strings = NULL;
    j->n_strings = 0;
    j->replies = NULL;
    j->n_replies = 0;
    j->state_json = j->meta_json = NULL;
    j->reply_ids = NULL;
    memset(&j->rec, 0, sizeof(j->rec));
}

static void job_free(job *j)
{
    if (!j)
        return;
    job_clear_turn(j);
    free(j->block);
    free(j);
}

static char *job_keep(job *j, char *s)
{
    j->strings = pal_xrealloc(j->strings, (j->n_strings + 1) * sizeof(*j->strings));
    j->strings[j->n_strings++] = s;
    return s;
}

static void progress(job *j, pal_progress_kind kind)
{
    if (!j->progress)
        return;
    pal_progress p = {
        .kind = kind,
        .message_id = j->ing.message_id,
        .conversation_id = j->ing.conversation_id,
        .duplicate = j->ing.duplicate,
        .replies = j->replies,
        .n_replies = kind == PAL_PROGRESS_PROCESSED ? j->n_replies : 0,
    };
    j->progress(j->progress_ctx, &p);
}

/* The job is finished: its place in the queue limit is free again. */
static void job_done(pal_pipeline *p, job *j)
{
    if (j->counted)
        atomic_fetch_sub(&p->in_flight, 1);
    job_free(j);
}

/* ---- watchers ---------------------------------------------------------- */

/* Watches and commits meet on this hash of (bot, channel, customer). */
static uint64_t identity_key(size_t bot_index, const char *channel, const char *external_user)
{
    uint64_t h = pal_hash64(0x77617463680aULL + bot_index, channel, strlen(channel) + 1);
    h = pal_hash64(h, external_user, strlen(external_user));
    return h ? h : 1; /* 0 is the heartbeat */
}

pal_err pal_pipeline_watch(pal_pipeline *pipeline, size_t bot_index, const char *channel,
                           const char *external_user, pal_watch_fn fn, void *ctx, pal_watch **out)
{
    pal_watch *w = pal_xcalloc(1, sizeof(*w));
    w->identity = identity_key(bot_index, channel, external_user);
    w->fn = fn;
    w->ctx = ctx;
    pthread_mutex_lock(&pipeline->watch_mutex);
    w->next = pipeline->watches;
    if (w->next)
        w->next->prev = w;
    pipeline->watches = w;
    atomic_fetch_add(&pipeline->n_watches, 1);
    pthread_mutex_unlock(&pipeline->watch_mutex);
    *out = w;
    return PAL_OK;
}

void pal_pipeline_unwatch(pal_pipeline *pipeline, pal_watch *watch)
{
    if (!watch)
        return;
    pthread_mutex_lock(&pipeline->watch_mutex);
    if (watch->prev)
        watch->prev->next = watch->next;
    else
        pipeline->watches = watch->next;
    if (watch->next)
        watch->next->prev = watch->prev;
    atomic_fetch_sub(&pipeline->n_watches, 1);
    pthread_mutex_unlock(&pipeline->watch_mutex);
    free(watch);
}

/* A conversation that changed in a commit, for its watchers. */
typedef struct touched {
    uint64_t identity;
    int64_t conversation_id;
} touched;

static int cmp_touched(const void *a, const void *b)
{
    uint64_t x = ((const touched *)a)->identity, y = ((const touched *)b)->identity;
    return (x > y) - (x < y);
}

/* Tells the watchers of the identities in t[0..n); heartbeat: everyone. */
static void notify_watchers(pal_pipeline *p, touched *t, size_t n, bool heartbeat)
{
    if (atomic_load(&p->n_watches) == 0 || (n == 0 && !heartbeat))
        return;
    if (n > 1)
        qsort(t, n, sizeof(*t), cmp_touched);
    pthread_mutex_lock(&p->watch_mutex);
    for (pal_watch *w = p->watches; w; w = w->next) {
        if (heartbeat) {
            w->fn(w->ctx, 0);
            continue;
        }
        touched key = {.identity = w->identity};
        const touched *hit = n ? bsearch(&key, t, n, sizeof(*t), cmp_touched) : NULL;
        if (hit)
            w->fn(w->ctx, hit->conversation_id);
    }
    pthread_mutex_unlock(&p->watch_mutex);
}

/* ---- writer ------------------------------------------------------------ */

static void dispatch_to_worker(pal_pipeline *p, job *j)
{
    worker *w = &p->workers[(j->identity >> 7) % (uint64_t)p->n_workers];
    pal_queue_push(&w->inbox, &j->link);
}

static const char *bot_name(const pal_pipeline *p, size_t bot_index)
{
    return pal_bot_name(p->bots[bot_index].bot);
}

static pal_err write_job(pal_pipeline *p, job *j)
{
    pal_err err;
    switch (j->kind) {
    case JOB_NEW:
        return PAL_ERR_INTERNAL; /* never queued for the writer */
    case JOB_RECEIPT:
        return pal_store_receipt(p->store, j->in.bot, j->in.channel, j->in.channel_message_id,
                                 j->receipt_status, j->receipt_error, now_ms());
    case JOB_MESSAGE:
        if (j->skip)
            return pal_store_ingest(p->store, &j->in, &j->ing);
        if (j->n_replies > 0 && !j->reply_ids)
            j->reply_ids = pal_xcalloc(j->n_replies, sizeof(*j->reply_ids));
        return pal_store_ingest_turn(p->store, &j->in, &j->rec, &j->ing, j->reply_ids);
    case JOB_TURN:
        if (j->n_replies > 0)
            j->reply_ids = pal_xcalloc(j->n_replies, sizeof(*j->reply_ids));
        return pal_store_record_turn(p->store, &j->rec, j->reply_ids);
    case JOB_OUTBOX_RESULT: {
        const pal_delivery_item *it = j->item;
        int64_t at = now_ms();
        if (j->result.outcome == PAL_SEND_OK)
            err =
                pal_store_outbox_sent(p->store, it->message_id,
                                      j->result.platform_id[0] ? j->result.platform_id : NULL, at);
        else if (j->result.outcome == PAL_SEND_RETRY && !j->give_up)
            err = pal_store_outbox_retry(p->store, it->message_id, j->next_attempt_at,
                                         j->result.error);
        else
            err = pal_store_outbox_failed(p->store, it->message_id, j->result.error, at);
        /* already recorded (a second copy after recovery): nothing to do */
        return err == PAL_ERR_NOT_FOUND ? PAL_OK : err;
    }
    }
    return PAL_ERR_INTERNAL;
}

/* After a commit: acknowledge, hand on, deliver, notify. */
static void touch(const pal_pipeline *p, const job *j, touched *t, size_t *n)
{
    if (atomic_load(&p->n_watches) == 0)
        return;
    t[*n].identity = identity_key(j->bot_index, j->in.channel, j->in.external_user);
    t[*n].conversation_id = j->ing.conversation_id;
    (*n)++;
}

static void deliver_replies(pal_pipeline *p, job *j)
{
    if (j->rec.delivery != PAL_DELIVERY_OUTBOX)
        return;
    pthread_mutex_lock(&p->deliver_mutex);
    for (size_t i = 0; i < j->n_replies && !p->deliverer_stopped; i++) {
        char key[48];
        snprintf(key, sizeof(key), "palabre-%lld", (long long)j->reply_ids[i]);
        pal_deliverer_enqueue(
            p->deliverer,
            pal_delivery_item_new(j->reply_ids[i], j->ing.conversation_id, j->bot_index,
                                  j->in.channel, j->in.external_user, j->in.address,
                                  j->replies[i].text, j->replies[i].quick_replies_json, key, 0, 0,
                                  j->ing.message_id, j->in.channel_message_id));
    }
    pthread_mutex_unlock(&p->deliver_mutex);
}

static void after_commit(pal_pipeline *p, job *j, touched *t, size_t *n_touched)
{
    switch (j->kind) {
    case JOB_NEW:
        return;
    case JOB_MESSAGE:
        if (j->skip) {
            progress(j, PAL_PROGRESS_STORED);
            if (j->ing.duplicate) {
                job_done(p, j);
                return;
            }
            /* its worker thought it a duplicate but the store does not know
             * it (the first copy was never stored): it is stored now, as
             * received, and goes back to be processed */
            touch(p, j, t, n_touched);
            j->skip = false;
            j->ingested = true;
            j->kind = JOB_NEW;
            dispatch_to_worker(p, j);
            return;
        }
        atomic_fetch_sub(&j->entry->pending, 1);
        if (j->ing.duplicate) {
            /* processed in memory but the store had it: reload the state */
            atomic_store(&j->entry->stale, true);
            progress(j, PAL_PROGRESS_STORED);
            job_done(p, j);
            return;
        }
        touch(p, j, t, n_touched);
        progress(j, PAL_PROGRESS_STORED);
        deliver_replies(p, j);
        if (j->want_processed)
            progress(j, PAL_PROGRESS_PROCESSED);
        job_done(p, j);
        return;
    case JOB_TURN:
        atomic_fetch_sub(&j->entry->pending, 1);
        if (j->n_replies > 0)
            touch(p, j, t, n_touched);
        deliver_replies(p, j);
        if (j->want_processed)
            progress(j, PAL_PROGRESS_PROCESSED);
        job_done(p, j);
        return;
    case JOB_OUTBOX_RESULT:
        pthread_mutex_lock(j->done_mutex);
        *j->done = true;
        pthread_cond_broadcast(j->done_cond);
        pthread_mutex_unlock(j->done_mutex);
        free(j);
        return;
    case JOB_RECEIPT:
        progress(j, PAL_PROGRESS_STORED);
        job_done(p, j);
        return;
    }
}

/* The transaction failed: nothing of it happened. */
static void after_rollback(pal_pipeline *p, job *j)
{
    switch (j->kind) {
    case JOB_NEW:
        return;
    case JOB_MESSAGE:
        /* nothing was stored, nothing is acknowledged: the client retries */
        if (!j->skip) {
            atomic_store(&j->entry->stale, true);
            atomic_fetch_sub(&j->entry->pending, 1);
        }
        progress(j, PAL_PROGRESS_FAILED);
        job_done(p, j);
        return;
    case JOB_TURN:
        /* the worker's memory is ahead of the store now: make it reload,
         * and process the message again from the stored state */
        atomic_store(&j->entry->stale, true);
        atomic_fetch_sub(&j->entry->pending, 1);
        job_clear_turn(j);
        if (++j->reprocessed > MAX_REPROCESS) {
            pal_log(PAL_LOG_ERR, "pipeline",
                    "message=%lld conversation=%lld not recorded; left for the next start",
                    (long long)j->ing.message_id, (long long)j->ing.conversation_id);
            if (j->want_processed)
                progress(j, PAL_PROGRESS_FAILED);
            job_done(p, j);
            return;
        }
        j->kind = JOB_NEW;
        dispatch_to_worker(p, j);
        return;
    case JOB_OUTBOX_RESULT:
        /* not recorded: the reply stays pending and is sent again later */
        after_commit(p, j, NULL, NULL);
        return;
    case JOB_RECEIPT:
        progress(j, PAL_PROGRESS_FAILED); /* the platform sends it again */
        job_done(p, j);
        return;
    }
}

/* The commit made it durable but not acknowledged: pal_store_sync() failed, so what was
 * committed may be lost on power failure. Nothing is acknowledged and the pipeline stops
 * taking messages (pal_pipeline_ready() false): a store that cannot keep its promise must not
 * make more. Clients retry elsewhere or later; the operator sees the error and the probe. */
static void after_lost_sync(pal_pipeline *p, job *j)
{
    switch (j->kind) {
    case JOB_NEW:
        return;
    case JOB_MESSAGE:
    case JOB_TURN:
        if (!(j->kind == JOB_MESSAGE && j->skip))
            atomic_fetch_sub(&j->entry->pending, 1);
        if (j->kind == JOB_MESSAGE || j->want_processed)
            progress(j, PAL_PROGRESS_FAILED);
        job_done(p, j);
        return;
    case JOB_OUTBOX_RESULT:
        after_commit(p, j, NULL, NULL); /* the deliverer only waits for the record */
        return;
    case JOB_RECEIPT:
        progress(j, PAL_PROGRESS_FAILED);
        job_done(p, j);
        return;
    }
}

/* The jobs of one transaction, in order. */
typedef struct txn_jobs {
    pal_qitem *first, *last;
    size_t n;
} txn_jobs;

static void txn_append(txn_jobs *t, pal_qitem *it)
{
    it->next = NULL;
    if (t->last)
        t->last->next = it;
    else
        t->first = it;
    t->last = it;
    t->n++;
}

/* Hands each job of a failed transaction back (after_rollback). */
static void txn_failed(pal_pipeline *p, txn_jobs *t, pal_err err)
{
    pal_log(PAL_LOG_ERR, "pipeline", "a batch of %zu could not be stored: %s", t->n,
            pal_err_str(err));
    pal_qitem *it = t->first;
    while (it) {
        pal_qitem *next = it->next;
        after_rollback(p, (job *)it);
        it = next;
    }
    atomic_fetch_sub(&p->writer_held, (int)t->n);
    *t = (txn_jobs){0};
}

/* Writes one job into the open transaction (beginning one when none is open). A failure
 * rolls back the whole transaction, as if none of its jobs had come. */
static void txn_add(pal_pipeline *p, txn_jobs *t, job *j)
{
    pal_err err = PAL_OK;
    if (t->n == 0)
        err = pal_store_begin(p->store);
    atomic_fetch_add(&p->writer_held, 1);
    txn_append(t, &j->link);
    if (!err)
        err = write_job(p, j);
    if (err) {
        pal_store_rollback(p->store);
        txn_failed(p, t, err);
    }
}

/* The syncer's side: the committed jobs are durable (or not: sync_err) now. */
static void acknowledge(pal_pipeline *p, pal_qitem *first, pal_err sync_err)
{
    size_t n = 0, n_touched = 0;
    for (pal_qitem *it = first; it; it = it->next)
        n++;
    touched *t = pal_xcalloc(n + 1, sizeof(*t));
    if (sync_err) {
        atomic_store(&p->accepting, false);
        atomic_store(&p->ready, false);
        pal_log(PAL_LOG_ERR, "pipeline",
                "the store cannot make %zu committed records durable (%s): no longer "
                "accepting messages",
                n, pal_err_str(sync_err));
    }
    pal_qitem *it = first;
    while (it) {
        pal_qitem *next = it->next;
        if (sync_err)
            after_lost_sync(p, (job *)it);
        else
            after_commit(p, (job *)it, t, &n_touched);
        it = next;
    }
    notify_watchers(p, t, n_touched, false);
    free(t);
    atomic_fetch_sub(&p->writer_held, (int)n);
}

/* Group commit in two stages: while the syncer waits for the disk to make batch k durable
 * (pal_store_sync, ~1 ms here), the writer already writes batch k+1 into an open
 * transaction, and commits it when the syncer is free again. The disk's latency and the
 * writer's CPU overlap instead of adding up, and a batch is whatever came during the previous
 * sync. Batches are acknowledged strictly in order: one is with the syncer at a time. */
static void *syncer_main(void *arg)
{
    pal_pipeline *p = arg;
    pthread_setname_np(pthread_self(), "pal-syncer");
    for (;;) {
        pthread_mutex_lock(&p->sync_mutex);
        while (!p->sync_batch && !p->sync_stop)
            pthread_cond_wait(&p->sync_cond, &p->sync_mutex);
        pal_qitem *batch = p->sync_batch;
        p->sync_batch = NULL;
        pthread_mutex_unlock(&p->sync_mutex);
        if (!batch)
            break;
        acknowledge(p, batch, pal_store_sync(p->store));
        pal_queue_push(&p->writer_inbox, &p->syncer_free);
        if (pal_store_checkpoint_due(p->store)) {
            pthread_mutex_lock(&p->sync_mutex);
            p->checkpoint_wanted = true;
            pthread_cond_signal(&p->checkpoint_cond);
            pthread_mutex_unlock(&p->sync_mutex);
        }
    }
    return NULL;
}

/* Copies the store's WAL into the database while the writer and the syncer go on. Done
 * inside the writer's commit, as SQLite does by default, the copy and its two fsyncs (~15 ms
 * here, every ~100 ms at full load) held up the writer, and with it every message, while the
 * other core idled. */
static void *checkpointer_main(void *arg)
{
    pal_pipeline *p = arg;
    pthread_setname_np(pthread_self(), "pal-checkpoint");
    for (;;) {
        pthread_mutex_lock(&p->sync_mutex);
        while (!p->checkpoint_wanted && !p->sync_stop)
            pthread_cond_wait(&p->checkpoint_cond, &p->sync_mutex);
        bool stop = p->sync_stop;
        p->checkpoint_wanted = false;
        pthread_mutex_unlock(&p->sync_mutex);
        if (stop)
            break;
        (void)pal_store_checkpoint(p->store); /* a failure is logged; the writer takes over */
    }
    return NULL;
}

/* Commits the open transaction and hands its jobs to the syncer: true. False when the
 * commit failed (its jobs are told so; the syncer was given nothing, so stays free). */
static bool txn_commit(pal_pipeline *p, txn_jobs *t)
{
    pal_err err = pal_store_commit(p->store);
    if (err) {
        txn_failed(p, t, err);
        return false;
    }
    p->transactions++;
    p->jobs_written += (int64_t)t->n;
    pthread_mutex_lock(&p->sync_mutex);
    p->sync_batch = t->first;
    pthread_cond_signal(&p->sync_cond);
    pthread_mutex_unlock(&p->sync_mutex);
    *t = (txn_jobs){0};
    return true;
}

static void *writer_main(void *arg)
{
    pal_pipeline *p = arg;
    pthread_setname_np(pthread_self(), "pal-writer");
    txn_jobs open = {0};
    bool syncing = false; /* a committed batch is with the syncer */
    for (;;) {
        bool closed = false;
        pal_qitem *batch = pal_queue_pop(&p->writer_inbox, WRITER_BATCH_MAX, 1000, &closed);
        while (batch) {
            pal_qitem *next = batch->next;
            if (batch == &p->syncer_free)
                syncing = false;
            else
                txn_add(p, &open, (job *)batch);
            batch = next;
        }
        if (open.n > 0 && !syncing)
            syncing = txn_commit(p, &open);
        int64_t now = now_ms();
        if (now - p->last_heartbeat >= HEARTBEAT_MS) {
            p->last_heartbeat = now;
            notify_watchers(p, NULL, 0, true);
        }
        if (closed && !syncing && open.n == 0)
            break;
        if (closed) { /* the queue no longer waits: let the syncer finish */
            struct timespec ts = {0, 200 * 1000};
            nanosleep(&ts, NULL);
        }
    }
    pthread_mutex_lock(&p->sync_mutex);
    p->sync_stop = true;
    pthread_cond_signal(&p->sync_cond);
    pthread_cond_signal(&p->checkpoint_cond);
    pthread_mutex_unlock(&p->sync_mutex);
    return NULL;
}

/* ---- engine workers ---------------------------------------------------- */

static void entry_free(conv_entry *e)
{
    pal_conversation_free(e->conversation);
    for (size_t i = 0; i < e->n_opted_out; i++)
        free(e->opted_out[i]);
    free(e->opted_out);
    free(e->channel);
    free(e->external_user);
    free(e);
}

static size_t bucket_of(const worker *w, uint64_t identity)
{
    return (size_t)(identity * 0x9E3779B97F4A7C15ULL >> 20) & (w->n_buckets - 1);
}

static void lru_unlink(worker *w, conv_entry *e)
{
    if (e->lru_prev)
        e->lru_prev->lru_next = e->lru_next;
    else
        w->lru_head = e->lru_next;
    if (e->lru_next)
        e->lru_next->lru_prev = e->lru_prev;
    else
        w->lru_tail = e->lru_prev;
    e->lru_prev = e->lru_next = NULL;
}

static void lru_front(worker *w, conv_entry *e)
{
    e->lru_next = w->lru_head;
    e->lru_prev = NULL;
    if (w->lru_head)
        w->lru_head->lru_prev = e;
    w->lru_head = e;
    if (!w->lru_tail)
        w->lru_tail = e;
}

static void cache_remove(worker *w, conv_entry *e)
{
    conv_entry **pp = &w->buckets[bucket_of(w, e->identity)];
    while (*pp && *pp != e)
        pp = &(*pp)->hash_next;
    if (*pp)
        *pp = e->hash_next;
    lru_unlink(w, e);
    w->n_entries--;
    entry_free(e);
}

static void cache_grow(worker *w)
{
    size_t old_n = w->n_buckets;
    conv_entry **old = w->buckets;
    w->n_buckets = old_n ? old_n * 2 : 1024;
    w->buckets = pal_xcalloc(w->n_buckets, sizeof(*w->buckets));
    for (size_t i = 0; i < old_n; i++) {
        conv_entry *e = old[i];
        while (e) {
            conv_entry *next = e->hash_next;
            size_t b = bucket_of(w, e->identity);
            e->hash_next = w->buckets[b];
            w->buckets[b] = e;
            e = next;
        }
    }
    free(old);
}

/* Evicts least recently used conversations with nothing pending. */
static void cache_trim(worker *w)
{
    conv_entry *e = w->lru_tail;
    size_t max =
        (size_t)(w->owner->options.conversation_cache > 0 ? w->owner->options.conversation_cache
                                                          : 1);
    while (w->n_entries > max && e) {
        conv_entry *prev = e->lru_prev;
        if (atomic_load(&e->pending) == 0)
            cache_remove(w, e);
        e = prev;
    }
}

static void meta_parse(conv_entry *e, const char *json)
{
    json_error_t jerr;
    json_t *root = json ? json_loads(json, 0, &jerr) : NULL;
    if (!json_is_object(root)) {
        json_decref(root);
        return;
    }
    json_t *v;
    size_t i;
    json_array_foreach(json_object_get(root, "opted_out"), i, v)
    {
        if (json_is_string(v) && e->n_opted_out < 16) {
            e->opted_out = pal_xrealloc(e->opted_out, (e->n_opted_out + 1) * sizeof(char *));
            e->opted_out[e->n_opted_out++] = pal_xstrdup(json_string_value(v));
        }
    }
    json_array_foreach(json_object_get(root, "recent"), i, v)
    {
        json_t *k = json_array_get(v, 0), *at = json_array_get(v, 1);
        if (json_is_string(k) && json_is_integer(at) && e->n_recent < RECENT_MAX) {
            e->recent_key[e->n_recent] = strtoull(json_string_value(k), NULL, 16);
            e->recent_at[e->n_recent++] = json_integer_value(at);
        }
    }
    json_decref(root);
}

static char *meta_json(const conv_entry *e)
{
    json_t *root = json_object();
    json_t *opted = json_array();
    json_t *recent = json_array();
    for (size_t i = 0; i < e->n_opted_out; i++)
        json_array_append_new(opted, json_string(e->opted_out[i]));
    for (size_t i = 0; i < e->n_recent; i++) {
        char key[24];
        snprintf(key, sizeof(key), "%016llx", (unsigned long long)e->recent_key[i]);
        json_array_append_new(recent, json_pack("[sI]", key, (json_int_t)e->recent_at[i]));
    }
    json_object_set_new(root, "opted_out", opted);
    json_object_set_new(root, "recent", recent);
    char *text = json_dumps(root, JSON_COMPACT);
    json_decref(root);
    return text;
}

/* The conversation of job j, from memory or from the store. NULL when it
 * cannot be loaded (logged). */
static bool entry_is(const conv_entry *e, const job *j)
{
    return e->identity == j->identity && e->bot_index == j->bot_index &&
           strcmp(e->channel, j->in.channel) == 0 &&
           strcmp(e->external_user, j->in.external_user) == 0;
}

/* The saved conversation of j's customer into e (none yet: a new one). */
static pal_err load_entry(worker *w, conv_entry *e, const job *j)
{
    const pal_bot *bot = w->owner->bots[j->bot_index].bot;
    pal_conversation_row row;
    int64_t id = j->ingested ? j->ing.conversation_id : 0;
    pal_err err = PAL_OK;
    memset(&row, 0, sizeof(row));
    if (!id) {
        err = pal_store_find_conversation(w->reader, j->in.bot, j->in.channel, j->in.external_user,
                                          &id);
        if (err == PAL_ERR_NOT_FOUND) {
            id = 0;
            err = PAL_OK;
        }
    }
    if (!err && id)
        err = pal_store_load_conversation(w->reader, id, &row);
    if (err) {
        pal_log(PAL_LOG_ERR, "pipeline", "conversation=%lld cannot be loaded: %s", (long long)id,
                pal_err_str(err));
        return err;
    }
    if (row.state_json && pal_conversation_from_json(bot, row.state_json, strlen(row.state_json),
                                                     &e->conversation) != PAL_OK) {
        /* the bot changed under the conversation: it restarts cleanly */
        pal_log(PAL_LOG_WARN, "pipeline", "conversation=%lld: saved state no longer fits the bot",
                (long long)id);
        e->conversation = NULL;
    }
    if (!e->conversation) {
        e->conversation = pal_conversation_new(bot);
        pal_lang lang;
        if (j->lang && pal_lang_parse(j->lang, &lang))
            (void)pal_conversation_set_lang(e->conversation, lang);
    }
    meta_parse(e, row.meta_json);
    pal_conversation_row_clear(&row);
    return PAL_OK;
}

/* The conversation of job j's customer, from memory or from the store. NULL
 * when it cannot be loaded (logged). */
static conv_entry *conversation_for(worker *w, const job *j)
{
    if (w->n_buckets == 0)
        cache_grow(w);
    for (conv_entry *e = w->buckets[bucket_of(w, j->identity)]; e; e = e->hash_next) {
        if (!entry_is(e, j))
            continue;
        if (atomic_load(&e->stale) && atomic_load(&e->pending) == 0) {
            cache_remove(w, e);
            break;
        }
        lru_unlink(w, e);
        lru_front(w, e);
        return e;
    }
    conv_entry *e = pal_xcalloc(1, sizeof(*e));
    e->identity = j->identity;
    e->bot_index = j->bot_index;
    e->channel = pal_xstrdup(j->in.channel);
    e->external_user = pal_xstrdup(j->in.external_user);
    atomic_init(&e->pending, 0);
    atomic_init(&e->stale, false);
    if (load_entry(w, e, j) != PAL_OK) {
        entry_free(e);
        return NULL;
    }
    if ((w->n_entries + 1) > w->n_buckets)
        cache_grow(w);
    size_t b = bucket_of(w, e->identity);
    e->hash_next = w->buckets[b];
    w->buckets[b] = e;
    lru_front(w, e);
    w->n_entries++;
    cache_trim(w);
    return e;
}

/* True when j repeats a message this customer sent before (its dedup
 * key): in memory for recent ones (stored or still on their way to the
 * writer), in the store for older ones. The key is remembered otherwise. */
static bool seen_before(worker *w, conv_entry *e, const job *j)
{
    const char *key = j->in.dedup_key;
    uint64_t h = pal_hash64(0x64656475700aULL, key, strlen(key));
    for (size_t i = 0; i < DEDUP_SEEN_MAX; i++)
        if (e->dedup_seen[i] == h)
            return true;
    bool seen = false;
    if (pal_store_seen_dedup_key(w->reader, j->in.bot, j->in.channel, key, &seen) != PAL_OK)
        seen = false; /* the writer's unique index decides anyway */
    if (!seen) {
        e->dedup_seen[e->dedup_next] = h;
        e->dedup_next = (e->dedup_next + 1) % DEDUP_SEEN_MAX;
    }
    return seen;
}

static bool opted_out(const conv_entry *e, const char *channel, size_t *index)
{
    for (size_t i = 0; i < e->n_opted_out; i++) {
        if (strcmp(e->opted_out[i], channel) == 0) {
            if (index)
                *index = i;
            return true;
        }
    }
    return false;
}

/* Look-ups of one turn, for repeat suppression. */
typedef struct turn_lookups {
    uint64_t keys[TURN_LOOKUPS_MAX];
    size_t n;
    bool overflow;
} turn_lookups;

/* What the engine's actions see during one turn. */
typedef struct turn_actions {
    turn_lookups seen;
    void *curl; /* the worker's libcurl handle: connections to services stay open */
} turn_actions;

static pal_err call_action(void *ctx, const char *url, long timeout_ms, const char *body,
                           char **response)
{
    return pal_http_call(((turn_actions *)ctx)->curl, url, timeout_ms, body, response);
}

static pal_err lookup_action(void *ctx, pal_botdata_query *query, const char *const *names,
                             const char *const *values, size_t n_params, size_t max_rows,
                             pal_arena *arena, pal_botdata_rows *out)
{
    turn_lookups *seen = &((turn_actions *)ctx)->seen;
    /* The same request is the same parameters with the same values: a
     * customer sending "#MonRésultat 75011" twice asks the same thing. */
    uint64_t h = 0x70616c6162726521ULL;
    for (size_t i = 0; i < n_params; i++) {
        h = pal_hash64(h, names[i], strlen(names[i]) + 1);
        h = values[i] ? pal_hash64(h, values[i], strlen(values[i]) + 1) : pal_hash64(h, "", 1);
    }
    if (seen->n < TURN_LOOKUPS_MAX)
        seen->keys[seen->n++] = h;
    else
        seen->overflow = true;
    return pal_botdata_run(query, names, values, n_params, max_rows, arena, out);
}

/* True when every look-up of the turn was answered within the window; the
 * turn's look-ups are remembered either way. */
static bool repeated_lookups(conv_entry *e, const turn_lookups *seen, int64_t now, int window_s)
{
    bool all_recent = seen->n > 0 && !seen->overflow && window_s > 0;
    for (size_t k = 0; k < seen->n; k++) {
        bool found = false;
        for (size_t i = 0; i < e->n_recent; i++) {
            if (e->recent_key[i] == seen->keys[k] &&
                now - e->recent_at[i] < (int64_t)window_s * 1000) {
                found = true;
                break;
            }
        }
        all_recent = all_recent && found;
    }
    if (all_recent)
        return true; /* not refreshed: the window counts from the answer given */
    for (size_t k = 0; k < seen->n; k++) {
        size_t slot = e->n_recent;
        for (size_t i = 0; i < e->n_recent; i++)
            if (e->recent_key[i] == seen->keys[k] ||
                now - e->recent_at[i] >= (int64_t)window_s * 1000)
                slot = i;
        if (slot == e->n_recent) {
            if (e->n_recent < RECENT_MAX) {
                e->n_recent++;
            } else {
                slot = 0; /* the oldest */
                for (size_t i = 1; i < e->n_recent; i++)
                    if (e->recent_at[i] < e->recent_at[slot])
                        slot = i;
            }
        }
        e->recent_key[slot] = seen->keys[k];
        e->recent_at[slot] = now;
    }
    return false;
}

static char *quick_replies_json(const pal_reply *r)
{
    if (r->n_buttons == 0)
        return NULL;
    json_t *a = json_array();
    for (size_t i = 0; i < r->n_buttons; i++)
        json_array_append_new(a, json_string(r->buttons[i]));
    char *text = json_dumps(a, JSON_COMPACT);
    json_decref(a);
    return text;
}

static void add_reply(job *j, const char *text, char *quick_replies)
{
    j->replies = pal_xrealloc(j->replies, (j->n_replies + 1) * sizeof(*j->replies));
    j->replies[j->n_replies].text = job_keep(j, pal_xstrdup(text));
    j->replies[j->n_replies].quick_replies_json = quick_replies ? job_keep(j, quick_replies) : NULL;
    j->n_replies++;
}

/* Consent keywords before the bot: STOP gets its confirmation and nothing
 * more until START. True when the message was handled here. */
static bool handle_consent(worker *w, job *j, conv_entry *e, bool *meta_changed)
{
    pal_consent_word word = pal_consent_classify(j->in.channel, j->in.text, strlen(j->in.text));
    size_t index;
    bool out = opted_out(e, j->in.channel, &index);
    const char *lang = pal_lang_code(pal_conversation_lang(e->conversation));
    (void)w;
    if (word == PAL_CONSENT_STOP && !out) {
        e->opted_out = pal_xrealloc(e->opted_out, (e->n_opted_out + 1) * sizeof(char *));
        e->opted_out[e->n_opted_out++] = pal_xstrdup(j->in.channel);
        add_reply(j, pal_consent_reply(PAL_CONSENT_STOP, lang), NULL);
        j->rec.consent = 1;
        j->rec.event_kind = "opt_out";
        *meta_changed = true;
        return true;
    }
    if (word == PAL_CONSENT_START && out) {
        free(e->opted_out[index]);
        e->opted_out[index] = e->opted_out[--e->n_opted_out];
        add_reply(j, pal_consent_reply(PAL_CONSENT_START, lang), NULL);
        j->rec.consent = 0;
        j->rec.event_kind = "opt_in";
        *meta_changed = true;
        return true;
    }
    if (out) {
        j->rec.inbound_status = "ignored"; /* stored, never answered */
        return true;
    }
    return false;
}

/* Runs the engine on j and fills j's turn record. */
static void process(worker *w, job *j)
{
    pal_pipeline *p = w->owner;
    const pal_bot *bot = p->bots[j->bot_index].bot;
    int64_t now = now_ms();
    conv_entry *e = conversation_for(w, j);
    if (!e) {
        /* not acknowledged (the client retries), or, stored earlier, it stays
         * "received" and is processed at the next start */
        progress(j, PAL_PROGRESS_FAILED);
        job_done(p, j);
        return;
    }
    j->entry = e;
    if (!j->ingested && j->in.dedup_key && seen_before(w, e, j)) {
        /* a platform's or client's retry: the writer answers it from the
         * store, behind the first copy if that is still on its way */
        j->skip = true;
        j->kind = JOB_MESSAGE;
        pal_queue_push(&p->writer_inbox, &j->link);
        return;
    }
    bool meta_changed = false, state_changed = false;
    j->rec.consent = -1;
    j->rec.inbound_status = "processed";
    if (!handle_consent(w, j, e, &meta_changed)) {
        turn_actions ta = {.seen = {.n = 0}, .curl = w->curl};
        turn_lookups *seen_p = &ta.seen;
        pal_engine_actions actions = {.ctx = &ta, .lookup = lookup_action, .call = call_action};
        pal_turn turn;
        pal_arena_reset(w->arena);
        pal_err err = pal_engine_step(bot, w->analyzer, e->conversation, j->in.text,
                                      strlen(j->in.text), &actions, w->arena, &turn);
        if (err) {
            /* the text layer refused it (channels check first; kept for safety) */
            j->rec.inbound_status = "ignored";
        } else {
            state_changed = true;
            if (turn.intent) {
                j->rec.intent = job_keep(j, pal_xstrdup(turn.intent));
                j->rec.confidence = turn.confidence;
            }
            int window = p->options.repeat_window_seconds >= 0 ? p->options.repeat_window_seconds
                                                               : pal_bot_dedup_window(bot);
            /* Only a request answered in full counts: a turn that ends on a
             * question ("which commune?") is a step of one request, and the
             * answer to it runs the same look-up again. */
            if (turn.flow)
                seen_p->n = 0;
            if (repeated_lookups(e, seen_p, now, window)) {
                j->rec.event_kind = "repeat_suppressed";
                j->rec.inbound_status = "ignored";
            } else {
                for (size_t i = 0; i < turn.n_replies; i++)
                    add_reply(j, turn.replies[i].text, quick_replies_json(&turn.replies[i]));
            }
            meta_changed = meta_changed || seen_p->n > 0;
            if (turn.handoff) {
                json_t *data =
                    json_pack("{ss}", "reason", turn.handoff_reason ? turn.handoff_reason : "");
                j->rec.event_kind = "handoff";
                j->rec.event_data_json = job_keep(j, json_dumps(data, JSON_COMPACT));
                json_decref(data);
            }
        }
    }
    if (state_changed) {
        j->state_json = pal_conversation_to_json(e->conversation);
        j->rec.state_json = j->state_json;
        j->rec.mode = pal_conversation_handed_over(e->conversation) ? "person" : "bot";
        j->rec.lang = pal_lang_code(pal_conversation_lang(e->conversation));
    }
    if (meta_changed) {
        j->meta_json = meta_json(e);
        j->rec.meta_json = j->meta_json;
    }
    j->rec.conversation_id = j->ing.conversation_id;
    j->rec.message_id = j->ing.message_id;
    j->rec.channel = j->in.channel;
    j->rec.address = j->in.address;
    j->rec.delivery = j->delivery;
    j->rec.replies = j->replies;
    j->rec.n_replies = j->n_replies;
    j->rec.identity_id = j->ing.identity_id;
    j->rec.at = now;
    /* stored earlier: record the turn; new: store message and turn at once */
    j->kind = j->ingested ? JOB_TURN : JOB_MESSAGE;
    atomic_fetch_add(&e->pending, 1);
    pal_queue_push(&p->writer_inbox, &j->link);
}

static void *worker_main(void *arg)
{
    worker *w = arg;
    pthread_setname_np(pthread_self(), "pal-engine");
    for (;;) {
        bool closed = false;
        pal_qitem *got = pal_queue_pop(&w->inbox, 64, -1, &closed);
        if (!got && closed)
            break;
        while (got) {
            pal_qitem *next = got->next;
            process(w, (job *)got);
            got = next;
        }
    }
    return NULL;
}

/* ---- delivery host ----------------------------------------------------- */

static bool host_sender(void *ctx, size_t bot_index, const char *channel, pal_send_fn *fn,
                        void **fn_ctx)
{
    pal_pipeline *p = ctx;
    const pal_pipeline_bot *bot = &p->bots[bot_index];
    if (strcmp(channel, "api") == 0 && bot->api_callback_url) {
        *fn = pal_api_send_callback;
        *fn_ctx = (void *)bot->api_callback_url;
        return true;
    }
    return bot->channel_sender && bot->channel_sender(bot->channel_sender_ctx, channel, fn, fn_ctx);
}

/* Hands the outcome to the writer and waits until it is recorded, so that
 * a reply is never sent twice by this process (the next try of an item
 * happens after its retry is on record). */
static void host_outcome(void *ctx, const pal_delivery_item *item, const pal_send_result *result,
                         int64_t next_attempt_at, bool give_up)
{
    pal_pipeline *p = ctx;
    pthread_mutex_t mutex = PTHREAD_MUTEX_INITIALIZER;
    pthread_cond_t cond = PTHREAD_COND_INITIALIZER;
    bool done = false;
    job *j = pal_xcalloc(1, sizeof(*j));
    j->kind = JOB_OUTBOX_RESULT;
    j->item = (pal_delivery_item *)item;
    j->result = *result;
    j->next_attempt_at = next_attempt_at;
    j->give_up = give_up;
    j->done_mutex = &mutex;
    j->done_cond = &cond;
    j->done = &done;
    pal_queue_push(&p->writer_inbox, &j->link);
    pthread_mutex_lock(&mutex);
    while (!done)
        pthread_cond_wait(&cond, &mutex);
    pthread_mutex_unlock(&mutex);
    pthread_cond_destroy(&cond);
    pthread_mutex_destroy(&mutex);
}

/* ---- recovery ---------------------------------------------------------- */

static pal_delivery recovered_delivery(const pal_pipeline *p, size_t bot_index, const char *channel)
{
    if (strcmp(channel, "webchat") == 0)
        return PAL_DELIVERY_RETURNED;
    if (strcmp(channel, "api") == 0)
        return p->bots[bot_index].api_callback_url ? PAL_DELIVERY_OUTBOX : PAL_DELIVERY_RETURNED;
    return PAL_DELIVERY_OUTBOX;
}

static bool find_bot(const pal_pipeline *p, const char *name, size_t *index)
{
    for (size_t i = 0; i < p->n_bots; i++) {
        if (strcmp(bot_name(p, i), name) == 0) {
            *index = i;
            return true;
        }
    }
    return false;
}

/* Work found in the store at start, read in full before any thread runs:
 * the writer's connection must not be read while the writer writes on it,
 * and a reply recovery creates must not be found again by the outbox scan. */
typedef struct recovery {
    pal_pipeline *p;
    job *jobs, *jobs_tail;
    pal_delivery_item *items, *items_tail;
    size_t n_jobs, n_items;
} recovery;

static bool recover_inbound(void *ctx, const pal_pending_inbound *m)
{
    recovery *r = ctx;
    pal_pipeline *p = r->p;
    size_t bot_index;
    if (!find_bot(p, m->bot, &bot_index)) {
        pal_log(PAL_LOG_WARN, "pipeline", "message=%lld for bot %s not loaded: left pending",
                (long long)m->message_id, m->bot);
        return true;
    }
    pal_submission s = {
        .bot_index = bot_index,
        .channel = m->channel,
        .external_user = m->external_user,
        .text = m->text,
        .address = m->address,
        .delivery = recovered_delivery(p, bot_index, m->channel),
    };
    job *j = job_new(&s, m->received_at);
    j->in.bot = bot_name(p, bot_index);
    j->identity = identity_key(bot_index, j->in.channel, j->in.external_user);
    j->recovered = true;
    j->ingested = true;
    j->ing.message_id = m->message_id;
    j->ing.conversation_id = m->conversation_id;
    j->ing.customer_id = m->customer_id;
    j->ing.identity_id = m->identity_id;
    j->counted = true; /* a stop waits for it like for any accepted message */
    if (r->jobs_tail)
        r->jobs_tail->link.next = &j->link;
    else
        r->jobs = j;
    r->jobs_tail = j;
    r->n_jobs++;
    return true;
}

static bool recover_outbox(void *ctx, const pal_outbox_item *o)
{
    recovery *r = ctx;
    size_t bot_index;
    if (!find_bot(r->p, o->bot, &bot_index))
        return true;
    pal_delivery_item *item = pal_delivery_item_new(
        o->message_id, o->conversation_id, bot_index, o->channel, o->external_user, o->address,
        o->text, o->quick_replies_json, o->idempotency_key, o->attempts, o->next_attempt_at,
        o->in_reply_to, o->in_reply_to_client_id);
    if (r->items_tail)
        r->items_tail->link.next = &item->link;
    else
        r->items = item;
    r->items_tail = item;
    r->n_items++;
    return true;
}

static void recovery_free(recovery *r)
{
    for (job *j = r->jobs; j;) {
        job *next = (job *)j->link.next;
        job_free(j);
        j = next;
    }
    for (pal_delivery_item *it = r->items; it;) {
        pal_delivery_item *next = (pal_delivery_item *)it->link.next;
        pal_delivery_item_free(it);
        it = next;
    }
}

/* Hands the recovered work out: the replies pending before the crash
 * first, so a conversation's older replies go out before newer ones. */
static void recovery_dispatch(pal_pipeline *p, recovery *r)
{
    for (pal_delivery_item *it = r->items; it;) {
        pal_delivery_item *next = (pal_delivery_item *)it->link.next;
        pal_deliverer_enqueue(p->deliverer, it);
        it = next;
    }
    for (job *j = r->jobs; j;) {
        job *next = (job *)j->link.next;
        atomic_fetch_add(&p->in_flight, 1);
        dispatch_to_worker(p, j);
        j = next;
    }
    if (r->n_jobs || r->n_items)
        pal_log(PAL_LOG_INFO, "pipeline", "recovered %zu unprocessed messages, %zu pending replies",
                r->n_jobs, r->n_items);
}

/* ---- start and stop ---------------------------------------------------- */

pal_err pal_pipeline_start(pal_store *store, const pal_pipeline_bot *bots, size_t n_bots,
                           const pal_pipeline_options *options, pal_pipeline **out)
{
    pal_pipeline *p = pal_xcalloc(1, sizeof(*p));
    pal_err err = PAL_OK;
    *out = NULL;
    p->store = store;
    p->bots = bots;
    p->n_bots = n_bots;
    p->options = *options;
    p->n_workers = options->engine_threads > 0 ? options->engine_threads : 1;
    p->last_heartbeat = now_ms();
    atomic_init(&p->in_flight, 0);
    atomic_init(&p->accepting, false);
    atomic_init(&p->ready, false);
    atomic_init(&p->n_watches, 0);
    pthread_mutex_init(&p->watch_mutex, NULL);
    pthread_mutex_init(&p->sync_mutex, NULL);
    pthread_cond_init(&p->sync_cond, NULL);
    pthread_cond_init(&p->checkpoint_cond, NULL);
    pthread_mutex_init(&p->deliver_mutex, NULL);
    atomic_init(&p->writer_held, 0);
    pal_queue_init(&p->writer_inbox);
    p->workers = pal_xcalloc((size_t)p->n_workers, sizeof(*p->workers));
    for (int i = 0; i < p->n_workers; i++) {
        worker *w = &p->workers[i];
        w->owner = p;
        pal_queue_init(&w->inbox);
        w->arena = pal_arena_new();
        w->curl = curl_easy_init();
        if (!w->curl)
            abort(); /* at start: libcurl cannot work at all */
        if ((err = pal_analyzer_new(&w->analyzer)) != PAL_OK ||
            (err = pal_store_reader_open(store, &w->reader)) != PAL_OK) {
            pal_log(PAL_LOG_ERR, "pipeline", "cannot set up an engine worker: %s",
                    pal_err_str(err));
            abort(); /* at start, before any request: nothing to lose */
        }
    }
    recovery rec = {.p = p};
    err = pal_store_pending_inbound(store, recover_inbound, &rec);
    if (!err)
        err = pal_store_outbox_pending(store, recover_outbox, &rec);
    if (err) {
        pal_log(PAL_LOG_ERR, "pipeline", "recovery failed: %s", pal_err_str(err));
        recovery_free(&rec);
        for (int i = 0; i < p->n_workers; i++) {
            worker *w = &p->workers[i];
            pal_analyzer_free(w->analyzer);
            pal_arena_free(w->arena);
            pal_store_reader_close(w->reader);
            curl_easy_cleanup(w->curl);
            pal_queue_destroy(&w->inbox);
        }
        free(p->workers);
        pal_queue_destroy(&p->writer_inbox);
        pthread_mutex_destroy(&p->watch_mutex);
        pthread_mutex_destroy(&p->sync_mutex);
        pthread_cond_destroy(&p->sync_cond);
        pthread_cond_destroy(&p->checkpoint_cond);
        pthread_mutex_destroy(&p->deliver_mutex);
        free(p);
        return err;
    }
    pal_delivery_host host = {.ctx = p, .sender = host_sender, .outcome = host_outcome};
    err = pal_deliverer_start(options->delivery_threads, options->retry_base_ms,
                              options->retry_max_ms, options->max_attempts, &host, &p->deliverer);
    if (err)
        abort();
    if (pthread_create(&p->writer_thread, NULL, writer_main, p) != 0 ||
        pthread_create(&p->syncer_thread, NULL, syncer_main, p) != 0 ||
        pthread_create(&p->checkpointer_thread, NULL, checkpointer_main, p) != 0)
        abort();
    for (int i = 0; i < p->n_workers; i++)
        if (pthread_create(&p->workers[i].thread, NULL, worker_main, &p->workers[i]) != 0)
            abort();
    recovery_dispatch(p, &rec);
    atomic_store(&p->accepting, true);
    atomic_store(&p->ready, true);
    *out = p;
    return PAL_OK;
}

bool pal_pipeline_ready(const pal_pipeline *pipeline)
{
    return atomic_load(&pipeline->ready);
}

pal_err pal_pipeline_submit(pal_pipeline *pipeline, const pal_submission *submission)
{
    /* Counted before accepting is read (both sequentially consistent): either this sees
     * pal_pipeline_stop()'s accepting = false, or the stop sees this message in flight and
     * waits for it. The other order let a message slip in after the stop stopped waiting. */
    if (atomic_fetch_add(&pipeline->in_flight, 1) >= pipeline->options.queue_limit) {
        atomic_fetch_sub(&pipeline->in_flight, 1);
        return PAL_ERR_LIMIT;
    }
    if (!atomic_load(&pipeline->accepting)) {
        atomic_fetch_sub(&pipeline->in_flight, 1);
        return PAL_ERR_STATE;
    }
    job *j = job_new(submission, now_ms());
    j->in.bot = bot_name(pipeline, submission->bot_index);
    j->identity = identity_key(submission->bot_index, j->in.channel, j->in.external_user);
    j->counted = true;
    dispatch_to_worker(pipeline, j);
    return PAL_OK;
}

pal_err pal_pipeline_receipt(pal_pipeline *pipeline, const pal_receipt *receipt)
{
    /* counted, then accepting read: as in pal_pipeline_submit() */
    if (atomic_fetch_add(&pipeline->in_flight, 1) >= pipeline->options.queue_limit) {
        atomic_fetch_sub(&pipeline->in_flight, 1);
        return PAL_ERR_LIMIT;
    }
    if (!atomic_load(&pipeline->accepting)) {
        atomic_fetch_sub(&pipeline->in_flight, 1);
        return PAL_ERR_STATE;
    }
    /* the receipt's strings ride in the block a message's would */
    pal_submission s = {
        .bot_index = receipt->bot_index,
        .channel = receipt->channel,
        .external_user = "",
        .channel_message_id = receipt->platform_id,
        .text = receipt->status,
        .address = receipt->error,
        .progress = receipt->progress,
        .progress_ctx = receipt->progress_ctx,
    };
    job *j = job_new(&s, now_ms());
    j->kind = JOB_RECEIPT;
    j->in.bot = bot_name(pipeline, receipt->bot_index);
    j->receipt_status = j->in.text;
    j->receipt_error = j->in.address;
    j->counted = true;
    pal_queue_push(&pipeline->writer_inbox, &j->link);
    return PAL_OK;
}

void pal_pipeline_stop(pal_pipeline *pipeline, int64_t deadline_ms)
{
    if (!pipeline || pipeline->stopped)
        return;
    pal_pipeline *p = pipeline;
    p->stopped = true;
    atomic_store(&p->accepting, false);
    atomic_store(&p->ready, false);
    /* let accepted messages be processed and recorded */
    while (atomic_load(&p->in_flight) > 0 && now_ms() < deadline_ms) {
        struct timespec ts = {0, 10 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    /* give due deliveries their chance, then stop the senders */
    while (now_ms() < deadline_ms &&
           (pal_queue_length(&p->writer_inbox) > 0 || atomic_load(&p->writer_held) > 0)) {
        struct timespec ts = {0, 10 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    /* the writer may still record turns after this (workers finishing late): their replies
     * stay in the outbox, sent at the next start */
    pthread_mutex_lock(&p->deliver_mutex);
    p->deliverer_stopped = true;
    pthread_mutex_unlock(&p->deliver_mutex);
    pal_deliverer_stop(p->deliverer);
    for (int i = 0; i < p->n_workers; i++)
        pal_queue_close(&p->workers[i].inbox);
    for (int i = 0; i < p->n_workers; i++)
        pthread_join(p->workers[i].thread, NULL);
    pal_queue_close(&p->writer_inbox);
    pthread_join(p->writer_thread, NULL);
    pthread_join(p->syncer_thread, NULL);
    pthread_join(p->checkpointer_thread, NULL);
    pal_log(PAL_LOG_INFO, "pipeline", "writer: %lld transactions, %lld records (%.1f each)",
            (long long)p->transactions, (long long)p->jobs_written,
            p->transactions ? (double)p->jobs_written / (double)p->transactions : 0.0);
    for (int i = 0; i < p->n_workers; i++) {
        worker *w = &p->workers[i];
        /* Messages still queued (deadline passed): a stored one stays "received" and is
         * processed at the next start, and only a waiter for its processing is told; one
         * never stored was never acknowledged, and its sender is told it failed (left
         * waiting, its connection would stay suspended past the HTTP server's stop). */
        pal_qitem *left = pal_queue_pop(&w->inbox, SIZE_MAX, 0, NULL);
        while (left) {
            pal_qitem *next = left->next;
            job *j = (job *)left;
            if (j->want_processed || !j->ingested)
                progress(j, PAL_PROGRESS_FAILED);
            job_done(p, j);
            left = next;
        }
        while (w->lru_head)
            cache_remove(w, w->lru_head);
        free(w->buckets);
        pal_analyzer_free(w->analyzer);
        pal_arena_free(w->arena);
        pal_store_reader_close(w->reader);
        curl_easy_cleanup(w->curl);
        pal_queue_destroy(&w->inbox);
    }
    free(p->workers);
    p->workers = NULL;
}

void pal_pipeline_free(pal_pipeline *pipeline)
{
    if (!pipeline)
        return;
    pal_pipeline *p = pipeline;
    pal_pipeline_stop(p, now_ms());
    pal_queue_destroy(&p->writer_inbox);
    while (p->watches)
        pal_pipeline_unwatch(p, p->watches);
    pthread_mutex_destroy(&p->watch_mutex);
    pthread_mutex_destroy(&p->sync_mutex);
    pthread_cond_destroy(&p->sync_cond);
    pthread_cond_destroy(&p->checkpoint_cond);
    pthread_mutex_destroy(&p->deliver_mutex);
    free(p);
}
