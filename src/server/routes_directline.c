/*
 * routes_directline.c — the `directline` channel: Bot Framework Direct
 * Line 3.0 over HTTP polling, for Microsoft's Web Chat widget
 * (CHANNELS.md §6; tokens and activities in channels/directline.h).
 *
 *   POST /v3/directline/tokens/generate            secret → {conversationId, token, expires_in}
 *   POST /v3/directline/tokens/refresh             token  → the same, a new expiry
 *   POST /v3/directline/conversations              secret or token → 201 (+ streamUrl: null)
 *   GET  /v3/directline/conversations/{id}         reconnect → 200, same shape
 *   POST /v3/directline/conversations/{id}/activities          an activity → {"id"}
 *   GET  /v3/directline/conversations/{id}/activities?watermark=W
 *                                                  → {"activities": [...], "watermark"}
 *
 * Every call carries `Authorization: Bearer <secret or token>`. A bot has
 * Direct Line when its channel setting `secret` is set (configuration
 * `channels: {directline: {secret: ...}}` or PALABRE_<BOT>_DIRECTLINE_SECRET);
 * the secret is the brand's server's, tokens (setting token_ttl_seconds,
 * default 1800) are what a page gets. One Direct Line conversation is one
 * palabre customer (its external id on the channel is the conversation id).
 *
 * A message is answered once its turn is committed, so the poll that
 * follows has the bot's replies. Web Chat resends after a timeout and
 * Microsoft's service does not deduplicate: palabre does, by
 * channelData.clientActivityID within the conversation, and a resend gets
 * the first copy's id. The customer's own messages come back in the poll
 * with their clientActivityID, or Web Chat shows "Send failed".
 *
 * Web Chat runs on the brand's pages, another origin: every answer carries
 * Access-Control-Allow-Origin (credentials are a bearer header, never a
 * cookie, so any origin may call), and OPTIONS answers the preflight.
 */
#include <microhttpd.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "base/mem.h"
#include "channels/directline.h"
#include "channels/sign.h"
#include "server/http.h"
#include "text/langid.h"

enum {
    TOKEN_TTL_DEFAULT = 1800,
    TOKEN_TTL_MAX = 7 * 24 * 3600,
    ACTIVITIES_PAGE = 200, /* messages per poll; the next poll takes the rest */
    CREDENTIAL_MAX = 4096, /* bytes of a secret or token */
    BOT_KEY_MAX = PAL_DIRECTLINE_BOT_MAX + PAL_DIRECTLINE_CONVERSATION_ID_LEN + 16,
};

static const char prefix[] = "/v3/directline";
static const char channel[] = "directline";

/* ---- answers, all with CORS -------------------------------------------- */

static struct MHD_Response *with_cors(const pal_request *req, struct MHD_Response *r)
{
    if (r) {
        MHD_add_response_header(r, "Access-Control-Allow-Origin", pal_http_cors_origin(req));
        MHD_add_response_header(r, "Vary", "Origin");
    }
    return r;
}

static bool respond(pal_request *req, unsigned status, json_t *body)
{
    return pal_http_respond_with(req, status, with_cors(req, pal_http_json_response(body)));
}

static bool fail(pal_request *req, unsigned status, const char *code, const char *message,
                 int retry_after_s)
{
    return pal_http_respond_with(
        req, status, with_cors(req, pal_http_error_response(code, message, retry_after_s)));
}

static bool not_allowed(pal_request *req, const char *allow)
{
    char message[64];
    snprintf(message, sizeof(message), "this address answers %s", allow);
    struct MHD_Response *r =
        with_cors(req, pal_http_error_response("MethodNotAllowed", message, 0));
    if (r)
        MHD_add_response_header(r, "Allow", allow);
    return pal_http_respond_with(req, 405, r);
}

static bool preflight(pal_request *req)
{
    struct MHD_Response *r = MHD_create_response_from_buffer(0, NULL, MHD_RESPMEM_PERSISTENT);
    if (!r)
        return true;
    with_cors(req, r);
    MHD_add_response_header(r, "Access-Control-Allow-Methods", "GET, POST, OPTIONS");
    MHD_add_response_header(r, "Access-Control-Allow-Headers",
                            "Authorization, Content-Type, x-ms-bot-agent, X-Requested-With");
    MHD_add_response_header(r, "Access-Control-Max-Age", "600");
    return pal_http_respond_with(req, 204, r);
}

/* ---- the bot's settings ------------------------------------------------- */

