/*
 * conversation.c — a conversation's state: values, results, position, JSON
 * (see conversation.h and engine.h).
 *
 * The JSON form is one object, every key always written:
 *   {"v":1,"bot":"stade","lang":"fr","turn":3,"slots":{"quantity":"2"},
 *    "flow":"order","at":[3,"then",0],"tries":0,"misunderstandings":0,
 *    "results":{"order.id":"4521"},"handed_over":false}
 * "at" is the position: step indexes, with "then"/"else" between two levels
 * saying which list of the `if` the next index is in. Reading is strict:
 * unknown keys, wrong types, names the bot does not have, a position that
 * is not a question of the flow, values over the caps — all refused with
 * PAL_ERR_PARSE, so that a stored state can never put the engine in a
 * state it could not have reached itself.
 */
#include "dialog/conversation.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "base/jsonw.h"
#include "base/mem.h"
#include "dialog/engine.h"

enum { STATE_VERSION = 1 };

/* ---- values --------------------------------------------------------------------------- */

static void value_set(pal_value *v, const char *text, size_t len)
{
    if (len + 1 > v->cap) {
        free(v->text);
        v->text = pal_xmalloc(len + 1);
        v->cap = len + 1;
    }
    memcpy(v->text, text, len);
    v->text[len] = '\0';
    v->set = true;
}

pal_conversation *pal_conversation_new(const pal_bot *bot)
{
    pal_conversation *c = pal_xcalloc(1, sizeof(*c));
    c->bot = bot;
    c->lang = bot->n_langs > 0 ? bot->langs[0] : PAL_LANG_FR;
    c->slots = pal_xcalloc(bot->n_slots, sizeof(*c->slots));
    c->flow = -1;
    return c;
}

void pal_conversation_free(pal_conversation *conversation)
{
    if (!conversation)
        return;
    for (size_t i = 0; i < conversation->bot->n_slots; i++)
        free(conversation->slots[i].text);
    for (size_t i = 0; i < conversation->n_results; i++) {
        free(conversation->results[i].key);
        free(conversation->results[i].value.text);
    }
    free(conversation->slots);
    free(conversation->results);
    free(conversation);
}

const char *pal_conversation__slot_at(const pal_conversation *conversation, int slot)
{
    const pal_value *v = &conversation->slots[slot];
    return v->set ? v->text : NULL;
}

bool pal_conversation__set_slot(pal_conversation *conversation, int slot, const char *value)
{
    pal_value *v = &conversation->slots[slot];
    size_t len = value ? strlen(value) : 0;
    if (len > PAL_CONV_VALUE_MAX)
        return false;
    if (len == 0) {
        v->set = false;
        return true;
    }
    value_set(v, value, len);
    return true;
}

const char *pal_conversation_slot(const pal_conversation *conversation, const char *name)
{
    const pal_bot *bot = conversation->bot;
    for (size_t i = 0; i < bot->n_slots; i++) {
        if (strcmp(bot->slots[i].name, name) == 0)
            return pal_conversation__slot_at(conversation, (int)i);
    }
    return NULL;
}

pal_lang pal_conversation_lang(const pal_conversation *conversation)
{
    return conversation->lang;
}

bool pal_conversation_handed_over(const pal_conversation *conversation)
{
    return conversation->handed_over;
}

pal_err pal_conversation_set_lang(pal_conversation *conversation, pal_lang lang)
{
    for (size_t i = 0; i < conversation->bot->n_langs; i++) {
        if (conversation->bot->langs[i] == lang) {
            conversation->lang = lang;
            return PAL_OK;
        }
    }
    return PAL_ERR_INVALID;
}

/* ---- results -------------------------------------------------------------------------- */

static pal_result *result_find(const pal_conversation *c, pal_slice key)
{
    for (size_t i = 0; i < c->n_results; i++) {
        if (pal_slice_eq(key, c->results[i].key))
            return &c->results[i];
    }
    return NULL;
}

const char *pal_conversation__result(const pal_conversation *conversation, pal_slice key)
{
    const pal_result *r = result_find(conversation, key);
    return r && r->value.set ? r->value.text : NULL;
}

/* An entry for key: the existing one, a new one, or a cleared one recycled
 * when the map is full; NULL when every entry holds a value. */
static pal_result *result_slot(pal_conversation *c, pal_slice key)
{
    pal_result *r = result_find(c, key);
    if (r)
        return r;
    if (c->n_results < PAL_CONV_MAX_RESULTS) {
        pal_xreserve((void **)&c->results, &c->cap_results, c->n_results + 1, sizeof(*r));
        r = &c->results[c->n_results++];
        memset(r, 0, sizeof(*r));
    } else {
        for (size_t i = 0; i < c->n_results && !r; i++) {
            if (!c->results[i].value.set)
                r = &c->results[i];
        }
        if (!r)
            return NULL;
        free(r->key);
    }
    r->key = pal_xstrndup(key.ptr, key.len);
    return r;
}

