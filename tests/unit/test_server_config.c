/*
 * test_server_config.c — the server's configuration: defaults, the YAML
 * file (every type, both forms of bots, channel settings), errors naming
 * FILE:LINE:COL, precedence (file < environment < command line), bounds,
 * validation, hostile files refused cleanly, --help and a dump that never
 * shows a secret.
 *
 * Every test gets a fresh folder from mkdtemp (its state), removed
 * afterwards. The environment is a table of the test's own (fake_getenv),
 * never the process's.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "server/config.h"

/* ---- helpers -------------------------------------------------------------- */

static int make_dir(void **state)
{
    char *dir = strdup("/tmp/palabre-config-XXXXXX");
    if (!dir || !mkdtemp(dir))
        return -1;
    *state = dir;
    return 0;
}

static int remove_dir(void **state)
{
    char *dir = *state;
    DIR *d = opendir(dir);
    if (d) {
        struct dirent *e;
        char path[4096];
        while ((e = readdir(d)) != NULL) {
            if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
                continue;
            snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
            if (unlink(path) != 0)
                rmdir(path);
        }
        closedir(d);
    }
    rmdir(dir);
    free(dir);
    return 0;
}

static char path_buf[4096];

/* Writes bytes to DIR/palabre.yaml; returns its path (static). */
static const char *write_bytes(const char *dir, const char *bytes, size_t len)
{
    snprintf(path_buf, sizeof(path_buf), "%s/palabre.yaml", dir);
    FILE *f = fopen(path_buf, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(bytes, 1, len, f), len);
    assert_int_equal(fclose(f), 0);
    return path_buf;
}

static const char *write_text(const char *dir, const char *text)
{
    return write_bytes(dir, text, strlen(text));
}

/* Loads text as a file into config; err gets the message with the file's
 * path replaced by "F" so that expectations read "F:3:7: ...". */
static pal_err load_text(pal_config *config, const char *dir, const char *text, char *err,
                         size_t errlen)
{
    const char *path = write_text(dir, text);
    char raw[1024] = "";
    pal_err e = pal_config_load_file(config, path, raw, sizeof(raw));
    size_t plen = strlen(path);
    if (strncmp(raw, path, plen) == 0)
        snprintf(err, errlen, "F%s", raw + plen);
    else
        snprintf(err, errlen, "%s", raw);
    return e;
}

static void load_ok(pal_config *config, const char *dir, const char *text)
{
    char err[1024];
    pal_err e = load_text(config, dir, text, err, sizeof(err));
    if (e != PAL_OK)
        fail_msg("load: %s (%s)", err, pal_err_str(e));
}

static void expect_error(const char *dir, const char *text, const char *expected)
{
    pal_config *config = pal_config_new();
    char err[1024];
    pal_err e = load_text(config, dir, text, err, sizeof(err));
    if (e != PAL_ERR_PARSE || strcmp(err, expected) != 0)
        fail_msg("for:\n%s\nexpected PAL_ERR_PARSE \"%s\"\ngot %s \"%s\"", text, expected,
                 pal_err_str(e), err);
    pal_config_free(config);
}

/* The test's environment: NAME=VALUE strings, NULL-terminated. */
static const char *env_table[16];

static char *fake_getenv(const char *name)
{
    size_t len = strlen(name);
    for (size_t i = 0; env_table[i]; i++) {
        if (strncmp(env_table[i], name, len) == 0 && env_table[i][len] == '=')
            return (char *)env_table[i] + len + 1; /* getenv's type; never written */
    }
    return NULL;
}

static void set_env(const char *const *vars)
{
    size_t i = 0;
    for (; vars && vars[i]; i++)
        env_table[i] = vars[i];
    env_table[i] = NULL;
}

/* What pal_config_dump writes, as a string (caller frees). */
static char *dump(const pal_config *config)
{
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    assert_non_null(f);
    pal_config_dump(config, f);
    assert_int_equal(fclose(f), 0);
    return text;
}

/* ---- defaults ------------------------------------------------------------- */

static void defaults_are_the_documented_ones(void **state)
{
    (void)state;
    pal_config *c = pal_config_new();
    assert_string_equal(c->listen, "127.0.0.1:8080");
    assert_string_equal(c->data_dir, "data");
    assert_string_equal(c->web_root, "web");
    assert_string_equal(c->log_level, "info");
    assert_null(c->api_token);
    assert_int_equal(c->http_threads, 2);
    assert_int_equal(c->engine_threads, 2);
    assert_int_equal(c->delivery_threads, 2);
    assert_int_equal(c->max_body_bytes, 65536);
    assert_int_equal(c->max_message_bytes, 4096);
    assert_int_equal(c->max_connections, 4096);
    assert_int_equal(c->queue_limit, 20000);
    assert_int_equal(c->rate_customer_per_minute, 120);
    assert_int_equal(c->rate_ip_per_minute, 600);
    assert_int_equal(c->repeat_window_seconds, -1);
    assert_int_equal(c->retry_base_ms, 500);
    assert_int_equal(c->retry_max_ms, 60000);
    assert_int_equal(c->max_attempts, 12);
    assert_int_equal(c->shutdown_grace_seconds, 10);
    assert_true(c->store_sync_full);
    assert_int_equal(c->n_bots, 0);
    assert_null(c->bots);
    char err[256];
    assert_int_equal(pal_config_validate(c, err, sizeof(err)), PAL_OK);
    pal_config_free(c);
    pal_config_free(NULL);
}

