/*
 * routes_webchat.c — the `webchat` channel: the page /chat and the widget
 * (web/) talk to these addresses.
 *
 *   GET  /webchat/bots                    the bots, their languages and what they do
 *   POST /webchat/{bot}/messages          {"text", "id", "lang"} → 202 {"message_id", ...}
 *   GET  /webchat/{bot}/history           the visitor's conversation, oldest first
 *   GET  /webchat/{bot}/events            server-sent events: each new message
 *
 * The visitor is known by a random token in the cookie `palabre_visitor`
 * (HttpOnly, SameSite=Lax), made on the first request that has none; the
 * store only sees a hash of it, so the API and the database never hold a
 * token that would let someone read the conversation. State-changing
 * requests must be JSON (a cross-site form cannot send that without CORS)
 * and, when the browser says where it comes from (Origin), come from this
 * host. Unauthenticated: limited per client address and per visitor.
 */
#include <microhttpd.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/mem.h"
#include "channels/api.h"
#include "dialog/bot_model.h"
#include "server/http.h"

enum {
    TOKEN_BYTES = 24,
    TOKEN_HEX = 2 * TOKEN_BYTES,
    VISITOR_ID_BYTES = 16,
    CLIENT_ID_MAX = PAL_API_CLIENT_ID_MAX,
    HISTORY_MAX = 200,
};

static const char prefix[] = "/webchat/";
static const char cookie_name[] = "palabre_visitor";

typedef struct visitor {
    char token[TOKEN_HEX + 1];
    char id[2 * VISITOR_ID_BYTES + 2]; /* "v" + hex of the hash */
    char set_cookie[160];              /* "" when the browser has the cookie */
} visitor;

static bool valid_token(const char *t)
{
    if (!t || strlen(t) != TOKEN_HEX)
        return false;
    for (const char *p = t; *p; p++)
        if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f')))
            return false;
    return true;
}

static void visitor_of(const pal_request *req, visitor *v)
{
    const char *token = pal_http_cookie(req, cookie_name);
    v->set_cookie[0] = '\0';
    if (valid_token(token)) {
        memcpy(v->token, token, TOKEN_HEX + 1);
    } else {
        unsigned char raw[TOKEN_BYTES];
        randombytes_buf(raw, sizeof(raw));
        sodium_bin2hex(v->token, sizeof(v->token), raw, sizeof(raw));
        snprintf(v->set_cookie, sizeof(v->set_cookie),
                 "%s=%s; Path=/; Max-Age=31536000; HttpOnly; SameSite=Lax", cookie_name, v->token);
    }
    unsigned char hash[VISITOR_ID_BYTES];
    crypto_generichash(hash, sizeof(hash), (const unsigned char *)v->token, TOKEN_HEX, NULL, 0);
    v->id[0] = 'v';
    sodium_bin2hex(v->id + 1, sizeof(v->id) - 1, hash, sizeof(hash));
}

static struct MHD_Response *with_cookie(struct MHD_Response *r, const visitor *v)
{
    if (r && v->set_cookie[0])
        MHD_add_response_header(r, "Set-Cookie", v->set_cookie);
    return r;
}

static bool respond(pal_request *req, unsigned status, json_t *body, const visitor *v)
{
    return pal_http_respond_with(req, status, with_cookie(pal_http_json_response(body), v));
}

/* Per client address always; per visitor for messages only (opening the
 * live stream again must not eat the customer's message allowance). */
static bool limited(pal_request *req, const visitor *v, bool message)
{
    pal_server *server = req->server;
    int retry = 0;
    int64_t now = pal_http_now_ms();
    if (pal_ratelimit_take(server->ip_limit, req->client_ip, strlen(req->client_ip), now, &retry) &&
        (!message || pal_ratelimit_take(server->customer_limit, v->id, strlen(v->id), now, &retry)))
        return false;
    pal_http_respond_with(
        req, 429,
        with_cookie(pal_http_error_response("rate_limited", "too many requests", retry), v));
    return true;
}

static json_t *bot_texts(const pal_bot *bot)
{
    json_t *o = json_object();
    for (size_t i = 0; i < bot->n_langs; i++) {
        pal_lang lang = bot->langs[i];
        if (bot->contract.n_variants[lang] > 0)
            json_object_set_new(o, pal_lang_code(lang),
                                json_string(bot->contract.variants[lang][0]));
    }
    return o;
}

static bool list_bots(pal_request *req)
{
    pal_server *server = req->server;
    json_t *bots = json_array();
    for (size_t i = 0; i < server->n_bots; i++) {
        const pal_bot *bot = server->bots[i];
        json_t *langs = json_array();
        for (size_t k = 0; k < bot->n_langs; k++)
            json_array_append_new(langs, json_string(pal_lang_code(bot->langs[k])));
        json_array_append_new(bots, json_pack("{sssoso}", "name", pal_bot_name(bot), "languages",
                                              langs, "description", bot_texts(bot)));
    }
    return pal_http_respond_json(req, 200, json_pack("{so}", "bots", bots));
}

/* Same-origin check for state-changing requests: an Origin, when sent,
 * must name this host. */
static bool same_origin(const pal_request *req)
{
    const char *origin = pal_http_header(req, "Origin");
    const char *host = pal_http_header(req, "Host");
    if (!origin)
        return true;
    if (!host)
        return false;
    const char *rest = strstr(origin, "://");
    return rest && strcmp(rest + 3, host) == 0;
}

typedef struct webchat_post {
    pal_request *req;
    visitor v;
} webchat_post;

