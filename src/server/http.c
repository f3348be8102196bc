/*
 * http.c — libmicrohttpd glue: reading requests, routing, answering,
 * parking requests while the pipeline works, event streams, static files.
 *
 * Assumes libmicrohttpd runs a pool of internal threads with epoll and
 * suspend/resume allowed (server.c starts it so).
 */
#include "server/http.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>

#include "base/log.h"
#include "base/mem.h"

enum {
    STREAM_BATCH = 100, /* messages fetched per read of an event stream */
};

int64_t pal_http_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- responses --------------------------------------------------------- */

static void standard_headers(struct MHD_Response *r)
{
    MHD_add_response_header(r, "X-Content-Type-Options", "nosniff");
    MHD_add_response_header(r, "Cache-Control", "no-store");
}

struct MHD_Response *pal_http_json_response(json_t *body)
{
    char *text = json_dumps(body, JSON_COMPACT);
    json_decref(body);
    if (!text)
        text = pal_xstrdup("{}");
    size_t len = strlen(text);
    struct MHD_Response *r = MHD_create_response_from_buffer(len, text, MHD_RESPMEM_MUST_FREE);
    if (!r) {
        free(text);
        return NULL;
    }
    MHD_add_response_header(r, "Content-Type", "application/json");
    standard_headers(r);
    return r;
}

struct MHD_Response *pal_http_text_response(const char *content_type, const char *body, size_t len)
{
    char *copy = pal_xmalloc(len + 1);
    memcpy(copy, body, len);
    copy[len] = '\0';
    struct MHD_Response *r = MHD_create_response_from_buffer(len, copy, MHD_RESPMEM_MUST_FREE);
    if (!r) {
        free(copy);
        return NULL;
    }
    MHD_add_response_header(r, "Content-Type", content_type);
    standard_headers(r);
    return r;
}

struct MHD_Response *pal_http_error_response(const char *code, const char *message,
                                             int retry_after_s)
{
    json_t *body = json_pack("{s{ssss}}", "error", "code", code, "message", message);
    struct MHD_Response *r = pal_http_json_response(body);
    if (r && retry_after_s > 0) {
        char value[24];
        snprintf(value, sizeof(value), "%d", retry_after_s);
        MHD_add_response_header(r, "Retry-After", value);
    }
    return r;
}

const char *pal_http_cors_origin(const pal_request *req)
{
    enum { ORIGIN_MAX = 512 };
    const char *origin = pal_http_header(req, "Origin");
    if (!origin || !*origin || strlen(origin) > ORIGIN_MAX)
        return "*";
    for (const char *p = origin; *p; p++)
        if (*p < 0x21 || *p > 0x7e)
            return "*";
    return origin;
}

/* Direct Line answers pages of other origins (routes_directline.c). An answer
 * given before its routes run (a body too large, an ambiguous length) needs
 * the header too, or the browser reports a network error instead. */
static void cors_for_directline(const pal_request *req, struct MHD_Response *response)
{
    static const char prefix[] = "/v3/directline";
    if (!req->path || strncmp(req->path, prefix, sizeof(prefix) - 1) != 0 ||
        (req->path[sizeof(prefix) - 1] != '\0' && req->path[sizeof(prefix) - 1] != '/') ||
        MHD_get_response_header(response, "Access-Control-Allow-Origin"))
        return;
    MHD_add_response_header(response, "Access-Control-Allow-Origin", pal_http_cors_origin(req));
    MHD_add_response_header(response, "Vary", "Origin");
}

bool pal_http_respond_with(pal_request *req, unsigned status, struct MHD_Response *response)
{
    if (!response)
        return true; /* out of memory in libmicrohttpd: the connection is dropped */
    cors_for_directline(req, response);
    MHD_queue_response(req->connection, status, response);
    MHD_destroy_response(response);
    return true;
}

bool pal_http_respond_json(pal_request *req, unsigned status, json_t *body)
{
    return pal_http_respond_with(req, status, pal_http_json_response(body));
}

bool pal_http_method_not_allowed(pal_request *req, const char *allow)
{
    char message[64];
    snprintf(message, sizeof(message), "this address answers %s", allow);
    struct MHD_Response *r = pal_http_error_response("method_not_allowed", message, 0);
    if (r)
        MHD_add_response_header(r, "Allow", allow);
    return pal_http_respond_with(req, 405, r);
}