/* ---- the file ------------------------------------------------------------- */

static void reads_every_type(void **state)
{
    pal_config *c = pal_config_new();
    load_ok(c, *state,
            "# palabre.yaml\n"
            "listen: '[::1]:9090'\n"
            "data_dir: /var/lib/palabre\n"
            "web_root: \"web root/é\"\n"
            "log_level: DEBUG\n"
            "api_token: s3cr3t-t0ken\n"
            "http_threads: 8\n"
            "engine_threads: 4\n"
            "delivery_threads: 1\n"
            "max_body_bytes: 1048576\n"
            "max_message_bytes: 2000\n"
            "max_connections: 100\n"
            "queue_limit: 5\n"
            "rate_customer_per_minute: 0\n"
            "rate_ip_per_minute: 30\n"
            "repeat_window_seconds: 0\n"
            "retry_base_ms: 100\n"
            "retry_max_ms: 100\n"
            "max_attempts: 3\n"
            "shutdown_grace_seconds: 0\n"
            "store_sync_full: no\n");
    assert_string_equal(c->listen, "[::1]:9090");
    assert_string_equal(c->data_dir, "/var/lib/palabre");
    assert_string_equal(c->web_root, "web root/é");
    assert_string_equal(c->log_level, "debug");
    assert_string_equal(c->api_token, "s3cr3t-t0ken");
    assert_int_equal(c->http_threads, 8);
    assert_int_equal(c->engine_threads, 4);
    assert_int_equal(c->delivery_threads, 1);
    assert_int_equal(c->max_body_bytes, 1048576);
    assert_int_equal(c->max_message_bytes, 2000);
    assert_int_equal(c->max_connections, 100);
    assert_int_equal(c->queue_limit, 5);
    assert_int_equal(c->rate_customer_per_minute, 0);
    assert_int_equal(c->rate_ip_per_minute, 30);
    assert_int_equal(c->repeat_window_seconds, 0);
    assert_int_equal(c->retry_base_ms, 100);
    assert_int_equal(c->retry_max_ms, 100);
    assert_int_equal(c->max_attempts, 3);
    assert_int_equal(c->shutdown_grace_seconds, 0);
    assert_false(c->store_sync_full);
    char err[256];
    assert_int_equal(pal_config_validate(c, err, sizeof(err)), PAL_OK);

    /* A second file changes only what it names; null unsets the token. */
    load_ok(c, *state, "http_threads: 3\napi_token: ~\nstore_sync_full: TRUE\n");
    assert_int_equal(c->http_threads, 3);
    assert_null(c->api_token);
    assert_true(c->store_sync_full);
    assert_int_equal(c->engine_threads, 4);
    assert_string_equal(c->listen, "[::1]:9090");

    /* Empty files and files of comments change nothing. */
    load_ok(c, *state, "");
    load_ok(c, *state, "# nothing here\n\n");
    load_ok(c, *state, "---\n");
    assert_int_equal(c->http_threads, 3);
    pal_config_free(c);
}

static void reads_bots_in_both_forms(void **state)
{
    pal_config *c = pal_config_new();
    pal_config_add_bot(c, "bots/old");
    load_ok(c, *state,
            "bots:\n"
            "  - bots/stade\n"
            "  - path: bots/monresultat\n"
            "    channels:\n"
            "      api: {callback_url: \"http://127.0.0.1:9000/replies\"}\n"
            "      x:\n"
            "        consumer_secret: \"abc:def\"\n"
            "        api_base: https://api.x.com\n"
            "      messenger: {app-secret: 12345}\n"
            "  - path: bots/assistant/\n"
            "    channels: {}\n"
            "  - {path: bots/quiet}\n");
    assert_int_equal(c->n_bots, 4); /* the list is replaced */
    assert_string_equal(c->bots[0].path, "bots/stade");
    assert_int_equal(c->bots[0].n_settings, 0);
    assert_string_equal(c->bots[1].path, "bots/monresultat");
    assert_int_equal(c->bots[1].n_settings, 4);
    assert_string_equal(c->bots[1].settings[0].channel, "api");
    assert_string_equal(c->bots[1].settings[0].name, "callback_url");
    assert_string_equal(c->bots[1].settings[0].value, "http://127.0.0.1:9000/replies");
    assert_string_equal(c->bots[2].path, "bots/assistant/");
    assert_string_equal(c->bots[3].path, "bots/quiet");

    assert_string_equal(pal_config_channel(c, 1, "monresultat", "x", "consumer_secret", NULL),
                        "abc:def");
    assert_string_equal(pal_config_channel(c, 1, "monresultat", "x", "api_base", NULL),
                        "https://api.x.com");
    assert_string_equal(pal_config_channel(c, 1, "monresultat", "messenger", "app-secret", NULL),
                        "12345");
    assert_null(pal_config_channel(c, 1, "monresultat", "x", "nothing", NULL));
    assert_null(pal_config_channel(c, 1, "monresultat", "twilio", "auth_token", NULL));
    assert_null(pal_config_channel(c, 0, "stade", "x", "api_base", NULL));
    /* Out of range index: the entry whose directory is named like the bot. */
    assert_string_equal(
        pal_config_channel(c, (size_t)-1, "monresultat", "x", "api_base", fake_getenv),
        "https://api.x.com");
    assert_null(pal_config_channel(c, 99, "unknown", "x", "api_base", NULL));

    /* `bots:` empty: no bots. A command-line bot is appended. */
    load_ok(c, *state, "bots:\n");
    assert_int_equal(c->n_bots, 0);
    pal_config_add_bot(c, "bots/extra");
    assert_int_equal(c->n_bots, 1);
    assert_string_equal(c->bots[0].path, "bots/extra");
    pal_config_free(c);
}

