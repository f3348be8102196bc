/*
 * test_channels_telegram.c — the Telegram channel (channels/telegram.c;
 * CHANNELS.md §3): the secret-token check, parsing Updates (messages,
 * button presses answered in the webhook's response, what is left out,
 * what is refused), and what the sender puts on the wire, checked against
 * a fake Bot API: a thread on 127.0.0.1 that answers each request with a
 * canned response and keeps what it got.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <curl/curl.h>
#include <jansson.h>

#include <cmocka.h>

#include "channels/channel.h"
#include "fake_http.h"
#include "text/utf8.h"

/* ---- test doubles: settings, requests, and a one-connection-per-request
 * HTTP server standing in for the platform ---- */

static pal_channel_request post_of(const char *body, const fake_request *fr)
{
    return fake_request_make("POST", "https://example.org/webhook", body, fr);
}

static pal_delivery_item *item_of(const char *user, const char *address, const char *text,
                                  const char *quick_replies)
{
    return pal_delivery_item_new(1, 1, 0, "test", user, address, text, quick_replies, "k-1", 0, 0,
                                 0, NULL);
}

/* n labels "Choix 1".."Choix n" as a JSON array (static buffer). */
static const char *labels_json(int n)
{
    static char buf[1024];
    size_t at = 0;
    buf[at++] = '[';
    for (int i = 1; i <= n; i++)
        at += (size_t)snprintf(buf + at, sizeof(buf) - at, "%s\"Choix %d\"", i > 1 ? "," : "", i);
    snprintf(buf + at, sizeof(buf) - at, "]");
    return buf;
}

static fake_kv tg_settings[] = {{"bot_token", "123456:ABC-secret"},
                                {"secret_token", "Webhook_secret-1"},
                                {"api_base", NULL},
                                {NULL, NULL}};

static bool verify_with(const char *secret)
{
    fake_kv headers[] = {{"X-Telegram-Bot-Api-Secret-Token", secret}, {NULL, NULL}};
    fake_request fr = {.headers = secret ? headers : NULL};
    pal_channel_settings s = fake_settings(tg_settings);
    pal_channel_request r = post_of("{\"update_id\":1}", &fr);
    return pal_channel_telegram.verify(&s, &r);
}

static void test_verify(void **state)
{
    (void)state;
    assert_true(verify_with("Webhook_secret-1"));
    assert_false(verify_with("Webhook_secret-2"));
    assert_false(verify_with("Webhook_secret-"));
    assert_false(verify_with("Webhook_secret-11"));
    assert_false(verify_with(""));
    assert_false(verify_with(NULL));
    /* no handshake on Telegram: the server answers GET with 405 */
    assert_null(pal_channel_telegram.handshake);
    assert_string_equal(pal_channel_telegram.name, "telegram");
}

static pal_err parse(const char *body, pal_channel_events *events, pal_api_refusal *refusal)
{
    fake_request fr = {0};
    pal_channel_settings s = fake_settings(tg_settings);
    pal_channel_request r = post_of(body, &fr);
    memset(events, 0, sizeof(*events));
    memset(refusal, 0, sizeof(*refusal));
    return pal_channel_telegram.parse(&s, &r, events, refusal);
}

static void test_parse_message(void **state)
{
    (void)state;
    pal_channel_events ev;
    pal_api_refusal refusal;
    assert_int_equal(
        parse("{\"update_id\":912345678,\"message\":{\"message_id\":42,"
              "\"from\":{\"id\":9007199254740993,\"is_bot\":false,\"first_name\":\"Camille\","
              "\"username\":\"camille\",\"language_code\":\"fr\"},"
              "\"chat\":{\"id\":9007199254740993,\"first_name\":\"Camille\",\"type\":\"private\"},"
              "\"date\":1700000000,\"text\":\"Bonjour, o\\u00f9 est ma commande ?\"}}",
              &ev, &refusal),
        PAL_OK);
    assert_int_equal(ev.n, 1);
    pal_channel_event *e = &ev.items[0];
    assert_int_equal(e->kind, PAL_CHANNEL_MESSAGE);
    assert_string_equal(e->dedup_key, "912345678");
    assert_string_equal(e->external_user, "9007199254740993");
    assert_string_equal(e->channel_message_id, "42");
    assert_string_equal(e->text, "Bonjour, o\xc3\xb9 est ma commande ?");
    assert_string_equal(e->address, "{\"chat_id\":9007199254740993}");
    assert_int_equal(e->sent_at_ms, INT64_C(1700000000000));
    assert_null(ev.answer_body);
    pal_channel_events_clear(&ev);
}

