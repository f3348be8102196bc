/*
 * test_channels_x.c — the X adapter: the CRC handshake (CHANNELS.md test
 * vector), webhook signatures, which tweets and DMs are answered and with
 * what text, and the requests the sender makes, checked against a fake X
 * API served from a thread of this test.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <curl/curl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/time.h>
#include <time.h>

#include "channels/channel.h"
#include "fake_http.h"
#include "channels/sign.h"

/* --- settings and requests ------------------------------------------------- */

static fake_kv base_settings[] = {
    {"consumer_secret", "z3ZX4v7mAAUGykl3EcmkqbartmuW8VFOOzCloLx9Q45P0hLrFu"},
    {"access_token", "SECRET-BEARER-TOKEN"},
    {"user_id", "1000"},
    {"hashtag", NULL},
    {"api_base", NULL},
    {NULL, NULL},
};

static pal_channel_settings settings = {fake_kv_get, base_settings};

static void set_setting(const char *name, const char *value)
{
    fake_kv_set(base_settings, name, value);
}

static pal_channel_request make_request(const char *method, const char *body, fake_request *f)
{
    return fake_request_make(method, "https://bot.example.com/webhooks/x", body, f);
}

static int setup(void **state)
{
    (void)state;
    set_setting("hashtag", NULL);
    set_setting("api_base", NULL);
    return 0;
}

/* --- handshake -------------------------------------------------------------- */

static void crc_vector(void **state)
{
    (void)state;
    fake_kv list[] = {{"crc_token", "9b4507b3-9040-4669-9ca3-6b94edb50553"}, {NULL, NULL}};
    fake_request f = {.query = list};
    pal_channel_request r = make_request("GET", NULL, &f);
    pal_channel_answer a = {0};
    assert_non_null(pal_channel_x.handshake);
    pal_channel_x.handshake(&settings, &r, &a);
    assert_int_equal(a.status, 200);
    assert_string_equal(a.content_type, "application/json");
    assert_string_equal(
        a.body, "{\"response_token\":\"sha256=Cytd4Sq+NvEcV3MMrXxWJGJx5A+y/lXzzU2Maartkx8=\"}");
    free(a.body);
}

static void crc_refused(void **state)
{
    (void)state;
    char long_token[300];
    memset(long_token, 'a', 257);
    long_token[257] = '\0';
    const char *bad[] = {NULL, "", long_token, "tab\there", "caf\xc3\xa9"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        fake_kv list[] = {{"crc_token", bad[i]}, {NULL, NULL}};
        fake_request f = {.query = list};
        pal_channel_request r = make_request("GET", NULL, &f);
        pal_channel_answer a = {0};
        pal_channel_x.handshake(&settings, &r, &a);
        assert_int_equal(a.status, 400);
        free(a.body);
    }
    /* 256 bytes is the longest token allowed. */
    long_token[256] = '\0';
    fake_kv list[] = {{"crc_token", long_token}, {NULL, NULL}};
    fake_request f = {.query = list};
    pal_channel_request r = make_request("GET", NULL, &f);
    pal_channel_answer a = {0};
    pal_channel_x.handshake(&settings, &r, &a);
    assert_int_equal(a.status, 200);
    free(a.body);
}

/* --- signature -------------------------------------------------------------- */

static void sign_body(const char *secret, const char *body, char *out)
{
    unsigned char mac[PAL_SHA256_LEN];
    assert_true(pal_hmac_sha256(secret, strlen(secret), body, strlen(body), mac));
    memcpy(out, "sha256=", 8);
    assert_true(pal_base64(mac, sizeof(mac), out + 7, 60));
}