static void errors_name_file_line_and_column(void **state)
{
    const char *dir = *state;
    expect_error(dir, "listen: 127.0.0.1:80\nlisen: x\n",
                 "F:2:1: unknown setting 'lisen' (did you mean 'listen'?)");
    expect_error(dir, "colour: blue\n",
                 "F:1:1: unknown setting 'colour' (palabre serve --help lists them)");
    expect_error(dir, "http_threads: two\n",
                 "F:1:15: http_threads: 'two' is not an integer (expected an integer from 1 to "
                 "256)");
    expect_error(dir, "http_threads: 12abc\n",
                 "F:1:15: http_threads: '12abc' is not an integer (expected an integer from 1 to "
                 "256)");
    expect_error(dir, "http_threads: 1.5\n",
                 "F:1:15: http_threads: '1.5' is not an integer (expected an integer from 1 to "
                 "256)");
    expect_error(dir, "http_threads: 0x10\n",
                 "F:1:15: http_threads: '0x10' is not an integer (expected an integer from 1 to "
                 "256)");
    expect_error(dir, "# threads\n\nhttp_threads:    0\n",
                 "F:3:18: http_threads: 0 is out of range (expected an integer from 1 to 256)");
    expect_error(dir, "queue_limit: 99999999999999999999999\n",
                 "F:1:14: queue_limit: 99999999999999999999999 is out of range (expected an "
                 "integer from 1 to 10000000)");
    expect_error(dir, "max_attempts: \"-1\"\n",
                 "F:1:15: max_attempts: -1 is out of range (expected an integer from 1 to 1000)");
    expect_error(dir, "store_sync_full: maybe\n",
                 "F:1:18: store_sync_full: 'maybe' is not a boolean (true, false, yes, no, 1 or "
                 "0)");
    expect_error(dir, "log_level: verbose\n",
                 "F:1:12: log_level: 'verbose' is not one of debug, info, warn or error");
    expect_error(dir, "http_threads: [1, 2]\n",
                 "F:1:15: http_threads: expected an integer from 1 to 256, not a list");
    expect_error(dir, "listen:\n  host: 127.0.0.1\n",
                 "F:2:3: listen: expected a string, not a mapping");
    expect_error(dir, "listen:\n", "F:1:1: listen: expected a string, the value is empty");
    expect_error(dir, "data_dir: \"\"\n", "F:1:11: data_dir: the value is empty");
    expect_error(dir, "api_token: ''\n",
                 "F:1:12: api_token: the value is empty (leave the setting out for none)");
    expect_error(dir, "data_dir: \"a\\tb\"\n",
                 "F:1:11: data_dir: the value holds a control character");
    expect_error(dir, "- listen\n",
                 "F:1:1: expected settings (a mapping of name: value), not a list");
    expect_error(dir, "just text\n",
                 "F:1:1: expected settings (a mapping of name: value), not a scalar");
    expect_error(dir, "listen: a\nlisten: b\n", "F:2:1: duplicate key 'listen' (first at line 1)");
    {
        /* libfyaml's own words follow "invalid YAML: "; only the position is ours. */
        pal_config *c = pal_config_new();
        char err[1024];
        assert_int_equal(load_text(c, dir, "listen: [a\n", err, sizeof(err)), PAL_ERR_PARSE);
        assert_int_equal(strncmp(err, "F:2:1: invalid YAML: ", 21), 0);
        pal_config_free(c);
    }
    expect_error(dir, "bots: bots/stade\n",
                 "F:1:7: bots: expected a list of bot directories, not a scalar");
    expect_error(dir, "bots:\n  - [a]\n", "F:2:5: a bot's path: expected a directory, not a list");
    expect_error(dir, "bots:\n  - ~\n",
                 "F:2:5: a bot's path: expected a directory, not an empty value");
    expect_error(dir, "bots:\n  - channels: {}\n",
                 "F:2:5: a bot: missing key 'path' (its directory)");
    expect_error(dir, "bots:\n  - path: b\n    chanels: {}\n",
                 "F:3:5: unknown key 'chanels' in a bot: expected path or channels");
    expect_error(dir, "bots:\n  - path: b\n    channels: [api]\n",
                 "F:3:15: channels: expected a mapping of CHANNEL: {NAME: value}, not a list");
    expect_error(dir, "bots:\n  - path: b\n    channels:\n      api: token\n",
                 "F:4:12: channel api: expected a mapping of NAME: value, not a scalar");
    expect_error(dir, "bots:\n  - path: b\n    channels:\n      api: {url: [1]}\n",
                 "F:4:18: api.url: expected a string, not a list");
    expect_error(dir, "bots:\n  - path: b\n    channels:\n      api: {url: }\n",
                 "F:4:13: api.url: expected a string, not an empty value");
    expect_error(dir, "bots:\n  - path: b\n    channels:\n      \"a b\": {url: x}\n",
                 "F:4:7: 'a b' is not a channel name: at most 64 letters, digits, '_', '-' or "
                 "'.', starting with a letter or digit");
    expect_error(dir, "bots:\n  - path: b\n    channels:\n      mesenger: {app_secret: x}\n",
                 "F:4:7: unknown channel 'mesenger': expected api, webchat, directline, "
                 "messenger, whatsapp, telegram, x or twilio");
    expect_error(dir, "bots:\n  - path: b\n    channels:\n      api: {_url: x}\n",
                 "F:4:13: '_url' is not a channel setting name: at most 64 letters, digits, "
                 "'_', '-' or '.', starting with a letter or digit");
}