bool pal_http_respond_error(pal_request *req, unsigned status, const char *code,
                            const char *message, int retry_after_s)
{
    return pal_http_respond_with(req, status,
                                 pal_http_error_response(code, message, retry_after_s));
}

/* ---- parking ----------------------------------------------------------- */

static void answer_completed(pal_request *req)
{
    unsigned status = req->completed_status;
    struct MHD_Response *r = req->completed_response;
    req->completed_response = NULL;
    if (!r && req->build_response)
        r = req->build_response(req, &status);
    pal_http_respond_with(req, status, r);
}

void pal_http_park(pal_request *req)
{
    pthread_mutex_lock(&req->mutex);
    req->parked = true;
    if (!req->completed) {
        MHD_suspend_connection(req->connection);
        req->suspended = true;
        pthread_mutex_unlock(&req->mutex);
        return;
    }
    pthread_mutex_unlock(&req->mutex);
    /* completed before we could suspend: answer now */
    answer_completed(req);
}

void pal_http_complete(pal_request *req, unsigned status, struct MHD_Response *response)
{
    struct MHD_Connection *connection = req->connection;
    pthread_mutex_lock(&req->mutex);
    req->completed = true;
    req->completed_status = status;
    req->completed_response = response;
    bool resume = req->suspended;
    req->suspended = false;
    pthread_mutex_unlock(&req->mutex);
    /* Not under the lock, and req is not touched after: once resumed, an
     * HTTP thread may answer and free the request at once. Until then the
     * connection is suspended, so the request cannot go away. */
    if (resume)
        pal_http_loops_resume(req->server->http, connection);
}

/* ---- request details --------------------------------------------------- */

const char *pal_http_header(const pal_request *req, const char *name)
{
    return MHD_lookup_connection_value(req->connection, MHD_HEADER_KIND, name);
}

const char *pal_http_query(const pal_request *req, const char *name)
{
    return MHD_lookup_connection_value(req->connection, MHD_GET_ARGUMENT_KIND, name);
}

const char *pal_http_cookie(const pal_request *req, const char *name)
{
    return MHD_lookup_connection_value(req->connection, MHD_COOKIE_KIND, name);
}

bool pal_http_is_json(const pal_request *req)
{
    const char *type = pal_http_header(req, "Content-Type");
    static const char json[] = "application/json";
    if (!type || strncasecmp(type, json, sizeof(json) - 1) != 0)
        return false;
    char next = type[sizeof(json) - 1];
    return next == '\0' || next == ';' || next == ' ';
}

pal_store_reader *pal_http_reader_acquire(pal_server *server)
{
    pal_store_reader *reader = NULL;
    pthread_mutex_lock(&server->readers_mutex);
    if (server->n_readers > 0)
        reader = server->readers[--server->n_readers];
    pthread_mutex_unlock(&server->readers_mutex);
    if (!reader && pal_store_reader_open(server->store, &reader) != PAL_OK) {
        pal_log(PAL_LOG_ERR, "http", "cannot open a store reader");
        abort(); /* the store is gone: nothing sensible left to do */
    }
    return reader;
}

void pal_http_reader_release(pal_server *server, pal_store_reader *reader)
{
    pthread_mutex_lock(&server->readers_mutex);
    pal_xreserve((void **)&server->readers, &server->cap_readers, server->n_readers + 1,
                 sizeof(*server->readers));
    server->readers[server->n_readers++] = reader;
    pthread_mutex_unlock(&server->readers_mutex);
}

bool pal_http_find_bot(const pal_server *server, const char *name, size_t *index)
{
    for (size_t i = 0; i < server->n_bots; i++) {
        if (strcmp(pal_bot_name(server->bots[i]), name) == 0) {
            *index = i;
            return true;
        }
    }
    return false;
}

/* ---- event streams ----------------------------------------------------- */