static void signature_checked(void **state)
{
    (void)state;
    const char *body = "{\"for_user_id\":\"1000\",\"tweet_create_events\":[]}";
    char good[80], other[80];
    sign_body(base_settings[0].value, body, good);
    sign_body("another secret", body, other);

    fake_kv list[] = {{"x-twitter-webhooks-signature", good}, {NULL, NULL}};
    fake_request f = {.headers = list};
    pal_channel_request r = make_request("POST", body, &f);
    assert_true(pal_channel_x.verify(&settings, &r));

    list[0].value = other;
    assert_false(pal_channel_x.verify(&settings, &r));
    char wrong[80];
    memcpy(wrong, good, sizeof(wrong));
    wrong[10] = wrong[10] == 'A' ? 'B' : 'A';
    list[0].value = wrong;
    assert_false(pal_channel_x.verify(&settings, &r));
    list[0].value = good + 7; /* without "sha256=" */
    assert_false(pal_channel_x.verify(&settings, &r));
    list[0].name = "x-other";
    assert_false(pal_channel_x.verify(&settings, &r));

    /* One byte of the body changed. */
    list[0].name = "x-twitter-webhooks-signature";
    list[0].value = good;
    r.body = "{\"for_user_id\":\"1001\",\"tweet_create_events\":[]}";
    assert_false(pal_channel_x.verify(&settings, &r));
}

/* --- parsing ---------------------------------------------------------------- */

static pal_err parse(const char *body, pal_channel_events *events, pal_api_refusal *refusal)
{
    fake_request f = {0};
    pal_channel_request r = make_request("POST", body, &f);
    memset(events, 0, sizeof(*events));
    memset(refusal, 0, sizeof(*refusal));
    return pal_channel_x.parse(&settings, &r, events, refusal);
}

static void mention_with_hashtag(void **state)
{
    (void)state;
    set_setting("hashtag", "#MonRésultat");
    const char *body = "{\"for_user_id\":\"1000\",\"tweet_create_events\":[{"
                       "\"id_str\":\"555\",\"timestamp_ms\":\"1700000000123\","
                       "\"text\":\"@palabre_bot Voici #MONRESULTAT &amp; merci &lt;3\","
                       "\"display_text_range\":[13,42],"
                       "\"in_reply_to_status_id_str\":null,"
                       "\"user\":{\"id_str\":\"42\",\"screen_name\":\"alice\"}}]}";
    pal_channel_events ev;
    pal_api_refusal ref;
    assert_int_equal(parse(body, &ev, &ref), PAL_OK);
    assert_int_equal(ev.n, 1);
    pal_channel_event *e = &ev.items[0];
    assert_int_equal(e->kind, PAL_CHANNEL_MESSAGE);
    assert_string_equal(e->text, "Voici #MONRESULTAT & merci <3");
    assert_string_equal(e->dedup_key, "555");
    assert_string_equal(e->channel_message_id, "555");
    assert_string_equal(e->external_user, "42");
    assert_int_equal(e->sent_at_ms, 1700000000123LL);
    json_t *a = json_loads(e->address, 0, NULL);
    assert_non_null(a);
    assert_string_equal(json_string_value(json_object_get(a, "tweet_id")), "555");
    assert_string_equal(json_string_value(json_object_get(a, "screen_name")), "alice");
    json_decref(a);
    pal_channel_events_clear(&ev);
}

static void hashtag_filter(void **state)
{
    (void)state;
    set_setting("hashtag", "#MonRésultat");
    static const struct {
        const char *text;
        size_t kept;
    } cases[] = {
        {"@palabre_bot mon score ?", 0},       {"@palabre_bot #monresultat", 1},
        {"@palabre_bot #MonRÉSULTAT!", 1},     {"@palabre_bot #MonRésultat, svp", 1},
        {"@palabre_bot #MonRésultatFinal", 0}, {"@palabre_bot #MonResult", 0},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        json_t *doc =
            json_pack("{s:s,s:[{s:s,s:s,s:{s:s}}]}", "for_user_id", "1000", "tweet_create_events",
                      "id_str", "9", "text", cases[i].text, "user", "id_str", "42");
        char *body = json_dumps(doc, 0);
        pal_channel_events ev;
        pal_api_refusal ref;
        assert_int_equal(parse(body, &ev, &ref), PAL_OK);
        if (ev.n != cases[i].kept)
            fail_msg("%s: %zu events", cases[i].text, ev.n);
        pal_channel_events_clear(&ev);
        free(body);
        json_decref(doc);
    }
    /* Without the setting, every mention is answered. */
    set_setting("hashtag", NULL);
    pal_channel_events ev;
    pal_api_refusal ref;
    assert_int_equal(parse("{\"for_user_id\":\"1000\",\"tweet_create_events\":[{\"id_str\":\"9\","
                           "\"text\":\"@palabre_bot mon score ?\",\"user\":{\"id_str\":\"42\"}}]}",
                           &ev, &ref),
                     PAL_OK);
    assert_int_equal(ev.n, 1);
    assert_string_equal(ev.items[0].text, "mon score ?");
    pal_channel_events_clear(&ev);
}

