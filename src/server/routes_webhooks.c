/*
 * routes_webhooks.c — the platforms' webhooks (CHANNELS.md):
 *
 *   GET  /webhooks/{bot}/{channel}   the platform's handshake (Meta
 *                                    hub.challenge, X CRC)
 *   POST /webhooks/{bot}/{channel}   events: verified on the raw body,
 *                                    parsed, handed to the pipeline
 *
 * with channel one of messenger, whatsapp, telegram, x, twilio, configured
 * for the bot (platforms.h); anything else is 404. A POST is answered 200
 * only once every message it carried is durably stored with its turn (the
 * pipeline's STORED), so a crash before the answer makes the platform send
 * it again and the dedup key makes that harmless; the replies go out
 * afterwards through the outbox (senders in channels/). Platforms retry
 * when the answer is slow (Meta 20 s, X 3 s): storing takes milliseconds.
 *
 * A request whose signature (or secret) does not verify is refused with 403
 * before its body is parsed: nothing of it is stored.
 */
#include <microhttpd.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/log.h"
#include "base/mem.h"
#include "channels/channel.h"
#include "server/http.h"
#include "server/platforms.h"

static const char prefix[] = "/webhooks/";

enum {
    NAME_MAX_BYTES = 64,
    URL_MAX_BYTES = 4096,
};

/* ---- the request as an adapter sees it --------------------------------- */

static const char *request_header(const void *ctx, const char *name)
{
    return pal_http_header(ctx, name);
}

static const char *request_query(const void *ctx, const char *name)
{
    return pal_http_query(ctx, name);
}

typedef struct url_builder {
    char *buf;
    size_t len, cap;
    bool overflow, first;
} url_builder;

static void url_add(url_builder *u, const char *s, size_t n)
{
    if (u->overflow || u->len + n >= u->cap) {
        u->overflow = true;
        return;
    }
    memcpy(u->buf + u->len, s, n);
    u->len += n;
    u->buf[u->len] = '\0';
}

/* Percent-encodes all but RFC 3986's unreserved characters. */
static void url_add_encoded(url_builder *u, const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        bool plain = (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
                     (*p >= '0' && *p <= '9') || *p == '-' || *p == '.' || *p == '_' || *p == '~';
        if (plain) {
            url_add(u, (const char *)p, 1);
        } else {
            char e[3] = {'%', hex[*p >> 4], hex[*p & 15]};
            url_add(u, e, 3);
        }
    }
}

static enum MHD_Result add_query_pair(void *cls, enum MHD_ValueKind kind, const char *key,
                                      const char *value)
{
    url_builder *u = cls;
    (void)kind;
    url_add(u, u->first ? "?" : "&", 1);
    u->first = false;
    url_add_encoded(u, key);
    if (value) {
        url_add(u, "=", 1);
        url_add_encoded(u, value);
    }
    return MHD_YES;
}

/* The URL the platform called: the channel's public_url (or http:// and the
 * Host header), the path, and the query as libmicrohttpd parsed it, encoded
 * again (libmicrohttpd does not keep the raw query: a platform's URL with
 * unusual encoding in its query would not verify; keep webhook URLs plain). */
static bool called_url(const pal_request *req, const pal_platform *platform, char *buf, size_t cap)
{
    url_builder u = {.buf = buf, .cap = cap, .first = true};
    buf[0] = '\0';
    const char *base = pal_channel_setting(&platform->settings, "public_url");
    if (base) {
        size_t n = strlen(base);
        while (n > 0 && base[n - 1] == '/')
            n--;
        url_add(&u, base, n);
    } else {
        const char *host = pal_http_header(req, "Host");
        url_add(&u, "http://", 7);
        if (host)
            url_add(&u, host, strlen(host));
    }
    url_add(&u, req->path, strlen(req->path));
    MHD_get_connection_values(req->connection, MHD_GET_ARGUMENT_KIND, add_query_pair, &u);
    return !u.overflow;
}

/* The request as the adapter sees it (url: called_url's). */
static pal_channel_request channel_request(pal_request *req, const char *url)
{
    return (pal_channel_request){
        .method = req->method,
        .url = url,
        .body = req->body,
        .body_len = req->body_len,
        .header = request_header,
        .query = request_query,
        .ctx = req,
    };
}