static void a_failed_load_changes_nothing(void **state)
{
    pal_config *c = pal_config_new();
    pal_config_add_bot(c, "bots/kept");
    char err[1024];
    assert_int_equal(load_text(c, *state,
                               "http_threads: 9\nlisten: 0.0.0.0:1\nbots: [a, b]\n"
                               "engine_threads: 0\n",
                               err, sizeof(err)),
                     PAL_ERR_PARSE);
    assert_int_equal(c->http_threads, 2);
    assert_string_equal(c->listen, "127.0.0.1:8080");
    assert_int_equal(c->n_bots, 1);
    assert_string_equal(c->bots[0].path, "bots/kept");
    pal_config_free(c);
}

static void unreadable_files(void **state)
{
    pal_config *c = pal_config_new();
    char err[1024], path[4200];
    snprintf(path, sizeof(path), "%s/missing.yaml", (const char *)*state);
    assert_int_equal(pal_config_load_file(c, path, err, sizeof(err)), PAL_ERR_IO);
    assert_non_null(strstr(err, "missing.yaml: No such file or directory"));
    assert_int_equal(pal_config_load_file(c, *state, err, sizeof(err)), PAL_ERR_IO);
    assert_non_null(strstr(err, "Is a directory"));
    /* errbuf may be NULL */
    assert_int_equal(pal_config_load_file(c, path, NULL, 0), PAL_ERR_IO);
    pal_config_free(c);
}

/* ---- hostile files -------------------------------------------------------- */

static void hostile_files_are_refused(void **state)
{
    const char *dir = *state;
    expect_error(dir, "listen: &a 127.0.0.1:80\ndata_dir: *a\n",
                 "F:1:9: anchors (&name) and aliases are not supported: write the value out");
    expect_error(dir, "bots:\n  - path: b\n    channels:\n      api: {url: *x}\n",
                 "F:4:18: aliases (*name) are not supported: write the value out");
    expect_error(dir,
                 "a: &a [\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\"]\n"
                 "b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]\n"
                 "c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]\n",
                 "F:1:4: anchors (&name) and aliases are not supported: write the value out");
    expect_error(dir, "listen: !!str 127.0.0.1:80\n", "F:1:9: tags (!name) are not supported");
    expect_error(dir, "listen: a\n---\nlisten: b\n",
                 "F:2:1: expected one YAML document: a configuration is one mapping");
    expect_error(dir, "listen: \"a\\0b\"\n",
                 "F:1:9: a string holds a NUL character or invalid UTF-8");
    expect_error(dir, "listen: caf\xC3\n",
                 "F:1:12: invalid UTF-8: a configuration file is UTF-8 text");

    /* Deep nesting, flow and block. */
    size_t depth = 100000;
    char *deep = malloc(2 * depth + 16);
    assert_non_null(deep);
    memcpy(deep, "bots: ", 6);
    memset(deep + 6, '[', depth);
    memset(deep + 6 + depth, ']', depth);
    memcpy(deep + 6 + 2 * depth, "\n", 2);
    pal_config *c = pal_config_new();
    char err[1024];
    assert_int_equal(load_text(c, dir, deep, err, sizeof(err)), PAL_ERR_PARSE);
    assert_non_null(strstr(err, "nested more than 16 levels deep"));
    free(deep);
    char block[4096] = "";
    size_t used = 0;
    for (int level = 0; level < 40; level++)
        used +=
            (size_t)snprintf(block + used, sizeof(block) - used, "%*sk%d:\n", level * 2, "", level);
    assert_int_equal(load_text(c, dir, block, err, sizeof(err)), PAL_ERR_PARSE);

    /* Over 1 MiB: refused before parsing. */
    size_t big = ((size_t)1 << 20) + 1;
    char *huge = malloc(big);
    assert_non_null(huge);
    memset(huge, '#', big);
    const char *path = write_bytes(dir, huge, big);
    assert_int_equal(pal_config_load_file(c, path, err, sizeof(err)), PAL_ERR_LIMIT);
    assert_non_null(strstr(err, "larger than 1048576 bytes"));
    /* Exactly 1 MiB of comment is fine. */
    huge[big - 2] = '\n';
    path = write_bytes(dir, huge, big - 1);
    assert_int_equal(pal_config_load_file(c, path, err, sizeof(err)), PAL_OK);
    free(huge);

    /* Very many nodes under the size limit. */
    size_t n = 300000;
    char *many = malloc(2 * n + 16);
    assert_non_null(many);
    memcpy(many, "bots: [", 7);
    for (size_t i = 0; i < n; i++)
        memcpy(many + 7 + 2 * i, "a,", 2);
    memcpy(many + 7 + 2 * n - 1, "]\n", 3);
    assert_int_equal(load_text(c, dir, many, err, sizeof(err)), PAL_ERR_PARSE);
    assert_non_null(strstr(err, "more than 100000 YAML nodes"));
    free(many);

    /* Nothing of the above got in. */
    assert_int_equal(c->n_bots, 0);
    assert_string_equal(c->listen, "127.0.0.1:8080");
    pal_config_free(c);
}

