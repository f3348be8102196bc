/*
 * test_dialog_bot.c — loading bot folders: the model a valid bot gives, and
 * the file:line:column message every mistake gives.
 *
 * Each test writes a real bot folder (bot.yaml, sometimes a CSV in data/) into
 * a fresh mkdtemp directory (the test's state) and loads it with
 * pal_bot_load, as `palabre chat` would. Error cases assert the exact
 * "DIR/bot.yaml:LINE:COLUMN:" prefix and a message that tells the author
 * what was expected. Hostile files (huge, deep, aliases, bad UTF-8) must be
 * refused quickly and without leaks (the ASan build runs this too).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <sys/stat.h>
#include <unistd.h>

#include "dialog/bot_model.h"
#include "text/analyze.h"

typedef struct folder {
    char dir[64];
} folder;

static int make_dir(void **state)
{
    folder *f = calloc(1, sizeof(*f));
    if (!f)
        return -1;
    snprintf(f->dir, sizeof(f->dir), "/tmp/palabre-bot-XXXXXX");
    if (!mkdtemp(f->dir)) {
        free(f);
        return -1;
    }
    *state = f;
    return 0;
}

static void write_file(const folder *f, const char *name, const char *text, size_t len)
{
    char path[128];
    snprintf(path, sizeof(path), "%s/%s", f->dir, name);
    FILE *fp = fopen(path, "wb");
    assert_non_null(fp);
    assert_int_equal(fwrite(text, 1, len, fp), len);
    assert_int_equal(fclose(fp), 0);
}

static void write_data(const folder *f, const char *name, const char *csv)
{
    char path[128];
    snprintf(path, sizeof(path), "%s/data", f->dir);
    mkdir(path, 0700);
    snprintf(path, sizeof(path), "data/%s", name);
    write_file(f, path, csv, strlen(csv));
}

static int remove_dir(void **state)
{
    folder *f = *state;
    static const char *const files[] = {"bot.yaml", "data/shops.csv", "data"};
    char path[128];
    for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
        snprintf(path, sizeof(path), "%s/%s", f->dir, files[i]);
        if (unlink(path) != 0)
            rmdir(path);
    }
    rmdir(f->dir);
    free(f);
    return 0;
}

static pal_err load(const folder *f, const char *yaml, pal_bot **bot, char *errbuf, size_t errlen)
{
    write_file(f, "bot.yaml", yaml, strlen(yaml));
    return pal_bot_load(f->dir, bot, errbuf, errlen);
}

/* The load fails with err, a message starting "DIR/bot.yaml:LINE:COLUMN: "
 * and holding `words`. */
static void expect_error(const folder *f, const char *yaml, pal_err err, int line, int column,
                         const char *words)
{
    pal_bot *bot = (pal_bot *)f; /* must be reset to NULL */
    char errbuf[512] = "";
    char prefix[160];
    pal_err got = load(f, yaml, &bot, errbuf, sizeof(errbuf));
    snprintf(prefix, sizeof(prefix), "%s/bot.yaml:%d:%d: ", f->dir, line, column);
    if (got != err || strncmp(errbuf, prefix, strlen(prefix)) != 0 || !strstr(errbuf, words))
        fail_msg("expected %s \"%s...%s...\", got %s \"%s\"", pal_err_str(err), prefix, words,
                 pal_err_str(got), errbuf);
    assert_null(bot);
}

/* ---- a complete bot -------------------------------------------------------- */

