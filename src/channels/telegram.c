/*
 * telegram.c — the Telegram Bot API channel (CHANNELS.md §3).
 *
 * Inbound: one Update per POST, proved by the X-Telegram-Bot-Api-Secret-Token
 * header (the secret given to setWebhook; no handshake). A message with text
 * from a person becomes a MESSAGE (a reply-keyboard press arrives as such a
 * text); a callback_query (an inline button) becomes a MESSAGE whose text is
 * its data, and the webhook's answer is the answerCallbackQuery call that
 * stops the button's spinner. Edits, bots' messages, texts that are empty,
 * longer than 4096 bytes or hold a NUL, and other update kinds are left
 * out (Telegram would resend a refused update and block the chat behind
 * it). The dedup key is the update_id.
 *
 * The address of a message is {"chat_id": <chat id>}: replies go to that
 * chat (the user's id when there is none, which is the private chat's id).
 *
 * Outbound: POST {api_base}/bot{bot_token}/sendMessage. Labels become a
 * one-time reply keyboard, one button per row, on the last part of the
 * reply; a reply without labels removes any keyboard left from before
 * ({"remove_keyboard":true}), so that stale options do not linger. More than
 * 12 labels are appended to the text instead. Texts longer than 4096 bytes
 * (within Telegram's 4096 characters) are sent as several messages.
 */
#include "channels/channel.h"
#include "channels/adapter.h"

#include "base/mem.h"
#include "channels/sign.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum {
    TELEGRAM_MAX_TEXT = 4096,
    TELEGRAM_MAX_BUTTONS = 12,
    RETRY_AFTER_MAX_S = 3600,
};

static const char *const telegram_required[] = {"bot_token", "secret_token", NULL};

static bool telegram_verify(const pal_channel_settings *settings,
                            const pal_channel_request *request)
{
    const char *secret = pal_channel_setting(settings, "secret_token");
    const char *given = request->header(request->ctx, "X-Telegram-Bot-Api-Secret-Token");
    if (!secret || !given)
        return false;
    return pal_equal_consttime(given, strlen(given), secret, strlen(secret));
}

static char *decimal(int64_t n)
{
    char buf[32];
    snprintf(buf, sizeof(buf), "%lld", (long long)n);
    return pal_xstrdup(buf);
}

static char *chat_address(int64_t chat_id)
{
    char buf[64];
    snprintf(buf, sizeof(buf), "{\"chat_id\":%lld}", (long long)chat_id);
    return pal_xstrdup(buf);
}

/* A person's text message; false when it is not one. */
static bool message_event(json_t *message, const char *update_key, pal_channel_event *event)
{
    json_t *from = json_object_get(message, "from");
    json_t *user_id = json_object_get(from, "id");
    json_t *chat_id = pal_channels__path(message, "chat.id");
    json_t *message_id = json_object_get(message, "message_id");
    const char *text = pal_channels__text(json_object_get(message, "text"));
    if (!text || !json_is_integer(user_id) || !json_is_integer(chat_id) ||
        !json_is_integer(message_id) || json_is_true(json_object_get(from, "is_bot")))
        return false;
    int64_t date = pal_channels__int(json_object_get(message, "date"), 0);
    event->kind = PAL_CHANNEL_MESSAGE;
    event->dedup_key = pal_xstrdup(update_key);
    event->external_user = decimal((int64_t)json_integer_value(user_id));
    event->channel_message_id = decimal((int64_t)json_integer_value(message_id));
    event->text = pal_xstrdup(text);
    event->address = chat_address((int64_t)json_integer_value(chat_id));
    event->sent_at_ms = date > 0 && date < INT64_C(100000000000) ? date * 1000 : 0;
    return true;
}

