/*
 * fuzz_dialog_convtest.c — the conversation-test parser (and runner) on
 * whatever a bot's test files might hold.
 *
 * The input is the text of a test file for a small fixed bot (an order
 * form with a service call). The run aborts if the parser breaks a promise
 * of convtest.h: a refused file gets PAL_ERR_PARSE or PAL_ERR_LIMIT and a
 * message "test.yaml:LINE:COLUMN: ..." with positive numbers. An accepted
 * test is run (mocked services only: unmocked calls fail, no network), its
 * report written to /dev/null. The bot and the analyzer are made on the
 * first input and kept: a test run never changes them.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dialog/bot_model.h"
#include "dialog/convtest.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char BOT_YAML[] =
    "bot: fuzz\n"
    "languages: [fr, en]\n"
    "contract: {fr: \"Je prends les commandes.\", en: \"I take orders.\"}\n"
    "entities:\n"
    "  beer: {choices: {bud: [bud], corona: [corona]}}\n"
    "  quantity: {number: {min: 1, max: 4}}\n"
    "intents:\n"
    "  order: {fr: [\"je voudrais une bière\", \"deux corona\"], en: [\"a beer please\"]}\n"
    "  hours: {fr: [\"vous fermez quand\"], en: [\"when do you close\"]}\n"
    "flows:\n"
    "  order:\n"
    "    when: order\n"
    "    steps:\n"
    "      - ask: quantity\n"
    "        prompt: {fr: \"Combien ?\", en: \"How many?\"}\n"
    "        buttons: [\"1\", \"2\"]\n"
    "      - ask: beer\n"
    "        prompt: {fr: \"Laquelle ?\", en: \"Which one?\"}\n"
    "      - call: {service: orders, body: {beer: \"{{beer}}\"}, as: placed}\n"
    "      - say: {fr: \"Commande {{placed.id}}.\", en: \"Order {{placed.id}}.\"}\n"
    "  hours:\n"
    "    when: hours\n"
    "    steps:\n"
    "      - say: {fr: \"Jusqu'à minuit.\", en: \"Until midnight.\"}\n"
    "services:\n"
    "  orders: {url: \"http://127.0.0.1:9/orders\", timeout_ms: 100}\n";

static void check(bool ok)
{
    if (!ok)
        abort();
}

static pal_bot *bot;
static pal_analyzer *analyzer;
static FILE *sink;

static void setup(void)
{
    char err[512];
    check(pal_bot__parse(BOT_YAML, sizeof(BOT_YAML) - 1, "bot.yaml", NULL, &bot, err,
                         sizeof(err)) == PAL_OK);
    check(pal_analyzer_new(&analyzer) == PAL_OK);
    sink = fopen("/dev/null", "w");
    check(sink != NULL);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char err[1024] = "";
    pal_convtest *test = NULL;
    if (!bot)
        setup();
    pal_err e =
        pal_convtest_parse(bot, (const char *)data, size, "test.yaml", &test, err, sizeof(err));
    if (e != PAL_OK) {
        int line = 0, column = 0;
        check(e == PAL_ERR_PARSE || e == PAL_ERR_LIMIT);
        check(test == NULL);
        check(sscanf(err, "test.yaml:%d:%d: ", &line, &column) == 2 && line > 0 && column > 0);
        return 0;
    }
    bool passed = false;
    pal_convtest_run(test, analyzer, NULL, true, sink, &passed);
    pal_convtest_free(test);
    return 0;
}