static void retweets_and_own_tweets_skipped(void **state)
{
    (void)state;
    set_setting("hashtag", "#MonRésultat");
    const char *body =
        "{\"for_user_id\":\"1000\",\"tweet_create_events\":["
        /* a retweet of a tweet with the hashtag: the duplicate-reply bug */
        "{\"id_str\":\"1\",\"text\":\"RT @bob: @palabre_bot #MonRésultat\","
        "\"retweeted_status\":{\"id_str\":\"0\",\"text\":\"x\",\"user\":{\"id_str\":\"7\"}},"
        "\"user\":{\"id_str\":\"42\"}},"
        /* our own reply */
        "{\"id_str\":\"2\",\"text\":\"@alice #MonRésultat est 12\",\"user\":{\"id_str\":\"1000\"}},"
        /* a quote tweet: kept */
        "{\"id_str\":\"3\",\"text\":\"@palabre_bot #MonRésultat regarde\","
        "\"quoted_status\":{\"id_str\":\"0\",\"text\":\"y\",\"user\":{\"id_str\":\"7\"}},"
        "\"is_quote_status\":true,\"user\":{\"id_str\":\"43\"}},"
        /* a bare mention: nothing to answer */
        "{\"id_str\":\"4\",\"text\":\"@palabre_bot\",\"user\":{\"id_str\":\"44\"}}"
        "],\"favorite_events\":[{\"id\":\"x\"}],\"user_has_blocked\":false}";
    pal_channel_events ev;
    pal_api_refusal ref;
    assert_int_equal(parse(body, &ev, &ref), PAL_OK);
    assert_int_equal(ev.n, 1);
    assert_string_equal(ev.items[0].dedup_key, "3");
    assert_string_equal(ev.items[0].text, "#MonRésultat regarde");
    pal_channel_events_clear(&ev);
}

static void extended_text_and_ranges(void **state)
{
    (void)state;
    /* extended_tweet.full_text wins over the truncated text, with its own
     * range; ranges count code points (the emoji is one, 4 bytes). */
    const char *body =
        "{\"for_user_id\":\"1000\",\"tweet_create_events\":["
        "{\"id_str\":\"10\",\"truncated\":true,\"text\":\"@palabre_bot tronqu\\u00e9\\u2026\","
        "\"display_text_range\":[0,5],"
        "\"extended_tweet\":{\"full_text\":\"@palabre_bot \\ud83c\\udf89 r\\u00e9sultat "
        "https://t.co/abc\",\"display_text_range\":[13,23]},"
        "\"user\":{\"id_str\":\"42\"}},"
        "{\"id_str\":\"11\",\"full_text\":\"@a @b_2  bonjour @c\",\"user\":{\"id_str\":\"42\"}}"
        "]}";
    pal_channel_events ev;
    pal_api_refusal ref;
    assert_int_equal(parse(body, &ev, &ref), PAL_OK);
    assert_int_equal(ev.n, 2);
    assert_string_equal(ev.items[0].text, "\xf0\x9f\x8e\x89 résultat");
    assert_int_equal(ev.items[0].sent_at_ms, 0);
    assert_string_equal(ev.items[1].text, "bonjour @c");
    pal_channel_events_clear(&ev);
}