/* ---- environment and command line ----------------------------------------- */

static void environment_overrides_file_and_set_overrides_environment(void **state)
{
    pal_config *c = pal_config_new();
    char err[1024];
    load_ok(c, *state, "listen: 127.0.0.1:9000\nhttp_threads: 4\napi_token: from-file\n");
    const char *vars[] = {"PALABRE_HTTP_THREADS=6",
                          "PALABRE_API_TOKEN=from-env",
                          "PALABRE_LOG_LEVEL=warn",
                          "PALABRE_STORE_SYNC_FULL=0",
                          "PALABRE_DATA_DIR=/srv/palabre",
                          "UNRELATED=1",
                          NULL};
    set_env(vars);
    assert_int_equal(pal_config_load_env(c, fake_getenv, err, sizeof(err)), PAL_OK);
    assert_string_equal(c->listen, "127.0.0.1:9000"); /* no variable: the file's */
    assert_int_equal(c->http_threads, 6);
    assert_string_equal(c->api_token, "from-env");
    assert_string_equal(c->log_level, "warn");
    assert_false(c->store_sync_full);
    assert_string_equal(c->data_dir, "/srv/palabre");

    assert_int_equal(pal_config_set(c, "http_threads", "7", err, sizeof(err)), PAL_OK);
    assert_int_equal(pal_config_set(c, "listen", "localhost:1234", err, sizeof(err)), PAL_OK);
    assert_int_equal(pal_config_set(c, "http-threads", "8", err, sizeof(err)), PAL_OK);
    assert_int_equal(pal_config_set(c, "api_token", NULL, err, sizeof(err)), PAL_OK);
    assert_int_equal(c->http_threads, 8);
    assert_string_equal(c->listen, "localhost:1234");
    assert_null(c->api_token);

    assert_int_equal(pal_config_set(c, "listn", "x", err, sizeof(err)), PAL_ERR_NOT_FOUND);
    assert_string_equal(err, "unknown setting 'listn' (did you mean 'listen'?)");
    assert_int_equal(pal_config_set(c, "bots", "x", err, sizeof(err)), PAL_ERR_NOT_FOUND);
    assert_int_equal(pal_config_set(c, "listen", NULL, err, sizeof(err)), PAL_ERR_PARSE);
    assert_string_equal(err, "listen: needs a value");
    assert_int_equal(pal_config_load_env(c, NULL, err, sizeof(err)), PAL_OK);
    pal_config_free(c);
}

