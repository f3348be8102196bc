/*
 * http_loop.c — libmicrohttpd daemons run by threads of our own (see
 * http_loop.h for why).
 *
 * A thread's turn: ask the daemon how long it may wait (zero when it has
 * connections with data already read or pending), poll its epoll
 * descriptor and the thread's control eventfd that long, then MHD_run(),
 * which processes everything ready and never waits. Control (quiesce,
 * stop) goes through the eventfd so that only the thread itself touches
 * its daemon while it runs.
 */
#include "server/http_loop.h"

#include <errno.h>
#include <limits.h>
#include <microhttpd.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "base/log.h"
#include "base/mem.h"

enum { LISTEN_BACKLOG = 1024 };

typedef struct http_loop {
    pal_http_loops *owner;
    struct MHD_Daemon *daemon;
    int control_fd;           /* eventfd: resumptions, quiesce or stop wanted */
    atomic_bool wake_pending; /* control_fd written, not yet drained */
    pthread_t thread;
    bool started;
    bool quiesced; /* under owner->mutex */
} http_loop;

struct pal_http_loops {
    int listen_fd;
    size_t n_loops;
    http_loop *loops;
    atomic_bool quiesce_wanted;
    atomic_bool stop_wanted;
    pthread_mutex_t mutex;
    pthread_cond_t quiesced_cond; /* a loop has quiesced its daemon */
};

static void control_signal(http_loop *loop)
{
    uint64_t one = 1;
    while (write(loop->control_fd, &one, sizeof(one)) < 0 && errno == EINTR) {
    }
}

static void control_drain(http_loop *loop)
{
    uint64_t count;
    while (read(loop->control_fd, &count, sizeof(count)) < 0 && errno == EINTR) {
    }
}

void pal_http_loops_resume(pal_http_loops *l, struct MHD_Connection *connection)
{
    /* The daemon before resuming: once resumed, the connection may go. */
    const union MHD_ConnectionInfo *info =
        l ? MHD_get_connection_info(connection, MHD_CONNECTION_INFO_DAEMON) : NULL;
    http_loop *loop = NULL;
    for (size_t i = 0; info && i < l->n_loops; i++) {
        if (l->loops[i].daemon == info->daemon)
            loop = &l->loops[i];
    }
    MHD_resume_connection(connection);
    /* One write while the thread has not yet drained the previous one: the
     * thread clears wake_pending before running the daemon, which then sees
     * every resumption made before the clearing. */
    if (loop && !atomic_exchange(&loop->wake_pending, true))
        control_signal(loop);
}

static void loop_quiesce(http_loop *loop)
{
    /* The listening socket is shared: the daemon gives it back, closed once by
     * pal_http_loops_quiesce when every daemon has let it go. */
    (void)MHD_quiesce_daemon(loop->daemon);
    pthread_mutex_lock(&loop->owner->mutex);
    loop->quiesced = true;
    pthread_cond_broadcast(&loop->owner->quiesced_cond);
    pthread_mutex_unlock(&loop->owner->mutex);
}

/* How long the daemon may wait: -1 for ever (only the control fd can end
 * that, or new events). */
static int wait_ms(struct MHD_Daemon *daemon)
{
    MHD_UNSIGNED_LONG_LONG timeout;
    if (MHD_get_timeout(daemon, &timeout) != MHD_YES)
        return -1;
    return timeout > (MHD_UNSIGNED_LONG_LONG)INT_MAX ? INT_MAX : (int)timeout;
}

static void *loop_main(void *arg)
{
    http_loop *loop = arg;
    pal_http_loops *owner = loop->owner;
    pthread_setname_np(pthread_self(), "pal-http");
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(loop->daemon, MHD_DAEMON_INFO_EPOLL_FD);
    struct pollfd fds[2] = {{.fd = info ? info->epoll_fd : -1, .events = POLLIN},
                            {.fd = loop->control_fd, .events = POLLIN}};
    for (;;) {
        int n = poll(fds, 2, wait_ms(loop->daemon));
        if (n < 0 && errno != EINTR) {
            pal_log(PAL_LOG_ERR, "http", "poll: %s", strerror(errno));
            break;
        }
        if (n > 0 && (fds[1].revents & POLLIN)) {
            control_drain(loop);
            /* Before MHD_run: a resumption from now on writes again, and one
             * made before is seen by MHD_run (pal_http_loops_resume). */
            atomic_store(&loop->wake_pending, false);
        }
        if (atomic_load(&owner->stop_wanted))
            break;
        if (atomic_load(&owner->quiesce_wanted) && !loop->quiesced)
            loop_quiesce(loop);
        if (MHD_run(loop->daemon) != MHD_YES) {
            pal_log(PAL_LOG_ERR, "http", "the HTTP daemon stopped working");
            break;
        }
    }
    return NULL;
}