static void test_parse_callback(void **state)
{
    (void)state;
    pal_channel_events ev;
    pal_api_refusal refusal;
    assert_int_equal(
        parse("{\"update_id\":912345679,\"callback_query\":{\"id\":\"4382bfdwdsb323b2d9\","
              "\"from\":{\"id\":123456789,\"is_bot\":false,\"first_name\":\"Camille\"},"
              "\"message\":{\"message_id\":43,\"from\":{\"id\":987,\"is_bot\":true},"
              "\"chat\":{\"id\":-1001234567890,\"type\":\"supergroup\"},\"date\":1700000001,"
              "\"text\":\"Choisissez\"},\"chat_instance\":\"-123\",\"data\":\"OUI\"}}",
              &ev, &refusal),
        PAL_OK);
    assert_int_equal(ev.n, 1);
    pal_channel_event *e = &ev.items[0];
    assert_string_equal(e->dedup_key, "912345679");
    assert_string_equal(e->external_user, "123456789");
    assert_string_equal(e->text, "OUI");
    assert_string_equal(e->address, "{\"chat_id\":-1001234567890}");
    assert_non_null(ev.answer_body);
    assert_string_equal(ev.answer_content_type, "application/json");
    json_t *answer = json_loads(ev.answer_body, 0, NULL);
    assert_string_equal(json_string_value(json_object_get(answer, "method")),
                        "answerCallbackQuery");
    assert_string_equal(json_string_value(json_object_get(answer, "callback_query_id")),
                        "4382bfdwdsb323b2d9");
    assert_int_equal(json_object_size(answer), 2);
    json_decref(answer);
    pal_channel_events_clear(&ev);

    /* no message (inline mode): the user's private chat; no data: answered, no event */
    assert_int_equal(parse("{\"update_id\":5,\"callback_query\":{\"id\":\"q1\","
                           "\"from\":{\"id\":77,\"is_bot\":false},\"data\":\"x\"}}",
                           &ev, &refusal),
                     PAL_OK);
    assert_int_equal(ev.n, 1);
    assert_string_equal(ev.items[0].address, "{\"chat_id\":77}");
    pal_channel_events_clear(&ev);
    assert_int_equal(parse("{\"update_id\":6,\"callback_query\":{\"id\":\"q2\","
                           "\"from\":{\"id\":77,\"is_bot\":false},\"game_short_name\":\"g\"}}",
                           &ev, &refusal),
                     PAL_OK);
    assert_int_equal(ev.n, 0);
    assert_non_null(strstr(ev.answer_body, "\"q2\""));
    pal_channel_events_clear(&ev);
}

static void test_parse_skipped(void **state)
{
    (void)state;
    const char *skipped[] = {
        /* a bot's message */
        "{\"update_id\":1,\"message\":{\"message_id\":1,\"from\":{\"id\":5,\"is_bot\":true},"
        "\"chat\":{\"id\":5,\"type\":\"private\"},\"date\":1,\"text\":\"hi\"}}",
        /* an edit */
        "{\"update_id\":2,\"edited_message\":{\"message_id\":1,\"from\":{\"id\":5,"
        "\"is_bot\":false},\"chat\":{\"id\":5,\"type\":\"private\"},\"date\":1,\"edit_date\":2,"
        "\"text\":\"hi\"}}",
        /* a photo without caption text */
        "{\"update_id\":3,\"message\":{\"message_id\":1,\"from\":{\"id\":5,\"is_bot\":false},"
        "\"chat\":{\"id\":5,\"type\":\"private\"},\"date\":1,\"photo\":[{\"file_id\":\"f\"}]}}",
        /* a NUL in the text, an empty text, an id that is not an integer */
        "{\"update_id\":4,\"message\":{\"message_id\":1,\"from\":{\"id\":5,\"is_bot\":false},"
        "\"chat\":{\"id\":5,\"type\":\"private\"},\"date\":1,\"text\":\"a\\u0000\"}}",
        "{\"update_id\":5,\"message\":{\"message_id\":1,\"from\":{\"id\":5,\"is_bot\":false},"
        "\"chat\":{\"id\":5,\"type\":\"private\"},\"date\":1,\"text\":\"\"}}",
        "{\"update_id\":6,\"message\":{\"message_id\":1,\"from\":{\"id\":\"5\",\"is_bot\":false},"
        "\"chat\":{\"id\":5,\"type\":\"private\"},\"date\":1,\"text\":\"hi\"}}",
        /* another kind of update */
        "{\"update_id\":7,\"my_chat_member\":{}}",
    };
    for (size_t i = 0; i < sizeof(skipped) / sizeof(skipped[0]); i++) {
        pal_channel_events ev;
        pal_api_refusal refusal;
        assert_int_equal(parse(skipped[i], &ev, &refusal), PAL_OK);
        assert_int_equal(ev.n, 0);
        pal_channel_events_clear(&ev);
    }
}