static const char STADE[] =
    "# The stadium bot of docs/bots.md, with a bit of everything.\n"
    "bot: stade\n"
    "languages: [fr, en]\n"
    "settings:\n"
    "  threshold: 0.5\n"
    "  handoff_after: 3\n"
    "  dedup_window: 60\n"
    "contract:\n"
    "  fr: \"Je prends vos commandes de bières. Dites par exemple « 2 Corona ».\"\n"
    "  en: \"I take beer orders. Say for example \\\"2 Corona\\\".\"\n"
    "entities:\n"
    "  beer:\n"
    "    choices:\n"
    "      bud: [bud, budweiser]\n"
    "      coors: [coors, coors light]\n"
    "      corona: corona\n"
    "  quantity: {number: {min: 1, max: 4}}\n"
    "  postcode: postcode\n"
    "  seat: {pattern: \"siège (?<value>[a-z]\\\\d{1,3})\"}\n"
    "intents:\n"
    "  order_beer:\n"
    "    fr: [\"je voudrais une bière\", \"deux corona svp\", \"on peut commander à boire ?\"]\n"
    "    en: [\"can I get a beer\", \"3 coors please\"]\n"
    "  opening_hours:\n"
    "    fr: [\"vous fermez à quelle heure ?\"]\n"
    "    en: [\"when do you close\"]\n"
    "  results:\n"
    "    patterns: [\"#MonRésultat\"]\n"
    "    fr: [\"mon résultat\"]\n"
    "  shop:\n"
    "    fr: \"où est la boutique\"\n"
    "    en: [\"where is the shop\"]\n"
    "  help:\n"
    "    fr: [\"je suis perdu\"]\n"
    "  none:\n"
    "    fr: [\"quel temps fait-il\"]\n"
    "    en: [\"what's the weather\"]\n"
    "replies:\n"
    "  closing: {fr: [\"Ouvert jusqu'à la fin du match.\", \"Jusqu'au coup de sifflet final.\"],\n"
    "            en: \"Open until the end of the game.\"}\n"
    "flows:\n"
    "  order:\n"
    "    when: order_beer\n"
    "    steps:\n"
    "      - ask: quantity\n"
    "        prompt: {fr: \"Combien de bières ? (1 à 4)\", en: \"How many beers? (1 to 4)\"}\n"
    "        retry: {fr: \"Un nombre de 1 à 4.\", en: \"A number from 1 to 4.\"}\n"
    "        buttons: [\"1\", \"2\", \"3\", \"4\"]\n"
    "      - ask: beer\n"
    "        prompt: {fr: \"Laquelle ?\", en: \"Which one?\"}\n"
    "        tries: 2\n"
    "        buttons: [Bud, Coors, Corona]\n"
    "      - ask: payment\n"
    "        prompt: {fr: \"Comment payez-vous ?\", en: \"How do you pay?\"}\n"
    "        choices:\n"
    "          saved: {fr: \"Carte **** 0345\", en: \"Card **** 0345\"}\n"
    "          new: {fr: \"Nouvelle carte\", en: \"New card\"}\n"
    "      - if: payment == new\n"
    "        then:\n"
    "          - say: {fr: \"Un conseiller arrive.\", en: \"An agent is coming.\"}\n"
    "          - handoff: new card\n"
    "        else:\n"
    "          - if: not seat\n"
    "            then:\n"
    "              - set: {seat: \"A1\", quantity: \"{{quantity}}\"}\n"
    "      - call: {service: orders, body: {quantity: \"{{quantity}}\", beer: \"{{ beer }}\"},\n"
    "               as: order}\n"
    "        error: {fr: \"Service indisponible.\", en: \"Service unavailable.\"}\n"
    "      - say:\n"
    "          fr: \"C'est noté : {{quantity}} {{beer}}, commande n° {{order.id}}.\"\n"
    "          en: [\"Done: order #{{order.id}}.\", \"Got it: order #{{order.id}}.\"]\n"
    "      - end\n"
    "  hours:\n"
    "    when: [opening_hours]\n"
    "    steps:\n"
    "      - say: closing\n"
    "      - say: \"closing time\"\n"
    "  result:\n"
    "    when: results\n"
    "    steps:\n"
    "      - ask: postcode\n"
    "        prompt: Code postal ?\n"
    "      - ask: seat\n"
    "        prompt: {fr: Siège ?, en: Seat?}\n"
    "  find_shop:\n"
    "    when: shop\n"
    "    steps:\n"
    "      - lookup: {query: \"SELECT name, street FROM shops WHERE postcode = :postcode\",\n"
    "                 as: found}\n"
    "        none: {fr: \"Aucune boutique.\", en: \"No shop.\"}\n"
    "        choose: name\n"
    "      - say: \"{{found.name}}, {{found.street}}\"\n"
    "services:\n"
    "  orders: {url: \"http://127.0.0.1:8089/orders\", timeout_ms: 1500}\n"
    "  stock: {url: \"https://example.org/stock\"}\n";

static const char SHOPS_CSV[] = "postcode,name,street\n"
                                "75011,Bastille,2 rue de la Roquette\n"
                                "69003,Part-Dieu,17 rue du Docteur Bouchut\n";

static int slot_index(const pal_bot *bot, const char *name)
{
    for (size_t i = 0; i < bot->n_slots; i++) {
        if (strcmp(bot->slots[i].name, name) == 0)
            return (int)i;
    }
    return -1;
}

static const char *text0(const pal_bot_text *t, pal_lang lang)
{
    return t->n_variants[lang] ? t->variants[lang][0] : NULL;
}

