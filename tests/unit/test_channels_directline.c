/*
 * test_channels_directline.c — Direct Line tokens (minted, checked, expired,
 * forged, tampered, another bot's), conversation ids, the activities a
 * client posts (what is taken, what is refused and with which status) and
 * the activities made from stored messages (the fields Web Chat relies on).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <sodium.h>

#include "channels/directline.h"

static const char secret[] = "stade-directline-secret-0123456789";
static const int64_t now = 1800000000;

static int setup(void **state)
{
    (void)state;
    return sodium_init() < 0 ? -1 : 0;
}

static pal_directline_claims claims_of(const char *bot, const char *conversation, const char *user,
                                       int64_t expires)
{
    pal_directline_claims c = {.expires = expires};
    snprintf(c.bot, sizeof(c.bot), "%s", bot);
    snprintf(c.conversation, sizeof(c.conversation), "%s", conversation);
    snprintf(c.user, sizeof(c.user), "%s", user);
    return c;
}

static void conversation_ids_are_random_and_valid(void **state)
{
    (void)state;
    char a[PAL_DIRECTLINE_CONVERSATION_ID_LEN + 1], b[PAL_DIRECTLINE_CONVERSATION_ID_LEN + 1];
    pal_directline_new_conversation_id(a);
    pal_directline_new_conversation_id(b);
    assert_int_equal(strlen(a), PAL_DIRECTLINE_CONVERSATION_ID_LEN);
    assert_true(pal_directline_valid_conversation_id(a));
    assert_true(pal_directline_valid_conversation_id(b));
    assert_string_not_equal(a, b);
    assert_null(strpbrk(a, "+/=|."));
    assert_false(pal_directline_valid_conversation_id(""));
    assert_false(pal_directline_valid_conversation_id(NULL));
    assert_false(pal_directline_valid_conversation_id("abc"));
    assert_false(pal_directline_valid_conversation_id("AAAAAAAAAAAAAAAAAAAAA/"));
    assert_false(pal_directline_valid_conversation_id("AAAAAAAAAAAAAAAAAAAAAAA"));
    /* the last character holds 2 bits: "AB" would set padding bits */
    assert_true(pal_directline_valid_conversation_id("AAAAAAAAAAAAAAAAAAAAAA"));
    assert_false(pal_directline_valid_conversation_id("AAAAAAAAAAAAAAAAAAAAAB"));
}

static void token_round_trip(void **state)
{
    (void)state;
    char conversation[PAL_DIRECTLINE_CONVERSATION_ID_LEN + 1];
    pal_directline_new_conversation_id(conversation);
    pal_directline_claims in = claims_of("stade", conversation, "dl_user-1", now + 1800);
    char *token = NULL;
    assert_int_equal(pal_directline_token_mint(secret, strlen(secret), &in, &token), PAL_OK);
    assert_non_null(token);
    assert_true(strlen(token) < PAL_DIRECTLINE_TOKEN_MAX);
    assert_null(strpbrk(token, "+/= "));
    assert_non_null(strchr(token, '.'));

    pal_directline_claims out;
    assert_int_equal(pal_directline_token_check(token, secret, strlen(secret), now, &out), PAL_OK);
    assert_string_equal(out.bot, "stade");
    assert_string_equal(out.conversation, conversation);
    assert_string_equal(out.user, "dl_user-1");
    assert_int_equal(out.expires, now + 1800);

    pal_directline_claims peeked;
    assert_int_equal(pal_directline_token_peek(token, &peeked), PAL_OK);
    assert_string_equal(peeked.bot, "stade");
    free(token);

    /* no user: the claim is left out, and comes back empty */
    in = claims_of("stade", conversation, "", now + 10);
    assert_int_equal(pal_directline_token_mint(secret, strlen(secret), &in, &token), PAL_OK);
    assert_int_equal(pal_directline_token_check(token, secret, strlen(secret), now, &out), PAL_OK);
    assert_string_equal(out.user, "");
    free(token);
}

