/*
 * x.c — the X (Twitter) Account Activity API adapter (channel.h,
 * CHANNELS.md §4).
 *
 * Inbound: X calls the webhook with GET ?crc_token=T (answered with the
 * HMAC-SHA256 of T under the consumer secret) and POSTs activity signed by
 * x-twitter-webhooks-signature. Of the activity, palabre answers:
 *   - tweet_create_events: tweets that mention or reply to the bot, except
 *     retweets (retweeted_status), the bot's own tweets, and, when the
 *     setting hashtag is set, tweets without that hashtag (compared on the
 *     folded forms: case and accents ignored, "#MonRésultat" matches
 *     "#monresultat" but not "#MonRésultatFinal");
 *   - direct_message_events of type message_create, except the bot's own.
 * Everything else (favorites, follows, blocks, ...) is ignored.
 *
 * Tweet text: extended_tweet.full_text, else full_text, else text; the
 * v1.1 HTML escapes (&amp; &lt; &gt;) are decoded first, then
 * display_text_range [start, end) (code points of the decoded text) keeps
 * what the user typed without the leading @mentions and trailing media
 * link; without a range, leading "@name" tokens are stripped. A tweet left
 * with no text (a bare mention) is not answered.
 *
 * Address: {"tweet_id": id_str, "screen_name": ...} for a tweet (the reply
 * is a public reply to it), {"dm": sender_id} for a DM.
 *
 * Outbound (X API v2, Authorization: Bearer <access_token>): a public reply
 * POSTs /2/tweets; a DM POSTs /2/dm_conversations/with/<user>/messages.
 * X has no quick replies here: the labels are appended to the text, as
 * "\n• label" lines in a DM and as one "\nlabel / label" line in a tweet
 * (shorter: a tweet has 280 characters). Text longer than the limit (280
 * code points for a tweet, 10000 for a DM) is split at the last space
 * before it; the parts of a tweet form a thread (each part answers the
 * previous one). When a later part fails, the reply reports that failure
 * (a retry resends the whole reply: at least once, as delivery.h says).
 *
 * Assumes: ids are decimal strings (they go into URL paths, so anything
 * else is refused). Thread-safe: no state; the CURL handle is the caller's.
 */
#include "channels/adapter.h"
#include "channels/channel.h"

#include "base/mem.h"
#include "channels/sign.h"
#include "text/normalize.h"
#include "text/utf8.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <utf8proc.h>

enum {
    X_BODY_MAX = 1024 * 1024,     /* bytes of one webhook request */
    X_CRC_TOKEN_MAX = 256,        /* bytes of a crc_token */
    X_ID_MAX = 32,                /* digits of an id */
    X_SCREEN_NAME_MAX = 64,       /* bytes of a screen name we keep */
    X_TEXT_MAX = 64 * 1024,       /* bytes of one tweet's or DM's text */
    X_TWEET_CHARS = 280,          /* code points of one tweet */
    X_DM_CHARS = 10000,           /* code points of one DM */
    X_PARTS_MAX = 25,             /* posts one reply may become */
    X_RETRY_MAX_MS = 3600 * 1000, /* longest wait a rate limit may ask */
    X_URL_MAX = 2048,             /* bytes of an API URL */
};

static const char *const x_required[] = {"consumer_secret", "access_token", "user_id", NULL};

/* --- small helpers ------------------------------------------------------ */

/* A decimal id of 1..X_ID_MAX digits. */
static bool x_id_valid(const char *s)
{
    size_t n = 0;
    if (!s)
        return false;
    for (; s[n]; n++)
        if (s[n] < '0' || s[n] > '9' || n >= X_ID_MAX)
            return false;
    return n > 0;
}

/* --- handshake and signature -------------------------------------------- */

/* "sha256=" + base64(HMAC-SHA256(secret, msg)) into out (cap >= 64). */
static bool x_signature(const char *secret, const char *msg, size_t len, char *out, size_t cap)
{
    unsigned char mac[PAL_SHA256_LEN];
    static const char prefix[] = "sha256=";
    if (cap < sizeof(prefix) || !pal_hmac_sha256(secret, strlen(secret), msg, len, mac))
        return false;
    memcpy(out, prefix, sizeof(prefix) - 1);
    return pal_base64(mac, sizeof(mac), out + sizeof(prefix) - 1, cap - (sizeof(prefix) - 1));
}