static void loads_a_complete_bot(void **state)
{
    folder *f = *state;
    pal_bot *bot = NULL;
    char errbuf[512] = "";
    write_data(f, "shops.csv", SHOPS_CSV);
    setenv("PALABRE_STADE_SERVICE_STOCK_URL", "http://10.0.0.1/stock", 1);
    pal_err err = load(f, STADE, &bot, errbuf, sizeof(errbuf));
    unsetenv("PALABRE_STADE_SERVICE_STOCK_URL");
    if (err)
        fail_msg("%s: %s", pal_err_str(err), errbuf);

    assert_string_equal(pal_bot_name(bot), "stade");
    assert_string_equal(bot->dir, f->dir);
    assert_int_equal(bot->n_langs, 2);
    assert_int_equal(bot->langs[0], PAL_LANG_FR);
    assert_int_equal(bot->langs[1], PAL_LANG_EN);
    assert_true(bot->threshold > 0.49f && bot->threshold < 0.51f);
    assert_true(pal_nlu_threshold(bot->model) > 0.49f && pal_nlu_threshold(bot->model) < 0.51f);
    assert_int_equal(bot->handoff_after, 3);
    assert_int_equal(bot->dedup_window, 60);
    assert_string_equal(text0(&bot->contract, PAL_LANG_EN),
                        "I take beer orders. Say for example \"2 Corona\".");
    assert_null(bot->contract.variants[PAL_LANG_UNKNOWN]);

    /* Entities in order, then the inline-choices one; every slot has one. */
    assert_int_equal(bot->n_entities, 5);
    assert_string_equal(bot->entity_names[0], "beer");
    assert_string_equal(bot->entity_names[3], "seat");
    assert_string_equal(bot->entity_names[4], "payment");
    assert_int_equal(bot->n_slots, 5);
    static const char *const slots[] = {"quantity", "beer", "payment", "postcode", "seat"};
    static const int entities[] = {1, 0, 4, 2, 3};
    for (size_t i = 0; i < 5; i++) {
        assert_string_equal(bot->slots[i].name, slots[i]);
        assert_int_equal(bot->slots[i].entity, entities[i]);
    }

    /* Intents: the built-ins, the bot's, its out-of-scope examples. */
    for (int b = 0; b < PAL_BUILTIN_INTENTS; b++) {
        static const char *const names[] = {"help", "human", "cancel", "restart"};
        assert_true(bot->builtin[b] >= 0);
        assert_string_equal(pal_nlu_intent_name(bot->model, (size_t)bot->builtin[b]), names[b]);
    }
    assert_int_equal(pal_nlu_intent_count(bot->model), 8);
    assert_int_equal(pal_nlu_intent_find(bot->model, "none"), PAL_NLU_NONE);
    assert_int_equal(bot->n_patterns, 1);
    assert_string_equal(bot->patterns[0].folded, "#monresultat");
    assert_int_equal(bot->patterns[0].intent, pal_nlu_intent_find(bot->model, "results"));

    /* Replies. */
    assert_int_equal(bot->n_replies, 1);
    assert_int_equal(bot->replies[0].text.n_variants[PAL_LANG_FR], 2);
    assert_int_equal(bot->replies[0].text.n_variants[PAL_LANG_EN], 1);

    /* Services, with the environment's override. */
    assert_int_equal(bot->n_services, 2);
    assert_string_equal(bot->services[0].url, "http://127.0.0.1:8089/orders");
    assert_int_equal(bot->services[0].timeout_ms, 1500);
    assert_string_equal(bot->services[1].url, "http://10.0.0.1/stock");
    assert_int_equal(bot->services[1].timeout_ms, 2000);

    /* The order flow, step by step. */
    assert_int_equal(bot->n_flows, 4);
    const pal_flow *order = &bot->flows[0];
    assert_string_equal(order->name, "order");
    assert_int_equal(order->n_when, 1);
    assert_int_equal(order->when[0], pal_nlu_intent_find(bot->model, "order_beer"));
    assert_false(order->only_says);
    assert_int_equal(order->steps.count, 7);
    const pal_step *s = order->steps.steps;
    assert_int_equal(s[0].kind, PAL_STEP_ASK);
    assert_int_equal(s[0].line, 45);
    assert_int_equal(s[0].u.ask.slot, slot_index(bot, "quantity"));
    assert_int_equal(s[0].u.ask.tries, 3);
    assert_string_equal(text0(&s[0].u.ask.prompt, PAL_LANG_FR), "Combien de bières ? (1 à 4)");
    assert_string_equal(text0(&s[0].u.ask.retry, PAL_LANG_EN), "A number from 1 to 4.");
    assert_int_equal(s[0].u.ask.n_buttons, 4);
    assert_string_equal(s[0].u.ask.buttons[3], "4");
    assert_int_equal(s[1].u.ask.tries, 2);
    assert_int_equal(s[1].u.ask.retry.n_variants[PAL_LANG_FR], 0);
    assert_int_equal(s[2].u.ask.slot, slot_index(bot, "payment"));
    assert_int_equal(s[2].u.ask.n_choices, 2);
    assert_string_equal(s[2].u.ask.choices[1].value, "new");
    assert_string_equal(text0(&s[2].u.ask.choices[0].label, PAL_LANG_EN), "Card **** 0345");

    assert_int_equal(s[3].kind, PAL_STEP_IF);
    assert_int_equal(s[3].u.cond.op, PAL_COND_EQ);
    assert_int_equal(s[3].u.cond.slot, slot_index(bot, "payment"));
    assert_string_equal(s[3].u.cond.value, "new");
    assert_int_equal(s[3].u.cond.then_steps.count, 2);
    assert_int_equal(s[3].u.cond.then_steps.steps[1].kind, PAL_STEP_HANDOFF);
    assert_string_equal(s[3].u.cond.then_steps.steps[1].u.handoff.reason, "new card");
    const pal_step *inner = &s[3].u.cond.else_steps.steps[0];
    assert_int_equal(inner->kind, PAL_STEP_IF);
    assert_int_equal(inner->u.cond.op, PAL_COND_UNSET);
    assert_null(inner->u.cond.value);
    const pal_step *set = &inner->u.cond.then_steps.steps[0];
    assert_int_equal(set->kind, PAL_STEP_SET);
    assert_int_equal(set->u.set.count, 2);
    assert_int_equal(set->u.set.slots[0], slot_index(bot, "seat"));
    assert_string_equal(set->u.set.values[1], "{{quantity}}");

    assert_int_equal(s[4].kind, PAL_STEP_CALL);
    assert_int_equal(s[4].u.call.service, 0);
    assert_int_equal(s[4].u.call.n_body, 2);
    assert_string_equal(s[4].u.call.body[1].key, "beer");
    assert_string_equal(s[4].u.call.body[1].value, "{{ beer }}");
    assert_string_equal(s[4].u.call.as, "order");
    assert_string_equal(text0(&s[4].u.call.error, PAL_LANG_FR), "Service indisponible.");
    assert_int_equal(s[5].kind, PAL_STEP_SAY);
    assert_int_equal(s[5].u.say.text.n_variants[PAL_LANG_EN], 2);
    assert_string_equal(s[5].u.say.text.variants[PAL_LANG_EN][1], "Got it: order #{{order.id}}.");
    assert_int_equal(s[6].kind, PAL_STEP_END);

    /* A digression: only says; `say: closing` is the reply, quoted text is text. */
    const pal_flow *hours = &bot->flows[1];
    assert_true(hours->only_says);
    assert_int_equal(hours->steps.steps[0].u.say.text.n_variants[PAL_LANG_FR], 2);
    assert_string_equal(text0(&hours->steps.steps[1].u.say.text, PAL_LANG_EN), "closing time");
    /* A plain string is the same text in every language. */
    const pal_step *postcode = &bot->flows[2].steps.steps[0];
    assert_string_equal(text0(&postcode->u.ask.prompt, PAL_LANG_FR), "Code postal ?");
    assert_string_equal(text0(&postcode->u.ask.prompt, PAL_LANG_EN), "Code postal ?");

    /* The look-up, prepared, its parameter a slot. */
    const pal_step *lookup = &bot->flows[3].steps.steps[0];
    assert_int_equal(lookup->kind, PAL_STEP_LOOKUP);
    assert_non_null(lookup->u.lookup.query);
    assert_int_equal(pal_botdata_query_param_count(lookup->u.lookup.query), 1);
    assert_int_equal(lookup->u.lookup.params[0], slot_index(bot, "postcode"));
    assert_string_equal(lookup->u.lookup.as, "found");
    assert_string_equal(lookup->u.lookup.choose, "name");
    assert_int_equal(lookup->u.lookup.choose_slot, -1);
    assert_string_equal(text0(&lookup->u.lookup.none, PAL_LANG_EN), "No shop.");
    pal_bot_free(bot);
}