bool pal_conversation__set_result(pal_conversation *conversation, const char *name,
                                  const char *field, const char *value)
{
    char key[PAL_CONV_KEY_MAX + 1];
    size_t name_len = strlen(name), field_len = strlen(field), value_len = strlen(value);
    if (name_len + 1 + field_len > PAL_CONV_KEY_MAX || value_len > PAL_CONV_VALUE_MAX)
        return false;
    memcpy(key, name, name_len);
    key[name_len] = '.';
    memcpy(key + name_len + 1, field, field_len);
    pal_result *r = result_slot(conversation, (pal_slice){key, name_len + 1 + field_len});
    if (!r)
        return false;
    value_set(&r->value, value, value_len);
    return true;
}

void pal_conversation__clear_results(pal_conversation *conversation, const char *name)
{
    size_t n = strlen(name);
    for (size_t i = 0; i < conversation->n_results; i++) {
        const char *key = conversation->results[i].key;
        if (strncmp(key, name, n) == 0 && key[n] == '.')
            conversation->results[i].value.set = false;
    }
}

void pal_conversation__forget(pal_conversation *conversation)
{
    for (size_t i = 0; i < conversation->bot->n_slots; i++)
        conversation->slots[i].set = false;
    for (size_t i = 0; i < conversation->n_results; i++)
        conversation->results[i].value.set = false;
    conversation->flow = -1;
    conversation->pos.depth = 0;
    conversation->tries = 0;
}

/* ---- position ------------------------------------------------------------------------- */

bool pal_conversation__list_at(const pal_bot *bot, int flow, const pal_flow_pos *pos, size_t level,
                               pal_step_list *out)
{
    if (flow < 0 || (size_t)flow >= bot->n_flows || level >= pos->depth)
        return false;
    pal_step_list list = bot->flows[flow].steps;
    for (size_t k = 0; k < level; k++) {
        int i = pos->index[k];
        if (i < 0 || (size_t)i >= list.count || list.steps[i].kind != PAL_STEP_IF)
            return false;
        const pal_step *cond = &list.steps[i];
        list = pos->branch[k] ? cond->u.cond.else_steps : cond->u.cond.then_steps;
    }
    *out = list;
    return true;
}

const pal_step *pal_conversation__step_at(const pal_bot *bot, int flow, const pal_flow_pos *pos)
{
    pal_step_list list;
    if (pos->depth == 0 || !pal_conversation__list_at(bot, flow, pos, pos->depth - 1, &list))
        return NULL;
    int i = pos->index[pos->depth - 1];
    if (i < 0 || (size_t)i >= list.count)
        return NULL;
    const pal_step *steps = list.steps; /* the bot's array, not the local list */
    return steps + i;
}

/* ---- JSON out ------------------------------------------------------------------------- */

/* The state is written as text, not as a jansson tree then dumped: it is stored at every
 * turn, and the tree cost an allocation per value and a sort per object (~19% of an engine
 * worker's time under load). The text is what json_dumps(JSON_COMPACT | JSON_SORT_KEYS)
 * gave: keys in strcmp order at every level. */

static void position_text(pal_jsonw *w, const pal_flow_pos *pos)
{
    pal_jsonw_raw(w, "[", 1);
    for (size_t k = 0; k < pos->depth; k++) {
        if (k > 0)
            pal_jsonw_lit(w, pos->branch[k - 1] ? "\"else\"," : "\"then\",");
        pal_jsonw_int(w, pos->index[k]);
        if (k + 1 < pos->depth)
            pal_jsonw_raw(w, ",", 1);
    }
    pal_jsonw_raw(w, "]", 1);
}

/* An object of the n (key, value) pairs whose value is set, keys sorted. */
typedef struct text_pair {
    const char *key, *value;
} text_pair;

static int cmp_pair(const void *a, const void *b)
{
    return strcmp(((const text_pair *)a)->key, ((const text_pair *)b)->key);
}

static void pairs_text(pal_jsonw *w, text_pair *pairs, size_t n)
{
    if (n > 1)
        qsort(pairs, n, sizeof(*pairs), cmp_pair);
    pal_jsonw_raw(w, "{", 1);
    for (size_t i = 0; i < n; i++) {
        if (i > 0)
            pal_jsonw_raw(w, ",", 1);
        pal_jsonw_string(w, pairs[i].key);
        pal_jsonw_raw(w, ":", 1);
        pal_jsonw_string(w, pairs[i].value);
    }
    pal_jsonw_raw(w, "}", 1);
}

