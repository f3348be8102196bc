/*
 * engine.c — one customer message, one step of the conversation (see
 * engine.h and docs/bots.md).
 *
 * A step: analyse the text, classify it (a bot pattern found in the folded
 * text wins with confidence 1), extract entities; then, in this order:
 *   1. a person has taken over: the bot says nothing;
 *   2. a built-in intent (help, human, cancel, restart) acts at any point —
 *      except that "non, 3" while a question waits is a correction even if
 *      the classifier hears a cancel in it, and a message that could answer
 *      the question waiting ("la carte" to "Comment payez-vous ?") is an
 *      answer;
 *   3. a question waits: the message answers it (entities of the flow's
 *      slots, inline choices, a choice among looked-up rows) and may correct
 *      earlier answers on the way; or it starts another flow — a flow made
 *      only of `say` steps is a digression after which the question comes
 *      back, any other is a change of mind, and the flow's own intent again
 *      is the hint again without spending a try; or it is a failed answer:
 *      the hint again, then after `tries` a person or the contract;
 *   4. no question waits: the intent's flow starts (its slots cleared, then
 *      prefilled from the message; a number no slot took, such as 6 beers
 *      of 1 to 4, makes its first question the hint), or sure entities
 *      alone start the flow they fit; or the message was not understood:
 *      the contract, and a person after handoff_after misunderstandings in
 *      a row.
 * Steps then run until a question or the flow's end.
 *
 * Safety (SPEC.md §4): replies are the bot's texts with placeholders filled
 * from slot values and stored results only; nothing copies the customer's
 * text into a reply.
 *
 * Cost: no allocation outside the turn's arena except the conversation's
 * own values (which reuse their buffers), and service calls (JSON). Scans
 * are over the bot's slots, flows or a flow's steps: small and bounded.
 */
#include "dialog/engine.h"

#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/log.h"
#include "dialog/bot_model.h"
#include "dialog/conversation.h"
#include "dialog/options.h"
#include "dialog/template.h"
#include "nlu/classifier.h"
#include "nlu/entities.h"
#include "nlu/numbers.h"
#include "text/normalize.h"

enum {
    MAX_BUTTONS = 10,      /* choices offered from looked-up rows */
    LOOKUP_MAX_ROWS = 100, /* more rows than this: the look-up fails */
    CHOOSE_TRIES = 3,      /* failed answers to "which one?" */
    CALL_RESPONSE_MAX = 1 << 20,
    FLATTEN_DEPTH = 3, /* levels of a service's answer kept: order.a.b.c */
    FIRST_REPLIES = 4,
};

/* Detected language needed to switch: the first message sets the language
 * on little evidence, a later one must be clearly in the other language
 * ("ok", "yes" or a brand name do not switch a French conversation). */
static const float LANG_SWITCH_FIRST = 0.3f;
static const float LANG_SWITCH = 0.5f;
/* An entity must be this sure to change a slot the customer already gave
 * while being asked something else ("une corona" must not reset a quantity
 * of 3 to 1 through the article "une"). */
static const float CORRECTION_MIN_SCORE = 0.75f;
/* Entities alone start a flow only when sure: exact, or a plural (0.9);
 * a one-typo match is a guess ("j'ai pris froid": "pris" is one edit from
 * "paris", not a store search). */
static const float ENTITY_START_MIN_SCORE = 0.9f;
/* What the entities give a lone article-like number ("un" of "parler à un
 * conseiller"): it fills a quantity asked for, but is no reason to hear an
 * answer rather than a built-in intent. */
static const float WEAK_ENTITY_SCORE = 0.5f;
/* Built-in intents act on any bot at any point, and three of them cannot
 * be undone (cancel and restart throw answers away, human calls a person):
 * they need more than the bot's threshold. Words the classifier has never
 * seen ("blorp", "lots", "a lot") land on a built-in class at 0.45-0.69 on
 * small bots; real requests ("annuler", "agent please", "start over", "je
 * voudrais annuler ma commande") score 0.73 and above. Help only explains. */
static const float BUILTIN_MIN_CONFIDENCE = 0.7f;
static const float HELP_MIN_CONFIDENCE = 0.6f;

/* ---- the engine's own words ----------------------------------------------------------- */

typedef enum own_text {
    SAY_HANDOFF = 0,
    SAY_CANCELLED,
    SAY_NOTHING_TO_CANCEL,
    SAY_RESTART,
    SAY_SERVICE_DOWN,
    SAY_LOOKUP_FAILED,
    SAY_GIVE_UP,
    SAY_NOT_UNDERSTOOD,
    SAY_CORRECTED,
    SAY_CHOOSE,
    SAY_CHOOSE_RETRY,
    SAY_NO_CONTRACT,
    OWN_TEXTS,
} own_text;

static const char *const own_texts[OWN_TEXTS][2] = {
    [SAY_HANDOFF] = {"Je vous passe un conseiller.", "I'm passing you to an agent."},
    [SAY_CANCELLED] = {"C'est annulé.", "Cancelled."},
    [SAY_NOTHING_TO_CANCEL] = {"Il n'y a rien en cours à annuler.",
                               "There is nothing in progress to cancel."},
    [SAY_RESTART] = {"On recommence.", "Let's start over."},
    [SAY_SERVICE_DOWN] = {"Le service ne répond pas, réessayez plus tard.",
                          "The service is not answering, please try again later."},
    [SAY_LOOKUP_FAILED] = {"Je ne peux pas consulter cette information pour le moment.",
                           "I can't look this up right now."},
    [SAY_GIVE_UP] = {"Désolé, je n'y arrive pas. Je vous passe un conseiller.",
                     "Sorry, I can't get this right. I'm passing you to an agent."},
    [SAY_NOT_UNDERSTOOD] = {"Désolé, je ne comprends pas. Je vous passe un conseiller.",
                            "Sorry, I don't understand. I'm passing you to an agent."},
    [SAY_CORRECTED] = {"C'est corrigé.", "Changed."},
    [SAY_CHOOSE] = {"Plusieurs réponses possibles, choisissez :",
                    "Several answers match, please choose:"},
    [SAY_CHOOSE_RETRY] = {"Je n'ai pas reconnu votre choix : touchez un bouton ou écrivez "
                          "son numéro.",
                          "I didn't recognise your choice: tap a button or type its number."},
    [SAY_NO_CONTRACT] = {"Je n'ai pas compris.", "I didn't understand."},
};