static void expired_token(void **state)
{
    (void)state;
    char conversation[PAL_DIRECTLINE_CONVERSATION_ID_LEN + 1];
    pal_directline_new_conversation_id(conversation);
    pal_directline_claims in = claims_of("stade", conversation, "", now + 60);
    char *token = NULL;
    assert_int_equal(pal_directline_token_mint(secret, strlen(secret), &in, &token), PAL_OK);
    pal_directline_claims out;
    assert_int_equal(pal_directline_token_check(token, secret, strlen(secret), now + 59, &out),
                     PAL_OK);
    assert_int_equal(pal_directline_token_check(token, secret, strlen(secret), now + 60, &out),
                     PAL_ERR_STATE);
    /* an expired token with a wrong signature is just invalid */
    assert_int_equal(pal_directline_token_check(token, "other", 5, now + 60, &out),
                     PAL_ERR_INVALID);
    free(token);
}

static void forged_and_tampered_tokens(void **state)
{
    (void)state;
    char conversation[PAL_DIRECTLINE_CONVERSATION_ID_LEN + 1];
    pal_directline_new_conversation_id(conversation);
    pal_directline_claims in = claims_of("stade", conversation, "", now + 600);
    char *token = NULL, *other = NULL;
    pal_directline_claims out;
    assert_int_equal(pal_directline_token_mint(secret, strlen(secret), &in, &token), PAL_OK);

    /* another bot's secret */
    assert_int_equal(pal_directline_token_check(token, "x", 1, now, &out), PAL_ERR_INVALID);

    /* a payload swapped under the MAC: another conversation */
    char conversation2[PAL_DIRECTLINE_CONVERSATION_ID_LEN + 1];
    pal_directline_new_conversation_id(conversation2);
    pal_directline_claims in2 = claims_of("stade", conversation2, "", now + 600);
    assert_int_equal(pal_directline_token_mint("attacker", 8, &in2, &other), PAL_OK);
    char *dot = strchr(token, '.'), *dot2 = strchr(other, '.');
    char spliced[PAL_DIRECTLINE_TOKEN_MAX + 1];
    snprintf(spliced, sizeof(spliced), "%.*s%s", (int)(dot2 - other), other, dot);
    assert_int_equal(pal_directline_token_check(spliced, secret, strlen(secret), now, &out),
                     PAL_ERR_INVALID);
    /* peek reads it (it does not check), check does not take it */
    assert_int_equal(pal_directline_token_peek(spliced, &out), PAL_OK);

    /* one character of the MAC changed */
    char changed[PAL_DIRECTLINE_TOKEN_MAX + 1];
    snprintf(changed, sizeof(changed), "%s", token);
    char *last = changed + strlen(changed) - 2;
    *last = *last == 'A' ? 'B' : 'A';
    assert_int_equal(pal_directline_token_check(changed, secret, strlen(secret), now, &out),
                     PAL_ERR_INVALID);

    /* shapes that are not tokens */
    const char *junk[] = {
        "",      ".",
        "abc",   "abc.def",
        "a.b.c", token + 1,
        dot,     "eyJiIjoic3RhZGUifQ.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"};
    for (size_t i = 0; i < sizeof(junk) / sizeof(junk[0]); i++) {
        assert_int_equal(pal_directline_token_check(junk[i], secret, strlen(secret), now, &out),
                         PAL_ERR_INVALID);
    }
    assert_int_equal(pal_directline_token_peek(NULL, &out), PAL_ERR_INVALID);
    free(token);
    free(other);

    /* claims that cannot be minted */
    char *none = NULL;
    in = claims_of("", conversation, "", now);
    assert_int_equal(pal_directline_token_mint(secret, strlen(secret), &in, &none),
                     PAL_ERR_INVALID);
    in = claims_of("stade", "not-an-id", "", now);
    assert_int_equal(pal_directline_token_mint(secret, strlen(secret), &in, &none),
                     PAL_ERR_INVALID);
    in = claims_of("stade", conversation, "bad\nuser", now);
    assert_int_equal(pal_directline_token_mint(secret, strlen(secret), &in, &none),
                     PAL_ERR_INVALID);
    assert_null(none);
}

static pal_err parse(const char *body, json_t **root, pal_directline_activity *a,
                     pal_api_refusal *refusal)
{
    return pal_directline_parse_activity(body, strlen(body), 20, root, a, refusal);
}