/* ---- answering --------------------------------------------------------- */

static struct MHD_Response *text_response(const char *content_type, const char *body)
{
    return pal_http_text_response(content_type ? content_type : "text/plain", body ? body : "",
                                  body ? strlen(body) : 0);
}

/* One POST in flight: answered when every event is stored. */
typedef struct webhook_post {
    pal_request *req;
    atomic_int pending; /* events not stored yet, plus one while submitting */
    atomic_bool failed, overloaded;
    char *answer_body;               /* owned */
    const char *answer_content_type; /* static */
} webhook_post;

static void post_free(void *data)
{
    webhook_post *post = data;
    free(post->answer_body);
    free(post);
}

static void post_finish(webhook_post *post)
{
    if (atomic_load(&post->overloaded)) {
        pal_http_complete(post->req, 503,
                          pal_http_error_response("overloaded", "try again later", 1));
        return;
    }
    if (atomic_load(&post->failed)) {
        pal_http_complete(post->req, 503,
                          pal_http_error_response("store_unavailable", "try again later", 5));
        return;
    }
    pal_http_complete(post->req, 200, text_response(post->answer_content_type, post->answer_body));
}

static void post_progress(void *ctx, const pal_progress *p)
{
    webhook_post *post = ctx;
    if (p->kind == PAL_PROGRESS_FAILED)
        atomic_store(&post->failed, true);
    else if (p->kind != PAL_PROGRESS_STORED)
        return;
    if (atomic_fetch_sub(&post->pending, 1) == 1)
        post_finish(post);
}

static pal_err submit_event(pal_request *req, size_t bot_index, const char *channel,
                            const pal_channel_event *e, webhook_post *post)
{
    pal_pipeline *pipeline = req->server->pipeline;
    if (e->kind == PAL_CHANNEL_RECEIPT) {
        pal_receipt r = {
            .bot_index = bot_index,
            .channel = channel,
            .platform_id = e->platform_id,
            .status = e->status,
            .error = e->error,
            .progress = post_progress,
            .progress_ctx = post,
        };
        return pal_pipeline_receipt(pipeline, &r);
    }
    pal_submission s = {
        .bot_index = bot_index,
        .channel = channel,
        .external_user = e->external_user,
        .dedup_key = e->dedup_key,
        .channel_message_id = e->channel_message_id,
        .text = e->text,
        .address = e->address,
        .delivery = PAL_DELIVERY_OUTBOX,
        .progress = post_progress,
        .progress_ctx = post,
    };
    return pal_pipeline_submit(pipeline, &s);
}

/* True when the event can go to the pipeline (the adapter checked the
 * platform's rules; these are palabre's). */
static bool acceptable(const pal_channel_event *e, size_t max_text)
{
    if (e->kind == PAL_CHANNEL_RECEIPT)
        return e->platform_id && e->status;
    return e->external_user && e->external_user[0] && e->text && e->text[0] &&
           strlen(e->text) <= max_text;
}

