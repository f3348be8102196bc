/*
 * whatsapp.c — the WhatsApp Cloud API channel (CHANNELS.md §2).
 *
 * Inbound: a verified POST of {"object":"whatsapp_business_account",
 * "entry":[{"changes":[{"field":"messages","value":{…}}]}]}. value.messages
 * become MESSAGE events: a text's body, a pressed reply button's or list
 * row's id (our sender makes the id the button's label, so the engine reads
 * what it offered; the title when the id is unusable), a template quick
 * reply's payload (else its text). Other types (media, location, …) and
 * malformed items are left out without failing the request (Meta would
 * resend it for days). value.statuses become RECEIPT events keyed
 * "<wamid>:<status>".
 *
 * The address of a message is {"at": <its timestamp in ms>}: the sender
 * refuses, without calling, a free-form reply more than 24 h after it
 * (WhatsApp would refuse it with error 131047).
 *
 * Outbound: POST {api_base}/{api_version}/{phone_number_id}/messages with
 * a bearer token: text; 1-3 labels as reply buttons; 4-10 as a list; more
 * (or any label longer than 200 bytes, too long for an id) are appended to
 * the text, one per line. Texts longer than 4096 bytes
 * (1024 with buttons: the limit of an interactive body) are sent as
 * several messages, the buttons with the last.
 */
#include "channels/adapter.h"
#include "channels/channel.h"
#include "channels/meta.h"

#include "base/mem.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum {
    WHATSAPP_MAX_TEXT = 4096,
    WHATSAPP_MAX_INTERACTIVE_TEXT = 1024,
    WHATSAPP_MAX_BUTTONS = 10,
    WHATSAPP_REPLY_BUTTONS = 3,
    WHATSAPP_BUTTON_TITLE_CHARS = 20,
    WHATSAPP_ROW_TITLE_CHARS = 24,
    WHATSAPP_MAX_ID = 200, /* bytes of a list row's id (a reply button's: 256) */
};

#define HOUR_MS INT64_C(3600000)

static const char *const whatsapp_required[] = {"app_secret", "verify_token", "access_token",
                                                "phone_number_id", NULL};

/* Unix seconds as WhatsApp writes them ("1700000000"), in ms; 0 when
 * absent or malformed. */
static int64_t timestamp_ms(const json_t *v)
{
    if (json_is_integer(v)) {
        json_int_t s = json_integer_value(v);
        return s > 0 && s < INT64_C(100000000000) ? (int64_t)s * 1000 : 0;
    }
    const char *s = json_string_value(v);
    if (!s || !s[0] || strlen(s) > 11)
        return 0;
    int64_t n = 0;
    for (; *s; s++) {
        if (*s < '0' || *s > '9')
            return 0;
        n = n * 10 + (*s - '0');
    }
    return n * 1000;
}

/* What the customer said in message m, or NULL when nothing we read. */
static const char *message_text(json_t *m)
{
    const char *type = json_string_value(json_object_get(m, "type"));
    const char *text = NULL;
    if (!type)
        return NULL;
    if (strcmp(type, "text") == 0)
        return pal_channels__text(pal_channels__path(m, "text.body"));
    if (strcmp(type, "interactive") == 0) {
        json_t *reply = pal_channels__path(m, "interactive.button_reply");
        if (!reply)
            reply = pal_channels__path(m, "interactive.list_reply");
        text = pal_channels__text(json_object_get(reply, "id"));
        return text ? text : pal_channels__text(json_object_get(reply, "title"));
    }
    if (strcmp(type, "button") == 0) {
        text = pal_channels__text(pal_channels__path(m, "button.payload"));
        return text ? text : pal_channels__text(pal_channels__path(m, "button.text"));
    }
    return NULL;
}

static pal_err message_events(json_t *messages, pal_channel_events *events)
{
    size_t i;
    json_t *m;
    json_array_foreach(messages, i, m)
    {
        const char *from = pal_channels__id(json_object_get(m, "from"));
        const char *id = pal_channels__id(json_object_get(m, "id"));
        const char *text = message_text(m);
        if (!from || !id || !text)
            continue;
        int64_t at = timestamp_ms(json_object_get(m, "timestamp"));
        pal_channel_event event = {
            .kind = PAL_CHANNEL_MESSAGE,
            .dedup_key = pal_xstrdup(id),
            .external_user = pal_xstrdup(from),
            .channel_message_id = pal_xstrdup(id),
            .text = pal_xstrdup(text),
            .address = at > 0 ? pal_channels__at_address(at) : NULL,
            .sent_at_ms = at,
        };
        pal_err err = pal_channel_events_add(events, &event);
        if (err)
            return err;
    }
    return PAL_OK;
}