static void activity_parsed(void **state)
{
    (void)state;
    json_t *root = NULL;
    pal_directline_activity a;
    pal_api_refusal refusal;
    assert_int_equal(parse("{\"type\":\"message\",\"text\":\"2 Corona\",\"locale\":\"fr-FR\","
                           "\"from\":{\"id\":\"r_abc\",\"role\":\"user\"},"
                           "\"channelData\":{\"clientActivityID\":\"1700000000000xyz\","
                           "\"clientTimestamp\":\"2026-01-01T00:00:00Z\"},"
                           "\"entities\":[],\"timestamp\":\"2026-01-01T00:00:00Z\"}",
                           &root, &a, &refusal),
                     PAL_OK);
    assert_non_null(root);
    assert_string_equal(a.type, "message");
    assert_string_equal(a.text, "2 Corona");
    assert_string_equal(a.from_id, "r_abc");
    assert_string_equal(a.client_activity_id, "1700000000000xyz");
    assert_string_equal(a.lang, "fr");
    json_decref(root);

    /* a typing indicator: no text needed */
    assert_int_equal(parse("{\"type\":\"typing\",\"locale\":\"english\"}", &root, &a, &refusal),
                     PAL_OK);
    assert_string_equal(a.type, "typing");
    assert_null(a.text);
    assert_null(a.client_activity_id);
    assert_string_equal(a.lang, "");
    json_decref(root);

    /* exactly max_text bytes, in UTF-8 */
    assert_int_equal(parse("{\"type\":\"message\",\"text\":\"\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9"
                           "\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\"}",
                           &root, &a, &refusal),
                     PAL_OK);
    json_decref(root);
}