static bool handle_post(pal_request *req, size_t bot_index, const char *channel,
                        const pal_platform *platform)
{
    pal_server *server = req->server;
    char url[URL_MAX_BYTES];
    if (!called_url(req, platform, url, sizeof(url)))
        return pal_http_respond_error(req, 414, "uri_too_long", "the URL is too long", 0);
    pal_channel_request cr = channel_request(req, url);
    if (!platform->channel->verify(&platform->settings, &cr)) {
        pal_log(PAL_LOG_WARN, "webhooks", "bot %s channel %s: signature refused (from %s)",
                pal_bot_name(server->bots[bot_index]), channel, req->client_ip);
        return pal_http_respond_error(req, 403, "bad_signature",
                                      "the request's signature does not verify", 0);
    }
    pal_channel_events events = {0};
    pal_api_refusal refusal = {0};
    if (platform->channel->parse(&platform->settings, &cr, &events, &refusal) != PAL_OK) {
        pal_channel_events_clear(&events);
        return pal_http_respond_error(req, refusal.status ? refusal.status : 400,
                                      refusal.code ? refusal.code : "invalid_payload",
                                      refusal.message ? refusal.message : "invalid payload", 0);
    }
    webhook_post *post = pal_xcalloc(1, sizeof(*post));
    post->req = req;
    post->answer_body =
        events.answer_body
            ? events.answer_body
            : pal_xstrdup(platform->channel->ack_body ? platform->channel->ack_body : "");
    post->answer_content_type =
        events.answer_body ? events.answer_content_type : platform->channel->ack_content_type;
    events.answer_body = NULL;
    atomic_init(&post->pending, 1);
    req->route_data = post;
    req->route_data_free = post_free;
    size_t max_text = (size_t)server->config->max_message_bytes;
    for (size_t i = 0; i < events.n; i++) {
        const pal_channel_event *e = &events.items[i];
        if (!acceptable(e, max_text)) {
            pal_log(PAL_LOG_INFO, "webhooks",
                    "bot %s channel %s: event %s left out (empty or "
                    "too long)",
                    pal_bot_name(server->bots[bot_index]), channel,
                    e->dedup_key ? e->dedup_key : "?");
            continue;
        }
        atomic_fetch_add(&post->pending, 1);
        pal_err err = submit_event(req, bot_index, channel, e, post);
        if (err) {
            atomic_fetch_sub(&post->pending, 1);
            atomic_store(err == PAL_ERR_LIMIT ? &post->overloaded : &post->failed, true);
            break; /* the platform sends the whole request again: dedup keeps it once */
        }
    }
    pal_channel_events_clear(&events);
    pal_http_park(req);
    if (atomic_fetch_sub(&post->pending, 1) == 1)
        post_finish(post);
    return true;
}

static bool handle_get(pal_request *req, const pal_platform *platform)
{
    char url[URL_MAX_BYTES];
    if (!called_url(req, platform, url, sizeof(url)))
        return pal_http_respond_error(req, 414, "uri_too_long", "the URL is too long", 0);
    pal_channel_request cr = channel_request(req, url);
    pal_channel_answer answer = {0};
    platform->channel->handshake(&platform->settings, &cr, &answer);
    if (answer.status == 0)
        answer.status = 403;
    bool ok;
    if (answer.status >= 400 && !answer.body) {
        ok = pal_http_respond_error(req, answer.status,
                                    answer.status == 403 ? "forbidden" : "bad_request",
                                    "handshake refused", 0);
    } else {
        ok = pal_http_respond_with(req, answer.status,
                                   text_response(answer.content_type, answer.body));
    }
    free(answer.body);
    return ok;
}

/* Splits "{bot}/{channel}" (no further '/'); false when malformed. */
static bool split_path(const char *rest, char *bot, char *channel)
{
    const char *slash = strchr(rest, '/');
    if (!slash || strchr(slash + 1, '/'))
        return false;
    size_t bot_len = (size_t)(slash - rest), channel_len = strlen(slash + 1);
    if (bot_len == 0 || bot_len >= NAME_MAX_BYTES || channel_len == 0 ||
        channel_len >= NAME_MAX_BYTES)
        return false;
    memcpy(bot, rest, bot_len);
    bot[bot_len] = '\0';
    memcpy(channel, slash + 1, channel_len + 1);
    return true;
}

bool pal_routes_webhooks(pal_request *req)
{
    if (strncmp(req->path, prefix, sizeof(prefix) - 1) != 0)
        return false;
    pal_server *server = req->server;
    char bot[NAME_MAX_BYTES], channel[NAME_MAX_BYTES];
    size_t bot_index;
    if (!split_path(req->path + sizeof(prefix) - 1, bot, channel))
        return pal_http_respond_error(req, 404, "not_found", "no such webhook", 0);
    if (!pal_http_find_bot(server, bot, &bot_index))
        return pal_http_respond_error(req, 404, "unknown_bot", "no such bot", 0);
    const pal_platform *platform = pal_platforms_get(server->platforms, bot_index, channel);
    if (!platform)
        return pal_http_respond_error(req, 404, "channel_not_configured",
                                      "this channel is not configured for this bot", 0);
    bool get = strcmp(req->method, "GET") == 0 || strcmp(req->method, "HEAD") == 0;
    bool post = strcmp(req->method, "POST") == 0;
    const char *allow = platform->channel->handshake ? "GET, HEAD, POST" : "POST";
    if (get && platform->channel->handshake)
        return handle_get(req, platform);
    if (!post)
        return pal_http_method_not_allowed(req, allow);
    return handle_post(req, bot_index, channel, platform);
}