static const char REASON_ASKED[] = "customer asked for a person";
static const char REASON_NOT_UNDERSTOOD[] = "not understood several times in a row";
static const char REASON_GAVE_UP[] = "no valid answer after several tries";

/* ---- one step's context --------------------------------------------------------------- */

typedef struct step_ctx {
    const pal_bot *bot;
    pal_conversation *conv;
    const pal_engine_actions *actions;
    pal_arena *arena;
    pal_turn *turn;
    size_t cap_replies;
    const pal_analysis *analysis;
    const pal_entity *entities;
    size_t n_entities;
    int intent;           /* understood intent (>= threshold), or PAL_NLU_NONE */
    bool retry_first_ask; /* the starting message held a number no slot took */
} step_ctx;

typedef enum step_outcome {
    STEP_NEXT = 0, /* the position moved on: keep running */
    STEP_WAIT,     /* a question was asked */
    STEP_STOP,     /* the flow ended */
} step_outcome;

static int lang_column(pal_lang lang)
{
    return lang == PAL_LANG_EN ? 1 : 0;
}

static pal_reply *add_reply(step_ctx *c, const char *text)
{
    pal_turn *t = c->turn;
    if (t->n_replies == c->cap_replies) {
        size_t cap = c->cap_replies ? 2 * c->cap_replies : FIRST_REPLIES;
        pal_reply *grown = pal_arena_alloc(c->arena, cap * sizeof(*grown));
        if (t->n_replies)
            memcpy(grown, t->replies, t->n_replies * sizeof(*grown));
        t->replies = grown;
        c->cap_replies = cap;
    }
    pal_reply *r = &t->replies[t->n_replies++];
    *r = (pal_reply){text, NULL, 0};
    return r;
}

static void say_own(step_ctx *c, own_text which)
{
    const char *text = own_texts[which][lang_column(c->conv->lang)];
    add_reply(c, pal_arena_strndup(c->arena, text, strlen(text)));
}

/* ---- templates ------------------------------------------------------------------------ */

static int slot_find(const pal_bot *bot, pal_slice name)
{
    for (size_t i = 0; i < bot->n_slots; i++) {
        if (pal_slice_eq(name, bot->slots[i].name))
            return (int)i;
    }
    return -1;
}

/* What a placeholder may show: a slot's value or a stored result. */
static const char *resolve(const void *ctx, pal_slice name)
{
    const pal_conversation *conv = ctx;
    if (memchr(name.ptr, '.', name.len))
        return pal_conversation__result(conv, name);
    int slot = slot_find(conv->bot, name);
    return slot >= 0 ? pal_conversation__slot_at(conv, slot) : NULL;
}

static char *render(step_ctx *c, const char *tpl)
{
    return pal_template_render(c->arena, tpl, resolve, c->conv);
}

/* The language text has variants in: the conversation's, else the bot's
 * default, else any; PAL_LANG_UNKNOWN when the text is empty. */
static pal_lang text_lang(const step_ctx *c, const pal_bot_text *text)
{
    if (text->n_variants[c->conv->lang] > 0)
        return c->conv->lang;
    for (size_t i = 0; i < c->bot->n_langs; i++) {
        if (text->n_variants[c->bot->langs[i]] > 0)
            return c->bot->langs[i];
    }
    for (int l = 0; l < PAL_LANG_COUNT; l++) {
        if (text->n_variants[l] > 0)
            return (pal_lang)l;
    }
    return PAL_LANG_UNKNOWN;
}

/* One variant, rendered; NULL when text is empty. The choice is a hash of
 * the turn and the reply's rank in it: the same for the same state (tests
 * and replays agree), and varied even when a conversation comes back to a
 * text every other turn (a plain turn % n would then always pick the same). */
static char *pick(step_ctx *c, const pal_bot_text *text)
{
    pal_lang lang = text_lang(c, text);
    size_t n = text->n_variants[lang];
    if (n == 0)
        return NULL;
    uint32_t h = c->conv->turn * 64u + (uint32_t)c->turn->n_replies; /* murmur3's finaliser */
    h ^= h >> 16;
    h *= 0x85EBCA6Bu;
    h ^= h >> 13;
    h *= 0xC2B2AE35u;
    h ^= h >> 16;
    return render(c, text->variants[lang][h % n]);
}

static bool say_text(step_ctx *c, const pal_bot_text *text)
{
    char *s = pick(c, text);
    if (!s || !*s)
        return false;
    add_reply(c, s);
    return true;
}

static void say_contract(step_ctx *c)
{
    if (!say_text(c, &c->bot->contract))
        say_own(c, SAY_NO_CONTRACT); /* the loader requires a contract */
}

/* ---- flows and positions -------------------------------------------------------------- */

static void flow_end(pal_conversation *conv)
{
    conv->flow = -1;
    conv->pos.depth = 0;
    conv->tries = 0;
}

static void flow_enter(pal_conversation *conv, int flow)
{
    conv->flow = flow;
    conv->pos.depth = 1;
    conv->pos.index[0] = 0;
    conv->tries = 0;
}

static void advance(pal_conversation *conv)
{
    conv->pos.index[conv->pos.depth - 1]++;
    conv->tries = 0;
}

/* The step to run now: pops finished branch lists; NULL at the flow's end. */
static const pal_step *current_step(pal_conversation *conv)
{
    while (conv->pos.depth > 0) {
        const pal_step *step = pal_conversation__step_at(conv->bot, conv->flow, &conv->pos);
        if (step)
            return step;
        conv->pos.depth--;
        if (conv->pos.depth > 0)
            conv->pos.index[conv->pos.depth - 1]++;
    }
    return NULL;
}

static int flow_of_intent(const pal_bot *bot, int intent)
{
    if (intent < 0)
        return -1;
    for (size_t f = 0; f < bot->n_flows; f++) {
        for (size_t i = 0; i < bot->flows[f].n_when; i++) {
            if (bot->flows[f].when[i] == intent)
                return (int)f;
        }
    }
    return -1;
}