static void direct_messages(void **state)
{
    (void)state;
    const char *body =
        "{\"for_user_id\":\"1000\",\"direct_message_events\":["
        "{\"type\":\"message_create\",\"id\":\"900\",\"created_timestamp\":\"1700000000999\","
        "\"message_create\":{\"target\":{\"recipient_id\":\"1000\"},\"sender_id\":\"42\","
        "\"message_data\":{\"text\":\"Quel est mon résultat ? &amp;\",\"entities\":{}}}},"
        /* our own message: the echo */
        "{\"type\":\"message_create\",\"id\":\"901\",\"created_timestamp\":\"1700000001000\","
        "\"message_create\":{\"target\":{\"recipient_id\":\"42\"},\"sender_id\":\"1000\","
        "\"message_data\":{\"text\":\"Votre résultat : 12\"}}},"
        /* a quick reply press: its metadata */
        "{\"type\":\"message_create\",\"id\":\"902\","
        "\"message_create\":{\"target\":{\"recipient_id\":\"1000\"},\"sender_id\":\"43\","
        "\"message_data\":{\"text\":\"Oui\",\"quick_reply_response\":{\"type\":\"options\","
        "\"metadata\":\"yes\"}}}},"
        "{\"type\":\"participant_join\",\"id\":\"903\"}"
        "],\"users\":{},\"apps\":{}}";
    pal_channel_events ev;
    pal_api_refusal ref;
    assert_int_equal(parse(body, &ev, &ref), PAL_OK);
    assert_int_equal(ev.n, 2);
    assert_string_equal(ev.items[0].text, "Quel est mon résultat ? &amp;");
    assert_string_equal(ev.items[0].dedup_key, "900");
    assert_string_equal(ev.items[0].channel_message_id, "900");
    assert_string_equal(ev.items[0].external_user, "42");
    assert_string_equal(ev.items[0].address, "{\"dm\":\"42\"}");
    assert_int_equal(ev.items[0].sent_at_ms, 1700000000999LL);
    assert_string_equal(ev.items[1].text, "yes");
    assert_string_equal(ev.items[1].external_user, "43");
    pal_channel_events_clear(&ev);
}

