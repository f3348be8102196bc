/*
 * test_dialog_convtest.c — conversation tests: parsing (errors with their
 * file, line and column), matching (exact, contains, regex, one per reply,
 * buttons, slots, handoff, intent, language), service mocks (an answer, a
 * failure, successive answers) and the diff of a failing test.
 *
 * The bot is a small order form with a service call, built in memory
 * (pal_bot__parse, no data folder); the reports are written to a memory
 * stream and read back as a person would.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "dialog/bot_model.h"
#include "dialog/convtest.h"

static const char BOT_YAML[] =
    "bot: unit\n"
    "languages: [fr, en]\n"
    "settings: {handoff_after: 2}\n"
    "contract: {fr: \"Je prends les commandes.\", en: \"I take orders.\"}\n"
    "entities:\n"
    "  beer: {choices: {bud: [bud], corona: [corona]}}\n"
    "  quantity: {number: {min: 1, max: 4}}\n"
    "intents:\n"
    "  order: {fr: [\"je voudrais une bière\", \"deux corona\", \"commander à boire\"],\n"
    "          en: [\"a beer please\", \"two coronas\", \"order a drink\"]}\n"
    "  hours: {fr: [\"vous fermez quand\", \"horaires\"], en: [\"when do you close\", "
    "\"opening hours\"]}\n"
    "flows:\n"
    "  order:\n"
    "    when: order\n"
    "    steps:\n"
    "      - ask: quantity\n"
    "        prompt: {fr: \"Combien ?\", en: \"How many?\"}\n"
    "        buttons: [\"1\", \"2\"]\n"
    "      - ask: beer\n"
    "        prompt: {fr: \"Laquelle ?\", en: \"Which one?\"}\n"
    "        buttons: [Bud, Corona]\n"
    "      - call: {service: orders, body: {beer: \"{{beer}}\"}, as: placed}\n"
    "        error: {fr: \"Service en panne.\", en: \"Service down.\"}\n"
    "      - say: {fr: \"Commande {{placed.id}} : {{quantity}} {{beer}}.\",\n"
    "              en: \"Order {{placed.id}}: {{quantity}} {{beer}}.\"}\n"
    "  hours:\n"
    "    when: hours\n"
    "    steps:\n"
    "      - say: {fr: \"Jusqu'à minuit.\", en: \"Until midnight.\"}\n"
    "services:\n"
    "  orders: {url: \"http://127.0.0.1:9/orders\", timeout_ms: 100}\n";

typedef struct fixture {
    pal_bot *bot;
    pal_analyzer *analyzer;
} fixture;

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof(*f));
    char err[512];
    assert_non_null(f);
    assert_int_equal(
        pal_bot__parse(BOT_YAML, sizeof(BOT_YAML) - 1, "bot.yaml", NULL, &f->bot, err, sizeof(err)),
        PAL_OK);
    assert_int_equal(pal_analyzer_new(&f->analyzer), PAL_OK);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    pal_analyzer_free(f->analyzer);
    pal_bot_free(f->bot);
    free(f);
    return 0;
}

/* The parse error of text, or "" when it parses. */
static const char *parse_error(fixture *f, const char *text)
{
    static char err[1024];
    pal_convtest *t = NULL;
    err[0] = '\0';
    if (pal_convtest_parse(f->bot, text, strlen(text), "t.yaml", &t, err, sizeof(err)) == PAL_OK)
        err[0] = '\0';
    pal_convtest_free(t);
    return err;
}

static int calls_made;

static pal_err counting_call(void *ctx, const char *url, long timeout_ms, const char *body,
                             char **response)
{
    (void)ctx;
    (void)timeout_ms;
    calls_made++;
    assert_string_equal(url, "http://127.0.0.1:9/orders");
    assert_string_equal(body, "{\"beer\":\"bud\"}");
    *response = strdup("{\"id\": 77}");
    return PAL_OK;
}

/* Runs text as a test; returns whether it passed, its report in *report
 * (caller frees). */
static bool run_text(fixture *f, const char *text, bool verbose, char **report)
{
    char err[1024];
    pal_convtest *t = NULL;
    size_t len = 0;
    bool passed = false;
    assert_int_equal(pal_convtest_parse(f->bot, text, strlen(text), "t.yaml", &t, err, sizeof(err)),
                     PAL_OK);
    FILE *mem = open_memstream(report, &len);
    assert_non_null(mem);
    pal_convtest_run(t, f->analyzer, counting_call, verbose, mem, &passed);
    fclose(mem);
    pal_convtest_free(t);
    return passed;
}