static void test_parse_refused(void **state)
{
    (void)state;
    const struct {
        const char *body, *code;
    } refused[] = {
        {"", "invalid_json"},
        {"{\"update_id\":1", "invalid_json"},
        {"[1]", "invalid_json"},
        {"{\"update_id\":1,\"update_id\":2}", "invalid_json"},
        {"{\"update_id\":1,\"message\":{\"text\":\"\xc3\x28\"}}", "invalid_utf8"},
        {"{}", "invalid_payload"},
        {"{\"update_id\":\"1\"}", "invalid_payload"},
        {"{\"update_id\":1.5}", "invalid_payload"},
    };
    for (size_t i = 0; i < sizeof(refused) / sizeof(refused[0]); i++) {
        pal_channel_events ev;
        pal_api_refusal refusal;
        assert_int_equal(parse(refused[i].body, &ev, &refusal), PAL_ERR_PARSE);
        assert_int_equal(refusal.status, 400);
        assert_string_equal(refusal.code, refused[i].code);
        assert_int_equal(ev.n, 0);
        assert_null(ev.answer_body);
    }
}

#define TG_OK(id)                                                                                  \
    "{\"ok\":true,\"result\":{\"message_id\":" #id ",\"from\":{\"id\":1,\"is_bot\":true},"         \
    "\"chat\":{\"id\":77,\"type\":\"private\"},\"date\":1700000000,\"text\":\"x\"}}"

static void test_send(void **state)
{
    (void)state;
    fake_http fs;
    fake_http_reply ok[] = {{200, NULL, TG_OK(42)}, {200, NULL, TG_OK(43)}, {200, NULL, TG_OK(44)}};
    fake_http_start(&fs, ok, 3);
    tg_settings[2].value = fs.base;
    pal_send_result r[3];
    fake_send(&pal_channel_telegram, tg_settings,
              item_of("77", "{\"chat_id\":-1001234567890}", "Alors ?", "[\"Oui\",\"Non\"]"), &r[0]);
    fake_send(&pal_channel_telegram, tg_settings, item_of("77", NULL, "Merci !", NULL), &r[1]);
    fake_send(&pal_channel_telegram, tg_settings, item_of("77", NULL, "Lequel ?", labels_json(13)),
              &r[2]);
    fake_http_stop(&fs);
    assert_int_equal(fs.n, 3);
    assert_int_equal(r[0].outcome, PAL_SEND_OK);
    assert_string_equal(r[0].platform_id, "42");
    assert_string_equal(r[1].platform_id, "43");
    for (size_t i = 0; i < 3; i++)
        assert_true(
            strncmp(fs.calls[i].head, "POST /bot123456:ABC-secret/sendMessage HTTP/1.1", 47) == 0);

    json_t *doc = fake_http_json(&fs, 0);
    assert_int_equal(json_integer_value(json_object_get(doc, "chat_id")), -1001234567890);
    assert_string_equal(json_string_value(json_object_get(doc, "text")), "Alors ?");
    json_t *markup = json_object_get(doc, "reply_markup");
    json_t *keyboard = json_object_get(markup, "keyboard");
    assert_int_equal(json_array_size(keyboard), 2); /* one button per row */
    assert_int_equal(json_array_size(json_array_get(keyboard, 1)), 1);
    assert_string_equal(
        json_string_value(json_object_get(json_array_get(json_array_get(keyboard, 1), 0), "text")),
        "Non");
    assert_true(json_is_true(json_object_get(markup, "resize_keyboard")));
    assert_true(json_is_true(json_object_get(markup, "one_time_keyboard")));
    json_decref(doc);

    /* no address: the user's private chat; no labels: the old keyboard goes */
    doc = fake_http_json(&fs, 1);
    assert_int_equal(json_integer_value(json_object_get(doc, "chat_id")), 77);
    assert_true(
        json_is_true(json_object_get(json_object_get(doc, "reply_markup"), "remove_keyboard")));
    json_decref(doc);

    /* 13 labels: listed in the text */
    doc = fake_http_json(&fs, 2);
    assert_non_null(
        strstr(json_string_value(json_object_get(doc, "text")), "Lequel ?\nChoix 1\nChoix 2\n"));
    assert_null(json_object_get(json_object_get(doc, "reply_markup"), "keyboard"));
    json_decref(doc);
    fake_http_free(&fs);
}