static void slots_text(pal_jsonw *w, const pal_conversation *c)
{
    text_pair *pairs = pal_xcalloc(c->bot->n_slots + 1, sizeof(*pairs));
    size_t n = 0;
    for (size_t i = 0; i < c->bot->n_slots; i++)
        if (c->slots[i].set)
            pairs[n++] = (text_pair){c->bot->slots[i].name, c->slots[i].text};
    pairs_text(w, pairs, n);
    free(pairs);
}

static void results_text(pal_jsonw *w, const pal_conversation *c)
{
    text_pair *pairs = pal_xcalloc(c->n_results + 1, sizeof(*pairs));
    size_t n = 0;
    for (size_t i = 0; i < c->n_results; i++)
        if (c->results[i].value.set)
            pairs[n++] = (text_pair){c->results[i].key, c->results[i].value.text};
    pairs_text(w, pairs, n);
    free(pairs);
}

char *pal_conversation_to_json(const pal_conversation *conversation)
{
    const pal_conversation *c = conversation;
    pal_jsonw w = {0};
    pal_jsonw_lit(&w, "{\"at\":");
    position_text(&w, &c->pos);
    pal_jsonw_lit(&w, ",\"bot\":");
    pal_jsonw_string(&w, c->bot->name);
    pal_jsonw_lit(&w, ",\"flow\":");
    if (c->flow >= 0)
        pal_jsonw_string(&w, c->bot->flows[c->flow].name);
    else
        pal_jsonw_lit(&w, "null");
    pal_jsonw_lit(&w, c->handed_over ? ",\"handed_over\":true" : ",\"handed_over\":false");
    pal_jsonw_lit(&w, ",\"lang\":");
    pal_jsonw_string(&w, pal_lang_code(c->lang));
    pal_jsonw_lit(&w, ",\"misunderstandings\":");
    pal_jsonw_int(&w, c->misunderstandings);
    pal_jsonw_lit(&w, ",\"results\":");
    results_text(&w, c);
    pal_jsonw_lit(&w, ",\"slots\":");
    slots_text(&w, c);
    pal_jsonw_lit(&w, ",\"tries\":");
    pal_jsonw_int(&w, c->tries);
    pal_jsonw_lit(&w, ",\"turn\":");
    pal_jsonw_int(&w, c->turn);
    pal_jsonw_lit(&w, ",\"v\":");
    pal_jsonw_int(&w, STATE_VERSION);
    pal_jsonw_raw(&w, "}", 1);
    return pal_jsonw_take(&w);
}

/* ---- JSON in -------------------------------------------------------------------------- */

static const char *const state_keys[] = {
    "v",       "bot",         "lang", "turn", "slots", "flow", "at", "tries", "misunderstandings",
    "results", "handed_over",
};

static bool known_keys_only(json_t *o)
{
    const char *key;
    json_t *value;
    json_object_foreach(o, key, value)
    {
        bool known = false;
        for (size_t i = 0; i < sizeof(state_keys) / sizeof(state_keys[0]) && !known; i++)
            known = strcmp(key, state_keys[i]) == 0;
        if (!known)
            return false;
    }
    return json_object_size(o) == sizeof(state_keys) / sizeof(state_keys[0]);
}

static bool counter_of(json_t *o, const char *key, json_int_t max, json_int_t *out)
{
    json_t *v = json_object_get(o, key);
    if (!json_is_integer(v) || json_integer_value(v) < 0 || json_integer_value(v) > max)
        return false;
    *out = json_integer_value(v);
    return true;
}

static int slot_index(const pal_bot *bot, const char *name)
{
    for (size_t i = 0; i < bot->n_slots; i++) {
        if (strcmp(bot->slots[i].name, name) == 0)
            return (int)i;
    }
    return -1;
}

static bool slots_from_json(pal_conversation *c, json_t *slots)
{
    const char *name;
    json_t *value;
    if (!json_is_object(slots))
        return false;
    json_object_foreach(slots, name, value)
    {
        int slot = slot_index(c->bot, name);
        if (slot < 0 || !json_is_string(value) || json_string_length(value) == 0 ||
            strlen(json_string_value(value)) != json_string_length(value))
            return false;
        if (!pal_conversation__set_slot(c, slot, json_string_value(value)))
            return false;
    }
    return true;
}