/* Marks the slots a list of steps asks (asked) and every slot it may write
 * (written: asks, set, chosen rows). Either may be NULL. */
static void mark_slots(const pal_step_list *list, bool *asked, bool *written)
{
    for (size_t i = 0; i < list->count; i++) {
        const pal_step *s = &list->steps[i];
        if (s->kind == PAL_STEP_ASK) {
            if (asked)
                asked[s->u.ask.slot] = true;
            if (written)
                written[s->u.ask.slot] = true;
        } else if (s->kind == PAL_STEP_SET && written) {
            for (size_t k = 0; k < s->u.set.count; k++)
                written[s->u.set.slots[k]] = true;
        } else if (s->kind == PAL_STEP_LOOKUP && written && s->u.lookup.choose_slot >= 0) {
            written[s->u.lookup.choose_slot] = true;
        } else if (s->kind == PAL_STEP_IF) {
            mark_slots(&s->u.cond.then_steps, asked, written);
            mark_slots(&s->u.cond.else_steps, asked, written);
        }
    }
}

static bool *flow_slots(step_ctx *c, int flow, bool written)
{
    bool *marks = pal_arena_alloc(c->arena, c->bot->n_slots + 1);
    memset(marks, 0, c->bot->n_slots + 1);
    mark_slots(&c->bot->flows[flow].steps, written ? NULL : marks, written ? marks : NULL);
    return marks;
}

/* The slot an extracted entity fills, or -1. */
static int slot_of_entity(const pal_bot *bot, const pal_entity *e)
{
    for (size_t i = 0; i < bot->n_slots; i++) {
        int entity = bot->slots[i].entity;
        if (entity >= 0 && strcmp(bot->entity_names[entity], e->entity) == 0)
            return (int)i;
    }
    return -1;
}

/* ---- answers to closed questions ----------------------------------------------------- */

/* An inline choice the answer names (its value or a label in any
 * language, or its button number), or -1. */
static size_t choice_texts(const pal_choice *choice)
{
    size_t n = 1;
    for (int l = 0; l < PAL_LANG_COUNT; l++)
        n += choice->label.n_variants[l];
    return n;
}

/* Adds the texts of choice (its value, its labels) as option. */
static void choice_add(step_ctx *c, pal_options *list, const pal_choice *choice, int option)
{
    pal_options_add(list, choice->value, option);
    for (int l = 0; l < PAL_LANG_COUNT; l++) {
        for (size_t v = 0; v < choice->label.n_variants[l]; v++)
            pal_options_add(list, render(c, choice->label.variants[l][v]), option);
    }
}

static int choice_match(step_ctx *c, const pal_step *ask)
{
    size_t capacity = 0;
    for (size_t i = 0; i < ask->u.ask.n_choices; i++)
        capacity += choice_texts(&ask->u.ask.choices[i]);
    pal_options list;
    pal_options_init(&list, c->arena, capacity);
    for (size_t i = 0; i < ask->u.ask.n_choices; i++)
        choice_add(c, &list, &ask->u.ask.choices[i], (int)i);
    list.n_numbered = (int)ask->u.ask.n_choices;
    return pal_options_match(&list, c->analysis);
}

/* True when the answer names choice taken alone: it then at least could
 * be that choice, even when it names others too ("la carte" when both
 * choices are cards). */
static bool choice_plausible(step_ctx *c, const pal_choice *choice)
{
    pal_options list;
    pal_options_init(&list, c->arena, choice_texts(choice));
    choice_add(c, &list, choice, 0);
    list.n_numbered = 0;
    return pal_options_match(&list, c->analysis) == 0;
}

/* ---- ask ------------------------------------------------------------------------------ */

static void ask_buttons(step_ctx *c, const pal_step *ask, pal_reply *reply)
{
    size_t n = ask->u.ask.n_buttons ? ask->u.ask.n_buttons : ask->u.ask.n_choices;
    const char **buttons = pal_arena_alloc(c->arena, (n + 1) * sizeof(*buttons));
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        char *b = ask->u.ask.n_buttons ? render(c, ask->u.ask.buttons[i])
                                       : pick(c, &ask->u.ask.choices[i].label);
        if (!b || !*b)
            b = ask->u.ask.n_buttons ? NULL : ask->u.ask.choices[i].value;
        if (b && *b)
            buttons[k++] = b;
    }
    reply->buttons = buttons;
    reply->n_buttons = k;
}

static void ask_emit(step_ctx *c, const pal_step *ask, bool retry)
{
    char *text = retry ? pick(c, &ask->u.ask.retry) : NULL;
    if (!text || !*text)
        text = pick(c, &ask->u.ask.prompt);
    if (!text || !*text) {
        /* No prompt at all: the loader forbids it; say the slot's name. */
        const char *name = c->bot->slots[ask->u.ask.slot].name;
        text = pal_arena_strndup(c->arena, name, strlen(name));
    }
    ask_buttons(c, ask, add_reply(c, text));
}

static step_outcome run_ask(step_ctx *c, const pal_step *step)
{
    if (pal_conversation__slot_at(c->conv, step->u.ask.slot)) {
        advance(c->conv);
        return STEP_NEXT;
    }
    /* "can I get 6 beers?" (1 to 4): the hint that says why, not the plain
     * question as if no number had been given. */
    bool retry = c->retry_first_ask && c->bot->slots[step->u.ask.slot].kind == PAL_ENTITY_NUMBER;
    c->retry_first_ask = false;
    ask_emit(c, step, retry);
    return STEP_WAIT;
}

/* ---- lookup --------------------------------------------------------------------------- */