/* The bot's Direct Line secret, NULL when it has none (no Direct Line). */
static const char *bot_secret(const pal_server *server, size_t bot_index)
{
    const char *secret =
        pal_config_channel(server->config, bot_index, pal_bot_name(server->bots[bot_index]),
                           channel, "secret", getenv);
    return secret && *secret ? secret : NULL;
}

static int64_t token_ttl(const pal_server *server, size_t bot_index)
{
    const char *text =
        pal_config_channel(server->config, bot_index, pal_bot_name(server->bots[bot_index]),
                           channel, "token_ttl_seconds", getenv);
    if (!text)
        return TOKEN_TTL_DEFAULT;
    size_t digits = strspn(text, "0123456789");
    if (digits == 0 || digits > 9 || text[digits] != '\0')
        return TOKEN_TTL_DEFAULT;
    long long ttl = strtoll(text, NULL, 10);
    return ttl >= 1 && ttl <= TOKEN_TTL_MAX ? (int64_t)ttl : TOKEN_TTL_DEFAULT;
}

static int64_t now_s(void)
{
    return (int64_t)time(NULL);
}

/* ---- who calls ---------------------------------------------------------- */

typedef struct dl_auth {
    size_t bot_index;
    bool by_secret;               /* else by a token, whose claims follow */
    pal_directline_claims claims; /* by token */
} dl_auth;

/* Finds the bot of the bearer credential: a secret (compared in constant
 * time with every bot's, all of them), or a token signed with its bot's
 * secret. False when it answered (401, 403). */
static bool authenticate(pal_request *req, dl_auth *auth)
{
    pal_server *server = req->server;
    const char *header = pal_http_header(req, "Authorization");
    static const char bearer[] = "Bearer ";
    memset(auth, 0, sizeof(*auth));
    /* the scheme is case-insensitive (RFC 9110, 11.1) */
    if (!header || strncasecmp(header, bearer, sizeof(bearer) - 1) != 0) {
        fail(req, 401, "Unauthorized", "Authorization: Bearer <secret or token> is required", 0);
        return false;
    }
    const char *credential = header + sizeof(bearer) - 1;
    size_t len = strnlen(credential, CREDENTIAL_MAX + 1);
    if (len == 0 || len > CREDENTIAL_MAX) {
        fail(req, 403, "Forbidden", "invalid secret or token", 0);
        return false;
    }
    bool found = false;
    for (size_t i = 0; i < server->n_bots; i++) {
        const char *secret = bot_secret(server, i);
        if (secret && pal_equal_consttime(credential, len, secret, strlen(secret)) && !found) {
            found = true;
            auth->bot_index = i;
        }
    }
    if (found) {
        auth->by_secret = true;
        return true;
    }
    pal_directline_claims peeked;
    const char *secret = NULL;
    if (pal_directline_token_peek(credential, &peeked) == PAL_OK &&
        pal_http_find_bot(server, peeked.bot, &auth->bot_index))
        secret = bot_secret(server, auth->bot_index);
    pal_err err = secret ? pal_directline_token_check(credential, secret, strlen(secret), now_s(),
                                                      &auth->claims)
                         : PAL_ERR_INVALID;
    if (err == PAL_ERR_STATE) {
        fail(req, 403, "TokenExpired", "the token has expired", 0);
        return false;
    }
    if (err != PAL_OK) {
        fail(req, 403, "Forbidden", "invalid secret or token", 0);
        return false;
    }
    return true;
}

/* ---- tokens and conversations ------------------------------------------- */

/* Answers {conversationId, token, expires_in[, streamUrl]} with a new token
 * for (bot, conversation, user). */
static bool answer_token(pal_request *req, unsigned status, const dl_auth *auth,
                         const char *conversation, const char *user, bool stream_url)
{
    pal_server *server = req->server;
    const char *secret = bot_secret(server, auth->bot_index);
    int64_t ttl = token_ttl(server, auth->bot_index);
    pal_directline_claims claims = {.expires = now_s() + ttl};
    snprintf(claims.bot, sizeof(claims.bot), "%s", pal_bot_name(server->bots[auth->bot_index]));
    snprintf(claims.conversation, sizeof(claims.conversation), "%s", conversation);
    snprintf(claims.user, sizeof(claims.user), "%s", user ? user : "");
    char *token = NULL;
    if (!secret || pal_directline_token_mint(secret, strlen(secret), &claims, &token) != PAL_OK)
        return fail(req, 500, "ServiceError", "the token could not be made", 0);
    json_t *body = json_pack("{sssssI}", "conversationId", conversation, "token", token,
                             "expires_in", (json_int_t)ttl);
    free(token);
    if (stream_url)
        json_object_set_new(body, "streamUrl", json_null());
    return respond(req, status, body);
}