static bool results_from_json(pal_conversation *c, json_t *results)
{
    const char *key;
    json_t *value;
    if (!json_is_object(results))
        return false;
    json_object_foreach(results, key, value)
    {
        const char *dot = strchr(key, '.');
        if (!dot || dot == key || dot[1] == '\0' || !json_is_string(value) ||
            (size_t)(dot - key) > PAL_CONV_KEY_MAX ||
            strlen(json_string_value(value)) != json_string_length(value))
            return false;
        char name[PAL_CONV_KEY_MAX + 1];
        memcpy(name, key, (size_t)(dot - key));
        name[dot - key] = '\0';
        if (!pal_conversation__set_result(c, name, dot + 1, json_string_value(value)))
            return false;
    }
    return true;
}

static int flow_index(const pal_bot *bot, const char *name)
{
    for (size_t i = 0; i < bot->n_flows; i++) {
        if (strcmp(bot->flows[i].name, name) == 0)
            return (int)i;
    }
    return -1;
}

static bool position_from_json(json_t *at, pal_flow_pos *pos)
{
    size_t n = json_array_size(at);
    if (!json_is_array(at) || n % 2 == 0 || n > 2 * PAL_CONV_MAX_DEPTH - 1)
        return false;
    pos->depth = (n + 1) / 2;
    for (size_t k = 0; k < pos->depth; k++) {
        json_t *index = json_array_get(at, 2 * k);
        if (!json_is_integer(index) || json_integer_value(index) < 0 ||
            json_integer_value(index) > 100000)
            return false;
        pos->index[k] = (int)json_integer_value(index);
        if (k + 1 < pos->depth) {
            const char *branch = json_string_value(json_array_get(at, 2 * k + 1));
            if (!branch || (strcmp(branch, "then") != 0 && strcmp(branch, "else") != 0))
                return false;
            pos->branch[k] = branch[0] == 'e';
        }
    }
    return true;
}

/* The flow and position: none at all, or a question the bot can wait on. */
static bool flow_from_json(pal_conversation *c, json_t *flow, json_t *at)
{
    if (json_is_null(flow))
        return json_is_array(at) && json_array_size(at) == 0;
    if (!json_is_string(flow))
        return false;
    c->flow = flow_index(c->bot, json_string_value(flow));
    if (c->flow < 0 || !position_from_json(at, &c->pos) || c->pos.depth == 0)
        return false;
    const pal_step *step = pal_conversation__step_at(c->bot, c->flow, &c->pos);
    if (!step)
        return false;
    if (step->kind == PAL_STEP_ASK)
        return pal_conversation__slot_at(c, step->u.ask.slot) == NULL;
    return step->kind == PAL_STEP_LOOKUP && step->u.lookup.choose != NULL;
}

static bool scalars_from_json(pal_conversation *c, json_t *o)
{
    json_int_t version, turn, tries, misunderstandings;
    const char *bot = json_string_value(json_object_get(o, "bot"));
    const char *lang = json_string_value(json_object_get(o, "lang"));
    json_t *handed_over = json_object_get(o, "handed_over");
    if (!counter_of(o, "v", STATE_VERSION, &version) || version != STATE_VERSION ||
        !counter_of(o, "turn", UINT32_MAX, &turn) ||
        !counter_of(o, "tries", PAL_CONV_COUNTER_MAX, &tries) ||
        !counter_of(o, "misunderstandings", PAL_CONV_COUNTER_MAX, &misunderstandings) || !bot ||
        strcmp(bot, c->bot->name) != 0 || !lang || !json_is_boolean(handed_over))
        return false;
    if (!pal_lang_parse(lang, &c->lang))
        return false;
    bool spoken = false;
    for (size_t i = 0; i < c->bot->n_langs; i++)
        spoken = spoken || c->bot->langs[i] == c->lang;
    c->turn = (uint32_t)turn;
    c->tries = (int)tries;
    c->misunderstandings = (int)misunderstandings;
    c->handed_over = json_is_true(handed_over);
    return spoken;
}

pal_err pal_conversation_from_json(const pal_bot *bot, const char *json, size_t len,
                                   pal_conversation **out)
{
    pal_err err = PAL_ERR_PARSE;
    pal_conversation *c = NULL;
    json_error_t error;
    json_t *o = json_loadb(json, len, JSON_REJECT_DUPLICATES, &error);
    *out = NULL;
    if (!json_is_object(o) || !known_keys_only(o))
        goto out;
    c = pal_conversation_new(bot);
    if (!scalars_from_json(c, o) || !slots_from_json(c, json_object_get(o, "slots")) ||
        !results_from_json(c, json_object_get(o, "results")) ||
        !flow_from_json(c, json_object_get(o, "flow"), json_object_get(o, "at")))
        goto out;
    *out = c;
    c = NULL;
    err = PAL_OK;
out:
    pal_conversation_free(c);
    json_decref(o);
    return err;
}