static void hostile_payloads_refused(void **state)
{
    (void)state;
    static const struct {
        const char *body;
        const char *code;
    } cases[] = {
        {"not json", "invalid_json"},
        {"[1,2]", "invalid_json"},
        {"{\"for_user_id\":\"1000\",\"for_user_id\":\"1000\"}", "invalid_json"},
        {"{\"for_user_id\":\"caf\xc3\"}", "invalid_json"},
        {"{\"tweet_create_events\":[]}", "invalid_payload"},
        {"{\"for_user_id\":\"2000\",\"tweet_create_events\":[]}", "unknown_account"},
        {"{\"for_user_id\":1000}", "invalid_payload"},
        {"{\"for_user_id\":\"1000\",\"tweet_create_events\":{}}", "invalid_payload"},
        {"{\"for_user_id\":\"1000\",\"tweet_create_events\":[{\"text\":\"hi\"}]}",
         "invalid_payload"},
        {"{\"for_user_id\":\"1000\",\"tweet_create_events\":[{\"id_str\":\"1/../2\","
         "\"text\":\"hi\",\"user\":{\"id_str\":\"4\"}}]}",
         "invalid_payload"},
        {"{\"for_user_id\":\"1000\",\"direct_message_events\":[{\"type\":\"message_create\","
         "\"id\":\"5\",\"message_create\":{\"sender_id\":\"4\"}}]}",
         "invalid_payload"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        pal_channel_events ev;
        pal_api_refusal ref;
        if (parse(cases[i].body, &ev, &ref) != PAL_ERR_PARSE)
            fail_msg("accepted: %s", cases[i].body);
        assert_int_equal(ref.status, 400);
        assert_string_equal(ref.code, cases[i].code);
        assert_int_equal(ev.n, 0);
        assert_null(ev.items);
    }
    /* A refusal after good events leaves none behind. */
    pal_channel_events ev;
    pal_api_refusal ref;
    assert_int_equal(parse("{\"for_user_id\":\"1000\",\"tweet_create_events\":[{\"id_str\":\"9\","
                           "\"text\":\"@b hi\",\"user\":{\"id_str\":\"42\"}},7]}",
                           &ev, &ref),
                     PAL_ERR_PARSE);
    assert_int_equal(ev.n, 0);
    assert_null(ev.items);
}

static void ack_is_json(void **state)
{
    (void)state;
    assert_string_equal(pal_channel_x.name, "x");
    assert_string_equal(pal_channel_x.ack_content_type, "application/json");
    assert_string_equal(pal_channel_x.ack_body, "{}");
    assert_string_equal(pal_channel_x.required[0], "consumer_secret");
}

/* --- a fake X API ------------------------------------------------------------- */

static void send_item(fake_http *s, const char *external_user, const char *address,
                      const char *text, const char *quick, pal_send_result *result)
{
    set_setting("api_base", s->base);
    pal_delivery_item *item = pal_delivery_item_new(1, 2, 0, "x", external_user, address, text,
                                                    quick, "palabre-1", 0, 0, 0, NULL);
    fake_send(&pal_channel_x, base_settings, item, result);
}

static void send_public_reply(void **state)
{
    (void)state;
    fake_http s;
    fake_http_reply r[] = {{201, "", "{\"data\":{\"id\":\"7777\",\"text\":\"x\"}}"}};
    fake_http_start(&s, r, 1);
    pal_send_result result;
    send_item(&s, "42", "{\"tweet_id\":\"555\",\"screen_name\":\"alice\"}", "Votre résultat : 12",
              "[\"Merci\",\"Détails\"]", &result);
    fake_http_stop(&s);
    assert_int_equal(result.outcome, PAL_SEND_OK);
    assert_string_equal(result.platform_id, "7777");
    assert_int_equal(s.n, 1);
    fake_http_call *c = &s.calls[0];
    char value[256];
    assert_string_equal(c->method, "POST");
    assert_string_equal(c->path, "/2/tweets");
    fake_http_header(c, "Authorization", value, sizeof(value));
    assert_string_equal(value, "Bearer SECRET-BEARER-TOKEN");
    fake_http_header(c, "Content-Type", value, sizeof(value));
    assert_string_equal(value, "application/json");
    json_t *body = json_loads(c->body, 0, NULL);
    assert_non_null(body);
    /* addressed to its author: X also refuses two identical texts from one account */
    assert_string_equal(json_string_value(json_object_get(body, "text")),
                        "@alice Votre résultat : 12\nMerci / Détails");
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(body, "reply"), "in_reply_to_tweet_id")),
        "555");
    json_decref(body);
    fake_http_free(&s);
}

/* A reply posted before a crash and sent again: X answers "duplicate content"
 * (403), which means it is there. A handle that is not one is left out. */
static void send_duplicate_content_is_delivered(void **state)
{
    (void)state;
    fake_http s;
    fake_http_reply r[] = {
        {403, "",
         "{\"detail\":\"You are not allowed to create a Tweet with duplicate content.\","
         "\"type\":\"about:blank\",\"title\":\"Forbidden\",\"status\":403}"},
        {403, "", "{\"detail\":\"You are not permitted to perform this action.\",\"status\":403}"}};
    fake_http_start(&s, r, 2);
    pal_send_result result;
    send_item(&s, "42", "{\"tweet_id\":\"555\",\"screen_name\":\"a b\"}", "Résultat", NULL,
              &result);
    assert_int_equal(result.outcome, PAL_SEND_OK);
    assert_string_equal(result.platform_id, "");
    send_item(&s, "42", "{\"tweet_id\":\"556\"}", "Résultat", NULL, &result);
    assert_int_equal(result.outcome, PAL_SEND_PERMANENT);
    fake_http_stop(&s);
    json_t *body = json_loads(s.calls[0].body, 0, NULL);
    assert_string_equal(json_string_value(json_object_get(body, "text")), "Résultat");
    json_decref(body);
    fake_http_free(&s);
}