/* The user id a token request names ({"user": {"id": ...}}), into user
 * (size PAL_DIRECTLINE_USER_MAX + 1; "" when none). False when it answered
 * 400: a body that is not a JSON object, or a user id that is not valid. */
static bool requested_user(pal_request *req, char *user)
{
    user[0] = '\0';
    size_t start = strspn(req->body, " \t\r\n");
    if (start >= req->body_len)
        return true; /* no body */
    json_t *doc = json_loadb(req->body, req->body_len, JSON_REJECT_DUPLICATES, NULL);
    bool ok = false;
    if (!json_is_object(doc)) {
        fail(req, 400, "BadSyntax", "the body must be a JSON object", 0);
        goto out;
    }
    json_t *id = json_object_get(json_object_get(doc, "user"), "id");
    if (id && !json_is_null(id)) {
        if (!json_is_string(id) ||
            !pal_directline_valid_id(json_string_value(id), PAL_DIRECTLINE_USER_MAX)) {
            fail(req, 400, "BadArgument", "user.id must be a string of 1 to 128 bytes", 0);
            goto out;
        }
        snprintf(user, PAL_DIRECTLINE_USER_MAX + 1, "%s", json_string_value(id));
    }
    ok = true;
out:
    json_decref(doc);
    return ok;
}

static bool tokens_generate(pal_request *req, const dl_auth *auth)
{
    char user[PAL_DIRECTLINE_USER_MAX + 1];
    if (!auth->by_secret)
        return fail(req, 403, "Forbidden", "generating a token needs the secret", 0);
    if (!requested_user(req, user))
        return true;
    char conversation[PAL_DIRECTLINE_CONVERSATION_ID_LEN + 1];
    pal_directline_new_conversation_id(conversation);
    return answer_token(req, 200, auth, conversation, user, false);
}

static bool tokens_refresh(pal_request *req, const dl_auth *auth)
{
    if (auth->by_secret)
        return fail(req, 403, "Forbidden", "only a token can be refreshed", 0);
    return answer_token(req, 200, auth, auth->claims.conversation, auth->claims.user, false);
}

/* POST /conversations: with a token, the token's conversation; with the
 * secret, a new one. */
static bool start_conversation(pal_request *req, const dl_auth *auth)
{
    if (!auth->by_secret)
        return answer_token(req, 201, auth, auth->claims.conversation, auth->claims.user, true);
    char user[PAL_DIRECTLINE_USER_MAX + 1];
    if (!requested_user(req, user))
        return true;
    char conversation[PAL_DIRECTLINE_CONVERSATION_ID_LEN + 1];
    pal_directline_new_conversation_id(conversation);
    return answer_token(req, 201, auth, conversation, user, true);
}

/* ---- activities --------------------------------------------------------- */

typedef struct dl_post {
    pal_request *req;
    char conversation[PAL_DIRECTLINE_CONVERSATION_ID_LEN + 1];
    /* copied on the writer thread, read on the HTTP thread after completion */
    pal_progress_kind kind;
    int64_t message_id;
} dl_post;

static struct MHD_Response *post_answer(pal_request *req, unsigned *status)
{
    dl_post *post = req->route_data;
    if (post->kind == PAL_PROGRESS_FAILED) {
        *status = 503;
        return with_cors(
            req, pal_http_error_response("ServiceError", "the message could not be stored", 5));
    }
    char id[PAL_DIRECTLINE_ACTIVITY_ID_SIZE];
    pal_directline_activity_id(post->conversation, post->message_id, id, sizeof(id));
    *status = 200;
    return with_cors(req, pal_http_json_response(json_pack("{ss}", "id", id)));
}

/* Pipeline progress, on the writer thread: the answer waits for the turn
 * (PROCESSED), except for a resend, which has no turn of its own. */
static void post_progress(void *ctx, const pal_progress *p)
{
    dl_post *post = ctx;
    switch (p->kind) {
    case PAL_PROGRESS_STORED:
        post->message_id = p->message_id;
        if (p->duplicate) {
            post->kind = p->kind;
            pal_http_complete(post->req, 0, NULL);
        }
        return;
    case PAL_PROGRESS_PROCESSED:
    case PAL_PROGRESS_FAILED:
        post->kind = p->kind;
        pal_http_complete(post->req, 0, NULL);
        return;
    }
}