/* The classifier knows the built-ins in both languages out of the box. */
static void understands_builtins(void **state)
{
    folder *f = *state;
    pal_bot *bot = NULL;
    pal_analyzer *analyzer = NULL;
    char errbuf[512] = "";
    write_data(f, "shops.csv", SHOPS_CSV);
    if (load(f, STADE, &bot, errbuf, sizeof(errbuf)) != PAL_OK)
        fail_msg("%s", errbuf);
    assert_int_equal(pal_analyzer_new(&analyzer), PAL_OK);
    static const struct {
        const char *text;
        pal_builtin_intent intent;
    } cases[] = {
        {"aide", PAL_INTENT_HELP},
        {"what can you do?", PAL_INTENT_HELP},
        {"je veux parler à un humain", PAL_INTENT_HUMAN},
        {"can I talk to a real person", PAL_INTENT_HUMAN},
        {"annuler", PAL_INTENT_CANCEL},
        {"never mind", PAL_INTENT_CANCEL},
        {"on recommence depuis le début", PAL_INTENT_RESTART},
        {"start over", PAL_INTENT_RESTART},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        pal_nlu_result r;
        assert_int_equal(
            pal_nlu_classify_text(bot->model, analyzer, cases[i].text, strlen(cases[i].text), &r),
            PAL_OK);
        if (r.intent != bot->builtin[cases[i].intent])
            fail_msg("\"%s\": got intent %d (%.2f), expected %d", cases[i].text, r.intent,
                     (double)r.confidence, bot->builtin[cases[i].intent]);
    }
    pal_analyzer_free(analyzer);
    pal_bot_free(bot);
}

/* ---- mistakes ---------------------------------------------------------------- */

/* A minimal valid bot, for the error cases to vary. */
#define HEAD                                                                                       \
    "bot: mini\n"                                                                                  \
    "languages: [fr, en]\n"                                                                        \
    "contract: {fr: \"Je dis bonjour.\", en: \"I say hello.\"}\n"
#define ENTITIES                                                                                   \
    "entities:\n"                                                                                  \
    "  beer: {choices: {bud: [bud], coors: [coors]}}\n"
#define INTENTS                                                                                    \
    "intents:\n"                                                                                   \
    "  greet: {fr: [bonjour], en: [hello]}\n"
#define FLOW_START                                                                                 \
    "flows:\n"                                                                                     \
    "  hello:\n"                                                                                   \
    "    when: greet\n"                                                                            \
    "    steps:\n"