static void x_handshake(const pal_channel_settings *settings, const pal_channel_request *request,
                        pal_channel_answer *answer)
{
    const char *secret = pal_channel_setting(settings, "consumer_secret");
    const char *token = request->query ? request->query(request->ctx, "crc_token") : NULL;
    char signature[64];
    char body[96];

    answer->status = 400;
    answer->content_type = NULL;
    answer->body = NULL;
    if (!secret) {
        answer->status = 404;
        return;
    }
    if (!token)
        return;
    size_t len = strlen(token);
    if (len == 0 || len > X_CRC_TOKEN_MAX)
        return;
    for (size_t i = 0; i < len; i++)
        if ((unsigned char)token[i] < 0x20 || (unsigned char)token[i] > 0x7e)
            return;
    if (!x_signature(secret, token, len, signature, sizeof(signature))) {
        answer->status = 500;
        return;
    }
    snprintf(body, sizeof(body), "{\"response_token\":\"%s\"}", signature);
    answer->status = 200;
    answer->content_type = "application/json";
    answer->body = pal_xstrdup(body);
}

static bool x_verify(const pal_channel_settings *settings, const pal_channel_request *request)
{
    const char *secret = pal_channel_setting(settings, "consumer_secret");
    const char *given =
        request->header ? request->header(request->ctx, "x-twitter-webhooks-signature") : NULL;
    char expected[64];

    if (!secret || !given || !request->body)
        return false;
    if (!x_signature(secret, request->body, request->body_len, expected, sizeof(expected)))
        return false;
    return pal_equal_consttime(given, strlen(given), expected, strlen(expected));
}

/* --- parsing --------------------------------------------------------------- */

/* What every event of one request shares. */
typedef struct x_parse {
    const char *for_user_id;
    char *hashtag; /* folded (owned), or NULL */
} x_parse;

static const char *str_member(json_t *obj, const char *name)
{
    return json_string_value(json_object_get(obj, name));
}

/* A string or integer member holding milliseconds since the epoch; 0 when
 * absent or malformed. */
static int64_t ms_member(json_t *obj, const char *name)
{
    json_t *v = json_object_get(obj, name);
    if (json_is_integer(v))
        return json_integer_value(v) > 0 ? (int64_t)json_integer_value(v) : 0;
    const char *s = json_string_value(v);
    if (!s || !*s || strlen(s) > 18)
        return 0;
    int64_t ms = 0;
    for (; *s; s++) {
        if (*s < '0' || *s > '9')
            return 0;
        ms = ms * 10 + (*s - '0');
    }
    return ms;
}

/* s with the v1.1 escapes &amp; &lt; &gt; decoded (caller frees). */
static char *html_decode(const char *s, size_t len, size_t *out_len)
{
    static const struct {
        const char *entity;
        size_t len;
        char c;
    } entities[] = {{"&amp;", 5, '&'}, {"&lt;", 4, '<'}, {"&gt;", 4, '>'}};
    char *out = pal_xmalloc(len + 1);
    size_t o = 0;
    for (size_t i = 0; i < len;) {
        bool done = false;
        if (s[i] == '&') {
            for (size_t e = 0; e < sizeof(entities) / sizeof(entities[0]) && !done; e++) {
                if (len - i >= entities[e].len &&
                    memcmp(s + i, entities[e].entity, entities[e].len) == 0) {
                    out[o++] = entities[e].c;
                    i += entities[e].len;
                    done = true;
                }
            }
        }
        if (!done)
            out[o++] = s[i++];
    }
    out[o] = '\0';
    *out_len = o;
    return out;
}

/* The byte offset of code point number index of s[0..len), len when beyond. */
static size_t cp_offset(const char *s, size_t len, int64_t index)
{
    size_t i = 0;
    int32_t cp;
    for (int64_t k = 0; k < index && i < len; k++) {
        size_t n = pal_utf8_decode(s + i, len - i, &cp);
        i += n ? n : 1;
    }
    return i < len ? i : len;
}

/* The byte offset after the leading "@name" tokens of s and the spaces
 * around them. */