/* A typing indicator or an event: acknowledged, not stored. */
static bool acknowledge(pal_request *req, const char *conversation)
{
    unsigned char raw[8];
    char id[PAL_DIRECTLINE_CONVERSATION_ID_LEN + 2 + 2 * sizeof(raw) + 1];
    randombytes_buf(raw, sizeof(raw));
    int n = snprintf(id, sizeof(id), "%s|x", conversation);
    for (size_t i = 0; i < sizeof(raw) && n > 0; i++)
        n += snprintf(id + n, sizeof(id) - (size_t)n, "%02x", raw[i]);
    return respond(req, 200, json_pack("{ss}", "id", id));
}

static bool post_activity(pal_request *req, const dl_auth *auth, const char *conversation)
{
    pal_server *server = req->server;
    if (!pal_http_is_json(req))
        return fail(req, 415, "BadArgument", "Content-Type must be application/json", 0);
    json_t *root = NULL;
    pal_directline_activity a;
    pal_api_refusal refusal;
    if (pal_directline_parse_activity(req->body, req->body_len,
                                      (size_t)server->config->max_message_bytes, &root, &a,
                                      &refusal) != PAL_OK)
        return fail(req, refusal.status, refusal.code, refusal.message, 0);
    if (strcmp(a.type, "message") != 0) {
        json_decref(root);
        return acknowledge(req, conversation);
    }
    const char *bot = pal_bot_name(server->bots[auth->bot_index]);
    char key[BOT_KEY_MAX];
    int key_len = snprintf(key, sizeof(key), "%s/%s/%s", bot, channel, conversation);
    int retry_after = 0;
    if (!pal_ratelimit_take(server->customer_limit, key, (size_t)key_len, pal_http_now_ms(),
                            &retry_after)) {
        json_decref(root);
        return fail(req, 429, "TooManyRequests", "too many messages in this conversation",
                    retry_after);
    }
    /* clientActivityID is the client's: scoped to the conversation */
    char dedup[PAL_DIRECTLINE_CONVERSATION_ID_LEN + PAL_DIRECTLINE_CLIENT_ID_MAX + 2];
    if (a.client_activity_id)
        snprintf(dedup, sizeof(dedup), "%s\x1f%s", conversation, a.client_activity_id);
    pal_lang lang = PAL_LANG_UNKNOWN;
    bool has_lang = a.lang[0] && pal_lang_parse(a.lang, &lang);
    dl_post *post = pal_xcalloc(1, sizeof(*post));
    post->req = req;
    snprintf(post->conversation, sizeof(post->conversation), "%s", conversation);
    req->route_data = post;
    req->route_data_free = free;
    req->build_response = post_answer;
    pal_submission s = {
        .bot_index = auth->bot_index,
        .channel = channel,
        .external_user = conversation,
        .dedup_key = a.client_activity_id ? dedup : NULL,
        .channel_message_id = a.client_activity_id,
        .text = a.text,
        .lang = has_lang ? pal_lang_code(lang) : NULL,
        .delivery = PAL_DELIVERY_RETURNED,
        .progress = post_progress,
        .progress_ctx = post,
        .want_processed = true,
    };
    pal_err err = pal_pipeline_submit(server->pipeline, &s);
    json_decref(root);
    if (err == PAL_ERR_LIMIT)
        return fail(req, 503, "ServiceError", "too many messages in progress", 1);
    if (err)
        return fail(req, 503, "ServiceError", "the server is stopping", 5);
    pal_http_park(req);
    return true;
}

/* The watermark of a poll: absent or empty is the start; else a message id. */
static bool parse_watermark(const char *text, int64_t *out)
{
    *out = 0;
    if (!text || !*text)
        return true;
    size_t digits = strspn(text, "0123456789");
    if (digits == 0 || digits > 18 || text[digits] != '\0')
        return false;
    *out = (int64_t)strtoll(text, NULL, 10);
    return true;
}

