/*
 * config.h — the server's configuration, driven by one table.
 *
 * Every setting is one row of a table in config.c (name, type, bounds,
 * default, environment variable, whether it is a secret, help): parsing the
 * YAML file, the environment, `--set NAME=VALUE` on the command line,
 * validation, `palabre serve --help` and pal_config_dump() all come from it,
 * so a setting is added in one place.
 *
 * Precedence, lowest first: the table's default, the YAML file
 * (--config FILE), the environment (each setting's PALABRE_* variable),
 * the command line. Secrets (api_token, channel credentials) are never
 * printed by pal_config_dump().
 *
 * The file:
 *
 *   listen: 127.0.0.1:8080
 *   data_dir: data
 *   api_token: ...            # better: PALABRE_API_TOKEN in the environment
 *   rate_customer_per_minute: 60
 *   bots:
 *     - bots/stade            # a bot directory, or:
 *     - path: bots/monresultat
 *       channels:             # per channel: free-form string settings
 *         api: {callback_url: "http://127.0.0.1:9000/replies"}
 *         x: {consumer_secret: "...", api_base: "https://api.x.com"}
 *
 * A channel setting NAME of channel CHANNEL for bot BOT is overridden by
 * the environment variable PALABRE_<BOT>_<CHANNEL>_<NAME> (upper case,
 * '-' and '.' as '_'), e.g. PALABRE_STADE_MESSENGER_APP_SECRET.
 *
 * Threads: a pal_config is built on one thread, then read-only: concurrent
 * reads are safe.
 */
#ifndef PAL_SERVER_CONFIG_H
#define PAL_SERVER_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "base/err.h"

typedef struct pal_config_bot {
    char *path; /* bot directory (as written; relative to the working directory) */
    /* channel settings: n_settings triples, all owned by the config */
    struct pal_config_channel_setting {
        char *channel, *name, *value;
    } * settings;
    size_t n_settings;
} pal_config_bot;

typedef struct pal_config {
    /* network and files */
    char *listen;   /* "ADDR:PORT", default "127.0.0.1:8080" */
    char *data_dir; /* default "data": the store is DATA_DIR/palabre.db */
    char *web_root; /* default "web": static pages (/chat, /widget.js) */
    char *log_level;
    /* secrets */
    char *api_token; /* bearer token of the api channel, NULL when none (env PALABRE_API_TOKEN) */
    /* threads */
    int http_threads;     /* default 2 */
    int engine_threads;   /* default 2 */
    int delivery_threads; /* default 2 */
    /* limits */
    int max_body_bytes;         /* default 65536 */
    int max_webhook_body_bytes; /* /webhooks/...: default 1 MiB */
    int max_message_bytes;      /* default 4096 (UTF-8 bytes of one message's text) */
    int max_connections;        /* default 4096 */
    int queue_limit;            /* messages accepted but not processed, default 20000; over: 503 */
    int conversation_cache;     /* conversations kept in memory per engine thread, default 50000 */
    int rate_customer_per_minute; /* default 120 (burst = same number) */
    int rate_ip_per_minute;       /* unauthenticated requests (webchat), default 600 */
    /* behaviour */
    int repeat_window_seconds; /* same look-up not answered twice; -1: bot's dedup_window; 0: off */
    int retry_base_ms;         /* outbox backoff: first retry after this, doubling, default 500 */
    int retry_max_ms;          /* backoff cap, default 60000 */
    int max_attempts;          /* then the reply fails for good, default 12 */
    int shutdown_grace_seconds; /* SIGTERM: finish in-flight work at most this long, default 10 */
    bool store_sync_full;       /* fsync each commit (default true) */
    /* bots */
    pal_config_bot *bots;
    size_t n_bots;
} pal_config;

/* A configuration holding every default and no bots; caller frees with
 * pal_config_free(). */
pal_config *pal_config_new(void);
void pal_config_free(pal_config *config); /* NULL is a no-op */

/* Reads the YAML file at path into config (settings it names replace the
 * current values; `bots` replaces the list). Errors: PAL_ERR_IO (cannot
 * read), PAL_ERR_LIMIT (larger than 1 MiB), PAL_ERR_PARSE (not YAML,
 * unknown setting, wrong type, out of bounds: errbuf says
 * "FILE:LINE:COL: why"). On error config is unchanged. */
pal_err pal_config_load_file(pal_config *config, const char *path, char *errbuf, size_t errlen);

/* For the fuzzer and tests: pal_config_load_file() on text[0..len)
 * (borrowed), named `name` in messages. */
pal_err pal_config__load_text(pal_config *config, const char *name, const char *text, size_t len,
                              char *errbuf, size_t errlen);

/* Applies each setting's PALABRE_* environment variable when set, through
 * getenv_fn (pass getenv; tests pass their own). PAL_ERR_PARSE when a
 * variable's value is invalid (errbuf names it). */
pal_err pal_config_load_env(pal_config *config, char *(*getenv_fn)(const char *name), char *errbuf,
                            size_t errlen);

/* Sets one setting by name from text ("--set NAME=VALUE", "--listen ..."):
 * PAL_ERR_NOT_FOUND (no such setting), PAL_ERR_PARSE (bad value). */
pal_err pal_config_set(pal_config *config, const char *name, const char *value, char *errbuf,
                       size_t errlen);

/* Appends a bot directory (command-line BOT_DIR arguments). */
void pal_config_add_bot(pal_config *config, const char *path);

/* Checks settings that depend on each other (retry_base_ms <= retry_max_ms,
 * listen is ADDR:PORT, ...). PAL_ERR_INVALID with errbuf. */
pal_err pal_config_validate(const pal_config *config, char *errbuf, size_t errlen);

/* The value of channel setting `name` for (bot_name, channel): the
 * environment variable PALABRE_<BOT>_<CHANNEL>_<NAME> when set (through
 * getenv_fn, may be NULL for none), else the file's value, else NULL.
 * bot_name is the bot's name (its bot.yaml `name`); the bot entry is
 * config->bots[bot_index], or when bot_index is out of range the first one
 * whose directory's last component is bot_name.
 * The result is borrowed from the config or the environment. */
const char *pal_config_channel(const pal_config *config, size_t bot_index, const char *bot_name,
                               const char *channel, const char *name,
                               char *(*getenv_fn)(const char *name));

/* Writes the settings table (name, default, environment variable, help) for
 * --help. */
void pal_config_print_help(FILE *out);
/* Writes the effective settings as YAML, secrets shown as "(set)". */
void pal_config_dump(const pal_config *config, FILE *out);

#endif