static void minimal_bot_loads(void **state)
{
    folder *f = *state;
    pal_bot *bot = NULL;
    char errbuf[256] = "";
    pal_err err =
        load(f, HEAD INTENTS FLOW_START "      - say: Bonjour !\n", &bot, errbuf, sizeof(errbuf));
    if (err)
        fail_msg("%s", errbuf);
    assert_int_equal(bot->n_slots, 0);
    assert_true(bot->threshold > 0.44f && bot->threshold < 0.46f);
    assert_int_equal(bot->handoff_after, 2);
    assert_int_equal(bot->dedup_window, 600);
    assert_null(bot->data);
    assert_true(bot->flows[0].only_says);
    pal_bot_free(bot);
}

static void errors_in_the_top_level(void **state)
{
    folder *f = *state;
    expect_error(f, HEAD "colour: blue\n" INTENTS FLOW_START "      - say: Hi!\n", PAL_ERR_PARSE, 4,
                 1, "unknown key 'colour' in a bot: expected bot, languages,");
    expect_error(f, "bot: Stade\n", PAL_ERR_PARSE, 1, 6, "expected the bot's name");
    expect_error(f, "bot: mini\nlanguages: [fr, de]\n", PAL_ERR_PARSE, 2, 17,
                 "unknown language 'de': expected fr or en");
    expect_error(f, HEAD INTENTS, PAL_ERR_PARSE, 1, 1, "missing key 'flows'");
    expect_error(
        f,
        "bot: mini\nlanguages: [fr, en]\ncontract: {fr: \"Je dis bonjour.\"}\n" INTENTS FLOW_START
        "      - say: Hi!\n",
        PAL_ERR_PARSE, 3, 11, "missing the 'en' text of the contract");
    expect_error(f, HEAD "settings: {threshold: high}\n" INTENTS FLOW_START "      - say: Hi!\n",
                 PAL_ERR_PARSE, 4, 23, "expected threshold: a number from 0 to 1");
    expect_error(f, HEAD "settings: {threshold: 1.5}\n" INTENTS FLOW_START "      - say: Hi!\n",
                 PAL_ERR_PARSE, 4, 23, "expected threshold: a number from 0 to 1");
    expect_error(f, HEAD "settings:\n  handoff_after: -1\n" INTENTS FLOW_START "      - say: Hi!\n",
                 PAL_ERR_PARSE, 5, 18, "expected handoff_after: a whole number from 0 to 100");
    expect_error(f, HEAD "intents: {}\n" FLOW_START "      - say: Hi!\n", PAL_ERR_PARSE, 4, 10,
                 "expected at least one intent");
    expect_error(
        f, HEAD "intents:\n  greet: {fr: [bonjour], de: [hallo]}\n" FLOW_START "      - say: Hi!\n",
        PAL_ERR_PARSE, 5, 26, "unknown key 'de' in intent 'greet'");
    expect_error(f, HEAD "intents:\n  greet: {fr: [], en: []}\n" FLOW_START "      - say: Hi!\n",
                 PAL_ERR_PARSE, 5, 10, "intent 'greet' has no example");
}

static void errors_in_entities(void **state)
{
    folder *f = *state;
    expect_error(
        f, HEAD "entities:\n  code: {pattern: \"ab(c\"}\n" INTENTS FLOW_START "      - say: Hi!\n",
        PAL_ERR_PARSE, 5, 19, "invalid pattern of entity 'code': ");
    expect_error(
        f, HEAD "entities:\n  code: {regex: \"abc\"}\n" INTENTS FLOW_START "      - say: Hi!\n",
        PAL_ERR_PARSE, 5, 10, "unknown entity kind 'regex'");
    expect_error(f,
                 HEAD "entities:\n  n: {number: {min: 5, max: 1}}\n" INTENTS FLOW_START
                      "      - say: Hi!\n",
                 PAL_ERR_PARSE, 5, 15, "min (5) is above max (1)");
}