static size_t skip_mentions(const char *s, size_t len)
{
    size_t i = 0;
    for (;;) {
        while (i < len && pal_channels__is_space(s[i]))
            i++;
        if (i >= len || s[i] != '@')
            return i;
        size_t k = i + 1;
        while (k < len && ((s[k] >= 'a' && s[k] <= 'z') || (s[k] >= 'A' && s[k] <= 'Z') ||
                           (s[k] >= '0' && s[k] <= '9') || s[k] == '_'))
            k++;
        if (k == i + 1)
            return i;
        i = k;
    }
}

/* True when the code point at s (NUL-terminated) continues a word. */
static bool continues_word(const char *s)
{
    int32_t cp;
    if (!*s)
        return false;
    if (pal_utf8_decode(s, strlen(s), &cp) == 0)
        return false;
    if (cp == '_')
        return true;
    switch (utf8proc_category(cp)) {
    case UTF8PROC_CATEGORY_LU:
    case UTF8PROC_CATEGORY_LL:
    case UTF8PROC_CATEGORY_LT:
    case UTF8PROC_CATEGORY_LM:
    case UTF8PROC_CATEGORY_LO:
    case UTF8PROC_CATEGORY_MN:
    case UTF8PROC_CATEGORY_MC:
    case UTF8PROC_CATEGORY_ND:
    case UTF8PROC_CATEGORY_NL:
    case UTF8PROC_CATEGORY_NO:
        return true;
    default:
        return false;
    }
}

/* True when the folded text holds the folded hashtag as a whole word. */
static bool has_hashtag(const char *text, const char *hashtag)
{
    char *folded = pal_text_fold_dup(text);
    bool found = false;
    size_t n = strlen(hashtag);
    if (!folded)
        return false;
    for (const char *p = folded; !found && (p = strstr(p, hashtag)) != NULL; p++)
        found = !continues_word(p + n);
    free(folded);
    return found;
}

/* {"k1":"v1"[,"k2":"v2"]} (caller frees); v2 may be NULL (left out). */
static char *address_json(const char *k1, const char *v1, const char *k2, const char *v2)
{
    json_t *obj = json_object();
    char *text = NULL;
    if (json_object_set_new(obj, k1, json_string(v1)) == 0 &&
        (!v2 || json_object_set_new(obj, k2, json_string(v2)) == 0))
        text = json_dumps(obj, JSON_COMPACT);
    json_decref(obj);
    return text;
}

/* A kept message: copies the strings into a new event. */
static pal_err add_message(pal_channel_events *events, const char *id, const char *user,
                           const char *text, size_t text_len, char *address, int64_t sent_at_ms)
{
    pal_channel_event event = {.kind = PAL_CHANNEL_MESSAGE};
    event.dedup_key = pal_xstrdup(id);
    event.channel_message_id = pal_xstrdup(id);
    event.external_user = pal_xstrdup(user);
    event.text = pal_xstrndup(text, text_len);
    event.address = address;
    event.sent_at_ms = sent_at_ms;
    return pal_channel_events_add(events, &event);
}

/* The text a tweet's author typed, or NULL when it is not a string. The
 * range (when present) belongs to the text chosen. */
static const char *tweet_text(json_t *tweet, json_t **range)
{
    json_t *extended = json_object_get(tweet, "extended_tweet");
    const char *text = str_member(extended, "full_text");
    if (text) {
        *range = json_object_get(extended, "display_text_range");
        return text;
    }
    *range = json_object_get(tweet, "display_text_range");
    text = str_member(tweet, "full_text");
    return text ? text : str_member(tweet, "text");
}