static bool known_status(const char *s)
{
    return s && (strcmp(s, "sent") == 0 || strcmp(s, "delivered") == 0 || strcmp(s, "read") == 0 ||
                 strcmp(s, "failed") == 0);
}

static pal_err status_events(json_t *statuses, pal_channel_events *events)
{
    size_t i;
    json_t *st;
    json_array_foreach(statuses, i, st)
    {
        const char *id = pal_channels__id(json_object_get(st, "id"));
        const char *status = json_string_value(json_object_get(st, "status"));
        if (!id || !known_status(status))
            continue;
        pal_channel_event event = {.kind = PAL_CHANNEL_RECEIPT};
        size_t len = strlen(id) + 1 + strlen(status) + 1;
        event.dedup_key = pal_xmalloc(len);
        snprintf(event.dedup_key, len, "%s:%s", id, status);
        event.platform_id = pal_xstrdup(id);
        event.status = pal_xstrdup(status);
        json_t *first = json_array_get(json_object_get(st, "errors"), 0);
        if (strcmp(status, "failed") == 0 && json_is_object(first)) {
            char error[256];
            const char *title = pal_channels__text(json_object_get(first, "title"));
            snprintf(error, sizeof(error), "%lld %s",
                     (long long)pal_channels__int(json_object_get(first, "code"), 0),
                     title ? title : "");
            event.error = pal_xstrdup(error);
        }
        pal_err err = pal_channel_events_add(events, &event);
        if (err)
            return err;
    }
    return PAL_OK;
}

static pal_err whatsapp_parse(const pal_channel_settings *settings,
                              const pal_channel_request *request, pal_channel_events *events,
                              pal_api_refusal *refusal)
{
    json_t *root = NULL, *entries = NULL, *entry, *change;
    size_t i, j;
    pal_err err = pal_meta__load_entries(
        request, "whatsapp_business_account",
        "expected {\"object\":\"whatsapp_business_account\",\"entry\":[...]}", &root, &entries,
        refusal);
    (void)settings;
    if (err)
        return err;
    json_array_foreach(entries, i, entry)
    {
        json_array_foreach(json_object_get(entry, "changes"), j, change)
        {
            const char *field = json_string_value(json_object_get(change, "field"));
            json_t *value = json_object_get(change, "value");
            if (!field || strcmp(field, "messages") != 0 || !json_is_object(value))
                continue;
            err = message_events(json_object_get(value, "messages"), events);
            if (!err)
                err = status_events(json_object_get(value, "statuses"), events);
            if (err)
                goto out;
        }
    }
out:
    json_decref(root);
    return pal_channels__parsed(err, events, refusal);
}

/* One reply being sent (the parts share it). */
typedef struct whatsapp_send {
    void *curl;
    const pal_delivery_item *item;
    char *url, *authorization;
    json_t *labels; /* as buttons on the last part: 0 to WHATSAPP_MAX_BUTTONS */
} whatsapp_send;

static json_t *interactive(const char *part, const json_t *labels)
{
    size_t n = json_array_size(labels), i;
    json_t *v, *action;
    json_t *options = json_array();
    json_array_foreach(labels, i, v)
    {
        const char *label = json_string_value(v);
        bool button = n <= WHATSAPP_REPLY_BUTTONS;
        char *title = pal_channels__truncate(label, button ? WHATSAPP_BUTTON_TITLE_CHARS
                                                           : WHATSAPP_ROW_TITLE_CHARS);
        if (button)
            json_array_append_new(options, json_pack("{sss{ssss}}", "type", "reply", "reply", "id",
                                                     label, "title", title));
        else
            json_array_append_new(options, json_pack("{ssss}", "id", label, "title", title));
        free(title);
    }
    if (n <= WHATSAPP_REPLY_BUTTONS)
        action = json_pack("{so}", "buttons", options);
    else
        action = json_pack("{sss[{so}]}", "button", "Options", "sections", "rows", options);
    return json_pack("{sss{ss}so}", "type", n <= WHATSAPP_REPLY_BUTTONS ? "button" : "list", "body",
                     "text", part, "action", action);
}

