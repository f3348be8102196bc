/*
 * server.c — `palabre serve`: puts the store, the pipeline and the HTTP
 * server together, and takes them apart in the right order on SIGTERM.
 */
#include "server/server.h"

#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "base/log.h"
#include "base/mem.h"
#include "server/http.h"
#include "server/platforms.h"

enum { MAX_KEYS = 1000000 };

static void free_bots(pal_server *s)
{
    for (size_t i = 0; i < s->n_bots; i++)
        pal_bot_free(s->bots[i]);
    free(s->bots);
    free(s->pipeline_bots);
}

static int load_bots(const pal_config *c, pal_server *s)
{
    s->bots = pal_xcalloc(c->n_bots ? c->n_bots : 1, sizeof(*s->bots));
    s->pipeline_bots = pal_xcalloc(c->n_bots ? c->n_bots : 1, sizeof(*s->pipeline_bots));
    for (size_t i = 0; i < c->n_bots; i++) {
        char errbuf[512];
        int64_t t0 = pal_http_now_ms();
        pal_err err = pal_bot_load(c->bots[i].path, &s->bots[i], errbuf, sizeof(errbuf));
        if (err) {
            fprintf(stderr, "palabre serve: %s\n", errbuf);
            return 1;
        }
        s->n_bots = i + 1;
        const char *name = pal_bot_name(s->bots[i]);
        for (size_t k = 0; k < i; k++) {
            if (strcmp(pal_bot_name(s->bots[k]), name) == 0) {
                fprintf(stderr, "palabre serve: two bots are named %s (%s and %s)\n", name,
                        c->bots[k].path, c->bots[i].path);
                return 1;
            }
        }
        s->pipeline_bots[i].bot = s->bots[i];
        s->pipeline_bots[i].api_callback_url =
            pal_config_channel(c, i, name, "api", "callback_url", getenv);
        pal_log(PAL_LOG_INFO, "server", "bot %s loaded from %s in %lld ms", name, c->bots[i].path,
                (long long)(pal_http_now_ms() - t0));
    }
    return 0;
}

/* The messaging platforms each bot has configured; their senders go to the
 * pipeline with the bot. */
static int start_platforms(const pal_config *c, pal_server *s)
{
    const char **names = pal_xcalloc(s->n_bots ? s->n_bots : 1, sizeof(*names));
    for (size_t i = 0; i < s->n_bots; i++)
        names[i] = pal_bot_name(s->bots[i]);
    s->platforms = pal_platforms_new(c, names, s->n_bots);
    free(names);
    for (size_t i = 0; i < s->n_bots; i++) {
        s->pipeline_bots[i].channel_sender = pal_platforms_sender;
        s->pipeline_bots[i].channel_sender_ctx = pal_platforms_sender_ctx(s->platforms, i);
    }
    return 0;
}

static int open_store(const pal_config *c, pal_server *s)
{
    char path[PATH_MAX], errbuf[512];
    if (mkdir(c->data_dir, 0700) != 0 && errno != EEXIST) {
        fprintf(stderr, "palabre serve: cannot create %s: %s\n", c->data_dir, strerror(errno));
        return 1;
    }
    int n = snprintf(path, sizeof(path), "%s/palabre.db", c->data_dir);
    if (n < 0 || (size_t)n >= sizeof(path)) {
        fprintf(stderr, "palabre serve: data_dir is too long\n");
        return 1;
    }
    pal_store_options options = {
        .sync_full = c->store_sync_full, .sync_deferred = true, .checkpoint_deferred = true};
    if (pal_store_open(path, &options, &s->store, errbuf, sizeof(errbuf)) != PAL_OK) {
        fprintf(stderr, "palabre serve: %s\n", errbuf);
        return 1;
    }
    return 0;
}

/* A token for the api channel when none is configured: printed once. */
static char *make_api_token(void)
{
    unsigned char raw[24];
    char *token = pal_xmalloc(2 * sizeof(raw) + 1);
    randombytes_buf(raw, sizeof(raw));
    sodium_bin2hex(token, 2 * sizeof(raw) + 1, raw, sizeof(raw));
    return token;
}

static void close_readers(pal_server *s)
{
    for (size_t i = 0; i < s->n_readers; i++)
        pal_store_reader_close(s->readers[i]);
    free(s->readers);
}