static void errors_in_flows(void **state)
{
    folder *f = *state;
    /* The same flow name twice. */
    expect_error(f,
                 HEAD INTENTS FLOW_START "      - say: Hi!\n"
                                         "  hello:\n"
                                         "    when: greet\n"
                                         "    steps: [end]\n",
                 PAL_ERR_PARSE, 11, 3, "duplicate key 'hello' (first at line 7)");
    expect_error(f, HEAD INTENTS "flows:\n  hello:\n    when: bye\n    steps: [end]\n",
                 PAL_ERR_PARSE, 8, 11, "unknown intent 'bye'");
    expect_error(f,
                 HEAD INTENTS "flows:\n  a: {when: greet, steps: [end]}\n"
                              "  b: {when: greet, steps: [end]}\n",
                 PAL_ERR_PARSE, 8, 13, "intent 'greet' already starts flow 'a'");
    expect_error(f,
                 HEAD INTENTS FLOW_START "      - if: size == big\n"
                                         "        then: [end]\n",
                 PAL_ERR_PARSE, 10, 13, "unknown slot 'size' in the condition");
    expect_error(f,
                 HEAD ENTITIES INTENTS FLOW_START "      - ask: beer\n"
                                                  "        prompt: Laquelle ?\n"
                                                  "      - if: beer = bud\n"
                                                  "        then: [end]\n",
                 PAL_ERR_PARSE, 14, 13, "expected a condition: slot == value");
    expect_error(f,
                 HEAD ENTITIES INTENTS FLOW_START "      - ask: beer\n"
                                                  "        prompt: Laquelle ?\n"
                                                  "      - if: beer == heineken\n"
                                                  "        then: [end]\n",
                 PAL_ERR_PARSE, 14, 13,
                 "slot 'beer' has no value 'heineken': expected bud or "
                 "coors");
    expect_error(f,
                 HEAD INTENTS FLOW_START "      - ask: size\n"
                                         "        prompt: Quelle taille ?\n",
                 PAL_ERR_PARSE, 10, 14, "unknown slot 'size': a slot is an entity");
    expect_error(f,
                 HEAD ENTITIES INTENTS FLOW_START "      - ask: beer\n"
                                                  "        prompt: Laquelle ?\n"
                                                  "        tries: 0\n",
                 PAL_ERR_PARSE, 14, 16, "expected tries: a whole number from 1 to 10");
    expect_error(f,
                 HEAD ENTITIES INTENTS FLOW_START "      - ask: beer\n"
                                                  "        prompt: {fr: Laquelle ?}\n",
                 PAL_ERR_PARSE, 13, 17, "missing the 'en' text of a prompt");
    expect_error(f,
                 HEAD ENTITIES INTENTS FLOW_START "      - ask: beer\n"
                                                  "        promt: Laquelle ?\n",
                 PAL_ERR_PARSE, 13, 9,
                 "unknown key 'promt' in an ask step: expected ask, "
                 "prompt, retry, tries, buttons or choices");
    expect_error(f, HEAD INTENTS FLOW_START "      - say: Hi!\n        handoff: now\n",
                 PAL_ERR_PARSE, 11, 9, "a step does one thing: 'say' and 'handoff'");
    expect_error(f, HEAD INTENTS FLOW_START "      - sya: hi\n", PAL_ERR_PARSE, 10, 9,
                 "unknown step 'sya': expected ask, say,");
    expect_error(f, HEAD INTENTS FLOW_START "      - say: greeting\n", PAL_ERR_PARSE, 10, 14,
                 "unknown reply 'greeting'");
    expect_error(f, HEAD INTENTS FLOW_START "      - say: \"Hello {{name}}\"\n", PAL_ERR_PARSE, 10,
                 14, "placeholder {{name}}: no flow asks for a slot 'name'");
    expect_error(f, HEAD INTENTS FLOW_START "      - say: \"Order {{order.id}}\"\n", PAL_ERR_PARSE,
                 10, 14, "no lookup or call stores its answer as 'order'");
    expect_error(f, HEAD INTENTS FLOW_START "      - say: \"Hello {{ x y }}\"\n", PAL_ERR_PARSE, 10,
                 14, "malformed placeholder");
    expect_error(f, HEAD INTENTS FLOW_START "      - set: {beer: bud}\n", PAL_ERR_PARSE, 10, 15,
                 "unknown slot 'beer' in set:");
    expect_error(f, HEAD INTENTS FLOW_START "      - call: {service: orders}\n", PAL_ERR_PARSE, 10,
                 25, "unknown service 'orders'");
    expect_error(f,
                 HEAD ENTITIES INTENTS FLOW_START "      - ask: beer\n"
                                                  "        prompt: Laquelle ?\n"
                                                  "      - lookup: {query: \"SELECT 1\", "
                                                  "as: beer}\n",
                 PAL_ERR_PARSE, 14, 25, "a lookup needs the bot's data");
}

static void errors_in_lookups(void **state)
{
    folder *f = *state;
    write_data(f, "shops.csv", SHOPS_CSV);
    expect_error(f,
                 HEAD INTENTS FLOW_START
                 "      - lookup: {query: \"SELECT name FROM shops WHERE postcode = :code\",\n"
                 "                 as: shop}\n",
                 PAL_ERR_PARSE, 10, 25, "unknown slot 'code' in the query's parameters");
    expect_error(
        f, HEAD INTENTS FLOW_START "      - lookup: {query: \"SELECT nom FROM shops\", as: shop}\n",
        PAL_ERR_PARSE, 10, 25, "invalid query: no such column: nom");
    expect_error(f,
                 HEAD INTENTS FLOW_START "      - lookup: {query: \"DELETE FROM shops\", "
                                         "as: shop}\n",
                 PAL_ERR_PARSE, 10, 25, "invalid query: ");
    expect_error(f,
                 HEAD ENTITIES INTENTS FLOW_START
                 "      - ask: beer\n"
                 "        prompt: Laquelle ?\n"
                 "      - lookup: {query: \"SELECT name FROM shops\", as: beer}\n",
                 PAL_ERR_PARSE, 14, 55, "'beer' is already a slot");
}