static void parse_errors_name_line_and_column(void **state)
{
    fixture *f = *state;
    assert_string_equal(parse_error(f, ""), "t.yaml:1:1: the file is empty: expected a test "
                                            "(name:, steps: [{user: ..., bot: ...}])");
    assert_string_equal(parse_error(f, "name: x\n"),
                        "t.yaml:1:1: expected steps: [{user: ..., bot: ...}, ...]");
    assert_string_equal(parse_error(f, "steps:\n  - user: a\n    bots: b\n"),
                        "t.yaml:3:5: unknown key 'bots' in a step: expected one of user, bot, "
                        "buttons, slots, handoff, intent, lang");
    assert_string_equal(parse_error(f, "steps:\n  - bot: b\n"),
                        "t.yaml:2:5: expected user: (what the customer says) in each step");
    assert_string_equal(parse_error(f, "steps:\n  - user: a\n    slots: {colour: red}\n"),
                        "t.yaml:3:13: bot unit has no slot 'colour' (its slots: quantity, beer)");
    assert_string_equal(parse_error(f, "steps:\n  - user: a\n    intent: nope\n"),
                        "t.yaml:3:13: bot unit has no intent 'nope'");
    assert_string_equal(parse_error(f, "services: {shop: error}\nsteps: [{user: a}]\n"),
                        "t.yaml:1:12: bot unit has no service 'shop' (its services: orders)");
    assert_string_equal(parse_error(f, "lang: de\nsteps: [{user: a}]\n"),
                        "t.yaml:1:7: expected a language code: fr or en");
    assert_string_equal(parse_error(f, "steps:\n  - user: a\n    handoff: yes\n"),
                        "t.yaml:3:14: expected true (a person has taken over) or false");
    assert_string_equal(parse_error(f, "steps: [{user: a, user: b}]\n"),
                        "t.yaml:1:19: duplicate key 'user' (first at line 1)");
    assert_string_equal(
        parse_error(f, "x: &a 1\nsteps: *a\n"),
        "t.yaml:1:4: anchors (&name) and aliases are not supported: write the value out");
    assert_string_equal(parse_error(f, "steps: [{user: \"\xff\"}]\n"),
                        "t.yaml:1:17: invalid UTF-8: a test file is UTF-8 text");
    assert_non_null(strstr(parse_error(f, "steps:\n  - user: a\n    bot: {regex: \"(a\"}\n"),
                           "t.yaml:3:18: bad regex: missing closing parenthesis"));
    assert_non_null(strstr(parse_error(f, "steps:\n  - user: \"a\n"), "invalid YAML"));
    assert_string_equal(parse_error(f, "steps: [{user: a}]\n---\nsteps: [{user: b}]\n"),
                        "t.yaml:2:1: expected one YAML document: a test file holds one "
                        "conversation");
}

static void refuses_oversized_files(void **state)
{
    fixture *f = *state;
    size_t n = PAL_CONVTEST_MAX_BYTES + 1;
    char *big = malloc(n + 1);
    char err[256];
    pal_convtest *t = NULL;
    assert_non_null(big);
    memset(big, '#', n);
    big[n] = '\0';
    assert_int_equal(pal_convtest_parse(f->bot, big, n, "t.yaml", &t, err, sizeof(err)),
                     PAL_ERR_LIMIT);
    assert_null(t);
    free(big);
}

static void a_passing_conversation_with_a_mocked_service(void **state)
{
    fixture *f = *state;
    char *report = NULL;
    calls_made = 0;
    bool passed = run_text(f,
                           "name: two buds\n"
                           "lang: fr\n"
                           "services: {orders: {id: 4521, extra: {deep: [1, 2]}}}\n"
                           "steps:\n"
                           "  - user: commander à boire\n"
                           "    bot: Combien ?\n"
                           "    buttons: [\"1\", \"2\"]\n"
                           "    intent: order\n"
                           "    slots: {quantity: ~}\n"
                           "  - user: deux\n"
                           "    bot: [{regex: \"^Laquelle \\\\?$\"}]\n"
                           "    buttons: [Bud, Corona]\n"
                           "  - user: bud\n"
                           "    bot: {contains: \"4521 : 2 bud\"}\n"
                           "    slots: {quantity: \"2\", beer: bud}\n"
                           "    handoff: false\n"
                           "    lang: fr\n",
                           false, &report);
    assert_true(passed);
    assert_string_equal(report, ""); /* nothing to say about a passing test */
    assert_int_equal(calls_made, 0); /* a mocked service is never called */
    free(report);
}

