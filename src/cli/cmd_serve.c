/*
 * cmd_serve.c — `palabre serve`: options into a configuration, then the
 * server (server/server.h).
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/log.h"
#include "cli/cli.h"
#include "server/config.h"
#include "server/server.h"

static const char help[] =
    "usage: palabre serve [--config FILE] [--listen ADDR:PORT] [--data DIR]\n"
    "                     [--set NAME=VALUE]... [BOT_DIR...]\n\n"
    "Runs the conversation server: the bots in BOT_DIR (and those of the configuration\n"
    "file) answer on the web chat (/chat, /widget.js) and the REST API (/api/v1/...),\n"
    "with every message and reply kept in the store (SQLite, DATA_DIR/palabre.db).\n"
    "Stops cleanly on SIGTERM or Ctrl-C: accepted messages are processed first.\n\n"
    "options:\n"
    "  --config FILE        a YAML configuration file (palabre serve --settings lists\n"
    "                       every setting, its default and its environment variable)\n"
    "  --listen ADDR:PORT   where to listen (default 127.0.0.1:8080)\n"
    "  --data DIR           where the store lives (default data)\n"
    "  --set NAME=VALUE     any setting, e.g. --set rate_customer_per_minute=600\n"
    "  --settings           print the settings table and exit\n"
    "  --print-config       print the effective configuration (secrets hidden) and exit\n"
    "  -h, --help           this help\n\n"
    "Precedence: defaults < configuration file < environment (PALABRE_*) < command line.\n"
    "Secrets belong in the environment: PALABRE_API_TOKEN is the REST API's bearer token\n"
    "(without one, a token is made and printed at start).\n\n"
    "Addresses: /healthz, /readyz, /chat, /widget.js, /webchat/..., /api/v1/...\n"
    "(docs/architecture.md; the API is described at /api/v1/openapi.json).\n\n"
    "exit status: 0 stopped cleanly, 1 could not start, 2 bad usage\n\n"
    "examples:\n"
    "  palabre serve bots/stade bots/monresultat bots/assistant\n"
    "  PALABRE_API_TOKEN=secret palabre serve --listen 0.0.0.0:8080 --data /var/lib/palabre "
    "bots/stade\n";

static int usage_error(const char *what, const char *arg)
{
    fprintf(stderr, "palabre serve: %s '%s' (see --help)\n", what, arg);
    return 2;
}

static bool has_bot(const pal_config *config, const char *path)
{
    for (size_t i = 0; i < config->n_bots; i++)
        if (strcmp(config->bots[i].path, path) == 0)
            return true;
    return false;
}

static int run(int argc, char **argv)
{
    enum { OPT_CONFIG = 256, OPT_LISTEN, OPT_DATA, OPT_SET, OPT_SETTINGS, OPT_PRINT };
    static const struct option options[] = {
        {"config", required_argument, NULL, OPT_CONFIG},
        {"listen", required_argument, NULL, OPT_LISTEN},
        {"data", required_argument, NULL, OPT_DATA},
        {"set", required_argument, NULL, OPT_SET},
        {"settings", no_argument, NULL, OPT_SETTINGS},
        {"print-config", no_argument, NULL, OPT_PRINT},
        {NULL, 0, NULL, 0},
    };
    const char *file = NULL;
    bool print = false;
    int opt, rc = 2;
    char errbuf[512];
    pal_config *config = pal_config_new();

    /* first pass: the file, read before the options that override it */
    optind = 1;
    opterr = 0;
    while ((opt = getopt_long(argc, argv, "", options, NULL)) != -1) {
        if (opt == OPT_CONFIG) {
            file = optarg;
        } else if (opt == OPT_SETTINGS) {
            pal_config_print_help(stdout);
            rc = 0;
            goto out;
        } else if (opt == '?' || opt == ':') {
            rc = usage_error("unknown or incomplete option", argv[optind - 1]);
            goto out;
        }
    }
    if (file && pal_config_load_file(config, file, errbuf, sizeof(errbuf)) != PAL_OK) {
        fprintf(stderr, "palabre serve: %s\n", errbuf);
        rc = 1;
        goto out;
    }
    if (pal_config_load_env(config, getenv, errbuf, sizeof(errbuf)) != PAL_OK) {
        fprintf(stderr, "palabre serve: %s\n", errbuf);
        rc = 1;
        goto out;
    }
    optind = 1;
    while ((opt = getopt_long(argc, argv, "", options, NULL)) != -1) {
        pal_err err = PAL_OK;
        if (opt == OPT_LISTEN) {
            err = pal_config_set(config, "listen", optarg, errbuf, sizeof(errbuf));
        } else if (opt == OPT_DATA) {
            err = pal_config_set(config, "data_dir", optarg, errbuf, sizeof(errbuf));
        } else if (opt == OPT_PRINT) {
            print = true;
        } else if (opt == OPT_SET) {
            char *eq = strchr(optarg, '=');
            if (!eq) {
                rc = usage_error("--set takes NAME=VALUE, not", optarg);
                goto out;
            }
            *eq = '\0';
            err = pal_config_set(config, optarg, eq + 1, errbuf, sizeof(errbuf));
            *eq = '=';
        }
        if (err) {
            fprintf(stderr, "palabre serve: %s\n", errbuf);
            goto out;
        }
    }
    for (int i = optind; i < argc; i++)
        if (!has_bot(config, argv[i]))
            pal_config_add_bot(config, argv[i]);
    if (pal_config_validate(config, errbuf, sizeof(errbuf)) != PAL_OK) {
        fprintf(stderr, "palabre serve: %s\n", errbuf);
        goto out;
    }
    if (print) {
        pal_config_dump(config, stdout);
        rc = 0;
        goto out;
    }
    pal_log_level level;
    if (config->log_level && pal_log_level_parse(config->log_level, &level))
        pal_log_set_level(level);
    rc = pal_server_run(config);
out:
    pal_config_free(config);
    return rc;
}

const pal_command pal_cmd_serve = {
    "serve",
    "run the conversation server (web chat, REST API)",
    help,
    run,
};