static char *whatsapp_body(const whatsapp_send *s, const char *part, bool last)
{
    json_t *body = json_pack("{ssssss}", "messaging_product", "whatsapp", "recipient_type",
                             "individual", "to", s->item->external_user);
    json_t *content;
    if (!body)
        return NULL;
    if (last && json_array_size(s->labels) > 0) {
        json_object_set_new(body, "type", json_string("interactive"));
        content = interactive(part, s->labels);
        json_object_set_new(body, "interactive", content);
    } else {
        json_object_set_new(body, "type", json_string("text"));
        content = json_pack("{sssb}", "body", part, "preview_url", 0);
        json_object_set_new(body, "text", content);
    }
    char *text = content ? json_dumps(body, JSON_COMPACT) : NULL;
    json_decref(body);
    return text;
}

static void whatsapp_send_part(void *ctx, const char *part, bool last, pal_send_result *result)
{
    whatsapp_send *s = ctx;
    pal_channels__response response;
    char *body = whatsapp_body(s, part, last);
    if (pal_channels__post_part(s->curl, s->url, s->authorization, "whatsapp", body, &response,
                                result)) {
        pal_meta__result("whatsapp", &response, result);
        if (result->outcome == PAL_SEND_OK)
            pal_channels__platform_id(&response, "messages.0.id", result);
    }
    pal_channels__response_clear(&response);
    free(body);
}

static void whatsapp_send_reply(void *ctx, void *curl, const pal_delivery_item *item,
                                pal_send_result *result)
{
    const pal_channel_settings *settings = ctx;
    const char *token = pal_channel_setting(settings, "access_token");
    const char *phone = pal_channel_setting(settings, "phone_number_id");
    const char *base = pal_channel_setting(settings, "api_base");
    const char *version = pal_channel_setting(settings, "api_version");
    whatsapp_send s = {.curl = curl, .item = item};

    memset(result, 0, sizeof(*result));
    result->outcome = PAL_SEND_PERMANENT;
    if (!token || !phone || !item->external_user || !item->text) {
        snprintf(result->error, sizeof(result->error),
                 "whatsapp: access_token, phone_number_id or recipient unset");
        return;
    }
    int64_t at = pal_channels__address_at(item->address);
    if (at >= 0 && pal_channels__now_ms() - at > 24 * HOUR_MS) {
        snprintf(result->error, sizeof(result->error), "outside the 24-hour window (131047)");
        return;
    }
    base = base ? base : "https://graph.facebook.com";
    version = version ? version : "v25.0";
    size_t len = strlen(base) + strlen(version) + strlen(phone) + 32;
    s.url = pal_xmalloc(len);
    snprintf(s.url, len, "%s/%s/%s/messages", base, version, phone);
    len = strlen(token) + 32;
    s.authorization = pal_xmalloc(len);
    snprintf(s.authorization, len, "Authorization: Bearer %s", token);
    s.labels = pal_channels__labels(item);
    /* A button's id is its label (whatsapp_parse reads it back): labels
     * too long for an id, like too many labels, go into the text. */
    bool buttons = json_array_size(s.labels) <= WHATSAPP_MAX_BUTTONS;
    size_t i;
    json_t *v;
    json_array_foreach(s.labels, i, v)
    {
        if (json_string_length(v) > WHATSAPP_MAX_ID)
            buttons = false;
    }
    char *text =
        pal_channels__text_with_labels(item->text, s.labels, buttons ? WHATSAPP_MAX_BUTTONS : 0);
    if (!buttons)
        json_array_clear(s.labels);
    size_t max = json_array_size(s.labels) ? WHATSAPP_MAX_INTERACTIVE_TEXT : WHATSAPP_MAX_TEXT;
    pal_channels__send_parts(text, max, whatsapp_send_part, &s, result);
    free(text);
    json_decref(s.labels);
    free(s.authorization);
    free(s.url);
}

const pal_channel pal_channel_whatsapp = {
    .name = "whatsapp",
    .required = whatsapp_required,
    .max_text = WHATSAPP_MAX_TEXT,
    .max_buttons = WHATSAPP_MAX_BUTTONS,
    .handshake = pal_meta__handshake,
    .verify = pal_meta__verify,
    .parse = whatsapp_parse,
    .ack_content_type = "text/plain",
    .ack_body = "EVENT_RECEIVED",
    .send = whatsapp_send_reply,
};
