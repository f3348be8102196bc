/*
 * http.h — the HTTP side of `palabre serve`, shared by the route modules
 * (routes_api.c, routes_webchat.c) and http.c, which runs libmicrohttpd.
 *
 * http.c reads each request whole (headers, then the body up to
 * max_body_bytes: a longer one is refused with 413 before it is read),
 * then calls the route. A route answers at once (pal_http_respond*), or
 * parks the request (pal_http_park) while the pipeline works and answers
 * later from any thread (pal_http_complete): the connection is suspended
 * meanwhile, costing no thread. Streams (server-sent events) are answered
 * with pal_http_stream.
 *
 * Every error is a JSON body {"error": {"code": "...", "message": "..."}}.
 *
 * Threads: routes run on libmicrohttpd's threads; pal_http_complete() is
 * thread-safe; the server state is read-only once serving, except through
 * its own thread-safe parts (pipeline, limiters, reader pool).
 */
#ifndef PAL_SERVER_HTTP_H
#define PAL_SERVER_HTTP_H

#include <jansson.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/err.h"
#include "dialog/bot.h"
#include "guard/ratelimit.h"
#include "server/config.h"
#include "server/http_loop.h"
#include "server/pipeline.h"
#include "store/store.h"

struct MHD_Connection;
struct MHD_Response;

/* Everything the routes need; owned by server.c. */
typedef struct pal_server {
    const pal_config *config;
    pal_bot **bots;
    pal_pipeline_bot *pipeline_bots;
    size_t n_bots;
    pal_store *store;
    pal_pipeline *pipeline;
    struct pal_platforms *platforms; /* messaging platforms per bot (platforms.h) */
    pal_ratelimit *customer_limit;   /* per (bot, customer) */
    pal_ratelimit *ip_limit;         /* per client address, unauthenticated routes */
    const char *api_token;
    char *web_root; /* real path, no trailing slash */
    /* readers for request threads: a small pool */
    pthread_mutex_t readers_mutex;
    pal_store_reader **readers;
    size_t n_readers, cap_readers;
    /* open event streams, closed at shutdown */
    pthread_mutex_t streams_mutex;
    struct pal_stream *streams;
    atomic_bool stopping;
    pal_http_loops *http; /* the HTTP threads (pal_http__start) */
} pal_server;

typedef struct pal_request pal_request;

/* A request as the routes see it. */
struct pal_request {
    pal_server *server;
    struct MHD_Connection *connection;
    const char *method; /* borrowed from libmicrohttpd */
    const char *path;   /* without the query */
    char *body;         /* NUL-terminated, body_len bytes (may hold NULs) */
    size_t body_len;
    char client_ip[64];
    /* parking (see pal_http_park) */
    pthread_mutex_t mutex;
    bool parked, suspended, completed;
    bool refused; /* answered before the body was read (too large) */
    unsigned completed_status;
    struct MHD_Response *completed_response;
    /* what a route keeps between parking and completion */
    void *route_data;
    void (*route_data_free)(void *route_data);
    /* when completed without a response: builds it on the HTTP thread (so
     * that the pipeline's writer only copies what the answer needs) */
    struct MHD_Response *(*build_response)(pal_request *req, unsigned *status);
};

/* ---- answering --------------------------------------------------------- */

/* Answers with status and body (taken: decref'd here). Always true. */
bool pal_http_respond_json(pal_request *req, unsigned status, json_t *body);
/* Answers 405 with an Allow header listing allow (e.g. "GET, HEAD"). */
bool pal_http_method_not_allowed(pal_request *req, const char *allow);
/* Answers {"error":{"code","message"}}; retry_after_s > 0 adds Retry-After. */
bool pal_http_respond_error(pal_request *req, unsigned status, const char *code,
                            const char *message, int retry_after_s);
/* Builds a response (for pal_http_complete / pal_http_respond_with) with
 * Content-Type application/json and our standard headers; body taken. */
struct MHD_Response *pal_http_json_response(json_t *body);
struct MHD_Response *pal_http_error_response(const char *code, const char *message,
                                             int retry_after_s);
/* A response with body[0..len) (copied) of content_type (borrowed), with our
 * standard headers. */
struct MHD_Response *pal_http_text_response(const char *content_type, const char *body, size_t len);
/* Answers with a response made elsewhere (taken). */
bool pal_http_respond_with(pal_request *req, unsigned status, struct MHD_Response *response);

/* ---- parking ----------------------------------------------------------- */

/* Parks the request: call after handing work to the pipeline whose
 * callback calls pal_http_complete(). If the work already completed, the
 * answer is sent now. */
void pal_http_park(pal_request *req);
/* From any thread: the parked request's answer (response taken; NULL
 * when req->build_response makes it, on the HTTP thread). The route is not
 * called again. */
void pal_http_complete(pal_request *req, unsigned status, struct MHD_Response *response);

/* ---- request details --------------------------------------------------- */

const char *pal_http_header(const pal_request *req, const char *name);
const char *pal_http_query(const pal_request *req, const char *name);
const char *pal_http_cookie(const pal_request *req, const char *name);
/* What Access-Control-Allow-Origin names for this request: its Origin when
 * plain printable ASCII of reasonable length, else "*" (borrowed). */
const char *pal_http_cors_origin(const pal_request *req);
/* True when Content-Type is application/json (parameters allowed). */
bool pal_http_is_json(const pal_request *req);

/* A reader from the pool (never NULL: opens one when none is free); give it
 * back with pal_http_reader_release(). */
pal_store_reader *pal_http_reader_acquire(pal_server *server);
void pal_http_reader_release(pal_server *server, pal_store_reader *reader);

/* The index of the bot named name, false when none. */
bool pal_http_find_bot(const pal_server *server, const char *name, size_t *index);

int64_t pal_http_now_ms(void);

/* ---- the daemon (server.c) -------------------------------------------- */

/* Listens on config->listen with http_threads threads (http_loop.h); NULL
 * and errbuf on failure. */
pal_http_loops *pal_http__start(pal_server *server, char *errbuf, size_t errlen);
/* Stops accepting connections (requests on open ones are still read). */
void pal_http__quiesce(pal_http_loops *loops);
/* Ends the event streams (new ones are refused once server->stopping). */
void pal_http__close_streams(pal_server *server);
/* Stops the daemon. Parked requests must all be completed first (the
 * pipeline is stopped). */
void pal_http__stop(pal_http_loops *loops);

/* ---- routes ------------------------------------------------------------ */

/* Each returns true when it answered the request (or parked it), false
 * when the path is not its own. */
bool pal_routes_api(pal_request *req);
bool pal_routes_webchat(pal_request *req);
bool pal_routes_directline(pal_request *req);
bool pal_routes_webhooks(pal_request *req);

/* Event streams (webchat): answers req with a text/event-stream fed from
 * the conversation of (bot_index, "webchat", external_user), starting after
 * message id after_id. Extra headers (a cookie) may be added to the
 * response through set_cookie (or NULL). */
bool pal_http_stream(pal_request *req, size_t bot_index, const char *external_user,
                     int64_t after_id, const char *set_cookie);

#endif