typedef struct pal_stream {
    pal_server *server;
    struct MHD_Connection *connection;
    size_t bot_index;
    char *external_user;
    pal_watch *watch;
    pthread_mutex_t mutex;
    int64_t conversation_id; /* 0 until the customer's conversation exists */
    int64_t last_id;
    bool suspended, notified, ping, closing, opened;
    char *buf;
    size_t len, off, cap;
    struct pal_stream *prev, *next;
} pal_stream;

static void stream_append(pal_stream *st, const char *text, size_t len)
{
    pal_xreserve((void **)&st->buf, &st->cap, st->len + len, 1);
    memcpy(st->buf + st->len, text, len);
    st->len += len;
}

/* Reads new messages into the stream's buffer. */
static void stream_fetch(pal_stream *st, int64_t conversation_id)
{
    pal_server *server = st->server;
    pal_store_reader *reader = pal_http_reader_acquire(server);
    json_t *messages = NULL;
    if (conversation_id == 0 &&
        pal_store_find_conversation(reader, pal_bot_name(server->bots[st->bot_index]), "webchat",
                                    st->external_user, &conversation_id) != PAL_OK)
        conversation_id = 0;
    if (conversation_id != 0 && pal_store_messages_after(reader, conversation_id, st->last_id,
                                                         STREAM_BATCH, &messages) == PAL_OK) {
        size_t i;
        json_t *m;
        json_array_foreach(messages, i, m)
        {
            char *data = json_dumps(m, JSON_COMPACT);
            char head[64];
            int64_t id = (int64_t)json_integer_value(json_object_get(m, "id"));
            int n = snprintf(head, sizeof(head), "id: %lld\nevent: message\ndata: ", (long long)id);
            stream_append(st, head, (size_t)n);
            if (data) {
                stream_append(st, data, strlen(data));
                free(data);
            }
            stream_append(st, "\n\n", 2);
            if (id > st->last_id)
                st->last_id = id;
        }
        json_decref(messages);
    }
    pal_http_reader_release(server, reader);
    pthread_mutex_lock(&st->mutex);
    if (st->conversation_id == 0)
        st->conversation_id = conversation_id;
    pthread_mutex_unlock(&st->mutex);
}

static ssize_t stream_read(void *cls, uint64_t pos, char *out, size_t max)
{
    pal_stream *st = cls;
    (void)pos;
    for (;;) {
        if (st->off < st->len) {
            size_t n = st->len - st->off < max ? st->len - st->off : max;
            memcpy(out, st->buf + st->off, n);
            st->off += n;
            return (ssize_t)n;
        }
        st->len = st->off = 0;
        if (!st->opened) {
            /* headers and a first line at once, so the browser's EventSource opens */
            static const char hello[] = "retry: 2000\n: open\n\n";
            st->opened = true;
            stream_append(st, hello, sizeof(hello) - 1);
        }
        pthread_mutex_lock(&st->mutex);
        bool closing = st->closing, ping = st->ping;
        int64_t conversation_id = st->conversation_id;
        st->ping = st->notified = false;
        pthread_mutex_unlock(&st->mutex);
        if (closing)
            return MHD_CONTENT_READER_END_OF_STREAM;
        stream_fetch(st, conversation_id);
        if (st->len == 0 && ping)
            stream_append(st, ": ping\n\n", 8);
        if (st->len > 0)
            continue;
        pthread_mutex_lock(&st->mutex);
        if (st->notified || st->ping || st->closing) {
            pthread_mutex_unlock(&st->mutex);
            continue;
        }
        st->suspended = true;
        MHD_suspend_connection(st->connection);
        pthread_mutex_unlock(&st->mutex);
        return 0;
    }
}

static void stream_wake(pal_stream *st)
{
    if (st->suspended) {
        st->suspended = false;
        pal_http_loops_resume(st->server->http, st->connection);
    }
}

static void stream_watch(void *ctx, int64_t conversation_id)
{
    pal_stream *st = ctx;
    pthread_mutex_lock(&st->mutex);
    if (conversation_id == 0) {
        st->ping = true;
    } else {
        st->notified = true;
        st->conversation_id = conversation_id;
    }
    stream_wake(st);
    pthread_mutex_unlock(&st->mutex);
}