static void webchat_progress(void *ctx, const pal_progress *p)
{
    webchat_post *post = ctx;
    if (p->kind == PAL_PROGRESS_FAILED) {
        pal_http_complete(
            post->req, 503,
            with_cookie(pal_http_error_response("store_unavailable", "try again later", 5),
                        &post->v));
        return;
    }
    if (p->kind != PAL_PROGRESS_STORED)
        return;
    json_t *body = json_pack("{sIsIsb}", "message_id", (json_int_t)p->message_id, "conversation_id",
                             (json_int_t)p->conversation_id, "duplicate", p->duplicate);
    pal_http_complete(post->req, 202, with_cookie(pal_http_json_response(body), &post->v));
}

static bool post_message(pal_request *req, size_t bot_index, const visitor *v)
{
    pal_server *server = req->server;
    if (!pal_http_is_json(req))
        return pal_http_respond_error(req, 415, "unsupported_media_type",
                                      "Content-Type must be application/json", 0);
    if (!same_origin(req))
        return pal_http_respond_error(req, 403, "cross_origin", "cross-site request refused", 0);
    if (limited(req, v, true))
        return true;
    json_t *root = NULL;
    pal_api_message m;
    pal_api_refusal refusal;
    if (pal_api_parse_message(req->body, req->body_len, (size_t)server->config->max_message_bytes,
                              false, true, &root, &m, &refusal) != PAL_OK)
        return pal_http_respond_error(req, refusal.status, refusal.code, refusal.message, 0);
    const char *text = m.text, *id = m.id, *lang = m.lang;
    pal_lang parsed = PAL_LANG_UNKNOWN;
    if (lang)
        (void)pal_lang_parse(lang, &parsed);
    char dedup[2 * VISITOR_ID_BYTES + 2 + CLIENT_ID_MAX + 2];
    if (id)
        snprintf(dedup, sizeof(dedup), "%s\x1f%s", v->id, id);
    webchat_post *post = pal_xcalloc(1, sizeof(*post));
    post->req = req;
    post->v = *v;
    req->route_data = post;
    req->route_data_free = free;
    pal_submission s = {
        .bot_index = bot_index,
        .channel = "webchat",
        .external_user = v->id,
        .dedup_key = id ? dedup : NULL,
        .channel_message_id = id,
        .text = text,
        .lang = lang ? pal_lang_code(parsed) : NULL,
        .delivery = PAL_DELIVERY_RETURNED,
        .progress = webchat_progress,
        .progress_ctx = post,
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

static bool history(pal_request *req, size_t bot_index, const visitor *v)
{
    pal_server *server = req->server;
    pal_store_reader *reader = pal_http_reader_acquire(server);
    int64_t conversation_id = 0;
    json_t *messages = NULL;
    json_t *body;
    if (!v->set_cookie[0] &&
        pal_store_find_conversation(reader, pal_bot_name(server->bots[bot_index]), "webchat", v->id,
                                    &conversation_id) == PAL_OK) {
        json_t *conversation = NULL;
        if (pal_store_conversation_json(reader, conversation_id, HISTORY_MAX, &conversation) ==
            PAL_OK) {
            messages = json_incref(json_object_get(conversation, "messages"));
            json_decref(conversation);
        }
    }
    pal_http_reader_release(server, reader);
    body = json_pack("{soso}", "conversation_id",
                     conversation_id ? json_integer(conversation_id) : json_null(), "messages",
                     messages ? messages : json_array());
    return respond(req, 200, body, v);
}

static bool events(pal_request *req, size_t bot_index, const visitor *v)
{
    int64_t after = 0;
    const char *last = pal_http_header(req, "Last-Event-ID");
    const char *query = pal_http_query(req, "after");
    const char *from = last ? last : query;
    if (from) {
        /* digits only, at most 18 of them: no sign, no overflow */
        size_t digits = strspn(from, "0123456789");
        if (digits == 0 || digits > 18 || from[digits] != '\0')
            return pal_http_respond_error(req, 400, "invalid_after", "after must be a message id",
                                          0);
        after = strtoll(from, NULL, 10);
    }
    if (limited(req, v, false))
        return true;
    return pal_http_stream(req, bot_index, v->id, after, v->set_cookie[0] ? v->set_cookie : NULL);
}

bool pal_routes_webchat(pal_request *req)
{
    const char *path = req->path;
    if (strncmp(path, prefix, sizeof(prefix) - 1) != 0)
        return false;
    path += sizeof(prefix) - 1;
    bool get = strcmp(req->method, "GET") == 0 || strcmp(req->method, "HEAD") == 0;
    bool post = strcmp(req->method, "POST") == 0;
    if (strcmp(path, "bots") == 0)
        return get ? list_bots(req) : pal_http_method_not_allowed(req, "GET, HEAD");
    const char *slash = strchr(path, '/');
    char bot[128];
    size_t bot_index;
    if (!slash || (size_t)(slash - path) >= sizeof(bot) || slash == path)
        return pal_http_respond_error(req, 404, "not_found", "no such address", 0);
    memcpy(bot, path, (size_t)(slash - path));
    bot[slash - path] = '\0';
    if (!pal_http_find_bot(req->server, bot, &bot_index))
        return pal_http_respond_error(req, 404, "unknown_bot", "no such bot", 0);
    visitor v;
    visitor_of(req, &v);
    const char *what = slash + 1;
    if (strcmp(what, "messages") == 0)
        return post ? post_message(req, bot_index, &v) : pal_http_method_not_allowed(req, "POST");
    if (strcmp(what, "history") == 0)
        return get ? history(req, bot_index, &v) : pal_http_method_not_allowed(req, "GET, HEAD");
    if (strcmp(what, "events") == 0)
        /* a stream has no HEAD: it never ends */
        return strcmp(req->method, "GET") == 0 ? events(req, bot_index, &v)
                                               : pal_http_method_not_allowed(req, "GET");
    return pal_http_respond_error(req, 404, "not_found", "no such address", 0);
}