/* An inline button press; false when it is not one we read. */
static bool callback_event(json_t *query, const char *update_key, pal_channel_event *event)
{
    const char *id = pal_channels__id(json_object_get(query, "id"));
    json_t *from = json_object_get(query, "from");
    json_t *user_id = json_object_get(from, "id");
    json_t *chat_id = pal_channels__path(query, "message.chat.id");
    const char *data = pal_channels__text(json_object_get(query, "data"));
    if (!id || !data || !json_is_integer(user_id) || json_is_true(json_object_get(from, "is_bot")))
        return false;
    if (!json_is_integer(chat_id))
        chat_id = user_id;
    event->kind = PAL_CHANNEL_MESSAGE;
    event->dedup_key = pal_xstrdup(update_key);
    event->external_user = decimal((int64_t)json_integer_value(user_id));
    event->channel_message_id = pal_xstrdup(id);
    event->text = pal_xstrdup(data);
    event->address = chat_address((int64_t)json_integer_value(chat_id));
    return true;
}

static pal_err telegram_parse(const pal_channel_settings *settings,
                              const pal_channel_request *request, pal_channel_events *events,
                              pal_api_refusal *refusal)
{
    json_t *root = NULL;
    pal_err err = pal_channels__load(request, &root, refusal);
    (void)settings;
    if (err)
        return err;
    json_t *update_id = json_object_get(root, "update_id");
    if (!json_is_integer(update_id)) {
        err = pal_channels__refuse(refusal, 400, "invalid_payload", "expected an Update");
        goto out;
    }
    char key[32];
    snprintf(key, sizeof(key), "%lld", (long long)json_integer_value(update_id));
    pal_channel_event event = {.kind = PAL_CHANNEL_MESSAGE};
    json_t *message = json_object_get(root, "message");
    json_t *query = json_object_get(root, "callback_query");
    bool kept = false;
    if (json_is_object(message)) {
        kept = message_event(message, key, &event);
    } else if (json_is_object(query)) {
        /* Answer the press even when its data is unusable: the customer's
         * button would spin otherwise. */
        const char *id = pal_channels__id(json_object_get(query, "id"));
        if (id) {
            json_t *answer =
                json_pack("{ssss}", "method", "answerCallbackQuery", "callback_query_id", id);
            events->answer_body = answer ? json_dumps(answer, JSON_COMPACT) : NULL;
            events->answer_content_type = events->answer_body ? "application/json" : NULL;
            json_decref(answer);
        }
        kept = callback_event(query, key, &event);
    }
    if (kept)
        err = pal_channel_events_add(events, &event);
out:
    json_decref(root);
    return pal_channels__parsed(err, events, refusal);
}

/* One reply being sent (the parts share it). */
typedef struct telegram_send {
    void *curl;
    char *url;
    json_int_t chat_id;
    json_t *labels; /* as a keyboard on the last part: 0 to TELEGRAM_MAX_BUTTONS */
} telegram_send;

static char *telegram_body(const telegram_send *s, const char *part, bool last)
{
    json_t *body = json_pack("{sIss}", "chat_id", s->chat_id, "text", part);
    if (!body)
        return NULL;
    if (last && json_array_size(s->labels) > 0) {
        json_t *rows = json_array();
        size_t i;
        json_t *v;
        json_array_foreach(s->labels, i, v)
        {
            json_array_append_new(rows, json_pack("[{sO}]", "text", v));
        }
        json_object_set_new(
            body, "reply_markup",
            json_pack("{sosbsb}", "keyboard", rows, "resize_keyboard", 1, "one_time_keyboard", 1));
    } else if (last) {
        json_object_set_new(body, "reply_markup", json_pack("{sb}", "remove_keyboard", 1));
    }
    char *text = json_dumps(body, JSON_COMPACT);
    json_decref(body);
    return text;
}

