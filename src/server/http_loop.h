/*
 * http_loop.h — libmicrohttpd daemons run by threads of our own.
 *
 * Why not libmicrohttpd's own threads: in Debian 12's libmicrohttpd
 * (0.9.75), an internal epoll thread that finds exactly 128 connections
 * ready (its batch size) asks epoll for more with the blocking timeout it
 * computed before, and sleeps there while those 128 wait to be read: with
 * 128 or more busy keep-alive connections on one thread, requests stalled
 * until an unrelated event or the 60-second connection timeout. Here each
 * thread waits itself (poll on the daemon's epoll descriptor and on a
 * control descriptor) and then lets the daemon work without blocking
 * (MHD_run, which never waits).
 *
 * Each thread runs its own daemon in external-epoll mode; all share one
 * listening socket. A daemon without its own thread has no channel to be
 * woken by: suspended connections are resumed through
 * pal_http_loops_resume(), which wakes the connection's thread (once for
 * all the resumptions that come while it is busy).
 */
#ifndef PAL_SERVER_HTTP_LOOP_H
#define PAL_SERVER_HTTP_LOOP_H

#include <stddef.h>
#include <sys/socket.h>

#include "base/err.h"

struct MHD_Connection;
struct MHD_Daemon;

typedef struct pal_http_loops pal_http_loops;

/* Starts one daemon (not yet served): the caller's MHD_start_daemon with
 * MHD_USE_EPOLL, no internal thread, MHD_OPTION_LISTEN_SOCKET listen_fd and
 * MHD_OPTION_CONNECTION_LIMIT connection_limit. NULL on failure. */
typedef struct MHD_Daemon *(*pal_http_daemon_fn)(void *ctx, int listen_fd,
                                                 unsigned connection_limit);

/* Listens on addr (backlog 1024) and serves it with n_threads daemons made by
 * start_daemon, max_connections shared among them. *out (OUT) is set before
 * the first request can come (a handler may resume through it) and stays
 * set on PAL_OK; otherwise it is NULL again, errbuf says why and nothing is
 * left running. */
pal_err pal_http_loops_start(const struct sockaddr *addr, socklen_t addr_len, size_t n_threads,
                             unsigned max_connections, pal_http_daemon_fn start_daemon, void *ctx,
                             pal_http_loops **out, char *errbuf, size_t errlen);

/* MHD_resume_connection(connection), then wakes the thread serving it.
 * Thread-safe; connection must be suspended (it may be answered and freed
 * as soon as this is called). */
void pal_http_loops_resume(pal_http_loops *loops, struct MHD_Connection *connection);

/* Stops accepting connections (requests on open ones are still served) and
 * closes the listening socket. Returns once every thread has done so. */
void pal_http_loops_quiesce(pal_http_loops *loops);

/* Stops the threads and the daemons (open connections are closed) and frees
 * loops. NULL is fine. */
void pal_http_loops_stop(pal_http_loops *loops);

#endif