static void successive_answers_and_unmocked_services(void **state)
{
    fixture *f = *state;
    char *report = NULL;
    calls_made = 0;
    assert_true(run_text(f,
                         "services: {orders: [error, {id: 9}]}\n"
                         "steps:\n"
                         "  - user: deux bud\n"
                         "    bot: Service en panne.\n"
                         "  - user: deux bud\n"
                         "    bot: \"Commande 9 : 2 bud.\"\n"
                         "  - user: deux bud\n"
                         "    bot: \"Commande 9 : 2 bud.\"\n",
                         false, &report));
    free(report);
    /* Not mocked: the host's call action answers. */
    assert_true(run_text(f,
                         "steps:\n"
                         "  - user: deux bud\n"
                         "    bot: \"Commande 77 : 2 bud.\"\n",
                         false, &report));
    assert_int_equal(calls_made, 1);
    free(report);
}

static void a_failing_step_gives_a_readable_diff(void **state)
{
    fixture *f = *state;
    char *report = NULL;
    bool passed = run_text(f,
                           "lang: fr\n"
                           "steps:\n"
                           "  - user: commander à boire\n"
                           "  - user: trois\n"
                           "    bot: {contains: \"Quelle bière\"}\n"
                           "    buttons: [Bud]\n"
                           "    slots: {quantity: \"2\"}\n"
                           "    handoff: true\n"
                           "    intent: hours\n"
                           "  - user: never reached\n",
                           false, &report);
    assert_false(passed);
    const char *expected_lines[] = {
        "  step 2 of 3 (t.yaml:4), the customer says: \"trois\"\n",
        "    expected bot: contains \"Quelle bière\"\n",
        "    got      bot: \"Laquelle ?\"\n",
        "    expected buttons: [\"Bud\"]\n",
        "    got      buttons: [\"Bud\", \"Corona\"]\n",
        "    expected slot quantity: \"2\"\n",
        "    got      slot quantity: \"3\"\n",
        "    expected handoff: true\n",
        "    got      handoff: false\n",
        "    expected intent: hours\n",
        "  the bot:\n    Laquelle ?\n      [1] Bud  [2] Corona\n",
        "  slots after the turn: quantity=\"3\"\n",
        "  # lang=fr intent=",
        "| flow=order step=bot.yaml:19\n",
    };
    for (size_t i = 0; i < sizeof(expected_lines) / sizeof(expected_lines[0]); i++) {
        if (!strstr(report, expected_lines[i]))
            fail_msg("missing from the report: %s\nreport:\n%s", expected_lines[i], report);
    }
    assert_null(strstr(report, "never reached"));
    free(report);
}

static void reply_lists_count_replies(void **state)
{
    fixture *f = *state;
    char *report = NULL;
    /* A digression answers, then the question comes back: two replies. */
    assert_true(run_text(f,
                         "lang: fr\n"
                         "steps:\n"
                         "  - user: commander à boire\n"
                         "  - user: vous fermez quand\n"
                         "    bot: [Jusqu'à minuit., Combien ?]\n"
                         "  - user: vous fermez quand\n"
                         "    bot: |\n"
                         "      Jusqu'à minuit.\n"
                         "      Combien ?\n",
                         false, &report));
    free(report);
    assert_false(run_text(f,
                          "lang: fr\n"
                          "steps:\n"
                          "  - user: commander à boire\n"
                          "  - user: vous fermez quand\n"
                          "    bot: [Jusqu'à minuit.]\n",
                          false, &report));
    assert_non_null(strstr(report, "    expected 1 reply, got 2\n"));
    free(report);
}

static void verbose_reports_every_step(void **state)
{
    fixture *f = *state;
    char *report = NULL;
    assert_true(run_text(f, "steps:\n  - user: when do you close\n    bot: Until midnight.\n", true,
                         &report));
    assert_non_null(strstr(report, "the customer says: \"when do you close\"\n"));
    assert_non_null(strstr(report, "    Until midnight.\n"));
    assert_non_null(strstr(report, "# lang=en intent=hours"));
    free(report);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(parse_errors_name_line_and_column),
        cmocka_unit_test(refuses_oversized_files),
        cmocka_unit_test(a_passing_conversation_with_a_mocked_service),
        cmocka_unit_test(successive_answers_and_unmocked_services),
        cmocka_unit_test(a_failing_step_gives_a_readable_diff),
        cmocka_unit_test(reply_lists_count_replies),
        cmocka_unit_test(verbose_reports_every_step),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