static void errors_in_slots_intents_and_services(void **state)
{
    folder *f = *state;
    expect_error(f,
                 HEAD ENTITIES INTENTS FLOW_START "      - ask: beer\n"
                                                  "        prompt: Laquelle ?\n"
                                                  "        choices: {bud: Bud}\n",
                 PAL_ERR_PARSE, 14, 18,
                 "slot 'beer' has inline choices, but entities: also "
                 "defines 'beer'");
    expect_error(f,
                 HEAD INTENTS FLOW_START "      - ask: pay\n"
                                         "        prompt: Payer ?\n"
                                         "        choices: {card: Carte}\n"
                                         "      - ask: pay\n"
                                         "        prompt: Payer ?\n"
                                         "        choices: {cash: Espèces}\n",
                 PAL_ERR_PARSE, 15, 18, "the choices of slot 'pay' are already given at line 12");
    expect_error(f,
                 HEAD INTENTS FLOW_START "      - ask: pay\n"
                                         "        prompt: Payer ?\n"
                                         "        choices: {card: {fr: Carte}}\n",
                 PAL_ERR_PARSE, 12, 25, "missing the 'en' text of a choice's label");
    expect_error(f, HEAD ENTITIES INTENTS FLOW_START "      - ask: beer\n", PAL_ERR_PARSE, 12, 9,
                 "missing key 'prompt' (what the bot asks)");
    expect_error(f,
                 HEAD ENTITIES INTENTS FLOW_START "      - ask: beer\n"
                                                  "        prompt: Laquelle ?\n"
                                                  "        buttons: [\"{{bier}}\"]\n",
                 PAL_ERR_PARSE, 14, 19, "placeholder {{bier}}: no flow asks for a slot 'bier'");
    expect_error(f, HEAD "intents:\n  oos: {fr: [bof]}\n" FLOW_START "      - say: Hi!\n",
                 PAL_ERR_PARSE, 5, 3, "intent name 'oos' is reserved");
    expect_error(f,
                 HEAD "intents:\n  none: {fr: [bof]}\n  greet: {fr: [salut], en: [hi]}\n"
                      "flows:\n  a: {when: none, steps: [end]}\n",
                 PAL_ERR_PARSE, 8, 13, "unknown intent 'none'");
    expect_error(f,
                 HEAD INTENTS FLOW_START "      - say: Hi!\n"
                                         "services:\n  orders: {url: \"ftp://x\"}\n",
                 PAL_ERR_PARSE, 12, 17, "expected an http:// or https:// URL");
    expect_error(f,
                 HEAD INTENTS FLOW_START "      - say: Hi!\n"
                                         "services:\n  orders: {url: \"http://x\", "
                                         "timeout_ms: 0}\n",
                 PAL_ERR_PARSE, 12, 41, "expected timeout_ms: a whole number from 1 to 60000");
    setenv("PALABRE_MINI_SERVICE_ORDERS_URL", "not a url", 1);
    expect_error(f,
                 HEAD INTENTS FLOW_START "      - say: Hi!\n"
                                         "services:\n  orders: {url: \"http://x\"}\n",
                 PAL_ERR_PARSE, 12, 17, "PALABRE_MINI_SERVICE_ORDERS_URL overrides this URL");
    unsetenv("PALABRE_MINI_SERVICE_ORDERS_URL");
    expect_error(f, HEAD INTENTS "flows: {}\n", PAL_ERR_PARSE, 6, 8, "expected at least one flow");
    expect_error(f, HEAD INTENTS FLOW_START "      - handoff:\n", PAL_ERR_PARSE, 10, 9,
                 "expected the reason a person takes over");
}

/* ---- hostile files ------------------------------------------------------------- */

static void refuses_hostile_files(void **state)
{
    folder *f = *state;
    expect_error(f, "", PAL_ERR_PARSE, 1, 1, "the file is empty");
    expect_error(f, "# just a comment\n", PAL_ERR_PARSE, 1, 1, "the file is empty");
    expect_error(f, "- a\n- b\n", PAL_ERR_PARSE, 1, 1, "expected a bot");
    expect_error(f, "bot: mini\nlanguages: [fr, en\n", PAL_ERR_PARSE, 3, 1, "invalid YAML: ");
    expect_error(f, "bot: mini\n---\nbot: other\n", PAL_ERR_PARSE, 2, 1,
                 "expected one YAML "
                 "document");
    expect_error(f, "bot: mini\nlanguages: [fr, en]\ncontract: \"caf\xC3\x28\"\n", PAL_ERR_PARSE, 3,
                 15, "invalid UTF-8");
    expect_error(f, "bot: mini\ncontract: \"a\\0b\"\n", PAL_ERR_PARSE, 2, 11, "NUL");
    expect_error(f, "bot: !!str mini\n", PAL_ERR_PARSE, 1, 6, "tags (!name) are not supported");
    /* Billion laughs: refused at the first anchor, nothing is expanded. */
    expect_error(f,
                 "a: &a [\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\"]\n"
                 "b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]\n"
                 "c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]\n",
                 PAL_ERR_PARSE, 1, 4, "anchors (&name) and aliases are not supported");
    expect_error(f, "bot: *name\n", PAL_ERR_PARSE, 1, 6, "aliases (*name) are not supported");
    expect_error(f, HEAD INTENTS FLOW_START "      - say: Hi!\n      - say: []\n", PAL_ERR_PARSE,
                 11, 14, "expected what to say: a string, or a text per language");
    expect_error(f, HEAD INTENTS FLOW_START "      - say: Hi!\n      - say: [\n        ]\n",
                 PAL_ERR_PARSE, 12, 9, "invalid YAML: wrongly indented sequence end");

    /* Deep YAML: refused at the 65th level, before anything recurses. */
    size_t n = 1000000;
    char *deep = malloc(2 * n);
    assert_non_null(deep);
    memset(deep, '[', n);
    memset(deep + n, ']', n);
    pal_bot *bot = NULL;
    char errbuf[256] = "";
    assert_int_equal(pal_bot__parse(deep, 2 * n, NULL, NULL, &bot, errbuf, sizeof(errbuf)),
                     PAL_ERR_LIMIT);
    assert_string_equal(errbuf, "bot.yaml:1:65: nested more than 64 levels deep");
    free(deep);
    assert_null(bot);
}