static void send_thread(void **state)
{
    (void)state;
    /* 300 characters: two tweets, the second answering the first. */
    char text[1024];
    size_t used = 0;
    for (int i = 0; i < 30; i++)
        used += (size_t)snprintf(text + used, sizeof(text) - used, "%s",
                                 i ? " ééééééééé" : "ééééééééé");
    assert_int_equal(strlen(text), 30 * 9 * 2 + 29);
    fake_http s;
    fake_http_reply r[] = {{201, "", "{\"data\":{\"id\":\"8001\"}}"},
                           {201, "", "{\"data\":{\"id\":\"8002\"}}"}};
    fake_http_start(&s, r, 2);
    pal_send_result result;
    send_item(&s, "42", "{\"tweet_id\":\"555\"}", text, NULL, &result);
    fake_http_stop(&s);
    if (result.outcome != PAL_SEND_OK)
        fail_msg("%s", result.error);
    assert_string_equal(result.platform_id, "8002");
    assert_int_equal(s.n, 2);
    json_t *first = json_loads(s.calls[0].body, 0, NULL);
    json_t *second = json_loads(s.calls[1].body, 0, NULL);
    const char *t1 = json_string_value(json_object_get(first, "text"));
    const char *t2 = json_string_value(json_object_get(second, "text"));
    /* 28 words of 9 + 27 spaces = 279 code points fit; the cut is at a space. */
    assert_int_equal(strlen(t1), 28 * 18 + 27);
    assert_int_equal(strlen(t2), 2 * 18 + 1);
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(first, "reply"), "in_reply_to_tweet_id")),
        "555");
    assert_string_equal(json_string_value(json_object_get(json_object_get(second, "reply"),
                                                          "in_reply_to_tweet_id")),
                        "8001");
    json_decref(first);
    json_decref(second);
    fake_http_free(&s);
}

static void send_direct_message(void **state)
{
    (void)state;
    fake_http s;
    fake_http_reply r[] = {
        {201, "", "{\"data\":{\"dm_conversation_id\":\"1000-42\",\"dm_event_id\":\"9191\"}}"}};
    fake_http_start(&s, r, 1);
    pal_send_result result;
    send_item(&s, "42", "{\"dm\":\"42\"}", "Votre résultat : 12", "[\"Oui\",\"Non\"]", &result);
    fake_http_stop(&s);
    assert_int_equal(result.outcome, PAL_SEND_OK);
    assert_string_equal(result.platform_id, "9191");
    assert_int_equal(s.n, 1);
    assert_string_equal(s.calls[0].path, "/2/dm_conversations/with/42/messages");
    json_t *body = json_loads(s.calls[0].body, 0, NULL);
    assert_string_equal(json_string_value(json_object_get(body, "text")),
                        "Votre résultat : 12\n• Oui\n• Non");
    assert_null(json_object_get(body, "reply"));
    json_decref(body);
    fake_http_free(&s);
}

static void send_rate_limited(void **state)
{
    (void)state;
    fake_http s;
    fake_http_reply r[] = {
        {429, "Retry-After: 7\r\n", "{\"title\":\"Too Many Requests\",\"status\":429}"}};
    fake_http_start(&s, r, 1);
    pal_send_result result;
    send_item(&s, "42", NULL, "bonjour", NULL, &result);
    fake_http_stop(&s);
    assert_int_equal(s.n, 1);
    assert_string_equal(s.calls[0].path, "/2/dm_conversations/with/42/messages");
    assert_int_equal(result.outcome, PAL_SEND_RETRY);
    assert_int_equal(result.retry_after_ms, 7000);

    /* Without Retry-After, x-rate-limit-reset says when the window reopens. */
    char extra[128];
    snprintf(extra, sizeof(extra), "x-rate-limit-reset: %lld\r\n", (long long)time(NULL) + 30);
    fake_http_reply r2[] = {{429, extra, "{}"}};
    fake_http_free(&s);
    fake_http_start(&s, r2, 1);
    send_item(&s, "42", NULL, "bonjour", NULL, &result);
    fake_http_stop(&s);
    assert_int_equal(result.outcome, PAL_SEND_RETRY);
    assert_true(result.retry_after_ms >= 28000 && result.retry_after_ms <= 30000);

    fake_http_reply r3[] = {{503, "", "oops"}};
    fake_http_free(&s);
    fake_http_start(&s, r3, 1);
    send_item(&s, "42", NULL, "bonjour", NULL, &result);
    fake_http_stop(&s);
    assert_int_equal(result.outcome, PAL_SEND_RETRY);
    assert_int_equal(result.retry_after_ms, 0);
    fake_http_free(&s);
}