static pal_err parse_tweet(const x_parse *p, json_t *tweet, pal_channel_events *events,
                           pal_api_refusal *r)
{
    json_t *range = NULL;
    char *decoded = NULL, *address = NULL;
    size_t len, start, end;
    pal_err err = PAL_OK;

    if (!json_is_object(tweet))
        return pal_channels__refuse(r, 400, "invalid_payload", "a tweet must be an object");
    if (json_object_get(tweet, "retweeted_status"))
        return PAL_OK; /* a retweet: answering it answers the original again */
    const char *id = str_member(tweet, "id_str");
    json_t *user = json_object_get(tweet, "user");
    const char *user_id = str_member(user, "id_str");
    if (!x_id_valid(id) || !x_id_valid(user_id))
        return pal_channels__refuse(r, 400, "invalid_payload",
                                    "a tweet needs id_str and user.id_str");
    if (strcmp(user_id, p->for_user_id) == 0)
        return PAL_OK; /* our own tweet */
    const char *raw = tweet_text(tweet, &range);
    if (!raw)
        return pal_channels__refuse(r, 400, "invalid_payload", "a tweet needs a text");
    if (strlen(raw) > X_TEXT_MAX)
        return pal_channels__refuse(r, 400, "invalid_payload", "a tweet's text is too long");
    decoded = html_decode(raw, strlen(raw), &len);
    if (pal_utf8_check_text(decoded, len, NULL) != PAL_OK) {
        err = pal_channels__refuse(r, 400, "invalid_payload", "a tweet's text is not valid UTF-8");
        goto out;
    }
    if (p->hashtag && !has_hashtag(decoded, p->hashtag))
        goto out;

    json_t *first = json_array_get(range, 0), *last = json_array_get(range, 1);
    if (json_array_size(range) == 2 && json_is_integer(first) && json_is_integer(last) &&
        json_integer_value(first) >= 0 && json_integer_value(last) >= json_integer_value(first)) {
        start = cp_offset(decoded, len, json_integer_value(first));
        end = cp_offset(decoded, len, json_integer_value(last));
    } else {
        start = skip_mentions(decoded, len);
        end = len;
    }
    while (start < end && pal_channels__is_space(decoded[start]))
        start++;
    while (end > start && pal_channels__is_space(decoded[end - 1]))
        end--;
    if (start == end)
        goto out; /* a bare mention: nothing to answer */

    const char *screen_name = str_member(user, "screen_name");
    if (screen_name && (strlen(screen_name) > X_SCREEN_NAME_MAX ||
                        pal_utf8_check_text(screen_name, strlen(screen_name), NULL) != PAL_OK))
        screen_name = NULL;
    address = address_json("tweet_id", id, "screen_name", screen_name);
    if (!address) {
        err = pal_channels__refuse(r, 400, "invalid_payload", "a tweet's author is malformed");
        goto out;
    }
    err = add_message(events, id, user_id, decoded + start, end - start, address,
                      ms_member(tweet, "timestamp_ms"));
    address = NULL;
    if (err == PAL_ERR_LIMIT)
        err = pal_channels__refuse(r, 413, "too_many_events", "too many events in one request");
out:
    free(address);
    free(decoded);
    return err;
}

static pal_err parse_dm(const x_parse *p, json_t *dm, pal_channel_events *events,
                        pal_api_refusal *r)
{
    if (!json_is_object(dm))
        return pal_channels__refuse(r, 400, "invalid_payload",
                                    "a direct message event must be an object");
    const char *type = str_member(dm, "type");
    if (!type || strcmp(type, "message_create") != 0)
        return PAL_OK;
    json_t *create = json_object_get(dm, "message_create");
    json_t *data = json_object_get(create, "message_data");
    const char *id = str_member(dm, "id");
    const char *sender = str_member(create, "sender_id");
    if (!x_id_valid(id) || !x_id_valid(sender) || !json_is_object(data))
        return pal_channels__refuse(r, 400, "invalid_payload",
                                    "a direct message needs id, sender_id and message_data");
    if (strcmp(sender, p->for_user_id) == 0)
        return PAL_OK; /* the echo of our own message */
    const char *text = str_member(json_object_get(data, "quick_reply_response"), "metadata");
    if (!text)
        text = str_member(data, "text");
    if (!text)
        return PAL_OK; /* an attachment alone */
    size_t len = strlen(text);
    if (len > X_TEXT_MAX || pal_utf8_check_text(text, len, NULL) != PAL_OK)
        return pal_channels__refuse(r, 400, "invalid_payload",
                                    "a direct message's text is malformed");
    size_t start = 0;
    while (start < len && pal_channels__is_space(text[start]))
        start++;
    while (len > start && pal_channels__is_space(text[len - 1]))
        len--;
    if (start == len)
        return PAL_OK;
    char *address = address_json("dm", sender, NULL, NULL);
    if (!address)
        return pal_channels__refuse(r, 400, "invalid_payload",
                                    "a direct message's sender is malformed");
    pal_err err = add_message(events, id, sender, text + start, len - start, address,
                              ms_member(dm, "created_timestamp"));
    if (err == PAL_ERR_LIMIT)
        return pal_channels__refuse(r, 413, "too_many_events", "too many events in one request");
    return err;
}