static void stream_free(void *cls)
{
    pal_stream *st = cls;
    pal_server *server = st->server;
    pal_pipeline_unwatch(server->pipeline, st->watch);
    pthread_mutex_lock(&server->streams_mutex);
    if (st->prev)
        st->prev->next = st->next;
    else
        server->streams = st->next;
    if (st->next)
        st->next->prev = st->prev;
    pthread_mutex_unlock(&server->streams_mutex);
    pthread_mutex_destroy(&st->mutex);
    free(st->external_user);
    free(st->buf);
    free(st);
}

bool pal_http_stream(pal_request *req, size_t bot_index, const char *external_user,
                     int64_t after_id, const char *set_cookie)
{
    pal_server *server = req->server;
    if (atomic_load(&server->stopping))
        return pal_http_respond_error(req, 503, "stopping", "the server is stopping", 5);
    pal_stream *st = pal_xcalloc(1, sizeof(*st));
    st->server = server;
    st->connection = req->connection;
    st->bot_index = bot_index;
    st->external_user = pal_xstrdup(external_user);
    st->last_id = after_id;
    pthread_mutex_init(&st->mutex, NULL);
    if (pal_pipeline_watch(server->pipeline, bot_index, "webchat", external_user, stream_watch, st,
                           &st->watch) != PAL_OK) {
        stream_free(st);
        return pal_http_respond_error(req, 503, "unavailable", "try again later", 1);
    }
    pthread_mutex_lock(&server->streams_mutex);
    st->next = server->streams;
    if (st->next)
        st->next->prev = st;
    server->streams = st;
    pthread_mutex_unlock(&server->streams_mutex);
    struct MHD_Response *r = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 16 * 1024,
                                                               stream_read, st, stream_free);
    if (!r) {
        stream_free(st);
        return true;
    }
    MHD_add_response_header(r, "Content-Type", "text/event-stream; charset=utf-8");
    MHD_add_response_header(r, "Cache-Control", "no-store");
    MHD_add_response_header(r, "X-Accel-Buffering", "no");
    MHD_add_response_header(r, "X-Content-Type-Options", "nosniff");
    if (set_cookie)
        MHD_add_response_header(r, "Set-Cookie", set_cookie);
    return pal_http_respond_with(req, 200, r);
}

/* Ends every open stream (shutdown): they answer their end and close. */
static void close_streams(pal_server *server)
{
    pthread_mutex_lock(&server->streams_mutex);
    for (pal_stream *st = server->streams; st; st = st->next) {
        pthread_mutex_lock(&st->mutex);
        st->closing = true;
        stream_wake(st);
        pthread_mutex_unlock(&st->mutex);
    }
    pthread_mutex_unlock(&server->streams_mutex);
}

/* ---- static files ------------------------------------------------------ */

static const char *content_type_of(const char *path)
{
    static const struct {
        const char *ext, *type;
    } types[] = {
        {".html", "text/html; charset=utf-8"},
        {".js", "text/javascript; charset=utf-8"},
        {".mjs", "text/javascript; charset=utf-8"},
        {".css", "text/css; charset=utf-8"},
        {".json", "application/json"},
        {".svg", "image/svg+xml"},
        {".png", "image/png"},
        {".ico", "image/x-icon"},
        {".txt", "text/plain; charset=utf-8"},
        {".map", "application/json"},
        {".woff2", "font/woff2"},
    };
    const char *dot = strrchr(path, '.');
    for (size_t i = 0; dot && i < sizeof(types) / sizeof(types[0]); i++)
        if (strcmp(dot, types[i].ext) == 0)
            return types[i].type;
    return NULL;
}

/* True when path (decoded by libmicrohttpd) may name a file of web/: only
 * plain names, no "." or ".." segment, no hidden file, no backslash. */