static void send_refused(void **state)
{
    (void)state;
    fake_http s;
    fake_http_reply r[] = {
        {403, "",
         "{\"title\":\"Forbidden\",\"detail\":\"You are not permitted to send this DM.\","
         "\"type\":\"about:blank\",\"status\":403}"}};
    fake_http_start(&s, r, 1);
    pal_send_result result;
    send_item(&s, "42", "{\"dm\":\"42\"}", "bonjour", NULL, &result);
    fake_http_stop(&s);
    assert_int_equal(result.outcome, PAL_SEND_PERMANENT);
    assert_string_equal(result.error, "HTTP 403 Forbidden: You are not permitted to send this DM.");
    assert_null(strstr(result.error, "SECRET"));
    assert_null(strstr(result.error, "127.0.0.1"));
    fake_http_free(&s);
}

static void send_unreachable_or_invalid(void **state)
{
    (void)state;
    /* A port nobody listens on: retried later. */
    fake_http s;
    fake_http_start(&s, NULL, 0);
    fake_http_stop(&s); /* the port is now closed */
    pal_send_result result;
    send_item(&s, "42", NULL, "bonjour", NULL, &result);
    assert_int_equal(result.outcome, PAL_SEND_RETRY);
    assert_null(strstr(result.error, "SECRET"));

    /* An address that is not an id never reaches the network. */
    send_item(&s, "../../2/tweets", NULL, "bonjour", NULL, &result);
    assert_int_equal(result.outcome, PAL_SEND_PERMANENT);
    send_item(&s, "42", "{\"tweet_id\":\"1?x=2\"}", "bonjour", NULL, &result);
    assert_int_equal(result.outcome, PAL_SEND_PERMANENT);
    send_item(&s, "42", NULL, "  ", NULL, &result);
    assert_int_equal(result.outcome, PAL_SEND_PERMANENT);
    fake_http_free(&s);
}

int main(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(crc_vector, setup),
        cmocka_unit_test_setup(crc_refused, setup),
        cmocka_unit_test_setup(signature_checked, setup),
        cmocka_unit_test_setup(mention_with_hashtag, setup),
        cmocka_unit_test_setup(hashtag_filter, setup),
        cmocka_unit_test_setup(retweets_and_own_tweets_skipped, setup),
        cmocka_unit_test_setup(extended_text_and_ranges, setup),
        cmocka_unit_test_setup(direct_messages, setup),
        cmocka_unit_test_setup(hostile_payloads_refused, setup),
        cmocka_unit_test_setup(ack_is_json, setup),
        cmocka_unit_test_setup(send_public_reply, setup),
        cmocka_unit_test_setup(send_thread, setup),
        cmocka_unit_test_setup(send_duplicate_content_is_delivered, setup),
        cmocka_unit_test_setup(send_direct_message, setup),
        cmocka_unit_test_setup(send_rate_limited, setup),
        cmocka_unit_test_setup(send_refused, setup),
        cmocka_unit_test_setup(send_unreachable_or_invalid, setup),
    };
    int failed = cmocka_run_group_tests(tests, NULL, NULL);
    curl_global_cleanup();
    return failed;
}