static pal_err parse_doc(const pal_channel_settings *settings, json_t *doc, x_parse *p,
                         pal_channel_events *events, pal_api_refusal *r)
{
    const char *user_id = pal_channel_setting(settings, "user_id");
    json_t *tweets = json_object_get(doc, "tweet_create_events");
    json_t *dms = json_object_get(doc, "direct_message_events");
    size_t i;
    json_t *item;
    pal_err err;

    p->for_user_id = str_member(doc, "for_user_id");
    if (!x_id_valid(p->for_user_id))
        return pal_channels__refuse(r, 400, "invalid_payload", "for_user_id must be a numeric id");
    if (!user_id || strcmp(user_id, p->for_user_id) != 0)
        return pal_channels__refuse(r, 400, "unknown_account",
                                    "for_user_id is not this bot's account");
    if ((tweets && !json_is_array(tweets)) || (dms && !json_is_array(dms)))
        return pal_channels__refuse(r, 400, "invalid_payload", "events must be arrays");
    if (json_array_size(tweets) + json_array_size(dms) > PAL_CHANNEL_EVENTS_MAX)
        return pal_channels__refuse(r, 413, "too_many_events", "too many events in one request");
    json_array_foreach(tweets, i, item)
    {
        if ((err = parse_tweet(p, item, events, r)) != PAL_OK)
            return err;
    }
    json_array_foreach(dms, i, item)
    {
        if ((err = parse_dm(p, item, events, r)) != PAL_OK)
            return err;
    }
    return PAL_OK;
}

static pal_err x_parse_request(const pal_channel_settings *settings,
                               const pal_channel_request *request, pal_channel_events *events,
                               pal_api_refusal *refusal)
{
    const char *hashtag = pal_channel_setting(settings, "hashtag");
    x_parse p = {0};
    json_error_t jerr;
    json_t *doc = NULL;
    pal_err err;

    if (!request->body || request->body_len > X_BODY_MAX) {
        err = pal_channels__refuse(refusal, 413, "too_large", "the body is too large");
        goto out;
    }
    if (!pal_utf8_valid(request->body, request->body_len) ||
        memchr(request->body, '\0', request->body_len)) {
        err = pal_channels__refuse(refusal, 400, "invalid_json", "the body is not valid UTF-8");
        goto out;
    }
    doc = json_loadb(request->body, request->body_len, JSON_REJECT_DUPLICATES, &jerr);
    if (!json_is_object(doc)) {
        err = pal_channels__refuse(refusal, 400, "invalid_json", "the body is not a JSON object");
        goto out;
    }
    if (hashtag) {
        /* A hashtag that cannot be folded still filters (by its raw form):
         * a bad setting must not open the bot to every mention. */
        p.hashtag = pal_text_fold_dup(hashtag);
        if (!p.hashtag)
            p.hashtag = pal_xstrdup(hashtag);
        if (!p.hashtag[0]) {
            free(p.hashtag);
            p.hashtag = NULL;
        }
    }
    err = parse_doc(settings, doc, &p, events, refusal);
out:
    if (err != PAL_OK) {
        pal_channel_events_clear(events);
        if (err != PAL_ERR_PARSE)
            (void)pal_channels__refuse(refusal, 500, "internal", "the events could not be kept");
    }
    free(p.hashtag);
    json_decref(doc);
    return err;
}

/* --- sending --------------------------------------------------------------- */

/* "HTTP <status> <title>: <detail>" from an X error answer (v2 problem or
 * v1.1 errors[]). */