static pal_err lookup_rows(step_ctx *c, const pal_step *step, pal_botdata_rows *rows)
{
    const pal_bot *bot = c->bot;
    pal_botdata_query *q = step->u.lookup.query;
    size_t n = pal_botdata_query_param_count(q);
    const char **names = pal_arena_alloc(c->arena, (n + 1) * sizeof(*names));
    const char **values = pal_arena_alloc(c->arena, (n + 1) * sizeof(*values));
    memset(rows, 0, sizeof(*rows));
    for (size_t i = 0; i < n; i++) {
        int slot = step->u.lookup.params[i];
        names[i] = pal_botdata_query_param_name(q, i);
        values[i] = slot >= 0 && (size_t)slot < bot->n_slots
                        ? pal_conversation__slot_at(c->conv, slot)
                        : NULL;
    }
    if (!c->actions || !c->actions->lookup)
        return PAL_ERR_STATE;
    return c->actions->lookup(c->actions->ctx, q, names, values, n, LOOKUP_MAX_ROWS, c->arena,
                              rows);
}

static int column_of(const pal_botdata_rows *rows, const char *name)
{
    for (size_t i = 0; name && i < rows->n_cols; i++) {
        if (strcmp(rows->columns[i], name) == 0)
            return (int)i;
    }
    return -1;
}

static void store_row(step_ctx *c, const pal_step *step, const pal_botdata_rows *rows, size_t r)
{
    const char *as = step->u.lookup.as;
    for (size_t k = 0; k < rows->n_cols; k++) {
        const char *v = rows->values[r * rows->n_cols + k];
        if (v && !pal_conversation__set_result(c->conv, as, rows->columns[k], v))
            pal_log(PAL_LOG_WARN, "engine", "bot %s: %s.%s not stored (too long or too many)",
                    c->bot->name, as, rows->columns[k]);
    }
    int column = column_of(rows, step->u.lookup.choose);
    if (step->u.lookup.choose_slot >= 0 && column >= 0)
        pal_conversation__set_slot(c->conv, step->u.lookup.choose_slot,
                                   rows->values[r * rows->n_cols + (size_t)column]);
}

/* Asks which row (the choose column's values as buttons), in the author's
 * words (prompt:) when the step has them. */
static void choose_emit(step_ctx *c, const pal_step *step, const pal_botdata_rows *rows, int column,
                        bool retry)
{
    size_t n = rows->n_rows < MAX_BUTTONS ? rows->n_rows : MAX_BUTTONS;
    const char **buttons = pal_arena_alloc(c->arena, (n + 1) * sizeof(*buttons));
    size_t k = 0;
    for (size_t r = 0; r < n; r++) {
        const char *v = rows->values[r * rows->n_cols + (size_t)column];
        if (v && *v)
            buttons[k++] = v;
    }
    if (retry || !say_text(c, &step->u.lookup.choose_prompt))
        say_own(c, retry ? SAY_CHOOSE_RETRY : SAY_CHOOSE);
    c->turn->replies[c->turn->n_replies - 1].buttons = buttons;
    c->turn->replies[c->turn->n_replies - 1].n_buttons = k;
}

static step_outcome lookup_failed(step_ctx *c, const pal_step *step, pal_err err)
{
    if (err == PAL_OK) {
        if (!say_text(c, &step->u.lookup.none))
            say_contract(c);
    } else {
        pal_log(PAL_LOG_WARN, "engine", "bot %s: look-up at line %d: %s", c->bot->name, step->line,
                pal_err_str(err));
        say_own(c, SAY_LOOKUP_FAILED);
    }
    flow_end(c->conv);
    return STEP_STOP;
}

static step_outcome run_lookup(step_ctx *c, const pal_step *step)
{
    pal_botdata_rows rows;
    pal_conversation__clear_results(c->conv, step->u.lookup.as);
    pal_err err = lookup_rows(c, step, &rows);
    if (err || rows.n_rows == 0)
        return lookup_failed(c, step, err);
    int column = column_of(&rows, step->u.lookup.choose);
    if (rows.n_rows == 1 || column < 0) {
        store_row(c, step, &rows, 0);
        advance(c->conv);
        return STEP_NEXT;
    }
    choose_emit(c, step, &rows, column, false);
    return STEP_WAIT;
}

/* The answer to "which one?": true when the step is settled (a row chosen,
 * or the data changed so that the step must simply run again). */
static bool lookup_answer(step_ctx *c, const pal_step *step)
{
    pal_botdata_rows rows;
    if (lookup_rows(c, step, &rows) != PAL_OK)
        return true;
    int column = column_of(&rows, step->u.lookup.choose);
    if (rows.n_rows < 2 || column < 0)
        return true;
    pal_options list;
    pal_options_init(&list, c->arena, rows.n_rows);
    for (size_t r = 0; r < rows.n_rows; r++)
        pal_options_add(&list, rows.values[r * rows.n_cols + (size_t)column], (int)r);
    list.n_numbered = (int)(rows.n_rows < MAX_BUTTONS ? rows.n_rows : MAX_BUTTONS);
    int chosen = pal_options_match(&list, c->analysis);
    if (chosen < 0)
        return false;
    store_row(c, step, &rows, (size_t)chosen);
    advance(c->conv);
    return true;
}

/* ---- call ----------------------------------------------------------------------------- */

static char *call_body(step_ctx *c, const pal_step *step)
{
    json_t *body = json_object();
    for (size_t i = 0; i < step->u.call.n_body; i++) {
        const pal_kv *kv = &step->u.call.body[i];
        json_object_set_new(body, kv->key, json_string(render(c, kv->value)));
    }
    char *text = json_dumps(body, JSON_COMPACT);
    json_decref(body);
    return text;
}

/* Stores the scalars of a service's answer as prefix.key (nested objects
 * as prefix.key.sub, FLATTEN_DEPTH levels); null values are left out.
 * Returns how many values could not be stored (too long, too many). */