static bool safe_static_path(const char *path)
{
    if (path[0] != '/' || strlen(path) > 200)
        return false;
    for (const char *seg = path + 1; *seg;) {
        const char *end = strchr(seg, '/');
        size_t len = end ? (size_t)(end - seg) : strlen(seg);
        if (len == 0 || seg[0] == '.')
            return false;
        for (size_t i = 0; i < len; i++) {
            unsigned char c = (unsigned char)seg[i];
            if (!(c == '-' || c == '_' || c == '.' || (c >= '0' && c <= '9') ||
                  (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')))
                return false;
        }
        seg += len + (end ? 1 : 0);
    }
    return true;
}

static bool serve_static(pal_request *req)
{
    pal_server *server = req->server;
    const char *path = req->path;
    char full[PATH_MAX], real[PATH_MAX];
    if (strcmp(path, "/") == 0 || strcmp(path, "/chat") == 0)
        path = "/chat.html";
    if (!safe_static_path(path))
        return pal_http_respond_error(req, 404, "not_found", "no such page", 0);
    const char *type = content_type_of(path);
    int n = snprintf(full, sizeof(full), "%s%s", server->web_root, path);
    if (!type || n < 0 || (size_t)n >= sizeof(full) || !realpath(full, real))
        return pal_http_respond_error(req, 404, "not_found", "no such page", 0);
    size_t root_len = strlen(server->web_root);
    /* a symbolic link must not lead out of web/ */
    if (strncmp(real, server->web_root, root_len) != 0 || real[root_len] != '/')
        return pal_http_respond_error(req, 404, "not_found", "no such page", 0);
    int fd = open(real, O_RDONLY | O_CLOEXEC);
    struct stat sb;
    if (fd < 0 || fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
        if (fd >= 0)
            close(fd);
        return pal_http_respond_error(req, 404, "not_found", "no such page", 0);
    }
    struct MHD_Response *r = MHD_create_response_from_fd((uint64_t)sb.st_size, fd);
    if (!r) {
        close(fd);
        return true;
    }
    MHD_add_response_header(r, "Content-Type", type);
    MHD_add_response_header(r, "X-Content-Type-Options", "nosniff");
    MHD_add_response_header(r, "Cache-Control", "no-cache");
    MHD_add_response_header(r, "Referrer-Policy", "same-origin");
    if (strstr(type, "text/html"))
        MHD_add_response_header(r, "Content-Security-Policy",
                                "default-src 'self'; img-src 'self' data:; "
                                "frame-ancestors 'self'; base-uri 'none'; form-action 'self'");
    return pal_http_respond_with(req, 200, r);
}

/* ---- routing ----------------------------------------------------------- */

static bool route(pal_request *req)
{
    pal_server *server = req->server;
    const char *path = req->path;
    bool get = strcmp(req->method, "GET") == 0 || strcmp(req->method, "HEAD") == 0;
    bool health = strcmp(path, "/healthz") == 0, ready = strcmp(path, "/readyz") == 0;
    if ((health || ready) && !get)
        return pal_http_method_not_allowed(req, "GET, HEAD");
    if (health)
        return pal_http_respond_json(req, 200, json_pack("{ss}", "status", "ok"));
    if (ready) {
        if (atomic_load(&server->stopping) || !pal_pipeline_ready(server->pipeline))
            return pal_http_respond_error(req, 503, "not_ready", "starting or stopping", 1);
        return pal_http_respond_json(req, 200, json_pack("{ss}", "status", "ready"));
    }
    if (pal_routes_api(req) || pal_routes_webchat(req) || pal_routes_directline(req) ||
        pal_routes_webhooks(req))
        return true;
    if (!get)
        return pal_http_method_not_allowed(req, "GET, HEAD");
    return serve_static(req);
}

/* Requests whose length is ambiguous are refused before anything else
 * (request smuggling): two Content-Length headers, or one together with
 * Transfer-Encoding (RFC 9112, 6.1 and 6.3). */
typedef struct length_headers {
    int content_length, transfer_encoding;
} length_headers;

static enum MHD_Result count_length_header(void *cls, enum MHD_ValueKind kind, const char *key,
                                           const char *value)
{
    length_headers *n = cls;
    (void)kind;
    (void)value;
    if (strcasecmp(key, "Content-Length") == 0)
        n->content_length++;
    else if (strcasecmp(key, "Transfer-Encoding") == 0)
        n->transfer_encoding++;
    return MHD_YES;
}

static bool ambiguous_length(struct MHD_Connection *connection)
{
    length_headers n = {0, 0};
    MHD_get_connection_values(connection, MHD_HEADER_KIND, count_length_header, &n);
    return n.content_length > 1 || (n.content_length > 0 && n.transfer_encoding > 0) ||
           n.transfer_encoding > 1;
}

static void request_free(pal_request *req)
{
    if (req->route_data_free)
        req->route_data_free(req->route_data);
    if (req->completed_response)
        MHD_destroy_response(req->completed_response);
    pthread_mutex_destroy(&req->mutex);
    free((char *)req->path);
    free(req->body);
    free(req);
}

static void on_completed(void *cls, struct MHD_Connection *connection, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    (void)cls;
    (void)connection;
    (void)toe;
    if (*con_cls) {
        request_free(*con_cls);
        *con_cls = NULL;
    }
}

static void client_ip(struct MHD_Connection *c, char *out, size_t len)
{
    const union MHD_ConnectionInfo *info =
        MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    snprintf(out, len, "?");
    if (!info || !info->client_addr)
        return;
    const struct sockaddr *sa = info->client_addr;
    if (sa->sa_family == AF_INET)
        inet_ntop(AF_INET, &((const struct sockaddr_in *)(const void *)sa)->sin_addr, out,
                  (socklen_t)len);
    else if (sa->sa_family == AF_INET6)
        inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr, out,
                  (socklen_t)len);
}

/* The largest body req may have: platforms' webhooks batch events (and a
 * refused one is resent for days), so they get their own, larger cap. */
static size_t body_cap(const pal_request *req)
{
    const pal_config *c = req->server->config;
    bool webhook = strncmp(req->path, "/webhooks/", 10) == 0;
    return (size_t)(webhook ? c->max_webhook_body_bytes : c->max_body_bytes);
}

/* libmicrohttpd's access handler: called once with the headers, once per
 * piece of body, once at the end, and again after a resume. */
static enum MHD_Result on_request(void *cls, struct MHD_Connection *connection, const char *url,
                                  const char *method, const char *version, const char *upload_data,
                                  size_t *upload_data_size, void **con_cls)
{
    pal_server *server = cls;
    pal_request *req = *con_cls;
    (void)version;
    if (!req) {
        req = pal_xcalloc(1, sizeof(*req));
        req->server = server;
        req->connection = connection;
        req->method = method;
        req->path = pal_xstrdup(url);
        pthread_mutex_init(&req->mutex, NULL);
        client_ip(connection, req->client_ip, sizeof(req->client_ip));
        *con_cls = req;
        const char *length = pal_http_header(req, "Content-Length");
        if (ambiguous_length(connection)) {
            struct MHD_Response *r = pal_http_error_response(
                "ambiguous_length", "conflicting Content-Length / Transfer-Encoding headers", 0);
            if (r)
                MHD_add_response_header(r, "Connection", "close");
            pal_http_respond_with(req, 400, r);
            req->refused = true;
        } else if (length) {
            char *end;
            errno = 0;
            unsigned long long n = strtoull(length, &end, 10);
            if (errno || *end || n > (unsigned long long)body_cap(req)) {
                /* refused before reading it: a 10 MiB body costs nothing */
                pal_http_respond_error(req, 413, "body_too_large", "the body is too large", 0);
                req->refused = true;
            }
        }
        return MHD_YES;
    }
    if (*upload_data_size > 0) {
        size_t n = *upload_data_size;
        size_t cap = body_cap(req);
        if (!req->refused) {
            if (req->body_len + n > cap) {
                req->body_len = cap + 1; /* too large: keep reading, answer at the end */
            } else {
                req->body = pal_xrealloc(req->body, req->body_len + n + 1);
                memcpy(req->body + req->body_len, upload_data, n);
                req->body_len += n;
            }
        }
        *upload_data_size = 0;
        return MHD_YES;
    }
    if (req->parked) {
        /* resumed: the answer is ready */
        answer_completed(req);
        return MHD_YES;
    }
    if (req->refused)
        return MHD_YES;
    if (req->body_len > body_cap(req))
        return pal_http_respond_error(req, 413, "body_too_large", "the body is too large", 0)
                   ? MHD_YES
                   : MHD_NO;
    if (!req->body) {
        req->body = pal_xmalloc(1);
        req->body_len = 0;
    }
    req->body[req->body_len] = '\0';
    route(req);
    return MHD_YES;
}

/* ---- daemon ------------------------------------------------------------ */

static bool parse_listen(const char *listen, struct sockaddr_storage *addr, socklen_t *len)
{
    char host[128];
    const char *colon = strrchr(listen, ':');
    if (!colon || (size_t)(colon - listen) >= sizeof(host))
        return false;
    memcpy(host, listen, (size_t)(colon - listen));
    host[colon - listen] = '\0';
    char *end;
    unsigned long port = strtoul(colon + 1, &end, 10);
    if (*end || port == 0 || port > 65535)
        return false;
    memset(addr, 0, sizeof(*addr));
    if (host[0] == '[') {
        size_t hl = strlen(host);
        if (hl < 2 || host[hl - 1] != ']')
            return false;
        host[hl - 1] = '\0';
        struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)addr;
        a6->sin6_family = AF_INET6;
        a6->sin6_port = htons((uint16_t)port);
        *len = sizeof(*a6);
        return inet_pton(AF_INET6, host + 1, &a6->sin6_addr) == 1;
    }
    struct sockaddr_in *a4 = (struct sockaddr_in *)addr;
    a4->sin_family = AF_INET;
    a4->sin_port = htons((uint16_t)port);
    *len = sizeof(*a4);
    if (strcmp(host, "localhost") == 0)
        snprintf(host, sizeof(host), "127.0.0.1");
    return inet_pton(AF_INET, host, &a4->sin_addr) == 1;
}

static void mhd_log(void *cls, const char *fmt, va_list ap) __attribute__((format(printf, 2, 0)));
static void mhd_log(void *cls, const char *fmt, va_list ap)
{
    char line[512];
    (void)cls;
    vsnprintf(line, sizeof(line), fmt, ap);
    size_t n = strlen(line);
    while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
        line[--n] = '\0';
    pal_log(PAL_LOG_WARN, "http", "%s", line);
}

static struct MHD_Daemon *start_daemon(void *ctx, int listen_fd, unsigned connection_limit)
{
    pal_server *server = ctx;
    /* No internal thread: http_loop.c runs each daemon (and says why). */
    unsigned flags = MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME | MHD_USE_TURBO | MHD_USE_ERROR_LOG;
    return MHD_start_daemon(flags, 0, NULL, NULL, on_request, server, MHD_OPTION_EXTERNAL_LOGGER,
                            mhd_log, server, MHD_OPTION_LISTEN_SOCKET, (MHD_socket)listen_fd,
                            MHD_OPTION_CONNECTION_LIMIT, connection_limit,
                            MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)60,
                            MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)16 * 1024,
                            MHD_OPTION_NOTIFY_COMPLETED, on_completed, server, MHD_OPTION_END);
}