static void refuses_huge_files(void **state)
{
    folder *f = *state;
    size_t len = ((size_t)4 << 20) + 1;
    char *big = malloc(len);
    assert_non_null(big);
    memset(big, '#', len);
    big[len - 1] = '\n';
    write_file(f, "bot.yaml", big, len);
    pal_bot *bot = NULL;
    char errbuf[256] = "";
    assert_int_equal(pal_bot_load(f->dir, &bot, errbuf, sizeof(errbuf)), PAL_ERR_LIMIT);
    assert_non_null(strstr(errbuf, "larger than"));
    assert_int_equal(pal_bot__parse(big, len, NULL, NULL, &bot, errbuf, sizeof(errbuf)),
                     PAL_ERR_LIMIT);
    assert_null(bot);

    /* Many small nodes: bounded too, whatever the file's size. */
    size_t n = 250000;
    char *flat = malloc(2 * n + 8);
    assert_non_null(flat);
    memcpy(flat, "a: [", 4);
    for (size_t i = 0; i < n; i++)
        memcpy(flat + 4 + 2 * i, "1,", 2);
    memcpy(flat + 4 + 2 * n - 1, "]\n", 2);
    assert_int_equal(pal_bot__parse(flat, 2 * n + 5, NULL, NULL, &bot, errbuf, sizeof(errbuf)),
                     PAL_ERR_LIMIT);
    assert_non_null(strstr(errbuf, "bot.yaml:1:"));
    assert_non_null(strstr(errbuf, "YAML nodes"));
    free(flat);
    free(big);
}

/* Ifs nest 15 deep at most (the engine's position in a flow is bounded). */
static void bounds_nested_ifs(void **state)
{
    folder *f = *state;
    char yaml[8192];
    for (int depth = 15; depth <= 16; depth++) {
        size_t used =
            (size_t)snprintf(yaml, sizeof(yaml), "%s",
                             HEAD ENTITIES INTENTS FLOW_START "      - ask: beer\n"
                                                              "        prompt: Laquelle ?\n");
        int indent = 6;
        for (int i = 0; i < depth; i++) {
            used += (size_t)snprintf(yaml + used, sizeof(yaml) - used, "%*s- if: beer\n%*sthen:\n",
                                     indent, "", indent + 2, "");
            indent += 4;
        }
        used += (size_t)snprintf(yaml + used, sizeof(yaml) - used, "%*s- say: Deep down.\n", indent,
                                 "");
        assert_true(used < sizeof(yaml));
        pal_bot *bot = NULL;
        char errbuf[256] = "";
        pal_err err = load(f, yaml, &bot, errbuf, sizeof(errbuf));
        if (depth == 15) {
            if (err)
                fail_msg("%s", errbuf);
            pal_bot_free(bot);
        } else {
            assert_int_equal(err, PAL_ERR_LIMIT);
            assert_non_null(strstr(errbuf, "if steps nested more than 15 deep"));
        }
    }
}

static void io_errors(void **state)
{
    folder *f = *state;
    pal_bot *bot = NULL;
    char errbuf[256] = "";
    assert_int_equal(pal_bot_load(f->dir, &bot, errbuf, sizeof(errbuf)), PAL_ERR_IO);
    assert_non_null(strstr(errbuf, "bot.yaml"));
    assert_null(bot);
    /* A bad CSV file is reported by the data loader, with its own position. */
    write_data(f, "shops.csv", "postcode,name\n75011\n");
    assert_int_equal(
        load(f, HEAD INTENTS FLOW_START "      - say: Hi!\n", &bot, errbuf, sizeof(errbuf)),
        PAL_ERR_PARSE);
    assert_non_null(strstr(errbuf, "shops.csv:2:"));
    pal_bot_free(NULL);
}

int main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, make_dir, remove_dir)
    const struct CMUnitTest tests[] = {
        T(loads_a_complete_bot),  T(understands_builtins),
        T(minimal_bot_loads),     T(errors_in_the_top_level),
        T(errors_in_entities),    T(errors_in_flows),
        T(errors_in_lookups),     T(errors_in_slots_intents_and_services),
        T(refuses_hostile_files), T(refuses_huge_files),
        T(bounds_nested_ifs),     T(io_errors),
    };
#undef T
    return cmocka_run_group_tests(tests, NULL, NULL);
}
