/*
 * fake_http.c — the channel tests' fake platform API (see fake_http.h).
 */
#include "fake_http.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <cmocka.h>
#include <curl/curl.h>

enum {
    REQUEST_MAX = 1 << 20, /* bytes of one request kept */
    WAIT_MS = 10000,       /* longest wait for a request (fake_http_stop ends it early) */
};

const char *fake_kv_get(const void *list, const char *name)
{
    for (const fake_kv *p = list; p && p->name; p++)
        if (strcasecmp(p->name, name) == 0)
            return p->value;
    return NULL;
}

void fake_kv_set(fake_kv *list, const char *name, const char *value)
{
    for (fake_kv *p = list; p->name; p++)
        if (strcmp(p->name, name) == 0)
            p->value = value;
}

pal_channel_settings fake_settings(const fake_kv *list)
{
    pal_channel_settings s = {.get = fake_kv_get, .ctx = list};
    return s;
}

static const char *request_header(const void *ctx, const char *name)
{
    return fake_kv_get(((const fake_request *)ctx)->headers, name);
}

static const char *request_query(const void *ctx, const char *name)
{
    return fake_kv_get(((const fake_request *)ctx)->query, name);
}

pal_channel_request fake_request_make(const char *method, const char *url, const char *body,
                                      const fake_request *f)
{
    pal_channel_request r = {.method = method,
                             .url = url,
                             .body = body,
                             .body_len = body ? strlen(body) : 0,
                             .header = request_header,
                             .query = request_query,
                             .ctx = f};
    return r;
}

void fake_send(const pal_channel *channel, const fake_kv *list, pal_delivery_item *item,
               pal_send_result *result)
{
    pal_channel_settings s = fake_settings(list);
    CURL *curl = curl_easy_init();
    assert_non_null(curl);
    channel->send(&s, curl, item, result);
    curl_easy_cleanup(curl);
    pal_delivery_item_free(item);
}

/* Reads one request from c into call; false when the connection ends or
 * times out before the blank line after the headers. */
static bool read_request(int c, fake_http_call *call)
{
    size_t cap = 1 << 16, len = 0, need = 0;
    char *buf = malloc(cap + 1);
    char *end = NULL;
    bool ok = false;

    if (!buf)
        abort();
    buf[0] = '\0';
    for (;;) {
        if (len == cap) {
            if (cap >= REQUEST_MAX)
                break;
            cap *= 2;
            char *grown = realloc(buf, cap + 1);
            if (!grown)
                abort();
            buf = grown;
            end = NULL; /* found again below, in the new buffer */
        }
        ssize_t got = recv(c, buf + len, cap - len, 0);
        if (got <= 0)
            break;
        len += (size_t)got;
        buf[len] = '\0';
        if (!end && (end = strstr(buf, "\r\n\r\n")) != NULL) {
            const char *cl = strcasestr(buf, "\r\nContent-Length:");
            need = (size_t)(end + 4 - buf) + (cl && cl < end ? strtoul(cl + 17, NULL, 10) : 0);
        }
        if (end && len >= need)
            break;
    }
    if (!end)
        end = strstr(buf, "\r\n\r\n");
    if (end && sscanf(buf, "%15s %511s", call->method, call->path) == 2) {
        call->head = strndup(buf, (size_t)(end - buf));
        call->body = strdup(end + 4);
        ok = call->head && call->body;
    }
    free(buf);
    return ok;
}

static void send_all(int c, const char *s, size_t len)
{
    while (len > 0) {
        ssize_t n = send(c, s, len, MSG_NOSIGNAL);
        if (n <= 0)
            return;
        s += n;
        len -= (size_t)n;
    }
}

static void *serve(void *arg)
{
    fake_http *fs = arg;
    for (size_t k = 0; k < fs->n_replies; k++) {
        struct pollfd p = {.fd = fs->fd, .events = POLLIN};
        if (poll(&p, 1, WAIT_MS) <= 0 || !(p.revents & POLLIN))
            break;
        int c = accept(fs->fd, NULL, NULL);
        if (c < 0)
            break;
        struct timeval tv = {5, 0};
        setsockopt(c, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
        if (read_request(c, &fs->calls[fs->n])) {
            fs->n++;
            const fake_http_reply *r = &fs->replies[k];
            const char *body = r->body ? r->body : "";
            char head[1024];
            int n = snprintf(head, sizeof(head),
                             "HTTP/1.1 %d Fake\r\nContent-Type: application/json\r\n"
                             "Content-Length: %zu\r\nConnection: close\r\n%s\r\n",
                             r->status, strlen(body), r->extra_headers ? r->extra_headers : "");
            if (n > 0 && (size_t)n < sizeof(head)) {
                send_all(c, head, (size_t)n);
                send_all(c, body, strlen(body));
            }
        }
        close(c);
    }
    return NULL;
}

void fake_http_start(fake_http *fs, const fake_http_reply *replies, size_t n)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = 0};
    socklen_t alen = sizeof(a);

    memset(fs, 0, sizeof(*fs));
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    fs->n_replies = n < FAKE_HTTP_MAX ? n : FAKE_HTTP_MAX;
    for (size_t i = 0; i < fs->n_replies; i++)
        fs->replies[i] = replies[i];
    fs->fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(fs->fd >= 0);
    assert_int_equal(bind(fs->fd, (struct sockaddr *)&a, sizeof(a)), 0);
    assert_int_equal(listen(fs->fd, 8), 0);
    assert_int_equal(getsockname(fs->fd, (struct sockaddr *)&a, &alen), 0);
    fs->port = ntohs(a.sin_port);
    snprintf(fs->base, sizeof(fs->base), "http://127.0.0.1:%u", (unsigned)fs->port);
    assert_int_equal(pthread_create(&fs->thread, NULL, serve, fs), 0);
}

void fake_http_stop(fake_http *fs)
{
    /* Wakes the thread's poll when it still waits for requests that will
     * not come (a sender that stopped early, or n = 0). */
    shutdown(fs->fd, SHUT_RDWR);
    pthread_join(fs->thread, NULL);
    close(fs->fd);
}

void fake_http_free(fake_http *fs)
{
    for (size_t i = 0; i < fs->n; i++) {
        free(fs->calls[i].head);
        free(fs->calls[i].body);
        fs->calls[i].head = fs->calls[i].body = NULL;
    }
    fs->n = 0;
}

json_t *fake_http_json(const fake_http *fs, size_t i)
{
    assert_true(i < fs->n);
    json_error_t e;
    json_t *doc = json_loads(fs->calls[i].body, 0, &e);
    if (!doc)
        fail_msg("request %zu is not JSON: %s (%s)", i, e.text, fs->calls[i].body);
    return doc;
}

void fake_http_header(const fake_http_call *call, const char *name, char *out, size_t cap)
{
    char pattern[128];
    snprintf(pattern, sizeof(pattern), "\r\n%s:", name);
    const char *h = call->head ? strcasestr(call->head, pattern) : NULL;
    out[0] = '\0';
    if (!h)
        return;
    h += strlen(pattern);
    while (*h == ' ')
        h++;
    size_t n = strcspn(h, "\r\n");
    if (n >= cap)
        n = cap - 1;
    memcpy(out, h, n);
    out[n] = '\0';
}
