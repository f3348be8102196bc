/*
 * routes_api.c — the `api` channel: REST for brands' own applications.
 *
 *   POST /api/v1/bots/{bot}/messages[?wait=false]
 *        {"customer": "...", "text": "...", "id": "...", "lang": "fr"}
 *        200 {"message_id", "conversation_id", "replies": [{"text", "quick_replies"}]}
 *        202 {"message_id", "conversation_id", "status": "accepted"} with wait=false
 *   GET  /api/v1/conversations/{id}
 *   GET  /api/v1/conversations?bot=&customer=&channel=&mode=&before=&limit=
 *   GET  /api/v1/openapi.json (the description of all this, from web/)
 *
 * Every route but openapi.json needs `Authorization: Bearer <api_token>`.
 * A message's "id" makes retries safe: the same (customer, id) is stored
 * and answered once, and a retry gets the replies given the first time.
 */
#include <microhttpd.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "base/jsonw.h"
#include "base/mem.h"
#include "channels/api.h"
#include "server/http.h"

enum {
    CUSTOMER_MAX = PAL_API_CUSTOMER_MAX,
    CLIENT_ID_MAX = PAL_API_CLIENT_ID_MAX,
    CONVERSATION_MESSAGES_MAX = 1000,
};

static const char prefix[] = "/api/v1/";

static bool authorized(pal_request *req)
{
    const char *auth = pal_http_header(req, "Authorization");
    const char *token = req->server->api_token;
    static const char bearer[] = "Bearer ";
    /* the scheme is case-insensitive (RFC 9110, 11.1) */
    if (!auth || !token || strncasecmp(auth, bearer, sizeof(bearer) - 1) != 0)
        return false;
    auth += sizeof(bearer) - 1;
    size_t n = strlen(auth);
    return n == strlen(token) && sodium_memcmp(auth, token, n) == 0;
}

/* The replies stored for an earlier copy of a message, as the API gives them. */
static json_t *stored_replies(pal_server *server, int64_t message_id, bool *processed)
{
    pal_store_reader *reader = pal_http_reader_acquire(server);
    json_t *messages = NULL, *out = json_array();
    *processed = false;
    if (pal_store_replies_to(reader, message_id, &messages, processed) == PAL_OK) {
        size_t i;
        json_t *m;
        json_array_foreach(messages, i, m)
        {
            json_t *quick = json_object_get(m, "quick_replies");
            json_array_append_new(out, json_pack("{sOso}", "text", json_object_get(m, "text"),
                                                 "quick_replies",
                                                 quick ? json_incref(quick) : json_array()));
        }
        json_decref(messages);
    }
    pal_http_reader_release(server, reader);
    return out;
}

typedef struct api_post {
    pal_server *server;
    pal_request *req;
    bool wait;
    /* what the answer needs, copied on the writer thread */
    pal_progress_kind kind;
    bool duplicate;
    int64_t message_id, conversation_id;
    char **texts, **quick_replies;
    size_t n_replies;
} api_post;

static void api_post_free(void *data)
{
    api_post *post = data;
    for (size_t i = 0; i < post->n_replies; i++) {
        free(post->texts[i]);
        free(post->quick_replies[i]);
    }
    free(post->texts);
    free(post->quick_replies);
    free(post);
}

/* ---- the answer of a processed message, written directly ---------------
 * The busiest answer of the server: built as text (the quick replies are
 * already JSON, made by the pipeline) rather than as a jansson tree that is
 * then serialised, which cost a parse, a tree and a dump per message. */

static struct MHD_Response *processed_answer(const api_post *post)
{
    pal_jsonw w = {0};
    pal_jsonw_lit(&w, "{\"message_id\":");
    pal_jsonw_int(&w, post->message_id);
    pal_jsonw_lit(&w, ",\"conversation_id\":");
    pal_jsonw_int(&w, post->conversation_id);
    pal_jsonw_lit(&w, ",\"duplicate\":false,\"replies\":[");
    for (size_t i = 0; i < post->n_replies; i++) {
        pal_jsonw_lit(&w, i ? ",{\"text\":" : "{\"text\":");
        pal_jsonw_string(&w, post->texts[i]);
        pal_jsonw_lit(&w, ",\"quick_replies\":");
        pal_jsonw_lit(&w, post->quick_replies[i] ? post->quick_replies[i] : "[]");
        pal_jsonw_raw(&w, "}", 1);
    }
    pal_jsonw_lit(&w, "]}");
    struct MHD_Response *r = pal_http_text_response("application/json", w.data, w.len);
    pal_jsonw_clear(&w);
    return r;
}

