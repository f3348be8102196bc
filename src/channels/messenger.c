/*
 * messenger.c — the Facebook Messenger channel (CHANNELS.md §1).
 *
 * Inbound: a verified POST of {"object":"page","entry":[{"messaging":[…]}]}.
 * Each messaging item becomes at most one event (a delivery notice one per
 * mid): a text message (a quick reply's payload when one was pressed), a
 * postback (its payload), or a RECEIPT "delivered". Echoes of our own
 * messages, read notices (they carry a watermark, no mids), attachments
 * and items that are malformed, whose text is empty, longer than 4096
 * bytes or holds a NUL are left out without failing the request: Meta
 * resends a refused request for as long as it is refused, so one bad item
 * must not block the page's webhook.
 *
 * The address of a message is {"at": <its timestamp in ms>}: the sender
 * reads the messaging window from it: within 24 h a RESPONSE, later
 * refused without calling Meta. (Meta's HUMAN_AGENT tag, 7 days, is for a
 * person's answer only: a bot's reply must not use it. It belongs to the
 * agent inbox, which knows who wrote the reply.)
 *
 * Outbound: POST {api_base}/{api_version}/me/messages?access_token=…; long
 * texts are sent as several messages (2000 bytes each, which is within
 * Meta's 2000 characters), the quick replies (up to 13) with the last.
 */
#include "channels/adapter.h"
#include "channels/channel.h"
#include "channels/meta.h"

#include "base/mem.h"

#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum {
    MESSENGER_MAX_TEXT = 2000,
    MESSENGER_MAX_BUTTONS = 13,
    MESSENGER_TITLE_CHARS = 20,
};

#define HOUR_MS INT64_C(3600000)

static const char *const messenger_required[] = {"app_secret", "verify_token", "page_token", NULL};

/* A message or postback item; *event is filled when the item is kept. */
static bool message_event(json_t *item, const char *sender, int64_t at, pal_channel_event *event)
{
    json_t *message = json_object_get(item, "message");
    json_t *postback = json_object_get(item, "postback");
    const char *mid = NULL, *text = NULL;

    if (json_is_object(message)) {
        if (json_is_true(json_object_get(message, "is_echo")))
            return false;
        mid = pal_channels__id(json_object_get(message, "mid"));
        json_t *payload = pal_channels__path(message, "quick_reply.payload");
        text = payload ? pal_channels__text(payload)
                       : pal_channels__text(json_object_get(message, "text"));
    } else if (json_is_object(postback)) {
        mid = pal_channels__id(json_object_get(postback, "mid"));
        json_t *payload = json_object_get(postback, "payload");
        text = payload ? pal_channels__text(payload)
                       : pal_channels__text(json_object_get(postback, "title"));
    }
    if (!mid || !text)
        return false;
    event->kind = PAL_CHANNEL_MESSAGE;
    event->dedup_key = pal_xstrdup(mid);
    event->channel_message_id = pal_xstrdup(mid);
    event->external_user = pal_xstrdup(sender);
    event->text = pal_xstrdup(text);
    event->sent_at_ms = at > 0 ? at : 0;
    event->address = at > 0 ? pal_channels__at_address(at) : NULL;
    return true;
}

static pal_err delivery_events(json_t *delivery, pal_channel_events *events)
{
    size_t i;
    json_t *v;
    json_array_foreach(json_object_get(delivery, "mids"), i, v)
    {
        const char *mid = pal_channels__id(v);
        if (!mid)
            continue;
        pal_channel_event event = {.kind = PAL_CHANNEL_RECEIPT};
        size_t len = strlen(mid) + sizeof(":delivered");
        event.dedup_key = pal_xmalloc(len);
        snprintf(event.dedup_key, len, "%s:delivered", mid);
        event.platform_id = pal_xstrdup(mid);
        event.status = pal_xstrdup("delivered");
        pal_err err = pal_channel_events_add(events, &event);
        if (err)
            return err;
    }
    return PAL_OK;
}

static pal_err messenger_parse(const pal_channel_settings *settings,
                               const pal_channel_request *request, pal_channel_events *events,
                               pal_api_refusal *refusal)
{
    json_t *root = NULL, *entries = NULL, *entry, *item;
    size_t i, j;
    pal_err err =
        pal_meta__load_entries(request, "page", "expected {\"object\":\"page\",\"entry\":[...]}",
                               &root, &entries, refusal);
    (void)settings;
    if (err)
        return err;
    json_array_foreach(entries, i, entry)
    {
        json_array_foreach(json_object_get(entry, "messaging"), j, item)
        {
            json_t *delivery = json_object_get(item, "delivery");
            if (json_is_object(delivery)) {
                err = delivery_events(delivery, events);
                if (err)
                    goto out;
                continue;
            }
            const char *sender = pal_channels__id(pal_channels__path(item, "sender.id"));
            if (!sender)
                continue;
            int64_t at = pal_channels__int(json_object_get(item, "timestamp"), 0);
            pal_channel_event event = {.kind = PAL_CHANNEL_MESSAGE};
            if (!message_event(item, sender, at, &event))
                continue;
            err = pal_channel_events_add(events, &event);
            if (err)
                goto out;
        }
    }
out:
    json_decref(root);
    return pal_channels__parsed(err, events, refusal);
}

