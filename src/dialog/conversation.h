/*
 * conversation.h — the state of one conversation, as the engine sees it.
 *
 * Internal to src/dialog: engine.h gives everyone else an opaque
 * pal_conversation; engine.c and conversation.c share its layout here.
 *
 * What a conversation remembers between two messages:
 *   - the language it is held in;
 *   - the value of each of the bot's slots (validated values only);
 *   - the flow in progress and where in it the bot waits: a path of step
 *     indexes through nested if/then/else lists, always pointing at an `ask`
 *     or at a `lookup` that asked the customer to choose;
 *   - tries on that question, misunderstandings in a row;
 *   - look-up rows and service answers as a flat map "name.field" -> value;
 *   - whether a person took over, and a turn counter.
 * A flow in progress always waits on a question: steps run until one asks
 * something or the flow ends, so "in a flow" and "waiting" are the same.
 *
 * Strings are owned by the conversation (malloc). A value's buffer is kept
 * when the value is cleared or replaced by one that fits, so a steady
 * conversation stops allocating. Sizes are capped (PAL_CONV_*): state that
 * comes from outside (customers, services, stored JSON) cannot grow without
 * end.
 */
#ifndef PAL_DIALOG_CONVERSATION_H
#define PAL_DIALOG_CONVERSATION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/slice.h"
#include "dialog/bot_model.h"
#include "dialog/engine.h"

enum {
    PAL_CONV_MAX_DEPTH = PAL_BOT_MAX_STEP_DEPTH, /* step lists nested in ifs */
    PAL_CONV_MAX_RESULTS = 128,                  /* stored "name.field" values */
    PAL_CONV_VALUE_MAX = 2048,                   /* bytes of one slot or result value */
    PAL_CONV_KEY_MAX = 128,                      /* bytes of one result key */
    PAL_CONV_COUNTER_MAX = 1000000,
};

/* A string the conversation owns, with its buffer kept for reuse. */
typedef struct pal_value {
    char *text; /* NUL-terminated when set; the buffer may outlive the value */
    size_t cap; /* bytes the buffer holds, terminator included */
    bool set;
} pal_value;

typedef struct pal_result {
    char *key; /* "name.field", owned */
    pal_value value;
} pal_result;

/* Where the bot is in a flow: index[0] in the flow's steps; for each level
 * k + 1 < depth, the step at index[k] is an `if` and branch[k] says which of
 * its lists (0: then, 1: else) index[k + 1] is in. */
typedef struct pal_flow_pos {
    size_t depth; /* 0: nowhere */
    int index[PAL_CONV_MAX_DEPTH];
    unsigned char branch[PAL_CONV_MAX_DEPTH];
} pal_flow_pos;

struct pal_conversation {
    const pal_bot *bot; /* borrowed */
    pal_lang lang;
    pal_value *slots; /* bot->n_slots */
    int flow;         /* index into bot->flows, -1 when none */
    pal_flow_pos pos;
    int tries;             /* failed answers to the current question */
    int misunderstandings; /* messages not understood in a row */
    pal_result *results;
    size_t n_results, cap_results;
    bool handed_over;
    uint32_t turn; /* messages processed */
};

/* The slot's value or NULL (owned by the conversation). */
const char *pal_conversation__slot_at(const pal_conversation *conversation, int slot);
/* Sets slot to a copy of value (NULL or "" unsets it). False, and nothing
 * changes, when value is longer than PAL_CONV_VALUE_MAX. */
bool pal_conversation__set_slot(pal_conversation *conversation, int slot, const char *value);

/* The stored value of "name.field" or NULL (owned by the conversation). */
const char *pal_conversation__result(const pal_conversation *conversation, pal_slice key);
/* Stores name.field = value (copied). False when the key or value is too
 * long or PAL_CONV_MAX_RESULTS are held. */
bool pal_conversation__set_result(pal_conversation *conversation, const char *name,
                                  const char *field, const char *value);
/* Forgets every "name.*" value. */
void pal_conversation__clear_results(pal_conversation *conversation, const char *name);
/* Forgets every slot and result, and the flow in progress. */
void pal_conversation__forget(pal_conversation *conversation);

/* The list of steps that holds level `level` (< pos->depth) of pos in flow;
 * false when pos does not describe a path of that flow. */
bool pal_conversation__list_at(const pal_bot *bot, int flow, const pal_flow_pos *pos, size_t level,
                               pal_step_list *out);
/* The step pos points at, or NULL when it points past its list's end (or is
 * not a path of the flow). */
const pal_step *pal_conversation__step_at(const pal_bot *bot, int flow, const pal_flow_pos *pos);

#endif
