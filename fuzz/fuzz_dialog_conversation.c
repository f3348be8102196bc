/*
 * fuzz_dialog_conversation.c — a stored conversation state read back.
 *
 * The server keeps each conversation's state as JSON in its store and reads
 * it back on the next message: pal_conversation_from_json() must refuse
 * anything that is not a state of this bot, and a state it accepts must
 * round-trip unchanged and take a next message without harm.
 *
 * The bot and the analyzer are made once and kept (static) because training
 * a bot per input would leave no time for fuzzing; they are never changed.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "dialog/bot_model.h"
#include "dialog/engine.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char BOT_YAML[] =
    "bot: fuzz\n"
    "languages: [fr, en]\n"
    "contract: {fr: \"Je prends les commandes.\", en: \"I take orders.\"}\n"
    "entities:\n"
    "  beer: {choices: {bud: [bud], corona: [corona]}}\n"
    "  quantity: {number: {min: 1, max: 4}}\n"
    "intents:\n"
    "  order: {fr: [\"une biere\", \"deux corona\"], en: [\"a beer\", \"two coronas\"]}\n"
    "  hours: {fr: [\"horaires\"], en: [\"opening hours\"]}\n"
    "flows:\n"
    "  order:\n"
    "    when: order\n"
    "    steps:\n"
    "      - ask: quantity\n"
    "        prompt: {fr: \"Combien ?\", en: \"How many?\"}\n"
    "      - if: quantity == 4\n"
    "        then:\n"
    "          - say: {fr: \"Quatre !\", en: \"Four!\"}\n"
    "      - ask: beer\n"
    "        prompt: {fr: \"Laquelle ?\", en: \"Which one?\"}\n"
    "      - say: {fr: \"{{quantity}} {{beer}}\", en: \"{{quantity}} {{beer}}\"}\n"
    "  hours:\n"
    "    when: hours\n"
    "    steps:\n"
    "      - say: {fr: \"Ouvert.\", en: \"Open.\"}\n";

static pal_bot *the_bot(void)
{
    static pal_bot *bot;
    if (!bot) {
        char err[512];
        if (pal_bot__parse(BOT_YAML, sizeof(BOT_YAML) - 1, "fuzz.yaml", NULL, &bot, err,
                           sizeof(err)) != PAL_OK)
            abort();
    }
    return bot;
}

static pal_analyzer *the_analyzer(void)
{
    static pal_analyzer *analyzer;
    if (!analyzer && pal_analyzer_new(&analyzer) != PAL_OK)
        abort();
    return analyzer;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    pal_bot *bot = the_bot();
    pal_conversation *conv = NULL;
    if (pal_conversation_from_json(bot, (const char *)data, size, &conv) != PAL_OK)
        return 0;
    char *json = pal_conversation_to_json(conv);
    pal_conversation *again = NULL;
    if (!json || pal_conversation_from_json(bot, json, strlen(json), &again) != PAL_OK)
        abort(); /* what we write, we must read */
    char *json2 = pal_conversation_to_json(again);
    if (!json2 || strcmp(json, json2) != 0)
        abort(); /* and it must not drift */
    pal_engine_actions actions = {NULL, NULL, NULL};
    pal_arena *arena = pal_arena_new();
    pal_turn turn;
    static const char *const messages[] = {"3", "corona", "horaires", "annuler", "bonjour"};
    for (size_t i = 0; i < sizeof(messages) / sizeof(messages[0]); i++) {
        pal_arena_reset(arena);
        if (pal_engine_step(bot, the_analyzer(), again, messages[i], strlen(messages[i]), &actions,
                            arena, &turn) != PAL_OK)
            abort(); /* valid text never fails a step */
    }
    pal_arena_free(arena);
    free(json);
    free(json2);
    pal_conversation_free(conv);
    pal_conversation_free(again);
    return 0;
}