/* The answer, on the HTTP thread once the pipeline is done. */
static struct MHD_Response *api_answer(pal_request *req, unsigned *status)
{
    api_post *post = req->route_data;
    json_t *body;
    if (post->kind == PAL_PROGRESS_FAILED) {
        *status = 503;
        return pal_http_error_response("store_unavailable", "the message could not be stored", 5);
    }
    if (post->duplicate) {
        bool processed;
        json_t *replies = stored_replies(post->server, post->message_id, &processed);
        body =
            json_pack("{sIsIsbso}", "message_id", (json_int_t)post->message_id, "conversation_id",
                      (json_int_t)post->conversation_id, "duplicate", 1, "replies", replies);
        if (!processed)
            json_object_set_new(body, "status", json_string("processing"));
        *status = processed ? 200 : 202;
        return pal_http_json_response(body);
    }
    if (post->kind == PAL_PROGRESS_STORED) {
        *status = 202;
        return pal_http_json_response(
            json_pack("{sIsIss}", "message_id", (json_int_t)post->message_id, "conversation_id",
                      (json_int_t)post->conversation_id, "status", "accepted"));
    }
    *status = 200;
    return processed_answer(post);
}

/* Pipeline progress, on the writer thread: copy, and let the HTTP thread
 * build the answer. */
static void api_progress(void *ctx, const pal_progress *p)
{
    api_post *post = ctx;
    post->kind = p->kind;
    post->message_id = p->message_id;
    post->conversation_id = p->conversation_id;
    switch (p->kind) {
    case PAL_PROGRESS_STORED:
        post->duplicate = p->duplicate;
        if (p->duplicate || !post->wait)
            pal_http_complete(post->req, 0, NULL);
        return;
    case PAL_PROGRESS_PROCESSED:
        post->n_replies = p->n_replies;
        post->texts = pal_xcalloc(p->n_replies + 1, sizeof(char *));
        post->quick_replies = pal_xcalloc(p->n_replies + 1, sizeof(char *));
        for (size_t i = 0; i < p->n_replies; i++) {
            post->texts[i] = pal_xstrdup(p->replies[i].text);
            post->quick_replies[i] = p->replies[i].quick_replies_json
                                         ? pal_xstrdup(p->replies[i].quick_replies_json)
                                         : NULL;
        }
        pal_http_complete(post->req, 0, NULL);
        return;
    case PAL_PROGRESS_FAILED:
        pal_http_complete(post->req, 0, NULL);
        return;
    }
}

static bool post_message(pal_request *req, const char *bot)
{
    pal_server *server = req->server;
    size_t bot_index;
    if (!pal_http_find_bot(server, bot, &bot_index))
        return pal_http_respond_error(req, 404, "unknown_bot", "no such bot", 0);
    if (!pal_http_is_json(req))
        return pal_http_respond_error(req, 415, "unsupported_media_type",
                                      "Content-Type must be application/json", 0);
    json_t *root = NULL;
    pal_api_message m;
    pal_api_refusal refusal;
    if (pal_api_parse_message(req->body, req->body_len, (size_t)server->config->max_message_bytes,
                              true, false, &root, &m, &refusal) != PAL_OK)
        return pal_http_respond_error(req, refusal.status, refusal.code, refusal.message, 0);
    const char *customer = m.customer, *text = m.text, *id = m.id, *lang = m.lang;
    char key[CUSTOMER_MAX + 64];
    int key_len = snprintf(key, sizeof(key), "%s/%s", bot, customer);
    int retry_after = 0;
    if (!pal_ratelimit_take(server->customer_limit, key, (size_t)key_len, pal_http_now_ms(),
                            &retry_after)) {
        json_decref(root);
        return pal_http_respond_error(req, 429, "rate_limited",
                                      "too many messages from this customer", retry_after);
    }
    char dedup[CUSTOMER_MAX + CLIENT_ID_MAX + 2];
    if (id)
        snprintf(dedup, sizeof(dedup), "%s\x1f%s", customer, id);
    const char *wait = pal_http_query(req, "wait");
    api_post *post = pal_xcalloc(1, sizeof(*post));
    post->server = server;
    post->req = req;
    post->wait = !(wait && (strcmp(wait, "false") == 0 || strcmp(wait, "0") == 0));
    req->route_data = post;
    req->route_data_free = api_post_free;
    req->build_response = api_answer;
    pal_submission s = {
        .bot_index = bot_index,
        .channel = "api",
        .external_user = customer,
        .dedup_key = id ? dedup : NULL,
        .channel_message_id = id,
        .text = text,
        .lang = lang,
        /* with wait, the answer carries the replies; without, they go to
         * the bot's callback when it has one */
        .delivery = post->wait || !server->pipeline_bots[bot_index].api_callback_url
                        ? PAL_DELIVERY_RETURNED
                        : PAL_DELIVERY_OUTBOX,
        .progress = api_progress,
        .progress_ctx = post,
        .want_processed = post->wait,
    };
    pal_err err = pal_pipeline_submit(server->pipeline, &s);
    json_decref(root);
    if (err == PAL_ERR_LIMIT)
        return pal_http_respond_error(req, 503, "overloaded", "too many messages in progress", 1);
    if (err)
        return pal_http_respond_error(req, 503, "stopping", "the server is stopping", 5);
    pal_http_park(req);
    return true;
}

