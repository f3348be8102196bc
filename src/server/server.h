/*
 * server.h — `palabre serve`: the conversation server.
 *
 * pal_server_run() loads every configured bot, opens the store (creating
 * and migrating it), recovers unfinished work, starts the pipeline and the
 * HTTP server, and serves until SIGTERM or SIGINT. Then it stops accepting
 * connections, lets accepted messages be processed and recorded (at most
 * shutdown_grace_seconds), ends event streams and closes the store.
 *
 * Logs are JSON lines on standard error. When no api_token is configured
 * one is made at start and printed once on standard output, so a local
 * `make run` can be used right away.
 *
 * Threads: call from the main thread, before any other thread exists: it
 * blocks SIGTERM/SIGINT/SIGHUP/SIGPIPE in every thread and waits for them.
 */
#ifndef PAL_SERVER_SERVER_H
#define PAL_SERVER_SERVER_H

#include "server/config.h"

/* Returns the process exit code: 0 after a clean stop, 1 when the server
 * could not start (a bot, the store, the address: said on stderr). */
int pal_server_run(const pal_config *config);

#endif