static void test_send_errors(void **state)
{
    (void)state;
    fake_http fs;
    fake_http_reply replies[] = {
        {429, NULL,
         "{\"ok\":false,\"error_code\":429,\"description\":\"Too Many Requests: retry after 30\","
         "\"parameters\":{\"retry_after\":30}}"},
        {400, NULL,
         "{\"ok\":false,\"error_code\":400,\"description\":\"Bad Request: chat not found\"}"},
        {403, NULL,
         "{\"ok\":false,\"error_code\":403,\"description\":\"Forbidden: bot was blocked by the "
         "user\"}"},
        {502, NULL, "<html>Bad Gateway</html>"},
    };
    fake_http_start(&fs, replies, 4);
    tg_settings[2].value = fs.base;
    pal_send_result r[4];
    for (size_t i = 0; i < 4; i++)
        fake_send(&pal_channel_telegram, tg_settings, item_of("77", NULL, "Bonjour", NULL), &r[i]);
    fake_http_stop(&fs);
    assert_int_equal(fs.n, 4);
    assert_int_equal(r[0].outcome, PAL_SEND_RETRY);
    assert_int_equal(r[0].retry_after_ms, 30000);
    assert_int_equal(r[1].outcome, PAL_SEND_PERMANENT);
    assert_string_equal(r[1].error, "400 Bad Request: chat not found");
    assert_int_equal(r[2].outcome, PAL_SEND_PERMANENT);
    assert_string_equal(r[2].error, "403 Forbidden: bot was blocked by the user");
    assert_int_equal(r[3].outcome, PAL_SEND_RETRY);
    for (size_t i = 0; i < 4; i++)
        assert_null(strstr(r[i].error, "ABC-secret"));
    fake_http_free(&fs);

    /* nobody listening */
    fake_http_start(&fs, replies, 0);
    tg_settings[2].value = fs.base;
    fake_http_stop(&fs);
    fake_send(&pal_channel_telegram, tg_settings, item_of("77", NULL, "Bonjour", NULL), &r[0]);
    assert_int_equal(r[0].outcome, PAL_SEND_RETRY);
    assert_null(strstr(r[0].error, "ABC-secret"));

    /* no chat to answer */
    fake_send(&pal_channel_telegram, tg_settings, item_of("camille", NULL, "Bonjour", NULL), &r[0]);
    assert_int_equal(r[0].outcome, PAL_SEND_PERMANENT);
}

static void test_send_long_text(void **state)
{
    (void)state;
    /* 5000 bytes of two-byte characters and no space: cut between characters */
    char text[5001];
    for (size_t i = 0; i < 5000; i += 2) {
        text[i] = '\xc3';
        text[i + 1] = '\xa9';
    }
    text[5000] = '\0';
    /* an odd offset so that byte 4096 falls inside a character */
    text[0] = 'x';
    memmove(text + 1, text + 2, 4999);
    text[4999] = '\0';
    assert_true(pal_utf8_valid(text, strlen(text)));
    fake_http fs;
    fake_http_reply ok[] = {{200, NULL, TG_OK(50)}, {200, NULL, TG_OK(51)}};
    fake_http_start(&fs, ok, 2);
    tg_settings[2].value = fs.base;
    pal_send_result result;
    fake_send(&pal_channel_telegram, tg_settings, item_of("77", NULL, text, "[\"Oui\"]"), &result);
    fake_http_stop(&fs);
    assert_int_equal(result.outcome, PAL_SEND_OK);
    assert_string_equal(result.platform_id, "51");
    assert_int_equal(fs.n, 2);
    json_t *d0 = fake_http_json(&fs, 0), *d1 = fake_http_json(&fs, 1);
    const char *p0 = json_string_value(json_object_get(d0, "text"));
    const char *p1 = json_string_value(json_object_get(d1, "text"));
    assert_true(strlen(p0) <= 4096 && strlen(p0) >= 4090);
    char joined[5100];
    snprintf(joined, sizeof(joined), "%s%s", p0, p1);
    assert_string_equal(joined, text);
    /* the keyboard comes with the last part only; the first leaves the keyboard alone */
    assert_null(json_object_get(d0, "reply_markup"));
    assert_non_null(json_object_get(json_object_get(d1, "reply_markup"), "keyboard"));
    json_decref(d0);
    json_decref(d1);
    fake_http_free(&fs);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_verify),         cmocka_unit_test(test_parse_message),
        cmocka_unit_test(test_parse_callback), cmocka_unit_test(test_parse_skipped),
        cmocka_unit_test(test_parse_refused),  cmocka_unit_test(test_send),
        cmocka_unit_test(test_send_errors),    cmocka_unit_test(test_send_long_text),
    };
    curl_global_init(CURL_GLOBAL_DEFAULT);
    int failed = cmocka_run_group_tests(tests, NULL, NULL);
    curl_global_cleanup();
    return failed;
}