static bool get_activities(pal_request *req, const dl_auth *auth, const char *conversation)
{
    pal_server *server = req->server;
    int64_t watermark;
    if (!parse_watermark(pal_http_query(req, "watermark"), &watermark))
        return fail(req, 400, "BadArgument", "watermark must be one this server gave", 0);
    const char *bot = pal_bot_name(server->bots[auth->bot_index]);
    const char *user = !auth->by_secret && auth->claims.user[0] ? auth->claims.user : conversation;
    pal_store_reader *reader = pal_http_reader_acquire(server);
    int64_t conversation_id = 0;
    json_t *messages = NULL;
    pal_err err = pal_store_find_conversation(reader, bot, channel, conversation, &conversation_id);
    if (err == PAL_OK)
        err = pal_store_messages_after(reader, conversation_id, watermark, ACTIVITIES_PAGE,
                                       &messages);
    pal_http_reader_release(server, reader);
    if (err != PAL_OK && err != PAL_ERR_NOT_FOUND)
        return fail(req, 503, "ServiceError", "try again later", 1);
    json_t *activities = json_array();
    int64_t last = watermark;
    size_t i;
    json_t *m;
    json_array_foreach(messages, i, m)
    {
        json_t *activity = pal_directline_activity_json(m, conversation, user, bot);
        if (activity)
            json_array_append_new(activities, activity);
        json_int_t id = json_integer_value(json_object_get(m, "id"));
        if (id > last)
            last = (int64_t)id;
    }
    json_decref(messages);
    char mark[24];
    snprintf(mark, sizeof(mark), "%lld", (long long)last);
    return respond(req, 200, json_pack("{soss}", "activities", activities, "watermark", mark));
}

/* ---- routing ------------------------------------------------------------ */

typedef enum dl_route {
    R_NONE,
    R_GENERATE,
    R_REFRESH,
    R_CONVERSATIONS,
    R_CONVERSATION,
    R_ACTIVITIES,
} dl_route;

/* What path (after the prefix and its '/') names; the conversation id,
 * when any, into conversation (NUL-terminated; possibly not a valid id). */
static dl_route route_of(const char *path, char *conversation, size_t cap)
{
    static const char conversations[] = "conversations";
    conversation[0] = '\0';
    if (strcmp(path, "tokens/generate") == 0)
        return R_GENERATE;
    if (strcmp(path, "tokens/refresh") == 0)
        return R_REFRESH;
    if (strcmp(path, conversations) == 0)
        return R_CONVERSATIONS;
    if (strncmp(path, conversations, sizeof(conversations) - 1) != 0 ||
        path[sizeof(conversations) - 1] != '/')
        return R_NONE;
    const char *id = path + sizeof(conversations);
    const char *slash = strchr(id, '/');
    size_t len = slash ? (size_t)(slash - id) : strlen(id);
    if (len == 0 || len >= cap)
        return R_NONE;
    memcpy(conversation, id, len);
    conversation[len] = '\0';
    if (!slash)
        return R_CONVERSATION;
    return strcmp(slash, "/activities") == 0 ? R_ACTIVITIES : R_NONE;
}

bool pal_routes_directline(pal_request *req)
{
    const char *path = req->path;
    size_t n = sizeof(prefix) - 1;
    if (strncmp(path, prefix, n) != 0 || (path[n] != '\0' && path[n] != '/'))
        return false;
    if (strcmp(req->method, "OPTIONS") == 0)
        return preflight(req);
    path += path[n] == '/' ? n + 1 : n;
    char conversation[PAL_DIRECTLINE_CONVERSATION_ID_LEN + 2];
    dl_route route = route_of(path, conversation, sizeof(conversation));
    if (route == R_NONE)
        return fail(req, 404, "NotFound", "no such address", 0);
    bool get = strcmp(req->method, "GET") == 0, post = strcmp(req->method, "POST") == 0;
    switch (route) {
    case R_GENERATE:
    case R_REFRESH:
    case R_CONVERSATIONS:
        if (!post)
            return not_allowed(req, "POST, OPTIONS");
        break;
    case R_CONVERSATION:
        if (!get)
            return not_allowed(req, "GET, OPTIONS");
        break;
    case R_ACTIVITIES:
        if (!get && !post)
            return not_allowed(req, "GET, POST, OPTIONS");
        break;
    case R_NONE:
        break;
    }
    dl_auth auth;
    if (!authenticate(req, &auth))
        return true;
    if (route == R_GENERATE)
        return tokens_generate(req, &auth);
    if (route == R_REFRESH)
        return tokens_refresh(req, &auth);
    if (route == R_CONVERSATIONS)
        return start_conversation(req, &auth);
    if (!pal_directline_valid_conversation_id(conversation))
        return fail(req, 404, "NotFound", "no such conversation", 0);
    if (!auth.by_secret && strcmp(conversation, auth.claims.conversation) != 0)
        return fail(req, 403, "Forbidden", "the token is for another conversation", 0);
    if (route == R_CONVERSATION)
        return answer_token(req, 200, &auth, conversation, auth.by_secret ? NULL : auth.claims.user,
                            true);
    return post ? post_activity(req, &auth, conversation)
                : get_activities(req, &auth, conversation);
}