static int listen_on(const struct sockaddr *addr, socklen_t addr_len, char *errbuf, size_t errlen)
{
    int fd = socket(addr->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    int on = 1;
    if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on)) != 0 ||
        bind(fd, addr, addr_len) != 0 || listen(fd, LISTEN_BACKLOG) != 0) {
        pal_err_format(errbuf, errlen, "%s", strerror(errno));
        if (fd >= 0)
            close(fd);
        return -1;
    }
    return fd;
}

pal_err pal_http_loops_start(const struct sockaddr *addr, socklen_t addr_len, size_t n_threads,
                             unsigned max_connections, pal_http_daemon_fn start_daemon, void *ctx,
                             pal_http_loops **out, char *errbuf, size_t errlen)
{
    *out = NULL;
    if (n_threads == 0 || max_connections == 0)
        return PAL_ERR_INVALID;
    pal_http_loops *l = pal_xcalloc(1, sizeof(*l));
    l->listen_fd = listen_on(addr, addr_len, errbuf, errlen);
    pthread_mutex_init(&l->mutex, NULL);
    pthread_cond_init(&l->quiesced_cond, NULL);
    atomic_init(&l->quiesce_wanted, false);
    atomic_init(&l->stop_wanted, false);
    l->loops = pal_xcalloc(n_threads, sizeof(*l->loops));
    for (size_t i = 0; i < n_threads; i++) {
        l->loops[i].control_fd = -1;
        atomic_init(&l->loops[i].wake_pending, false);
    }
    if (l->listen_fd < 0)
        goto fail;
    *out = l;
    unsigned per_loop = max_connections / (unsigned)n_threads;
    /* Every daemon before any thread: a thread's handler may resume a connection and look
     * its daemon up among all of them (pal_http_loops_resume). */
    for (size_t i = 0; i < n_threads; i++) {
        http_loop *loop = &l->loops[i];
        loop->owner = l;
        l->n_loops = i + 1;
        loop->control_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
        if (loop->control_fd < 0) {
            pal_err_format(errbuf, errlen, "eventfd: %s", strerror(errno));
            goto fail;
        }
        loop->daemon = start_daemon(ctx, l->listen_fd, per_loop > 0 ? per_loop : 1);
        if (!loop->daemon) {
            pal_err_format(errbuf, errlen, "libmicrohttpd refused to start");
            goto fail;
        }
    }
    for (size_t i = 0; i < n_threads; i++) {
        http_loop *loop = &l->loops[i];
        if (pthread_create(&loop->thread, NULL, loop_main, loop) != 0) {
            pal_err_format(errbuf, errlen, "cannot start an HTTP thread");
            goto fail;
        }
        loop->started = true;
    }
    return PAL_OK;
fail:
    *out = NULL;
    pal_http_loops_stop(l);
    return PAL_ERR_IO;
}

void pal_http_loops_quiesce(pal_http_loops *l)
{
    if (!l || atomic_exchange(&l->quiesce_wanted, true))
        return;
    for (size_t i = 0; i < l->n_loops; i++) {
        if (l->loops[i].started)
            control_signal(&l->loops[i]);
    }
    pthread_mutex_lock(&l->mutex);
    for (size_t i = 0; i < l->n_loops; i++) {
        while (l->loops[i].started && !l->loops[i].quiesced)
            pthread_cond_wait(&l->quiesced_cond, &l->mutex);
    }
    pthread_mutex_unlock(&l->mutex);
    if (l->listen_fd >= 0)
        close(l->listen_fd);
    l->listen_fd = -1;
}

void pal_http_loops_stop(pal_http_loops *l)
{
    if (!l)
        return;
    atomic_store(&l->stop_wanted, true);
    for (size_t i = 0; i < l->n_loops; i++) {
        http_loop *loop = &l->loops[i];
        if (loop->started) {
            control_signal(loop);
            pthread_join(loop->thread, NULL);
        }
    }
    /* No thread runs a daemon any more: each can be stopped from here. A
     * daemon not quiesced would close the shared socket: quiesce it first. */
    for (size_t i = 0; i < l->n_loops; i++) {
        http_loop *loop = &l->loops[i];
        if (loop->daemon) {
            if (!loop->quiesced)
                (void)MHD_quiesce_daemon(loop->daemon);
            MHD_stop_daemon(loop->daemon);
        }
        if (loop->control_fd >= 0)
            close(loop->control_fd);
    }
    if (l->listen_fd >= 0)
        close(l->listen_fd);
    pthread_cond_destroy(&l->quiesced_cond);
    pthread_mutex_destroy(&l->mutex);
    free(l->loops);
    free(l);
}