static void x_error_text(const pal_channels__response *h, char *out, size_t cap)
{
    json_t *doc = json_loadb(h->body, h->len, 0, NULL);
    const char *title = str_member(doc, "title");
    const char *detail = str_member(doc, "detail");
    if (!detail)
        detail = str_member(json_array_get(json_object_get(doc, "errors"), 0), "message");
    snprintf(out, cap, "HTTP %ld%s%s%s%s", h->status, title ? " " : "", title ? title : "",
             detail ? (title ? ": " : " ") : "", detail ? detail : "");
    pal_channels__one_line(out);
    json_decref(doc);
}

/* An X handle: 1 to 15 letters, digits or '_' (anything else is not put in
 * a reply's text). */
static bool x_screen_name_valid(const char *name)
{
    size_t n = strlen(name);
    if (n == 0 || n > 15)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = name[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_'))
            return false;
    }
    return true;
}

/* X refuses a tweet whose text repeats one of the account's own ("duplicate
 * content", 403). After a crash, the one reply palabre may send again is
 * such a repeat of what was posted: it was delivered. */
static bool x_duplicate_content(const pal_channels__response *h)
{
    if (h->status != 403)
        return false;
    json_t *doc = json_loadb(h->body, h->len, 0, NULL);
    const char *detail = str_member(doc, "detail");
    if (!detail)
        detail = str_member(json_array_get(json_object_get(doc, "errors"), 0), "message");
    bool duplicate = detail && strstr(detail, "duplicate content") != NULL;
    json_decref(doc);
    return duplicate;
}

/* Where a reply goes: a tweet to answer (*tweet_id, and the author's
 * @name to start the reply with: the customer sees it addressed to them, and
 * two customers asking the same get different texts, which X requires) or
 * a DM participant. */
static bool x_destination(const pal_delivery_item *item, char *tweet_id, char *participant,
                          char *screen_name)
{
    json_t *address = item->address ? json_loads(item->address, 0, NULL) : NULL;
    const char *tweet = str_member(address, "tweet_id");
    const char *dm = str_member(address, "dm");
    const char *name = str_member(address, "screen_name");
    bool ok = false;
    tweet_id[0] = participant[0] = screen_name[0] = '\0';
    if (tweet) {
        if (x_id_valid(tweet)) {
            snprintf(tweet_id, X_ID_MAX + 1, "%s", tweet);
            ok = true;
        }
        if (name && x_screen_name_valid(name))
            snprintf(screen_name, X_SCREEN_NAME_MAX + 1, "%s", name);
    } else {
        const char *user = dm ? dm : item->external_user;
        if (x_id_valid(user)) {
            snprintf(participant, X_ID_MAX + 1, "%s", user);
            ok = true;
        }
    }
    json_decref(address);
    return ok;
}

/* The JSON body of one post (caller frees), NULL when text is not UTF-8. */
static char *x_post_body(const char *text, const char *reply_to)
{
    json_t *doc = json_object();
    char *out = NULL;
    if (json_object_set_new(doc, "text", json_string(text)) != 0)
        goto out;
    if (reply_to &&
        json_object_set_new(doc, "reply", json_pack("{ss}", "in_reply_to_tweet_id", reply_to)) != 0)
        goto out;
    out = json_dumps(doc, JSON_COMPACT);
out:
    json_decref(doc);
    return out;
}

/* Posts one part (its JSON body, NULL when it could not be encoded) and
 * fills *result; false when it failed. *reply_to (a tweet id) becomes the
 * new tweet's id, so that the next part answers this one. */
static bool x_send_part(void *curl, const char *url, const char *authorization, bool dm,
                        const char *body, char *reply_to, pal_send_result *result)
{
    pal_channels__response h;
    bool ok = false;

    /* "X API: " + curl's generic message: never the URL, which may hold ids. */
    if (!pal_channels__post_part(curl, url, authorization, "X API", body, &h, result))
        goto out;
    result->outcome = pal_channels__outcome(h.status);
    if (!dm && x_duplicate_content(&h)) {
        result->outcome = PAL_SEND_OK; /* posted before (see x_duplicate_content) */
        ok = true;
        goto out;
    }
    if (result->outcome == PAL_SEND_OK) {
        pal_channels__platform_id(&h, dm ? "data.dm_event_id" : "data.id", result);
        if (!dm && x_id_valid(result->platform_id))
            memcpy(reply_to, result->platform_id, strlen(result->platform_id) + 1);
        ok = true;
        goto out;
    }
    if (result->outcome == PAL_SEND_RETRY) {
        result->retry_after_ms = h.retry_after_ms;
        if (h.status == 429 && h.retry_after_ms == 0 && h.rate_reset_s > 0) {
            int64_t wait = (h.rate_reset_s - (int64_t)time(NULL)) * 1000;
            result->retry_after_ms = wait < 0 ? 0 : (wait > X_RETRY_MAX_MS ? X_RETRY_MAX_MS : wait);
        }
    }
    x_error_text(&h, result->error, sizeof(result->error));
out:
    pal_channels__response_clear(&h);
    return ok;
}