static void a_bad_variable_is_named_and_changes_nothing(void **state)
{
    (void)state;
    pal_config *c = pal_config_new();
    char err[1024];
    const char *vars[] = {"PALABRE_HTTP_THREADS=5", "PALABRE_ENGINE_THREADS=lots", NULL};
    set_env(vars);
    assert_int_equal(pal_config_load_env(c, fake_getenv, err, sizeof(err)), PAL_ERR_PARSE);
    assert_string_equal(err, "PALABRE_ENGINE_THREADS: 'lots' is not an integer (expected an "
                             "integer from 1 to 256)");
    assert_int_equal(c->http_threads, 2);

    /* An empty token is refused rather than taken as "no token". */
    const char *empty[] = {"PALABRE_API_TOKEN=", NULL};
    set_env(empty);
    assert_int_equal(pal_config_load_env(c, fake_getenv, err, sizeof(err)), PAL_ERR_PARSE);
    assert_string_equal(err,
                        "PALABRE_API_TOKEN: the value is empty (leave the setting out for none)");
    /* A secret's value never appears in a message. */
    char long_token[1200 + sizeof("PALABRE_API_TOKEN=")];
    memset(long_token, 'Z', sizeof(long_token) - 1);
    memcpy(long_token, "PALABRE_API_TOKEN=", strlen("PALABRE_API_TOKEN="));
    long_token[sizeof(long_token) - 1] = '\0';
    const char *secret[] = {long_token, NULL};
    set_env(secret);
    assert_int_equal(pal_config_load_env(c, fake_getenv, err, sizeof(err)), PAL_ERR_PARSE);
    assert_string_equal(err, "PALABRE_API_TOKEN: the value is longer than 1024 bytes");
    assert_int_equal(pal_config_set(c, "api_token", "tab\there", err, sizeof(err)), PAL_ERR_PARSE);
    assert_null(strstr(err, "tab"));
    assert_null(c->api_token);
    pal_config_free(c);
}

static void channel_settings_from_the_environment(void **state)
{
    pal_config *c = pal_config_new();
    load_ok(c, *state,
            "bots:\n"
            "  - path: bots/stade\n"
            "    channels:\n"
            "      messenger: {app_secret: from-file, verify_token: vt}\n"
            "  - path: bots/mon-resultat\n"
            "    channels:\n"
            "      x: {consumer.secret: file-x}\n");
    const char *vars[] = {"PALABRE_STADE_MESSENGER_APP_SECRET=from-env",
                          "PALABRE_MON_RESULTAT_X_CONSUMER_SECRET=env-x",
                          "PALABRE_STADE_TWILIO_AUTH_TOKEN=only-env", NULL};
    set_env(vars);
    assert_string_equal(pal_config_channel(c, 0, "stade", "messenger", "app_secret", fake_getenv),
                        "from-env");
    assert_string_equal(pal_config_channel(c, 0, "stade", "messenger", "app_secret", NULL),
                        "from-file");
    assert_string_equal(pal_config_channel(c, 0, "stade", "messenger", "verify_token", fake_getenv),
                        "vt");
    assert_string_equal(pal_config_channel(c, 0, "stade", "twilio", "auth_token", fake_getenv),
                        "only-env");
    assert_string_equal(
        pal_config_channel(c, 1, "mon-resultat", "x", "consumer.secret", fake_getenv), "env-x");
    /* A bot given on the command line, with no entry of its own. */
    assert_string_equal(pal_config_channel(c, 7, "stade", "twilio", "auth_token", fake_getenv),
                        "only-env");
    assert_null(pal_config_channel(c, 0, "stade", "twilio", "account_sid", fake_getenv));
    pal_config_free(c);
}

static void bounds_and_value_syntax(void **state)
{
    (void)state;
    pal_config *c = pal_config_new();
    char err[1024];
    static const struct {
        const char *name, *value;
        pal_err expected;
    } cases[] = {
        {"http_threads", "1", PAL_OK},
        {"http_threads", "256", PAL_OK},
        {"http_threads", "0", PAL_ERR_PARSE},
        {"http_threads", "257", PAL_ERR_PARSE},
        {"http_threads", "-1", PAL_ERR_PARSE},
        {"http_threads", "", PAL_ERR_PARSE},
        {"http_threads", " 2", PAL_ERR_PARSE},
        {"http_threads", "2 ", PAL_ERR_PARSE},
        {"http_threads", "+2", PAL_ERR_PARSE},
        {"http_threads", "2x", PAL_ERR_PARSE},
        {"http_threads", "-", PAL_ERR_PARSE},
        {"max_body_bytes", "67108864", PAL_OK},
        {"max_body_bytes", "67108865", PAL_ERR_PARSE},
        {"max_body_bytes", "2147483648", PAL_ERR_PARSE},
        {"max_body_bytes", "9223372036854775808", PAL_ERR_PARSE},
        {"max_body_bytes", "-9223372036854775809", PAL_ERR_PARSE},
        {"rate_ip_per_minute", "0", PAL_OK},
        {"shutdown_grace_seconds", "3600", PAL_OK},
        {"shutdown_grace_seconds", "3601", PAL_ERR_PARSE},
        {"store_sync_full", "yes", PAL_OK},
        {"store_sync_full", "No", PAL_OK},
        {"store_sync_full", "1", PAL_OK},
        {"store_sync_full", "FALSE", PAL_OK},
        {"store_sync_full", "2", PAL_ERR_PARSE},
        {"store_sync_full", "", PAL_ERR_PARSE},
        {"store_sync_full", "truex", PAL_ERR_PARSE},
        {"log_level", "error", PAL_OK},
        {"log_level", "Warn", PAL_OK},
        {"log_level", "off", PAL_ERR_PARSE},
        {"listen", "", PAL_ERR_PARSE},
        {"data_dir", "caf\xC3", PAL_ERR_PARSE},
        {"data_dir", "line\nbreak", PAL_ERR_PARSE},
        {"no_such_setting", "1", PAL_ERR_NOT_FOUND},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        pal_err e = pal_config_set(c, cases[i].name, cases[i].value, err, sizeof(err));
        if (e != cases[i].expected)
            fail_msg("%s=%s: expected %s, got %s (%s)", cases[i].name, cases[i].value,
                     pal_err_str(cases[i].expected), pal_err_str(e), err);
    }
    assert_int_equal(c->max_body_bytes, 67108864);
    assert_false(c->store_sync_full);
    assert_string_equal(c->log_level, "warn");
    assert_int_equal(pal_config_set(c, "max_body_bytes", "9223372036854775808", err, sizeof(err)),
                     PAL_ERR_PARSE);
    assert_string_equal(err, "max_body_bytes: 9223372036854775808 is out of range (expected an "
                             "integer from 1024 to 67108864)");
    assert_int_equal(pal_config_set(c, "max_body_bytes", "2147483648", err, sizeof(err)),
                     PAL_ERR_PARSE);
    assert_int_equal(c->max_body_bytes, 67108864);
    pal_config_free(c);
}

