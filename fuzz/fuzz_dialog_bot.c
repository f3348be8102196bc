/*
 * fuzz_dialog_bot.c — the bot loader on whatever a bot.yaml might hold.
 *
 * The input is the text of a bot.yaml. The bot gets a small data table
 * (shops: postcode, name, street) so that look-ups are prepared too. The
 * run aborts if the loader breaks a promise of bot_model.h / bot.h:
 *   - a refused file gets PAL_ERR_PARSE or PAL_ERR_LIMIT and a message
 *     "bot.yaml:LINE:COLUMN: ..." with positive numbers;
 *   - a loaded bot is consistent: every index (slot, entity, service,
 *     intent, query parameter) in range, every text present in every
 *     language of the bot, step lists nested at most PAL_BOT_MAX_STEP_DEPTH.
 * Nothing survives between inputs (the data is opened on every run).
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dialog/bot_model.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char SHOPS_CSV[] = "postcode,name,street\n"
                                "75011,Bastille,2 rue de la Roquette\n"
                                "69003,Part-Dieu,17 rue du Docteur Bouchut\n";

static void check(bool ok)
{
    if (!ok)
        abort();
}

static void check_text(const pal_bot *bot, const pal_bot_text *t, bool required)
{
    for (size_t i = 0; i < bot->n_langs; i++) {
        size_t n = t->n_variants[bot->langs[i]];
        check(!required || n > 0);
        for (size_t v = 0; v < n; v++)
            check(t->variants[bot->langs[i]][v] != NULL && t->variants[bot->langs[i]][v][0]);
    }
    check(t->n_variants[PAL_LANG_UNKNOWN] == 0);
}

static void check_slot(const pal_bot *bot, int slot)
{
    check(slot >= 0 && (size_t)slot < bot->n_slots);
}

static void check_steps(const pal_bot *bot, const pal_step_list *list, int depth)
{
    check(depth <= PAL_BOT_MAX_STEP_DEPTH && list->count > 0 && list->steps);
    for (size_t i = 0; i < list->count; i++) {
        const pal_step *s = &list->steps[i];
        check(s->line > 0);
        switch (s->kind) {
        case PAL_STEP_ASK:
            check_slot(bot, s->u.ask.slot);
            check_text(bot, &s->u.ask.prompt, true);
            check_text(bot, &s->u.ask.retry, false);
            check(s->u.ask.tries >= 1);
            for (size_t c = 0; c < s->u.ask.n_choices; c++)
                check_text(bot, &s->u.ask.choices[c].label, true);
            break;
        case PAL_STEP_SAY:
            check_text(bot, &s->u.say.text, true);
            break;
        case PAL_STEP_LOOKUP:
            check(s->u.lookup.query && s->u.lookup.as);
            for (size_t p = 0; p < pal_botdata_query_param_count(s->u.lookup.query); p++)
                check_slot(bot, s->u.lookup.params[p]);
            check(s->u.lookup.choose_slot >= -1 && s->u.lookup.choose_slot < (int)bot->n_slots);
            break;
        case PAL_STEP_CALL:
            check(s->u.call.service >= 0 && (size_t)s->u.call.service < bot->n_services);
            break;
        case PAL_STEP_IF:
            check_slot(bot, s->u.cond.slot);
            check((s->u.cond.op == PAL_COND_EQ || s->u.cond.op == PAL_COND_NE) ==
                  (s->u.cond.value != NULL));
            check_steps(bot, &s->u.cond.then_steps, depth + 1);
            if (s->u.cond.else_steps.count)
                check_steps(bot, &s->u.cond.else_steps, depth + 1);
            break;
        case PAL_STEP_SET:
            for (size_t k = 0; k < s->u.set.count; k++)
                check_slot(bot, s->u.set.slots[k]);
            break;
        case PAL_STEP_HANDOFF:
            check(s->u.handoff.reason && s->u.handoff.reason[0]);
            break;
        case PAL_STEP_END:
            break;
        default:
            abort();
        }
    }
}

static void check_bot(const pal_bot *bot)
{
    size_t intents = pal_nlu_intent_count(bot->model);
    check(bot->name && bot->n_langs >= 1 && bot->n_langs <= PAL_BOT_MAX_LANGS);
    check(strcmp(pal_bot_name(bot), bot->name) == 0);
    check_text(bot, &bot->contract, true);
    for (size_t i = 0; i < bot->n_slots; i++)
        check(bot->slots[i].entity >= 0 && (size_t)bot->slots[i].entity < bot->n_entities);
    for (int b = 0; b < PAL_BUILTIN_INTENTS; b++)
        check(bot->builtin[b] >= 0 && (size_t)bot->builtin[b] < intents);
    for (size_t i = 0; i < bot->n_patterns; i++)
        check(bot->patterns[i].intent >= 0 && (size_t)bot->patterns[i].intent < intents &&
              bot->patterns[i].folded[0]);
    for (size_t i = 0; i < bot->n_replies; i++)
        check_text(bot, &bot->replies[i].text, true);
    check(bot->n_flows > 0);
    for (size_t f = 0; f < bot->n_flows; f++) {
        check(bot->flows[f].n_when > 0);
        for (size_t i = 0; i < bot->flows[f].n_when; i++)
            check(bot->flows[f].when[i] >= 0 && (size_t)bot->flows[f].when[i] < intents);
        check_steps(bot, &bot->flows[f].steps, 1);
    }
}

/* "bot.yaml:LINE:COLUMN: something" with LINE, COLUMN >= 1. */
static void check_message(const char *msg)
{
    int line = 0, column = 0, end = 0;
    check(sscanf(msg, "bot.yaml:%d:%d: %n", &line, &column, &end) == 2);
    check(line >= 1 && column >= 1 && end > 0 && msg[end] != '\0');
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    pal_botdata *shops = NULL;
    pal_bot *bot = NULL;
    char errbuf[512];

    if (pal_botdata__open_text("shops.csv", SHOPS_CSV, sizeof(SHOPS_CSV) - 1, &shops, errbuf,
                               sizeof(errbuf)) != PAL_OK)
        abort();
    pal_err err = pal_bot__parse_data((const char *)data, size, "bot.yaml", shops, &bot, errbuf,
                                      sizeof(errbuf));
    if (err == PAL_OK) {
        check_bot(bot);
        pal_bot_free(bot);
    } else {
        check(err == PAL_ERR_PARSE || err == PAL_ERR_LIMIT);
        check(bot == NULL);
        check_message(errbuf);
    }
    return 0;
}