static size_t store_json(step_ctx *c, const char *prefix, json_t *object, int depth)
{
    const char *key;
    json_t *value;
    char scalar[64];
    size_t dropped = 0;
    json_object_foreach(object, key, value)
    {
        const char *text = NULL;
        if (json_is_string(value)) {
            /* a NUL inside the string would cut it: not a value to show */
            if (strlen(json_string_value(value)) == json_string_length(value))
                text = json_string_value(value);
        } else if (json_is_integer(value)) {
            snprintf(scalar, sizeof(scalar), "%" JSON_INTEGER_FORMAT, json_integer_value(value));
            text = scalar;
        } else if (json_is_real(value)) {
            snprintf(scalar, sizeof(scalar), "%.15g", json_real_value(value));
            text = scalar;
        } else if (json_is_boolean(value)) {
            text = json_is_true(value) ? "true" : "false";
        } else if (json_is_object(value) && depth < FLATTEN_DEPTH) {
            size_t n = strlen(prefix) + 1 + strlen(key) + 1;
            char *nested = pal_arena_alloc(c->arena, n);
            snprintf(nested, n, "%s.%s", prefix, key);
            dropped += store_json(c, nested, value, depth + 1);
        }
        if (text && !pal_conversation__set_result(c->conv, prefix, key, text))
            dropped++;
    }
    return dropped;
}

static pal_err call_service(step_ctx *c, const pal_step *step)
{
    pal_err err = PAL_ERR_STATE;
    char *body = NULL, *response = NULL;
    json_t *answer = NULL;
    int service = step->u.call.service;
    if (!c->actions || !c->actions->call || service < 0 || (size_t)service >= c->bot->n_services)
        goto out;
    const pal_service *svc = &c->bot->services[service];
    body = call_body(c, step);
    err = body ? c->actions->call(c->actions->ctx, svc->url, svc->timeout_ms, body, &response)
               : PAL_ERR_INTERNAL;
    if (err)
        goto out;
    err = PAL_ERR_PARSE;
    if (!response || strlen(response) > CALL_RESPONSE_MAX)
        goto out;
    answer = json_loads(response, JSON_REJECT_DUPLICATES, NULL);
    if (!json_is_object(answer))
        goto out;
    size_t dropped = store_json(c, step->u.call.as, answer, 1);
    if (dropped)
        pal_log(PAL_LOG_WARN, "engine",
                "bot %s: call at line %d: %zu answer fields not kept "
                "(over %d bytes or %d values)",
                c->bot->name, step->line, dropped, PAL_CONV_VALUE_MAX, PAL_CONV_MAX_RESULTS);
    err = PAL_OK;
out:
    json_decref(answer);
    free(body);
    free(response);
    return err;
}

static step_outcome run_call(step_ctx *c, const pal_step *step)
{
    pal_conversation__clear_results(c->conv, step->u.call.as);
    pal_err err = call_service(c, step);
    if (err == PAL_OK) {
        advance(c->conv);
        return STEP_NEXT;
    }
    pal_log(PAL_LOG_WARN, "engine", "bot %s: call at line %d: %s", c->bot->name, step->line,
            pal_err_str(err));
    if (!say_text(c, &step->u.call.error))
        say_own(c, SAY_SERVICE_DOWN);
    flow_end(c->conv);
    return STEP_STOP;
}

/* ---- if, set, handoff ----------------------------------------------------------------- */

static bool folded_equal(step_ctx *c, const char *a, const char *b)
{
    pal_slice fa, fb;
    if (pal_text_fold(c->arena, a, strlen(a), &fa) != PAL_OK ||
        pal_text_fold(c->arena, b, strlen(b), &fb) != PAL_OK)
        return false;
    return fa.len == fb.len && memcmp(fa.ptr, fb.ptr, fa.len) == 0;
}

static bool condition_holds(step_ctx *c, const pal_step *step)
{
    const char *v = pal_conversation__slot_at(c->conv, step->u.cond.slot);
    switch (step->u.cond.op) {
    case PAL_COND_EQ:
        return v && step->u.cond.value && folded_equal(c, v, step->u.cond.value);
    case PAL_COND_NE:
        return !(v && step->u.cond.value && folded_equal(c, v, step->u.cond.value));
    case PAL_COND_SET:
        return v != NULL;
    case PAL_COND_UNSET:
        return v == NULL;
    }
    return false;
}

static step_outcome run_if(step_ctx *c, const pal_step *step)
{
    pal_conversation *conv = c->conv;
    bool holds = condition_holds(c, step);
    const pal_step_list *branch = holds ? &step->u.cond.then_steps : &step->u.cond.else_steps;
    if (branch->count == 0 || conv->pos.depth >= PAL_CONV_MAX_DEPTH) {
        if (branch->count > 0)
            pal_log(PAL_LOG_ERR, "engine", "bot %s: line %d nests deeper than %d levels",
                    c->bot->name, step->line, PAL_CONV_MAX_DEPTH);
        advance(conv);
        return STEP_NEXT;
    }
    conv->pos.branch[conv->pos.depth - 1] = holds ? 0 : 1;
    conv->pos.index[conv->pos.depth++] = 0;
    return STEP_NEXT;
}

static step_outcome run_set(step_ctx *c, const pal_step *step)
{
    for (size_t i = 0; i < step->u.set.count; i++)
        pal_conversation__set_slot(c->conv, step->u.set.slots[i], render(c, step->u.set.values[i]));
    advance(c->conv);
    return STEP_NEXT;
}

/* A person takes over now: says `say`, or when it is OWN_TEXTS a short
 * notice unless the turn already said something; ends the flow. */
static void hand_over(step_ctx *c, const char *reason, own_text say)
{
    if (say != OWN_TEXTS)
        say_own(c, say);
    else if (c->turn->n_replies == 0)
        say_own(c, SAY_HANDOFF);
    c->turn->handoff = true;
    c->turn->handoff_reason = pal_arena_strndup(c->arena, reason, strlen(reason));
    c->conv->handed_over = true;
    flow_end(c->conv);
}

/* ---- running a flow ------------------------------------------------------------------- */

static step_outcome run_step(step_ctx *c, const pal_step *step)
{
    switch (step->kind) {
    case PAL_STEP_ASK:
        return run_ask(c, step);
    case PAL_STEP_SAY:
        say_text(c, &step->u.say.text);
        advance(c->conv);
        return STEP_NEXT;
    case PAL_STEP_LOOKUP:
        return run_lookup(c, step);
    case PAL_STEP_CALL:
        return run_call(c, step);
    case PAL_STEP_IF:
        return run_if(c, step);
    case PAL_STEP_SET:
        return run_set(c, step);
    case PAL_STEP_HANDOFF:
        hand_over(c, step->u.handoff.reason ? step->u.handoff.reason : "handoff", OWN_TEXTS);
        return STEP_STOP;
    case PAL_STEP_END:
        break;
    }
    flow_end(c->conv);
    return STEP_STOP;
}