/* One reply being sent (the parts share it). */
typedef struct messenger_send {
    void *curl;
    const pal_delivery_item *item;
    char *url;
    json_t *labels; /* as quick replies on the last part, or empty */
    const char *messaging_type;
} messenger_send;

static char *messenger_body(const messenger_send *s, const char *part, bool last)
{
    json_t *message = json_pack("{ss}", "text", part);
    json_t *body = json_pack("{s{ss}ss}", "recipient", "id", s->item->external_user,
                             "messaging_type", s->messaging_type);
    if (!message || !body)
        goto fail;
    if (last && json_array_size(s->labels) > 0) {
        json_t *quick = json_array();
        size_t i;
        json_t *v;
        json_array_foreach(s->labels, i, v)
        {
            char *title = pal_channels__truncate(json_string_value(v), MESSENGER_TITLE_CHARS);
            json_array_append_new(
                quick, json_pack("{sssssO}", "content_type", "text", "title", title, "payload", v));
            free(title);
        }
        json_object_set_new(message, "quick_replies", quick);
    }
    json_object_set_new(body, "message", message);
    char *text = json_dumps(body, JSON_COMPACT);
    json_decref(body);
    return text;
fail:
    json_decref(message);
    json_decref(body);
    return NULL;
}

static void messenger_send_part(void *ctx, const char *part, bool last, pal_send_result *result)
{
    messenger_send *s = ctx;
    pal_channels__response response;
    char *body = messenger_body(s, part, last);
    if (pal_channels__post_part(s->curl, s->url, NULL, "messenger", body, &response, result)) {
        pal_meta__result("messenger", &response, result);
        if (result->outcome == PAL_SEND_OK)
            pal_channels__platform_id(&response, "message_id", result);
    }
    pal_channels__response_clear(&response);
    free(body);
}

static void messenger_send_reply(void *ctx, void *curl, const pal_delivery_item *item,
                                 pal_send_result *result)
{
    const pal_channel_settings *settings = ctx;
    const char *token = pal_channel_setting(settings, "page_token");
    const char *base = pal_channel_setting(settings, "api_base");
    const char *version = pal_channel_setting(settings, "api_version");
    messenger_send s = {.curl = curl, .item = item, .messaging_type = "RESPONSE"};
    char *escaped = NULL, *text = NULL;

    memset(result, 0, sizeof(*result));
    result->outcome = PAL_SEND_PERMANENT;
    if (!token || !item->external_user || !item->text) {
        snprintf(result->error, sizeof(result->error), "messenger: page_token or recipient unset");
        return;
    }
    int64_t at = pal_channels__address_at(item->address);
    if (at >= 0) {
        int64_t age = pal_channels__now_ms() - at;
        if (age > 24 * HOUR_MS) {
            snprintf(result->error, sizeof(result->error), "outside the 24-hour messaging window");
            return;
        }
    }
    escaped = curl_easy_escape(curl, token, 0);
    if (!escaped) {
        result->outcome = PAL_SEND_RETRY;
        snprintf(result->error, sizeof(result->error), "out of memory");
        return;
    }
    base = base ? base : "https://graph.facebook.com";
    version = version ? version : "v25.0";
    size_t len = strlen(base) + strlen(version) + strlen(escaped) + 64;
    s.url = pal_xmalloc(len);
    snprintf(s.url, len, "%s/%s/me/messages?access_token=%s", base, version, escaped);
    s.labels = pal_channels__labels(item);
    text = pal_channels__text_with_labels(item->text, s.labels, MESSENGER_MAX_BUTTONS);
    if (json_array_size(s.labels) > MESSENGER_MAX_BUTTONS)
        json_array_clear(s.labels);
    pal_channels__send_parts(text, MESSENGER_MAX_TEXT, messenger_send_part, &s, result);
    free(text);
    json_decref(s.labels);
    free(s.url);
    curl_free(escaped);
}

const pal_channel pal_channel_messenger = {
    .name = "messenger",
    .required = messenger_required,
    .max_text = MESSENGER_MAX_TEXT,
    .max_buttons = MESSENGER_MAX_BUTTONS,
    .handshake = pal_meta__handshake,
    .verify = pal_meta__verify,
    .parse = messenger_parse,
    .ack_content_type = "text/plain",
    .ack_body = "EVENT_RECEIVED",
    .send = messenger_send_reply,
};