/* ---- validation ------------------------------------------------------------ */

static void validation(void **state)
{
    (void)state;
    pal_config *c = pal_config_new();
    char err[1024];
    static const char *const good[] = {"127.0.0.1:8080", "0.0.0.0:1",         "localhost:65535",
                                       "[::1]:8080",     "[::]:80",           "[2001:db8::1]:443",
                                       "10.0.0.1:00080", "[::ffff:1.2.3.4]:9"};
    static const char *const bad[] = {"8080",           "127.0.0.1",    "127.0.0.1:",
                                      "127.0.0.1:0",    ":8080",        "127.0.0.1:65536",
                                      "example.com:80", "[::1]8080",    "::1:8080",
                                      "[::1]",          "256.1.1.1:80", "127.0.0.1:80x",
                                      "127.0.0.1:+80",  "127.1:80",     "[]:80",
                                      "[1.2.3.4]:80",   "localhost:-1", "127.0.0.1:123456",
                                      " 127.0.0.1:80",  "[::1]:80:80"};
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        assert_int_equal(pal_config_set(c, "listen", good[i], err, sizeof(err)), PAL_OK);
        if (pal_config_validate(c, err, sizeof(err)) != PAL_OK)
            fail_msg("%s refused: %s", good[i], err);
    }
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_int_equal(pal_config_set(c, "listen", bad[i], err, sizeof(err)), PAL_OK);
        if (pal_config_validate(c, err, sizeof(err)) != PAL_ERR_INVALID)
            fail_msg("%s accepted", bad[i]);
        assert_non_null(strstr(err, "listen: '"));
    }
    assert_int_equal(pal_config_set(c, "listen", "127.0.0.1:80", err, sizeof(err)), PAL_OK);
    assert_int_equal(pal_config_validate(c, err, sizeof(err)), PAL_OK);

    assert_int_equal(pal_config_set(c, "retry_base_ms", "70000", err, sizeof(err)), PAL_OK);
    assert_int_equal(pal_config_validate(c, err, sizeof(err)), PAL_ERR_INVALID);
    assert_string_equal(err, "retry_base_ms (70000) is larger than retry_max_ms (60000)");
    assert_int_equal(pal_config_set(c, "retry_max_ms", "70000", err, sizeof(err)), PAL_OK);
    assert_int_equal(pal_config_validate(c, err, sizeof(err)), PAL_OK);

    assert_int_equal(pal_config_set(c, "max_message_bytes", "70000", err, sizeof(err)), PAL_OK);
    assert_int_equal(pal_config_validate(c, err, sizeof(err)), PAL_ERR_INVALID);
    assert_non_null(strstr(err, "max_message_bytes (70000) is larger than max_body_bytes"));
    assert_int_equal(pal_config_set(c, "max_message_bytes", "4096", err, sizeof(err)), PAL_OK);

    /* Fields written directly are checked too. */
    c->http_threads = 0;
    assert_int_equal(pal_config_validate(c, err, sizeof(err)), PAL_ERR_INVALID);
    assert_string_equal(err, "http_threads: 0 is out of range (expected an integer from 1 to 256)");
    c->http_threads = 2;

    pal_config_add_bot(c, "bots/stade");
    pal_config_add_bot(c, "bots/assistant");
    assert_int_equal(pal_config_validate(c, err, sizeof(err)), PAL_OK);
    pal_config_add_bot(c, "bots/stade");
    assert_int_equal(pal_config_validate(c, err, sizeof(err)), PAL_ERR_INVALID);
    assert_string_equal(err, "bots: 'bots/stade' is listed twice");
    pal_config_free(c);
}

/* ---- help and dump ---------------------------------------------------------- */