/* Telegram's answer to *result (CHANNELS.md: retry_after in the body). */
static void telegram_result(const pal_channels__response *response, pal_send_result *result)
{
    long status = response->status;
    json_t *doc = json_loadb(response->body, response->len, 0, NULL);
    json_t *message_id = pal_channels__path(doc, "result.message_id");
    json_t *code = json_object_get(doc, "error_code");
    const char *description = json_string_value(json_object_get(doc, "description"));
    int64_t retry_after = pal_channels__int(pal_channels__path(doc, "parameters.retry_after"), 0);

    result->retry_after_ms = response->retry_after_ms;
    if (status >= 200 && status < 300 && json_is_true(json_object_get(doc, "ok"))) {
        result->outcome = PAL_SEND_OK;
        if (json_is_integer(message_id))
            snprintf(result->platform_id, sizeof(result->platform_id), "%lld",
                     (long long)json_integer_value(message_id));
        goto out;
    }
    if (retry_after > 0)
        result->retry_after_ms =
            (retry_after > RETRY_AFTER_MAX_S ? RETRY_AFTER_MAX_S : retry_after) * 1000;
    bool again = status == 408 || status == 429 || status >= 500;
    result->outcome = again ? PAL_SEND_RETRY : PAL_SEND_PERMANENT;
    if (json_is_integer(code))
        snprintf(result->error, sizeof(result->error), "%lld %s",
                 (long long)json_integer_value(code), description ? description : "");
    else
        snprintf(result->error, sizeof(result->error), "telegram answered HTTP %ld", status);
out:
    json_decref(doc);
}

static void telegram_send_part(void *ctx, const char *part, bool last, pal_send_result *result)
{
    telegram_send *s = ctx;
    pal_channels__response response;
    char *body = telegram_body(s, part, last);
    if (pal_channels__post_part(s->curl, s->url, NULL, "telegram", body, &response, result))
        telegram_result(&response, result);
    pal_channels__response_clear(&response);
    free(body);
}

/* The chat to answer: the address's chat_id, else the user's id (their
 * private chat). False when neither is an integer. */
static bool chat_of(const pal_delivery_item *item, json_int_t *chat_id)
{
    json_t *doc = item->address ? json_loads(item->address, 0, NULL) : NULL;
    json_t *v = json_object_get(doc, "chat_id");
    bool found = json_is_integer(v);
    if (found)
        *chat_id = json_integer_value(v);
    json_decref(doc);
    if (found || !item->external_user)
        return found;
    char *end;
    errno = 0;
    long long n = strtoll(item->external_user, &end, 10);
    if (errno || end == item->external_user || *end)
        return false;
    *chat_id = (json_int_t)n;
    return true;
}

static void telegram_send_reply(void *ctx, void *curl, const pal_delivery_item *item,
                                pal_send_result *result)
{
    const pal_channel_settings *settings = ctx;
    const char *token = pal_channel_setting(settings, "bot_token");
    const char *base = pal_channel_setting(settings, "api_base");
    telegram_send s = {.curl = curl};

    memset(result, 0, sizeof(*result));
    result->outcome = PAL_SEND_PERMANENT;
    if (!token || !item->text || !chat_of(item, &s.chat_id)) {
        snprintf(result->error, sizeof(result->error), "telegram: bot_token or chat unset");
        return;
    }
    base = base ? base : "https://api.telegram.org";
    size_t len = strlen(base) + strlen(token) + 32;
    s.url = pal_xmalloc(len);
    snprintf(s.url, len, "%s/bot%s/sendMessage", base, token);
    s.labels = pal_channels__labels(item);
    char *text = pal_channels__text_with_labels(item->text, s.labels, TELEGRAM_MAX_BUTTONS);
    if (json_array_size(s.labels) > TELEGRAM_MAX_BUTTONS)
        json_array_clear(s.labels);
    pal_channels__send_parts(text, TELEGRAM_MAX_TEXT, telegram_send_part, &s, result);
    free(text);
    json_decref(s.labels);
    free(s.url);
}

const pal_channel pal_channel_telegram = {
    .name = "telegram",
    .required = telegram_required,
    .max_text = TELEGRAM_MAX_TEXT,
    .max_buttons = TELEGRAM_MAX_BUTTONS,
    .handshake = NULL,
    .verify = telegram_verify,
    .parse = telegram_parse,
    .ack_content_type = "application/json",
    .ack_body = "{}",
    .send = telegram_send_reply,
};