static void x_send(void *ctx, void *curl, const pal_delivery_item *item, pal_send_result *result)
{
    const pal_channel_settings *settings = ctx;
    const char *token = pal_channel_setting(settings, "access_token");
    size_t base_len;
    const char *base = pal_channels__api_base(settings, "https://api.x.com", &base_len);
    char tweet_id[X_ID_MAX + 1], participant[X_ID_MAX + 1], reply_to[X_ID_MAX + 1];
    char screen_name[X_SCREEN_NAME_MAX + 1];
    char url[X_URL_MAX];
    char *text = NULL, *authorization = NULL;
    pal_channels__part parts[X_PARTS_MAX];
    size_t n_parts = 0;

    memset(result, 0, sizeof(*result));
    result->outcome = PAL_SEND_PERMANENT;
    if (!token) {
        snprintf(result->error, sizeof(result->error), "no access token");
        goto out;
    }
    if (!x_destination(item, tweet_id, participant, screen_name)) {
        snprintf(result->error, sizeof(result->error), "no valid X address for the reply");
        goto out;
    }
    bool dm = tweet_id[0] == '\0';
    json_t *labels = pal_channels__labels(item);
    text = pal_channels__join_labels(item->text ? item->text : "", labels, dm ? "\n• " : "\n",
                                     dm ? "\n• " : " / ");
    json_decref(labels);
    if (!dm && screen_name[0]) {
        size_t len = strlen(screen_name) + strlen(text) + 3;
        char *addressed = pal_xmalloc(len);
        snprintf(addressed, len, "@%s %s", screen_name, text);
        free(text);
        text = addressed;
    }
    if (!pal_channels__cut_reply(text, dm ? X_DM_CHARS : X_TWEET_CHARS, PAL_CHANNELS_CODE_POINTS,
                                 parts, X_PARTS_MAX, &n_parts, "reply too long for X", result))
        goto out;
    if (dm)
        snprintf(url, sizeof(url), "%.*s/2/dm_conversations/with/%s/messages", (int)base_len, base,
                 participant);
    else
        snprintf(url, sizeof(url), "%.*s/2/tweets", (int)base_len, base);
    snprintf(reply_to, sizeof(reply_to), "%s", tweet_id);
    size_t auth_len = strlen(token) + sizeof("Authorization: Bearer ");
    authorization = pal_xmalloc(auth_len);
    snprintf(authorization, auth_len, "Authorization: Bearer %s", token);

    for (size_t k = 0; k < n_parts; k++) {
        char *part = pal_xstrndup(text + parts[k].at, parts[k].len);
        char *body = x_post_body(part, dm ? NULL : reply_to);
        bool sent = x_send_part(curl, url, authorization, dm, body, reply_to, result);
        free(part);
        free(body);
        if (!sent) {
            result->platform_id[0] = '\0';
            pal_channels__part_error(result, k + 1, n_parts);
            goto out;
        }
    }
    result->outcome = PAL_SEND_OK;
out:
    if (authorization)
        memset(authorization, 0, strlen(authorization));
    free(authorization);
    free(text);
}

const pal_channel pal_channel_x = {
    .name = "x",
    .required = x_required,
    /* The tighter of X's limits (a tweet); the sender splits by code points
     * itself, at 280 for tweets and 10000 for DMs. */
    .max_text = X_TWEET_CHARS,
    .max_buttons = 0,
    .handshake = x_handshake,
    .verify = x_verify,
    .parse = x_parse_request,
    .ack_content_type = "application/json",
    .ack_body = "{}",
    .send = x_send,
};