static void help_lists_every_setting(void **state)
{
    (void)state;
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    assert_non_null(f);
    pal_config_print_help(f);
    assert_int_equal(fclose(f), 0);
    static const char *const expected[] = {
        "listen",
        "127.0.0.1:8080",
        "PALABRE_LISTEN",
        "PALABRE_DATA_DIR",
        "PALABRE_WEB_ROOT",
        "PALABRE_LOG_LEVEL",
        "(debug|info|warn|error)",
        "PALABRE_API_TOKEN",
        "(none)",
        "PALABRE_HTTP_THREADS",
        "PALABRE_ENGINE_THREADS",
        "PALABRE_DELIVERY_THREADS",
        "PALABRE_MAX_BODY_BYTES",
        "PALABRE_MAX_MESSAGE_BYTES",
        "PALABRE_MAX_CONNECTIONS",
        "PALABRE_QUEUE_LIMIT",
        "PALABRE_RATE_CUSTOMER_PER_MINUTE",
        "PALABRE_RATE_IP_PER_MINUTE",
        "PALABRE_REPEAT_WINDOW_SECONDS",
        "PALABRE_RETRY_BASE_MS",
        "PALABRE_RETRY_MAX_MS",
        "PALABRE_MAX_ATTEMPTS",
        "PALABRE_SHUTDOWN_GRACE_SECONDS",
        "PALABRE_STORE_SYNC_FULL",
        "(1..256)",
        "PALABRE_<BOT>_<CHANNEL>_<NAME>",
    };
    for (size_t i = 0; i < sizeof(expected) / sizeof(expected[0]); i++) {
        if (!strstr(text, expected[i]))
            fail_msg("help lacks %s:\n%s", expected[i], text);
    }
    /* Every variable works as --help says. */
    pal_config *c = pal_config_new();
    char err[256];
    const char *vars[] = {"PALABRE_RATE_IP_PER_MINUTE=7", "PALABRE_REPEAT_WINDOW_SECONDS=8", NULL};
    set_env(vars);
    assert_int_equal(pal_config_load_env(c, fake_getenv, err, sizeof(err)), PAL_OK);
    assert_int_equal(c->rate_ip_per_minute, 7);
    assert_int_equal(c->repeat_window_seconds, 8);
    pal_config_free(c);
    free(text);
}

static void dump_never_prints_a_secret(void **state)
{
    pal_config *c = pal_config_new();
    load_ok(c, *state,
            "api_token: TOPSECRET-1\n"
            "web_root: 'quote\" and \\\\ backslash'\n"
            "bots:\n"
            "  - bots/stade\n"
            "  - path: bots/monresultat\n"
            "    channels:\n"
            "      messenger: {app_secret: TOPSECRET-2, verify_token: TOPSECRET-3}\n"
            "      twilio: {auth_token: TOPSECRET-4}\n"
            "      api: {callback_url: \"http://u:TOPSECRET-5@h/\"}\n");
    char *text = dump(c);
    assert_null(strstr(text, "TOPSECRET"));
    assert_non_null(strstr(text, "api_token: (set)\n"));
    assert_non_null(strstr(text, "\"app_secret\": (set)\n"));
    assert_non_null(strstr(text, "http_threads: 2\n"));
    assert_non_null(strstr(text, "store_sync_full: true\n"));
    assert_non_null(strstr(text, "listen: \"127.0.0.1:8080\"\n"));
    free(text);

    /* Without secrets, the dump reads back as the same configuration. */
    pal_config *plain = pal_config_new();
    char err[1024];
    assert_int_equal(pal_config_set(plain, "web_root", "a \"b\" \\c é", err, sizeof(err)), PAL_OK);
    assert_int_equal(pal_config_set(plain, "queue_limit", "77", err, sizeof(err)), PAL_OK);
    assert_int_equal(pal_config_set(plain, "store_sync_full", "no", err, sizeof(err)), PAL_OK);
    pal_config_add_bot(plain, "bots/x y");
    text = dump(plain);
    pal_config *again = pal_config_new();
    load_ok(again, *state, text);
    char *text_again = dump(again);
    assert_string_equal(text, text_again);
    assert_string_equal(again->web_root, "a \"b\" \\c é");
    assert_null(again->api_token);
    assert_int_equal(again->queue_limit, 77);
    assert_false(again->store_sync_full);
    assert_int_equal(again->n_bots, 1);
    assert_string_equal(again->bots[0].path, "bots/x y");
    free(text);
    free(text_again);
    pal_config_free(again);
    pal_config_free(plain);
    pal_config_free(c);
}

int main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, make_dir, remove_dir)
    const struct CMUnitTest tests[] = {
        T(defaults_are_the_documented_ones),
        T(reads_every_type),
        T(reads_bots_in_both_forms),
        T(errors_name_file_line_and_column),
        T(a_failed_load_changes_nothing),
        T(unreadable_files),
        T(hostile_files_are_refused),
        T(environment_overrides_file_and_set_overrides_environment),
        T(a_bad_variable_is_named_and_changes_nothing),
        T(channel_settings_from_the_environment),
        T(bounds_and_value_syntax),
        T(validation),
        T(help_lists_every_setting),
        T(dump_never_prints_a_secret),
    };
#undef T
    return cmocka_run_group_tests(tests, NULL, NULL);
}