/* Runs steps from the current position until a question or the flow's end.
 * Each iteration moves forward in a finite tree: no loop can run forever. */
static void run(step_ctx *c)
{
    while (c->conv->flow >= 0) {
        const pal_step *step = current_step(c->conv);
        if (!step) {
            flow_end(c->conv);
            return;
        }
        if (run_step(c, step) != STEP_NEXT)
            return;
    }
}

/* Fills the asked slots of flow from the message's entities (any score:
 * "une corona" is one corona when the flow starts). */
static void prefill(step_ctx *c, int flow)
{
    bool *asked = flow_slots(c, flow, false);
    for (size_t i = 0; i < c->n_entities; i++) {
        int slot = slot_of_entity(c->bot, &c->entities[i]);
        if (slot >= 0 && asked[slot] && !pal_conversation__slot_at(c->conv, slot))
            pal_conversation__set_slot(c->conv, slot, c->entities[i].value);
    }
}

static void forget_flow_slots(step_ctx *c, int flow)
{
    bool *written = flow_slots(c, flow, true);
    for (size_t i = 0; i < c->bot->n_slots; i++) {
        if (written[i])
            pal_conversation__set_slot(c->conv, (int)i, NULL);
    }
}

/* True when the message holds a number (not an article-like "une") that no
 * entity took: one out of every range, such as 6 when 1 to 4 are allowed. */
static bool stray_number(step_ctx *c)
{
    pal_number_match *numbers = NULL;
    size_t n = 0;
    if (pal_numbers_extract(c->analysis, c->arena, &numbers, &n) != PAL_OK)
        return false;
    for (size_t i = 0; i < n; i++) {
        if (numbers[i].weak || numbers[i].tok_start >= c->analysis->n_tokens)
            continue;
        size_t at = c->analysis->tokens[numbers[i].tok_start].start;
        bool taken = false;
        for (size_t e = 0; e < c->n_entities && !taken; e++)
            taken = c->entities[e].start <= at && at < c->entities[e].end;
        if (!taken)
            return true;
    }
    return false;
}

static void flow_start(step_ctx *c, int flow)
{
    c->conv->misunderstandings = 0;
    if (!c->bot->flows[flow].only_says) {
        forget_flow_slots(c, flow);
        prefill(c, flow);
        c->retry_first_ask = stray_number(c);
    }
    flow_enter(c->conv, flow);
    run(c);
    c->retry_first_ask = false;
}

/* A digression: flow (only `say` steps) answers, then the question that
 * waited is asked again. */
static void digress(step_ctx *c, int flow)
{
    pal_conversation *conv = c->conv;
    int saved_flow = conv->flow, saved_tries = conv->tries;
    pal_flow_pos saved_pos = conv->pos;
    conv->misunderstandings = 0;
    flow_enter(conv, flow);
    run(c);
    if (conv->handed_over)
        return;
    conv->flow = saved_flow;
    conv->pos = saved_pos;
    conv->tries = saved_tries;
    run(c);
}

/* ---- a message while a question waits ------------------------------------------------- */

/* What a message gave the current flow. */
typedef struct gains {
    bool asked;     /* the slot asked for */
    bool other;     /* another slot of the flow, new or changed */
    bool corrected; /* a value the customer had given changed */
} gains;

/* Fills slots of the current flow from the entities: the asked one (any
 * score), and the others from sure entities only. */
static void fill_from_entities(step_ctx *c, int asked, gains *g)
{
    bool *in_flow = flow_slots(c, c->conv->flow, false);
    for (size_t i = 0; i < c->n_entities; i++) {
        const pal_entity *e = &c->entities[i];
        int slot = slot_of_entity(c->bot, e);
        if (slot < 0 || !in_flow[slot])
            continue;
        const char *old = pal_conversation__slot_at(c->conv, slot);
        if (slot == asked) {
            g->asked = g->asked || pal_conversation__set_slot(c->conv, slot, e->value);
            continue;
        }
        if (e->score < CORRECTION_MIN_SCORE || (old && strcmp(old, e->value) == 0))
            continue;
        if (pal_conversation__set_slot(c->conv, slot, e->value)) {
            g->other = true;
            g->corrected = g->corrected || old != NULL;
        }
    }
}

/* Fills *g from the message. A bare number names a button of a closed
 * question ("1" to "Comment payez-vous ?" is the saved card, not a
 * quantity of 1). For a choice among rows, g->asked means the step is
 * settled (a row chosen, or the data changed and the step must run again). */
static void answer(step_ctx *c, const pal_step *step, gains *g)
{
    if (step->kind == PAL_STEP_LOOKUP) {
        g->asked = lookup_answer(c, step);
        if (!g->asked)
            fill_from_entities(c, -1, g);
        return;
    }
    int asked = step->u.ask.slot;
    size_t n_choices = step->u.ask.n_choices;
    long k = n_choices > 0 ? pal_options_bare_number(c->analysis) : 0;
    if (k >= 1 && (size_t)k <= n_choices) {
        g->asked = pal_conversation__set_slot(c->conv, asked, step->u.ask.choices[k - 1].value);
        return;
    }
    fill_from_entities(c, asked, g);
    if (!g->asked && n_choices > 0) {
        int choice = choice_match(c, step);
        if (choice >= 0)
            g->asked =
                pal_conversation__set_slot(c->conv, asked, step->u.ask.choices[choice].value);
    }
}

static void give_up(step_ctx *c)
{
    if (c->bot->handoff_after > 0) {
        hand_over(c, REASON_GAVE_UP, SAY_GIVE_UP);
        return;
    }
    say_contract(c);
    flow_end(c->conv);
}