static int wait_for_signal(const sigset_t *set)
{
    for (;;) {
        int sig = 0;
        if (sigwait(set, &sig) != 0)
            continue;
        if (sig == SIGTERM || sig == SIGINT)
            return sig;
        /* SIGHUP: reserved for reloading bots; SIGPIPE: ignored */
    }
}

int pal_server_run(const pal_config *c)
{
    pal_server s;
    char errbuf[512];
    char *token = NULL;
    pal_http_loops *http = NULL;
    int rc = 1;
    sigset_t set;

    memset(&s, 0, sizeof(s));
    s.config = c;
    pthread_mutex_init(&s.readers_mutex, NULL);
    pthread_mutex_init(&s.streams_mutex, NULL);
    atomic_init(&s.stopping, false);
    /* every thread started from here on inherits the blocked signals */
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGHUP);
    sigaddset(&set, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    if (sodium_init() < 0) {
        fprintf(stderr, "palabre serve: libsodium could not be initialised\n");
        goto out;
    }
    char real[PATH_MAX];
    if (!realpath(c->web_root, real)) {
        fprintf(stderr, "palabre serve: web_root %s: %s\n", c->web_root, strerror(errno));
        goto out;
    }
    s.web_root = pal_xstrdup(real);
    if (c->n_bots == 0) {
        fprintf(stderr, "palabre serve: no bot (give BOT_DIR arguments or `bots:` in the "
                        "configuration)\n");
        goto out;
    }
    if (load_bots(c, &s) != 0 || open_store(c, &s) != 0)
        goto out;
    s.api_token = c->api_token;
    if (!s.api_token || !s.api_token[0]) {
        token = make_api_token();
        s.api_token = token;
        printf("palabre: no api_token configured; this run's token is %s\n", token);
        fflush(stdout);
    }
    s.customer_limit =
        pal_ratelimit_new(c->rate_customer_per_minute, c->rate_customer_per_minute, MAX_KEYS);
    s.ip_limit = pal_ratelimit_new(c->rate_ip_per_minute, c->rate_ip_per_minute, MAX_KEYS);
    if (start_platforms(c, &s) != 0)
        goto out;
    pal_pipeline_options po = {
        .engine_threads = c->engine_threads,
        .delivery_threads = c->delivery_threads,
        .queue_limit = c->queue_limit,
        .conversation_cache = c->conversation_cache,
        .repeat_window_seconds = c->repeat_window_seconds,
        .retry_base_ms = c->retry_base_ms,
        .retry_max_ms = c->retry_max_ms,
        .max_attempts = c->max_attempts,
    };
    if (pal_pipeline_start(s.store, s.pipeline_bots, s.n_bots, &po, &s.pipeline) != PAL_OK) {
        fprintf(stderr, "palabre serve: the store's pending work could not be recovered\n");
        goto out;
    }
    http = pal_http__start(&s, errbuf, sizeof(errbuf));
    if (!http) {
        fprintf(stderr, "palabre serve: %s\n", errbuf);
        goto out;
    }
    pal_log(PAL_LOG_INFO, "server", "listening on http://%s (%zu bots, data in %s)", c->listen,
            s.n_bots, c->data_dir);
    printf("palabre: serving on http://%s — web chat: http://%s/chat\n", c->listen, c->listen);
    fflush(stdout);

    int sig = wait_for_signal(&set);
    pal_log(PAL_LOG_INFO, "server", "signal %d: stopping", sig);
    atomic_store(&s.stopping, true);
    pal_http__quiesce(http);
    pal_http__close_streams(&s);
    pal_pipeline_stop(s.pipeline, pal_http_now_ms() + (int64_t)c->shutdown_grace_seconds * 1000);
    rc = 0;
out:
    if (http)
        pal_http__close_streams(&s);
    pal_pipeline_stop(s.pipeline, pal_http_now_ms());
    /* Kept-alive connections may still bring requests until the HTTP server stops: they
     * find the pipeline stopped (503), not freed. */
    if (http)
        pal_http__stop(http);
    pal_pipeline_free(s.pipeline);
    s.pipeline = NULL;
    close_readers(&s);
    pal_store_close(s.store);
    pal_ratelimit_free(s.customer_limit);
    pal_ratelimit_free(s.ip_limit);
    free_bots(&s);
    pal_platforms_free(s.platforms);
    free(s.web_root);
    free(token);
    pthread_mutex_destroy(&s.readers_mutex);
    pthread_mutex_destroy(&s.streams_mutex);
    if (rc == 0)
        pal_log(PAL_LOG_INFO, "server", "stopped");
    return rc;
}