static void activity_refused(void **state)
{
    (void)state;
    static const struct {
        const char *body;
        unsigned status;
        const char *code;
    } cases[] = {
        {"", 400, "BadSyntax"},
        {"not json", 400, "BadSyntax"},
        {"[1,2]", 400, "BadSyntax"},
        {"{\"type\":\"message\",\"text\":\"a\",\"text\":\"b\"}", 400, "BadSyntax"},
        {"{\"type\":\"message\",\"text\":\"\xff\"}", 400, "BadSyntax"},
        {"{\"text\":\"hi\"}", 400, "MissingProperty"},
        {"{\"type\":7,\"text\":\"hi\"}", 400, "BadArgument"},
        {"{\"type\":\"message\"}", 400, "MissingProperty"},
        {"{\"type\":\"message\",\"text\":\"\"}", 400, "MissingProperty"},
        {"{\"type\":\"message\",\"text\":42}", 400, "BadArgument"},
        {"{\"type\":\"message\",\"text\":\"a\\u0000b\"}", 400, "BadSyntax"},
        {"{\"type\":\"message\",\"text\":\"123456789012345678901\"}", 413, "MessageTooLarge"},
        {"{\"type\":\"message\",\"text\":\"hi\",\"from\":\"me\"}", 400, "BadArgument"},
        {"{\"type\":\"message\",\"text\":\"hi\",\"from\":{\"id\":\"\"}}", 400, "BadArgument"},
        {"{\"type\":\"message\",\"text\":\"hi\",\"channelData\":[]}", 400, "BadArgument"},
        {"{\"type\":\"message\",\"text\":\"hi\",\"channelData\":{\"clientActivityID\":1}}", 400,
         "BadArgument"},
        {"{\"type\":\"message\",\"text\":\"hi\",\"channelData\":{\"clientActivityID\":"
         "\"a\\u001fb\"}}",
         400, "BadArgument"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        json_t *root = (json_t *)1;
        pal_directline_activity a;
        pal_api_refusal refusal = {0};
        assert_int_equal(parse(cases[i].body, &root, &a, &refusal), PAL_ERR_PARSE);
        assert_null(root);
        if (refusal.status != cases[i].status || strcmp(refusal.code, cases[i].code) != 0)
            fail_msg("case %zu (%s): %u %s", i, cases[i].body, refusal.status, refusal.code);
    }
    /* a NUL byte in the raw body */
    json_t *root = NULL;
    pal_directline_activity a;
    pal_api_refusal refusal;
    assert_int_equal(
        pal_directline_parse_activity("{\"type\":\"x\"}\0", 13, 20, &root, &a, &refusal),
        PAL_ERR_PARSE);
}

static json_t *message(const char *json)
{
    json_t *m = json_loads(json, 0, NULL);
    assert_non_null(m);
    return m;
}

static void activities_from_messages(void **state)
{
    (void)state;
    const char *conv = "AAAAAAAAAAAAAAAAAAAAAA";
    json_t *in = message("{\"id\":41,\"conversation_id\":3,\"direction\":\"in\",\"channel\":"
                         "\"directline\",\"text\":\"I want a beer\",\"channel_message_id\":"
                         "\"cid-1\",\"status\":\"processed\","
                         "\"created_at\":\"2026-11-24T00:13:32.123Z\"}");
    json_t *a = pal_directline_activity_json(in, conv, "r_user", "stade");
    assert_non_null(a);
    assert_string_equal(json_string_value(json_object_get(a, "type")), "message");
    assert_string_equal(json_string_value(json_object_get(a, "id")),
                        "AAAAAAAAAAAAAAAAAAAAAA|0000000041");
    assert_string_equal(json_string_value(json_object_get(a, "timestamp")),
                        "2026-11-24T00:13:32.123Z");
    assert_string_equal(json_string_value(json_object_get(a, "text")), "I want a beer");
    json_t *from = json_object_get(a, "from");
    assert_string_equal(json_string_value(json_object_get(from, "id")), "r_user");
    assert_string_equal(json_string_value(json_object_get(from, "role")), "user");
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(a, "channelData"), "clientActivityID")),
        "cid-1");
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(a, "conversation"), "id")), conv);
    assert_null(json_object_get(a, "suggestedActions"));
    json_decref(a);
    json_decref(in);

    json_t *out = message("{\"id\":42,\"direction\":\"out\",\"text\":\"How many beers?\","
                          "\"quick_replies\":[\"1\",\"2\"],\"in_reply_to\":41,\"status\":\"sent\","
                          "\"created_at\":\"2026-11-24T00:13:32.200Z\"}");
    a = pal_directline_activity_json(out, conv, "r_user", "stade");
    assert_non_null(a);
    assert_string_equal(json_string_value(json_object_get(a, "id")),
                        "AAAAAAAAAAAAAAAAAAAAAA|0000000042");
    from = json_object_get(a, "from");
    assert_string_equal(json_string_value(json_object_get(from, "id")), "stade");
    assert_string_equal(json_string_value(json_object_get(from, "name")), "stade");
    assert_string_equal(json_string_value(json_object_get(from, "role")), "bot");
    assert_string_equal(json_string_value(json_object_get(a, "replyToId")),
                        "AAAAAAAAAAAAAAAAAAAAAA|0000000041");
    assert_null(json_object_get(a, "channelData"));
    json_t *actions = json_object_get(json_object_get(a, "suggestedActions"), "actions");
    assert_int_equal(json_array_size(actions), 2);
    json_t *second = json_array_get(actions, 1);
    assert_string_equal(json_string_value(json_object_get(second, "type")), "imBack");
    assert_string_equal(json_string_value(json_object_get(second, "title")), "2");
    assert_string_equal(json_string_value(json_object_get(second, "value")), "2");
    json_decref(a);
    json_decref(out);

    /* a reply without quick replies has no suggestedActions */
    out = message("{\"id\":43,\"direction\":\"out\",\"text\":\"Done\",\"quick_replies\":[]}");
    a = pal_directline_activity_json(out, conv, "u", "stade");
    assert_null(json_object_get(a, "suggestedActions"));
    assert_null(json_object_get(a, "replyToId"));
    json_decref(a);
    json_decref(out);

    /* not messages */
    const char *bad[] = {"{}", "{\"id\":1,\"direction\":\"sideways\",\"text\":\"x\"}",
                         "{\"id\":\"1\",\"direction\":\"in\",\"text\":\"x\"}",
                         "{\"id\":1,\"direction\":\"in\"}"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        json_t *m = message(bad[i]);
        assert_null(pal_directline_activity_json(m, conv, "u", "stade"));
        json_decref(m);
    }

    char id[PAL_DIRECTLINE_ACTIVITY_ID_SIZE];
    pal_directline_activity_id(conv, 12345678901LL, id, sizeof(id));
    assert_string_equal(id, "AAAAAAAAAAAAAAAAAAAAAA|12345678901");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(conversation_ids_are_random_and_valid),
        cmocka_unit_test(token_round_trip),
        cmocka_unit_test(expired_token),
        cmocka_unit_test(forged_and_tampered_tokens),
        cmocka_unit_test(activity_parsed),
        cmocka_unit_test(activity_refused),
        cmocka_unit_test(activities_from_messages),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