/* The hint again; spend: the answer counts as a try. */
static void failed_answer(step_ctx *c, const pal_step *step, bool spend)
{
    int tries = step->kind == PAL_STEP_ASK ? step->u.ask.tries : CHOOSE_TRIES;
    if (spend)
        c->conv->tries++;
    if (spend && c->conv->tries >= (tries > 0 ? tries : 1)) {
        give_up(c);
        return;
    }
    if (step->kind == PAL_STEP_ASK) {
        ask_emit(c, step, true);
        return;
    }
    pal_botdata_rows rows;
    if (lookup_rows(c, step, &rows) == PAL_OK && rows.n_rows > 1 &&
        column_of(&rows, step->u.lookup.choose) >= 0)
        choose_emit(c, step, &rows, column_of(&rows, step->u.lookup.choose), true);
    else
        run(c);
}

static void on_waiting(step_ctx *c)
{
    pal_conversation *conv = c->conv;
    const pal_step *step = current_step(conv);
    if (!step || (step->kind != PAL_STEP_ASK && step->kind != PAL_STEP_LOOKUP)) {
        run(c); /* cannot happen with a checked state; recover by running on */
        return;
    }
    gains g = {false, false, false};
    answer(c, step, &g);
    if (g.asked) {
        conv->misunderstandings = 0;
        run(c);
        return;
    }
    int flow = flow_of_intent(c->bot, c->intent);
    if (flow >= 0 && flow != conv->flow) {
        if (c->bot->flows[flow].only_says)
            digress(c, flow);
        else
            flow_start(c, flow);
        return;
    }
    if (flow >= 0 && flow == conv->flow && !g.other && !stray_number(c)) {
        /* The flow's own intent again ("can I get a beer?" while asked how
         * many): not a wrong answer, so no try is spent; the hint still
         * says what is expected ("oui" to which card). */
        conv->misunderstandings = 0;
        failed_answer(c, step, false);
        return;
    }
    if (g.other) {
        /* Progress, if not the answer asked for: the question again, as
         * asked the first time, and no try spent. */
        conv->misunderstandings = 0;
        if (g.corrected)
            say_own(c, SAY_CORRECTED);
        run(c);
        return;
    }
    failed_answer(c, step, true);
}

/* ---- a message while no question waits ------------------------------------------------ */

/* The flow the message's entities fit best (most of its asked slots), for a
 * message the classifier did not understand ("75011", "2 corona"); -1 if
 * none. */
static int flow_of_entities(step_ctx *c)
{
    int best = -1;
    size_t best_hits = 0;
    if (c->n_entities == 0)
        return -1;
    for (size_t f = 0; f < c->bot->n_flows; f++) {
        if (c->bot->flows[f].only_says)
            continue;
        bool *asked = flow_slots(c, (int)f, false);
        size_t hits = 0;
        for (size_t i = 0; i < c->n_entities; i++) {
            int slot = slot_of_entity(c->bot, &c->entities[i]);
            hits += slot >= 0 && asked[slot] && c->entities[i].score >= ENTITY_START_MIN_SCORE;
        }
        if (hits > best_hits) {
            best = (int)f;
            best_hits = hits;
        }
    }
    return best;
}

static void on_idle(step_ctx *c)
{
    int flow = flow_of_intent(c->bot, c->intent);
    if (flow < 0 && c->intent == PAL_NLU_NONE)
        flow = flow_of_entities(c);
    if (flow >= 0) {
        flow_start(c, flow);
        return;
    }
    pal_conversation *conv = c->conv;
    if (conv->misunderstandings < PAL_CONV_COUNTER_MAX)
        conv->misunderstandings++;
    if (c->bot->handoff_after > 0 && conv->misunderstandings >= c->bot->handoff_after) {
        hand_over(c, REASON_NOT_UNDERSTOOD, SAY_NOT_UNDERSTOOD);
        return;
    }
    say_contract(c);
}

/* ---- built-in intents ----------------------------------------------------------------- */

static int builtin_of(const pal_bot *bot, int intent)
{
    for (int b = 0; intent >= 0 && b < PAL_BUILTIN_INTENTS; b++) {
        if (bot->builtin[b] == intent)
            return b;
    }
    return -1;
}

/* "non, 3" may sound like a cancel to the classifier; while a question
 * waits, a message that gives a value of the flow is an answer. */
static bool gives_flow_value(step_ctx *c)
{
    if (c->conv->flow < 0)
        return false;
    bool *asked = flow_slots(c, c->conv->flow, false);
    for (size_t i = 0; i < c->n_entities; i++) {
        int slot = slot_of_entity(c->bot, &c->entities[i]);
        if (slot >= 0 && asked[slot] && c->entities[i].score >= CORRECTION_MIN_SCORE)
            return true;
    }
    return false;
}

/* A message that could answer the question waiting (an entity of the asked
 * slot at any score, a button number, words of one of its choices) is
 * taken as the answer, even if the classifier hears a built-in in it: "la
 * carte" to "Comment payez-vous ?" is not a cancel. An ambiguous answer is
 * then asked again, never a cancel. */
static bool answers_waiting_ask(step_ctx *c)
{
    if (c->conv->flow < 0)
        return false;
    const pal_step *step = current_step(c->conv);
    if (!step || step->kind != PAL_STEP_ASK)
        return false;
    for (size_t i = 0; i < c->n_entities; i++) {
        if (slot_of_entity(c->bot, &c->entities[i]) == step->u.ask.slot &&
            c->entities[i].score > WEAK_ENTITY_SCORE)
            return true;
    }
    size_t n = step->u.ask.n_choices;
    long k = n > 0 ? pal_options_bare_number(c->analysis) : 0;
    if (k >= 1 && (size_t)k <= n)
        return true;
    for (size_t i = 0; i < n; i++) {
        if (choice_plausible(c, &step->u.ask.choices[i]))
            return true;
    }
    return false;
}

static void on_builtin(step_ctx *c, int builtin)
{
    pal_conversation *conv = c->conv;
    conv->misunderstandings = 0;
    switch ((pal_builtin_intent)builtin) {
    case PAL_INTENT_HELP:
        say_contract(c);
        run(c); /* the question that waited, again */
        return;
    case PAL_INTENT_HUMAN:
        hand_over(c, REASON_ASKED, SAY_HANDOFF);
        return;
    case PAL_INTENT_CANCEL:
        say_own(c, conv->flow >= 0 ? SAY_CANCELLED : SAY_NOTHING_TO_CANCEL);
        if (conv->flow >= 0)
            forget_flow_slots(c, conv->flow);
        flow_end(conv);
        return;
    case PAL_INTENT_RESTART:
        pal_conversation__forget(conv);
        say_own(c, SAY_RESTART);
        say_contract(c);
        return;
    case PAL_BUILTIN_INTENTS:
        break;
    }
}

