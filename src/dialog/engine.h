/*
 * engine.h — the dialogue engine: one customer message, one step.
 *
 * pal_engine_step(bot, conversation, message) understands the message
 * (language, intent, entities), moves the conversation through the bot's
 * flows, and returns the replies to send, whether a person must take over,
 * and what it understood (for --debug and the inbox). It does no I/O of
 * its own: look-ups on the bot's data and calls to the brand's services go
 * through the actions the host provides, so the engine can be tested and
 * benchmarked alone, and the server can run it anywhere.
 *
 * A pal_conversation is the state of one conversation: a small value that
 * pal_conversation_to_json() / _from_json() turn into text for storage.
 * pal_engine_step() updates it in place; a host that needs the previous
 * state keeps its JSON. Threads: a bot is shared; a conversation, an
 * analyzer and a turn belong to one thread at a time.
 */
#ifndef PAL_DIALOG_ENGINE_H
#define PAL_DIALOG_ENGINE_H

#include <stdbool.h>
#include <stddef.h>

#include "base/err.h"
#include "base/mem.h"
#include "dialog/bot.h"
#include "dialog/botdata.h"
#include "text/analyze.h"

typedef struct pal_conversation pal_conversation; /* opaque */

/* A new conversation with bot (borrowed: it must outlive the conversation),
 * in the bot's default language. Free with pal_conversation_free(). */
pal_conversation *pal_conversation_new(const pal_bot *bot);
/* NULL is a no-op. */
void pal_conversation_free(pal_conversation *conversation);

/* The state as one JSON object (caller frees with free()). */
char *pal_conversation_to_json(const pal_conversation *conversation);
/* Restores a state saved by _to_json for the same bot. PAL_ERR_PARSE when
 * json is not such a state (or names slots/flows the bot no longer has: a
 * bot changed under a conversation restarts it cleanly instead). */
pal_err pal_conversation_from_json(const pal_bot *bot, const char *json, size_t len,
                                   pal_conversation **out);

/* The value of slot `name`, or NULL when unfilled; owned by the conversation. */
const char *pal_conversation_slot(const pal_conversation *conversation, const char *name);
/* The language the conversation is held in. */
pal_lang pal_conversation_lang(const pal_conversation *conversation);
/* True once a person has taken over (the bot then stays silent). */
bool pal_conversation_handed_over(const pal_conversation *conversation);
/* Sets the language the conversation is held in, e.g. the one a channel or
 * `palabre chat --lang` knows the customer speaks. PAL_ERR_INVALID (and no
 * change) when lang is not one of the bot's languages. A message clearly in
 * another language of the bot still switches it, as always. */
pal_err pal_conversation_set_lang(pal_conversation *conversation, pal_lang lang);

/* What the host does for the engine. Either function may be NULL: the step
 * then behaves as if the look-up or the call failed. */
typedef struct pal_engine_actions {
    void *ctx;
    /* Runs a bot look-up (pal_botdata_run semantics); results in arena. */
    pal_err (*lookup)(void *ctx, pal_botdata_query *query, const char *const *names,
                      const char *const *values, size_t n_params, size_t max_rows, pal_arena *arena,
                      pal_botdata_rows *out);
    /* POSTs body (a JSON object, text) to url and waits at most timeout_ms;
     * on PAL_OK *response is the answer's body (JSON text), caller frees
     * with free(). */
    pal_err (*call)(void *ctx, const char *url, long timeout_ms, const char *body, char **response);
} pal_engine_actions;

/* Look-ups straight on the bot's in-memory data, for hosts with one thread
 * per bot copy (chat, test, benchmarks). ctx is unused. */
pal_err pal_engine_lookup_direct(void *ctx, pal_botdata_query *query, const char *const *names,
                                 const char *const *values, size_t n_params, size_t max_rows,
                                 pal_arena *arena, pal_botdata_rows *out);

typedef struct pal_reply {
    const char *text;           /* never holds the customer's free text */
    const char *const *buttons; /* quick replies */
    size_t n_buttons;
} pal_reply;

typedef struct pal_entity_value {
    const char *name;
    const char *value;
} pal_entity_value;

typedef struct pal_turn {
    pal_reply *replies;
    size_t n_replies;
    bool handoff; /* a person must take over now */
    const char *handoff_reason;
    /* What the engine understood, for --debug, logs and the inbox. */
    pal_lang lang;
    const char *intent; /* NULL when not understood */
    float confidence;
    pal_entity_value *entities;
    size_t n_entities;
    const char *flow; /* the flow the conversation is in after the step, or NULL */
    int step_line;    /* bot.yaml line of the step it waits on, 0 when none */
} pal_turn;

/* Processes one customer message text[0..len). Everything in *turn is
 * allocated in arena (reset it between turns). Errors: PAL_ERR_UTF8 /
 * PAL_ERR_LIMIT for a message the text layer refuses (the conversation is
 * unchanged). A failing action is not an error: the bot says so. */
pal_err pal_engine_step(const pal_bot *bot, pal_analyzer *analyzer, pal_conversation *conversation,
                        const char *text, size_t len, const pal_engine_actions *actions,
                        pal_arena *arena, pal_turn *turn);

#endif
