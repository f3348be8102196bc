/*
 * fixedrate.c — an open-loop HTTP/1.1 load generator: POSTs palabre API
 * messages at a fixed rate and measures each answer's latency from the time
 * the request was *due*, not from the time it went out (no coordinated
 * omission: when the server stalls, the requests that should have gone out
 * meanwhile wait in our backlog and their waiting counts, as it would for
 * real customers). Part of bench/http (see its README.md); built by run.sh:
 *
 *   cc -O2 -o fixedrate bench/http/fixedrate.c
 *   fixedrate --port P --token T --rate 5000 --conns 64 --duration 8 --warmup 1
 *             [--customers 50000] [--seed 1] [--bots stade,...] [--scripts DIR]
 *
 * Request i is due at t0 + i / rate. It goes out on an idle keep-alive
 * connection (one request in flight per connection, no pipelining); when all
 * connections are busy it waits for one. The messages follow the model of
 * messages.lua: the conversations of DIR/BOT.txt (bench/engine's scripts: a
 * message a line, a blank line between conversations, "# " comments);
 * customer k (k drawn uniformly among --customers by a seeded PRNG) replays
 * conversation k mod n, one line per request. Requests due in the first
 * --warmup seconds are sent but not counted. After the last request is due,
 * answers are awaited for at most 3 s: requests still in flight then count as
 * unanswered, those not sent yet (the backlog of an overloaded server) as unsent.
 * Prints one JSON object on stdout, with the worst latency of the requests due
 * in each 100 ms after the warm-up (max_ms_by_100ms: periodic stalls show
 * there). Every loop is bounded by the deadline.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

enum { IN_MAX = 1 << 16, OUT_MAX = 8192, MAX_CONNS = 4096, LINE_MAX_ = 4096 };
static const int64_t DRAIN_NS = 3000000000LL;

typedef struct {
    const char *bot;
    char **lines; /* JSON-escaped */
    int n;
} conversation;

typedef struct {
    int fd;
    int busy, in_idle;
    int64_t due_ns, sent_ns;
    int64_t index;
    char out[OUT_MAX];
    size_t out_len, out_off;
    char in[IN_MAX];
    size_t in_len;
} conn;

static conversation *convs;
static int n_convs;
static uint32_t *cursor;
static int customers = 50000;
static uint64_t rng_state;

static int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static uint64_t rng(void) /* xorshift64* */
{
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * 0x2545F4914F6CDD1DULL;
}

static void die(const char *what)
{
    fprintf(stderr, "fixedrate: %s: %s\n", what, strerror(errno));
    exit(2);
}

static char *json_escape(const char *s)
{
    size_t n = strlen(s);
    char *o = malloc(2 * n + 1), *p = o;
    if (!o)
        die("malloc");
    for (; *s; s++) {
        if (*s == '"' || *s == '\\')
            *p++ = '\\';
        if ((unsigned char)*s < 0x20)
            continue;
        *p++ = *s;
    }
    *p = 0;
    return o;
}

static void load_script(const char *dir, const char *bot)
{
    char path[1024], line[LINE_MAX_];
    snprintf(path, sizeof(path), "%s/%s.txt", dir, bot);
    FILE *f = fopen(path, "r");
    if (!f)
        die(path);
    conversation cur = {.bot = bot};
    for (int guard = 0; guard < 1000000; guard++) {
        char *got = fgets(line, sizeof(line), f);
        if (got) {
            line[strcspn(line, "\r\n")] = 0;
            if (line[0] == '#' && (line[1] == ' ' || line[1] == 0))
                continue;
        }
        if (!got || line[0] == 0) {
            if (cur.n > 0) {
                convs = realloc(convs, (size_t)(n_convs + 1) * sizeof(*convs));
                if (!convs)
                    die("realloc");
                convs[n_convs++] = cur;
                cur = (conversation){.bot = bot};
            }
            if (!got)
                break;
            continue;
        }
        cur.lines = realloc(cur.lines, (size_t)(cur.n + 1) * sizeof(char *));
        if (!cur.lines)
            die("realloc");
        cur.lines[cur.n++] = json_escape(line);
    }
    fclose(f);
}

