/*
 * bot_model.h — the loaded bot, as the dialogue engine reads it.
 *
 * Internal to src/dialog: the loader (bot_load.c) builds it, the engine
 * (engine.c) walks it; nothing else includes this header. Every string and
 * array is owned by the bot and freed by pal_bot_free(). Indexes are into
 * the bot's own arrays and were checked at load time.
 */
#ifndef PAL_DIALOG_BOT_MODEL_H
#define PAL_DIALOG_BOT_MODEL_H

#include <stdbool.h>
#include <stddef.h>

#include "dialog/bot.h"
#include "dialog/botdata.h"
#include "nlu/classifier.h"
#include "nlu/entities.h"
#include "text/langid.h"

enum {
    PAL_BOT_MAX_LANGS = 2,
    /* Step lists nest at most this deep, the flow's own list being level 1
     * (so at most 15 ifs inside each other): a position in a flow always
     * fits the engine's PAL_CONV_MAX_DEPTH. */
    PAL_BOT_MAX_STEP_DEPTH = 16,
};

/* A text per language, each with one or more variants (templates). */
typedef struct pal_bot_text {
    char **variants[PAL_LANG_COUNT]; /* [lang][i]; NULL for a language without text */
    size_t n_variants[PAL_LANG_COUNT];
} pal_bot_text;

typedef enum pal_step_kind {
    PAL_STEP_ASK = 0,
    PAL_STEP_SAY,
    PAL_STEP_LOOKUP,
    PAL_STEP_CALL,
    PAL_STEP_IF,
    PAL_STEP_SET,
    PAL_STEP_HANDOFF,
    PAL_STEP_END,
} pal_step_kind;

typedef enum pal_cond_op {
    PAL_COND_EQ = 0, /* slot == value */
    PAL_COND_NE,     /* slot != value */
    PAL_COND_SET,    /* slot (is filled) */
    PAL_COND_UNSET,  /* not slot */
} pal_cond_op;

typedef struct pal_choice {
    char *value;        /* canonical value stored in the slot */
    pal_bot_text label; /* what the button says, per language */
} pal_choice;

typedef struct pal_step pal_step;

typedef struct pal_step_list {
    pal_step *steps;
    size_t count;
} pal_step_list;

typedef struct pal_kv {
    char *key;
    char *value; /* a template */
} pal_kv;

struct pal_step {
    pal_step_kind kind;
    int line; /* in bot.yaml, for messages and --debug */
    union {
        struct {
            int slot; /* index into bot->slots */
            pal_bot_text prompt;
            pal_bot_text retry; /* empty: the prompt again */
            int tries;          /* before giving up */
            char **buttons;     /* quick replies (templates), may be NULL */
            size_t n_buttons;
            pal_choice *choices; /* inline choices (also the accepted answers) */
            size_t n_choices;
        } ask;
        struct {
            pal_bot_text text;
        } say;
        struct {
            pal_botdata_query *query;
            int *params;       /* slot index of each query parameter */
            char *as;          /* template name of the row */
            pal_bot_text none; /* said when no row is found (empty: the contract) */
            char *choose;      /* column to choose from when several rows; NULL: first */
            int choose_slot;   /* slot receiving the chosen value, -1 when none */

            /* "which one?" in the author's words (prompt:); empty: the engine's own */
            pal_bot_text choose_prompt;
        } lookup;
        struct {
            int service;  /* index into bot->services */
            pal_kv *body; /* JSON object fields (templates) */
            size_t n_body;
            char *as;
            pal_bot_text error; /* said when the service fails */
        } call;
        struct {
            int slot;
            pal_cond_op op;
            char *value; /* for EQ / NE */
            pal_step_list then_steps;
            pal_step_list else_steps;
        } cond;
        struct {
            int *slots;
            char **values; /* templates */
            size_t count;
        } set;
        struct {
            char *reason;
        } handoff;
    } u;
};

typedef struct pal_flow {
    char *name;
    int *when; /* intent indexes (into the classifier's intents) */
    size_t n_when;
    pal_step_list steps;
    bool only_says; /* a digression: answers, then the interrupted flow resumes */
} pal_flow;

typedef struct pal_slot {
    char *name; /* the entity's name, or an inline-choices slot's name */
    int entity; /* index into bot->entity_names, always >= 0: an inline-choices
                   slot has a choice entity of its own, named after it */

    /* the entity's kind (a number slot gets its hint for a number out of range) */
    pal_entity_kind kind;
} pal_slot;

typedef struct pal_service {
    char *name;
    char *url;
    long timeout_ms;
} pal_service;

typedef struct pal_intent_pattern {
    char *folded; /* folded text to look for */
    int intent;
} pal_intent_pattern;

typedef struct pal_named_reply {
    char *name;
    pal_bot_text text;
} pal_named_reply;

/* The built-in intents every bot understands. */
typedef enum pal_builtin_intent {
    PAL_INTENT_HELP = 0,
    PAL_INTENT_HUMAN,
    PAL_INTENT_CANCEL,
    PAL_INTENT_RESTART,
    PAL_BUILTIN_INTENTS,
} pal_builtin_intent;

struct pal_bot {
    char *name;
    char *dir; /* the bot folder; NULL for a bot made by pal_bot__parse*() */
    pal_lang langs[PAL_BOT_MAX_LANGS];
    size_t n_langs;
    float threshold;
    int handoff_after;
    int dedup_window;
    pal_bot_text contract;
    pal_entity_set *entities;
    char **entity_names; /* by entity index */
    size_t n_entities;
    pal_slot *slots;
    size_t n_slots;
    pal_nlu_model *model;             /* intents: the classifier's, built-ins included */
    int builtin[PAL_BUILTIN_INTENTS]; /* classifier index of each built-in intent */
    pal_intent_pattern *patterns;
    size_t n_patterns;
    pal_flow *flows;
    size_t n_flows;
    pal_named_reply *replies;
    size_t n_replies;
    pal_service *services;
    size_t n_services;
    pal_botdata *data;
};

/* Internal, for pal_bot_load(), tests and the fuzzer: builds a bot from the
 * text of a bot.yaml, yaml[0..len) (borrowed; need not be NUL-terminated),
 * at most 4 MiB. path_for_errors (borrowed; NULL: "bot.yaml") starts error
 * messages. data_dir (borrowed) is the folder of the bot's CSV tables, or
 * NULL for a bot without data (a lookup step is then an error). On PAL_OK
 * *out (OUT) is the caller's: free with pal_bot_free(). Errors as
 * pal_bot_load(): PAL_ERR_PARSE (errbuf: "PATH:LINE:COLUMN: what was
 * expected"), PAL_ERR_LIMIT (too large, too many, too deep; same format),
 * and pal_botdata_open()'s errors for the data. Thread-safe (no shared state). */
pal_err pal_bot__parse(const char *yaml, size_t len, const char *path_for_errors,
                       const char *data_dir, pal_bot **out, char *errbuf, size_t errlen);

/* The same with the bot's data already open: data (may be NULL) is taken,
 * on success as on failure. The fuzzer uses pal_botdata__open_text() for it. */
pal_err pal_bot__parse_data(const char *yaml, size_t len, const char *path_for_errors,
                            pal_botdata *data, pal_bot **out, char *errbuf, size_t errlen);

#endif