static void dispatch(step_ctx *c)
{
    int builtin = builtin_of(c->bot, c->intent);
    if (builtin == PAL_INTENT_CANCEL || builtin == PAL_INTENT_RESTART) {
        if (gives_flow_value(c))
            builtin = -1;
    }
    if (builtin >= 0 && answers_waiting_ask(c))
        builtin = -1;
    if (builtin >= 0)
        on_builtin(c, builtin);
    else if (c->conv->flow >= 0)
        on_waiting(c);
    else
        on_idle(c);
}

/* ---- understanding -------------------------------------------------------------------- */

static bool pattern_at(pal_slice text, size_t i, size_t n)
{
    /* Starts after a space (the folded text has no other separator); ends
     * before anything but a letter: "#monresultat75011" holds the pattern. */
    bool starts = i == 0 || text.ptr[i - 1] == ' ';
    char next = i + n < text.len ? text.ptr[i + n] : ' ';
    bool ends = !((next >= 'a' && next <= 'z') || (unsigned char)next >= 0x80);
    return starts && ends;
}

/* The intent of the first bot pattern found in the folded text, or -1. */
static int pattern_intent(const pal_bot *bot, pal_slice fold)
{
    for (size_t p = 0; p < bot->n_patterns; p++) {
        const char *needle = bot->patterns[p].folded;
        size_t n = strlen(needle);
        if (n == 0)
            continue;
        for (const char *hit = memmem(fold.ptr, fold.len, needle, n); hit;
             hit = memmem(hit + 1, fold.len - (size_t)(hit + 1 - fold.ptr), needle, n)) {
            if (pattern_at(fold, (size_t)(hit - fold.ptr), n))
                return bot->patterns[p].intent;
        }
    }
    return -1;
}

static void switch_language(const pal_bot *bot, pal_conversation *conv, const pal_analysis *a)
{
    float needed = conv->turn <= 1 ? LANG_SWITCH_FIRST : LANG_SWITCH;
    if (a->lang == PAL_LANG_UNKNOWN || a->lang == conv->lang || a->lang_confidence < needed)
        return;
    for (size_t i = 0; i < bot->n_langs; i++) {
        if (bot->langs[i] == a->lang)
            conv->lang = a->lang;
    }
}

static pal_err understand(step_ctx *c, pal_analyzer *analyzer, const char *text, size_t len,
                          pal_analysis *a, pal_entity **entities)
{
    pal_nlu_result r;
    pal_err err = pal_analyze(analyzer, text, len, PAL_LANG_UNKNOWN, a);
    if (err)
        return err;
    err = pal_nlu_classify(c->bot->model, analyzer, a, c->bot->threshold, &r);
    if (err)
        return err;
    c->intent = r.intent;
    c->turn->confidence = r.confidence;
    int pattern = pattern_intent(c->bot, a->fold);
    if (pattern >= 0) {
        c->intent = pattern;
        c->turn->confidence = 1.0f;
    } else if (builtin_of(c->bot, c->intent) >= 0) {
        float needed = builtin_of(c->bot, c->intent) == PAL_INTENT_HELP ? HELP_MIN_CONFIDENCE
                                                                        : BUILTIN_MIN_CONFIDENCE;
        if (r.confidence < needed)
            c->intent = PAL_NLU_NONE;
    }
    return pal_entity_set_extract(c->bot->entities, a, c->arena, entities, &c->n_entities);
}

static void describe(step_ctx *c)
{
    pal_turn *t = c->turn;
    const pal_conversation *conv = c->conv;
    t->lang = conv->lang;
    t->intent = c->intent >= 0 ? pal_nlu_intent_name(c->bot->model, (size_t)c->intent) : NULL;
    t->entities = pal_arena_alloc(c->arena, (c->n_entities + 1) * sizeof(*t->entities));
    t->n_entities = c->n_entities;
    for (size_t i = 0; i < c->n_entities; i++)
        t->entities[i] = (pal_entity_value){c->entities[i].entity, c->entities[i].value};
}

static void describe_position(step_ctx *c)
{
    pal_conversation *conv = c->conv;
    c->turn->lang = conv->lang;
    if (conv->flow < 0)
        return;
    c->turn->flow = c->bot->flows[conv->flow].name;
    const pal_step *step = pal_conversation__step_at(c->bot, conv->flow, &conv->pos);
    c->turn->step_line = step ? step->line : 0;
}

pal_err pal_engine_step(const pal_bot *bot, pal_analyzer *analyzer, pal_conversation *conversation,
                        const char *text, size_t len, const pal_engine_actions *actions,
                        pal_arena *arena, pal_turn *turn)
{
    pal_analysis analysis;
    pal_entity *entities = NULL;
    step_ctx c = {.bot = bot,
                  .conv = conversation,
                  .actions = actions,
                  .arena = arena,
                  .turn = turn,
                  .analysis = &analysis,
                  .intent = PAL_NLU_NONE};
    memset(turn, 0, sizeof(*turn));
    turn->lang = conversation->lang;
    if (conversation->bot != bot)
        return PAL_ERR_INVALID;
    pal_err err = understand(&c, analyzer, text, len, &analysis, &entities);
    if (err)
        return err;
    c.entities = entities;
    if (conversation->turn < UINT32_MAX)
        conversation->turn++;
    switch_language(bot, conversation, &analysis);
    describe(&c);
    if (!conversation->handed_over)
        dispatch(&c);
    describe_position(&c);
    return PAL_OK;
}

pal_err pal_engine_lookup_direct(void *ctx, pal_botdata_query *query, const char *const *names,
                                 const char *const *values, size_t n_params, size_t max_rows,
                                 pal_arena *arena, pal_botdata_rows *out)
{
    (void)ctx;
    return pal_botdata_run(query, names, values, n_params, max_rows, arena, out);
}