static int connect_one(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0)
        return -1;
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    if (connect(fd, (struct sockaddr *)&a, sizeof(a)) != 0) {
        close(fd);
        return -1;
    }
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
    return fd;
}

static int cmp64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

static double pct(const int64_t *v, size_t n, double p) /* microseconds */
{
    if (n == 0)
        return -1;
    size_t i = (size_t)(p / 100.0 * (double)n);
    if (i >= n)
        i = n - 1;
    return (double)v[i] / 1000.0;
}

/* Looks for a complete response in c->in. Returns its length (0: not yet, -1:
 * malformed) and sets *status. Handles Content-Length and chunked bodies. */
static long parse_response(conn *c, int *status)
{
    c->in[c->in_len] = 0;
    char *end = strstr(c->in, "\r\n\r\n");
    if (!end)
        return c->in_len >= IN_MAX - 1 ? -1 : 0;
    size_t head = (size_t)(end - c->in) + 4;
    if (strncmp(c->in, "HTTP/1.", 7) != 0 || c->in_len < 12)
        return -1;
    *status = atoi(c->in + 9);
    long length = -1;
    int chunked = 0;
    for (char *h = strstr(c->in, "\r\n"); h && h < end; h = strstr(h + 2, "\r\n")) {
        char *name = h + 2;
        if (strncasecmp(name, "Content-Length:", 15) == 0)
            length = strtol(name + 15, NULL, 10);
        else if (strncasecmp(name, "Transfer-Encoding:", 18) == 0 && strstr(name, "chunked") &&
                 strstr(name, "chunked") < strstr(name, "\r\n"))
            chunked = 1;
    }
    if (!chunked) {
        if (length < 0)
            length = 0; /* HTTP/1.1 without length: only bodiless answers expected */
        return head + (size_t)length <= c->in_len ? (long)(head + (size_t)length) : 0;
    }
    size_t p = head;
    for (int guard = 0; guard < 100000; guard++) {
        char *eol = strstr(c->in + p, "\r\n");
        if (!eol)
            return 0;
        long size = strtol(c->in + p, NULL, 16);
        p = (size_t)(eol - c->in) + 2;
        if (size == 0) {
            char *fin = strstr(c->in + p, "\r\n"); /* trailers ignored: expect none */
            return fin ? (long)((size_t)(fin - c->in) + 2) : 0;
        }
        if (p + (size_t)size + 2 > c->in_len)
            return 0;
        p += (size_t)size + 2;
    }
    return -1;
}