static bool parse_id(const char *s, int64_t *out)
{
    char *end;
    if (!s || !*s || strlen(s) > 18)
        return false;
    for (const char *p = s; *p; p++)
        if (*p < '0' || *p > '9')
            return false;
    long long v = strtoll(s, &end, 10);
    if (*end || v <= 0)
        return false;
    *out = v;
    return true;
}

static bool get_conversation(pal_request *req, const char *id_text)
{
    int64_t id;
    if (!parse_id(id_text, &id))
        return pal_http_respond_error(req, 404, "not_found", "no such conversation", 0);
    pal_store_reader *reader = pal_http_reader_acquire(req->server);
    json_t *conversation = NULL;
    pal_err err = pal_store_conversation_json(reader, id, CONVERSATION_MESSAGES_MAX, &conversation);
    pal_http_reader_release(req->server, reader);
    if (err == PAL_ERR_NOT_FOUND)
        return pal_http_respond_error(req, 404, "not_found", "no such conversation", 0);
    if (err)
        return pal_http_respond_error(req, 503, "store_unavailable", "try again later", 1);
    return pal_http_respond_json(req, 200, conversation);
}

static bool list_conversations(pal_request *req)
{
    pal_conversation_filter f = {.limit = 50};
    const char *before = pal_http_query(req, "before");
    const char *limit = pal_http_query(req, "limit");
    const char *mode = pal_http_query(req, "mode");
    f.bot = pal_http_query(req, "bot");
    f.external_user = pal_http_query(req, "customer");
    f.channel = pal_http_query(req, "channel");
    if (f.external_user && !f.channel)
        f.channel = "api";
    if (f.channel && !f.external_user)
        return pal_http_respond_error(req, 400, "invalid_filter",
                                      "channel filters only together with customer", 0);
    if (before && !parse_id(before, &f.before))
        return pal_http_respond_error(req, 400, "invalid_before", "before must be an id", 0);
    if (limit) {
        int64_t l;
        if (!parse_id(limit, &l) || l > 500)
            return pal_http_respond_error(req, 400, "invalid_limit", "limit must be 1 to 500", 0);
        f.limit = (int)l;
    }
    if (mode && strcmp(mode, "bot") != 0 && strcmp(mode, "person") != 0)
        return pal_http_respond_error(req, 400, "invalid_mode", "mode must be bot or person", 0);
    f.mode = mode;
    pal_store_reader *reader = pal_http_reader_acquire(req->server);
    json_t *page = NULL;
    pal_err err = pal_store_list_conversations(reader, &f, &page);
    pal_http_reader_release(req->server, reader);
    if (err)
        return pal_http_respond_error(req, 503, "store_unavailable", "try again later", 1);
    return pal_http_respond_json(req, 200, page);
}

bool pal_routes_api(pal_request *req)
{
    const char *path = req->path;
    if (strncmp(path, prefix, sizeof(prefix) - 1) != 0)
        return false;
    path += sizeof(prefix) - 1;
    bool get = strcmp(req->method, "GET") == 0 || strcmp(req->method, "HEAD") == 0;
    bool post = strcmp(req->method, "POST") == 0;
    if (strcmp(path, "openapi.json") == 0)
        return false; /* a static file of web/ */
    if (!authorized(req)) {
        struct MHD_Response *r = pal_http_error_response(
            "unauthorized", "a valid bearer token is required (Authorization: Bearer ...)", 0);
        if (r)
            MHD_add_response_header(r, "WWW-Authenticate", "Bearer realm=\"palabre\"");
        return pal_http_respond_with(req, 401, r);
    }
    static const char bots[] = "bots/", conversations[] = "conversations";
    if (strncmp(path, bots, sizeof(bots) - 1) == 0) {
        const char *name = path + sizeof(bots) - 1;
        const char *slash = strchr(name, '/');
        char bot[128];
        if (!slash || strcmp(slash, "/messages") != 0 || (size_t)(slash - name) >= sizeof(bot) ||
            slash == name)
            return pal_http_respond_error(req, 404, "not_found", "no such address", 0);
        memcpy(bot, name, (size_t)(slash - name));
        bot[slash - name] = '\0';
        if (!post)
            return pal_http_method_not_allowed(req, "POST");
        return post_message(req, bot);
    }
    if (strcmp(path, conversations) == 0) {
        if (!get)
            return pal_http_method_not_allowed(req, "GET, HEAD");
        return list_conversations(req);
    }
    if (strncmp(path, conversations, sizeof(conversations) - 1) == 0 &&
        path[sizeof(conversations) - 1] == '/') {
        if (!get)
            return pal_http_method_not_allowed(req, "GET, HEAD");
        return get_conversation(req, path + sizeof(conversations));
    }
    return pal_http_respond_error(req, 404, "not_found", "no such address", 0);
}