pal_http_loops *pal_http__start(pal_server *server, char *errbuf, size_t errlen)
{
    struct sockaddr_storage addr;
    socklen_t addr_len = 0;
    const pal_config *c = server->config;
    char why[256] = "";
    if (!parse_listen(c->listen, &addr, &addr_len)) {
        pal_err_format(errbuf, errlen, "listen: '%s' is not ADDRESS:PORT", c->listen);
        return NULL;
    }
    if (pal_http_loops_start((struct sockaddr *)&addr, addr_len, (size_t)c->http_threads,
                             (unsigned)c->max_connections, start_daemon, server, &server->http, why,
                             sizeof(why)) != PAL_OK)
        pal_err_format(errbuf, errlen, "cannot listen on %s: %s", c->listen, why);
    return server->http;
}

void pal_http__quiesce(pal_http_loops *loops)
{
    pal_http_loops_quiesce(loops);
}

void pal_http__close_streams(pal_server *server)
{
    close_streams(server);
    /* streams answer their end on their next turn; give them a moment */
    for (int i = 0; i < 50; i++) {
        pthread_mutex_lock(&server->streams_mutex);
        bool any = server->streams != NULL;
        pthread_mutex_unlock(&server->streams_mutex);
        if (!any)
            break;
        struct timespec ts = {0, 20 * 1000 * 1000};
        nanosleep(&ts, NULL);
        close_streams(server);
    }
}

void pal_http__stop(pal_http_loops *loops)
{
    pal_http_loops_stop(loops);
}