int main(int argc, char **argv)
{
    int port = 0, conns = 64;
    double rate = 5000, duration = 8, warmup = 1;
    const char *token = "", *bots = "stade", *dir = "bench/engine";
    uint64_t seed = 1;
    for (int i = 1; i + 1 < argc; i += 2) {
        const char *k = argv[i], *v = argv[i + 1];
        if (!strcmp(k, "--port"))
            port = atoi(v);
        else if (!strcmp(k, "--conns"))
            conns = atoi(v);
        else if (!strcmp(k, "--rate"))
            rate = atof(v);
        else if (!strcmp(k, "--duration"))
            duration = atof(v);
        else if (!strcmp(k, "--warmup"))
            warmup = atof(v);
        else if (!strcmp(k, "--token"))
            token = v;
        else if (!strcmp(k, "--customers"))
            customers = atoi(v);
        else if (!strcmp(k, "--seed"))
            seed = strtoull(v, NULL, 10);
        else if (!strcmp(k, "--bots"))
            bots = v;
        else if (!strcmp(k, "--scripts"))
            dir = v;
        else {
            fprintf(stderr,
                    "fixedrate: unknown option %s (see the comment at the top of fixedrate.c)\n",
                    k);
            return 2;
        }
    }
    if (port <= 0 || conns < 1 || conns > MAX_CONNS || rate <= 0 || duration <= 0 || warmup < 0 ||
        customers < 1 || rate * (duration + warmup) > 1e8) {
        fprintf(stderr, "fixedrate: bad arguments\n");
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    char *bl = strdup(bots);
    for (char *save = NULL, *b = strtok_r(bl, ",", &save); b; b = strtok_r(NULL, ",", &save))
        load_script(dir, b);
    if (n_convs == 0) {
        fprintf(stderr, "fixedrate: no conversations in %s for %s\n", dir, bots);
        return 2;
    }
    cursor = calloc((size_t)customers, sizeof(*cursor));
    rng_state = seed * 0x9E3779B97F4A7C15ULL + 1;

    int64_t total = (int64_t)(rate * (duration + warmup));
    int64_t first_counted = (int64_t)(rate * warmup);
    int64_t counted = total - first_counted;
    double period = 1e9 / rate;
    int64_t *lat = malloc((size_t)(counted + 1) * sizeof(int64_t));
    int64_t *svc = malloc((size_t)(counted + 1) * sizeof(int64_t));
    conn *cs = calloc((size_t)conns, sizeof(conn));
    int *idle = malloc((size_t)conns * sizeof(int));
    if (!lat || !svc || !cs || !idle || !cursor)
        die("malloc");
    int n_idle = 0;

    int ep = epoll_create1(0), tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK);
    if (ep < 0 || tfd < 0)
        die("epoll/timerfd");
    struct epoll_event ev = {.events = EPOLLIN, .data.u32 = UINT32_MAX};
    epoll_ctl(ep, EPOLL_CTL_ADD, tfd, &ev);
    for (int i = 0; i < conns; i++) {
        cs[i].fd = connect_one(port);
        if (cs[i].fd < 0)
            die("connect");
        ev = (struct epoll_event){.events = EPOLLIN, .data.u32 = (uint32_t)i};
        epoll_ctl(ep, EPOLL_CTL_ADD, cs[i].fd, &ev);
        idle[n_idle++] = i;
        cs[i].in_idle = 1;
    }

    int64_t next = 0, n_lat = 0, completed = 0, non2xx = 0, errors = 0, reconnects = 0;
    int64_t max_backlog = 0, in_flight = 0;
    int64_t status_count[600] = {0};
    /* worst latency of the requests due in each tenth of a second: shows stalls */
    int n_slots = (int)((duration + warmup) * 10) + 1;
    int64_t *slot_max = calloc((size_t)n_slots, sizeof(int64_t));
    if (!slot_max)
        die("calloc");
    int64_t t0 = now_ns() + 10000000; /* 10 ms from now */
    int64_t last_due = t0 + (int64_t)((double)(total - 1) * period);
    int64_t deadline = last_due + DRAIN_NS;

    for (;;) {
        int64_t now = now_ns();
        if (now >= deadline || (next >= total && in_flight == 0))
            break;
        /* send what is due, as connections allow */
        while (next < total && n_idle > 0) {
            int64_t due = t0 + (int64_t)((double)next * period);
            if (due > now)
                break;
            int ci = idle[--n_idle];
            conn *c = &cs[ci];
            c->in_idle = 0;
            if (c->fd < 0)
                continue; /* a connection lost for good */
            int k = (int)(rng() % (uint64_t)customers);
            conversation *cv = &convs[k % n_convs];
            const char *text = cv->lines[cursor[k] % (uint32_t)cv->n];
            cursor[k]++;
            char body[LINE_MAX_ * 2 + 128];
            int bl_ =
                snprintf(body, sizeof(body), "{\"customer\": \"c%d\", \"text\": \"%s\"}", k, text);
            int n = snprintf(c->out, OUT_MAX,
                             "POST /api/v1/bots/%s/messages HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n"
                             "Authorization: Bearer %s\r\nContent-Type: application/json\r\n"
                             "Content-Length: %d\r\n\r\n%s",
                             cv->bot, port, token, bl_, body);
            if (n <= 0 || n >= OUT_MAX) {
                fprintf(stderr, "fixedrate: request too long\n");
                return 2;
            }
            c->out_len = (size_t)n;
            c->out_off = 0;
            c->in_len = 0;
            c->busy = 1;
            c->due_ns = due;
            c->index = next++;
            c->sent_ns = now_ns();
            in_flight++;
            ssize_t w = write(c->fd, c->out, c->out_len);
            if (w > 0)
                c->out_off = (size_t)w;
            if (c->out_off < c->out_len) {
                ev = (struct epoll_event){.events = EPOLLIN | EPOLLOUT, .data.u32 = (uint32_t)ci};
                epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
            }
        }
        if (next < total && n_idle == 0 && now >= t0) {
            int64_t backlog = (int64_t)((double)(now - t0) / period) + 1 - next;
            if (backlog > max_backlog)
                max_backlog = backlog;
        }
        /* arm the timer for the next due request (only useful with an idle connection) */
        struct itimerspec its = {0};
        if (next < total && n_idle > 0) {
            int64_t due = t0 + (int64_t)((double)next * period);
            its.it_value.tv_sec = due / 1000000000LL;
            its.it_value.tv_nsec = due % 1000000000LL;
        } else {
            its.it_value.tv_sec = deadline / 1000000000LL; /* wake for the deadline */
            its.it_value.tv_nsec = deadline % 1000000000LL;
        }
        timerfd_settime(tfd, TFD_TIMER_ABSTIME, &its, NULL);

        struct epoll_event evs[256];
        int ne = epoll_wait(ep, evs, 256, 1000);
        if (ne < 0 && errno != EINTR)
            die("epoll_wait");
        for (int e = 0; e < ne; e++) {
            uint32_t id = evs[e].data.u32;
            if (id == UINT32_MAX) {
                uint64_t x;
                ssize_t r = read(tfd, &x, sizeof(x));
                (void)r; /* the wake-up is what counts */
                continue;
            }
            conn *c = &cs[id];
            int failed = 0;
            if ((evs[e].events & EPOLLOUT) && c->busy && c->out_off < c->out_len) {
                ssize_t w = write(c->fd, c->out + c->out_off, c->out_len - c->out_off);
                if (w > 0)
                    c->out_off += (size_t)w;
                else if (w < 0 && errno != EAGAIN)
                    failed = 1;
                if (c->out_off == c->out_len) {
                    ev = (struct epoll_event){.events = EPOLLIN, .data.u32 = id};
                    epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
                }
            }
            if (!failed && (evs[e].events & (EPOLLIN | EPOLLHUP | EPOLLERR))) {
                for (int guard = 0; guard < 64; guard++) {
                    ssize_t r = read(c->fd, c->in + c->in_len, IN_MAX - 1 - c->in_len);
                    if (r > 0) {
                        c->in_len += (size_t)r;
                        if (c->in_len >= IN_MAX - 1)
                            break;
                        continue;
                    }
                    if (r == 0 || (errno != EAGAIN && errno != EINTR))
                        failed = 1;
                    break;
                }
                if (!c->busy)
                    c->in_len = 0; /* unsolicited (e.g. a timeout notice before a close) */
                int status = 0;
                long used = c->busy ? parse_response(c, &status) : 0;
                if (used < 0)
                    failed = 1;
                else if (used > 0) {
                    int64_t t = now_ns();
                    if (c->index >= first_counted) {
                        lat[n_lat] = t - c->due_ns;
                        svc[n_lat++] = t - c->sent_ns;
                        int slot = (int)((c->due_ns - t0) / 100000000LL);
                        if (slot >= 0 && slot < n_slots && t - c->due_ns > slot_max[slot])
                            slot_max[slot] = t - c->due_ns;
                        completed++;
                        if (status < 200 || status > 299)
                            non2xx++;
                        if (status >= 0 && status < 600)
                            status_count[status]++;
                    }
                    c->busy = 0;
                    c->in_len = 0; /* one request in flight: nothing can follow */
                    in_flight--;
                    if (!failed) {
                        idle[n_idle++] = (int)id;
                        c->in_idle = 1;
                    }
                }
            }
            if (failed) {
                if (c->busy) {
                    in_flight--;
                    if (c->index >= first_counted)
                        errors++;
                }
                epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
                close(c->fd);
                c->busy = 0;
                c->in_len = 0;
                c->fd = connect_one(port);
                reconnects++;
                if (c->fd >= 0) {
                    ev = (struct epoll_event){.events = EPOLLIN, .data.u32 = id};
                    epoll_ctl(ep, EPOLL_CTL_ADD, c->fd, &ev);
                    if (!c->in_idle) {
                        idle[n_idle++] = (int)id;
                        c->in_idle = 1;
                    }
                } /* else: lost for the rest of the run (skipped when taken from idle) */
            }
        }
    }
    int64_t end = now_ns();
    int shown = 0;
    for (int i = 0; i < conns; i++)
        if (cs[i].busy && shown++ < 5) {
            const char *body = strstr(cs[i].out, "\r\n\r\n");
            fprintf(stderr,
                    "fixedrate: no answer to request %lld (due at %.3f s, %zu of %zu bytes sent, "
                    "%zu received): %s\n",
                    (long long)cs[i].index, (double)(cs[i].due_ns - t0) / 1e9, cs[i].out_off,
                    cs[i].out_len, cs[i].in_len, body ? body + 4 : "");
        }
    if (shown > 5)
        fprintf(stderr, "fixedrate: ... and %d more\n", shown - 5);
    int64_t unanswered = in_flight, unsent = total - next;
    qsort(lat, (size_t)n_lat, sizeof(int64_t), cmp64);
    qsort(svc, (size_t)n_lat, sizeof(int64_t), cmp64);
    double measured_s = (double)counted / rate;
    printf("{\"target_rps\": %.0f, \"conns\": %d, \"duration_s\": %g, \"warmup_s\": %g, "
           "\"customers\": %d, \"bots\": \"%s\", \"counted\": %lld, \"completed\": %lld, "
           "\"achieved_rps\": %.1f, \"non2xx\": %lld, \"errors\": %lld, \"unanswered\": %lld, "
           "\"unsent\": %lld, \"reconnects\": %lld, \"max_backlog\": %lld, \"run_s\": %.3f, ",
           rate, conns, duration, warmup, customers, bots, (long long)counted, (long long)completed,
           (double)completed / measured_s, (long long)non2xx, (long long)errors,
           (long long)unanswered, (long long)unsent, (long long)reconnects, (long long)max_backlog,
           (double)(end - t0) / 1e9);
    printf("\"status\": {");
    const char *sep = "";
    for (int s = 0; s < 600; s++)
        if (status_count[s]) {
            printf("%s\"%d\": %lld", sep, s, (long long)status_count[s]);
            sep = ", ";
        }
    printf("}, \"latency_us\": {\"p50\": %.0f, \"p90\": %.0f, \"p99\": %.0f, \"p99.9\": %.0f, "
           "\"max\": %.0f}, ",
           pct(lat, (size_t)n_lat, 50), pct(lat, (size_t)n_lat, 90), pct(lat, (size_t)n_lat, 99),
           pct(lat, (size_t)n_lat, 99.9), n_lat ? (double)lat[n_lat - 1] / 1000.0 : -1);
    /* stalls: tenths of a second whose worst latency exceeds 50 ms (after the warm-up) */
    int first_slot = (int)(warmup * 10), stalls = 0;
    printf("\"max_ms_by_100ms\": [");
    for (int i = first_slot; i < n_slots - 1; i++) {
        printf("%s%.0f", i > first_slot ? ", " : "", (double)slot_max[i] / 1e6);
        if (slot_max[i] > 50000000LL)
            stalls++;
    }
    printf("], \"slots_over_50ms\": %d, ", stalls);
    printf("\"service_us\": {\"p50\": %.0f, \"p90\": %.0f, \"p99\": %.0f, \"p99.9\": %.0f, "
           "\"max\": %.0f}}\n",
           pct(svc, (size_t)n_lat, 50), pct(svc, (size_t)n_lat, 90), pct(svc, (size_t)n_lat, 99),
           pct(svc, (size_t)n_lat, 99.9), n_lat ? (double)svc[n_lat - 1] / 1000.0 : -1);
    return 0;
}
