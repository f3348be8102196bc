/*
 * bot.h — a bot, as its author wrote it in a folder (docs/bots.md).
 *
 * pal_bot_load() reads bot.yaml (libfyaml), compiles its entities,
 * trains its intent classifier, loads the CSV tables of data/ and checks
 * every reference (slots, services, replies, query parameters) so that a
 * loaded bot cannot fail at run time for a reason its author could have
 * been told at load time. Errors name the file, line and column.
 *
 * A loaded bot is immutable and may be shared by threads (its look-up
 * queries excepted: see pal_botdata).
 */
#ifndef PAL_DIALOG_BOT_H
#define PAL_DIALOG_BOT_H

#include <stddef.h>

#include "base/err.h"

typedef struct pal_bot pal_bot; /* opaque; the dialog layer reads it via bot_model.h */

/* Loads the bot in folder dir. On PAL_OK *out is the caller's, free with
 * pal_bot_free(). On error errbuf (errlen bytes) says
 * "FILE:LINE:COLUMN: what was expected" (PAL_ERR_PARSE; PAL_ERR_LIMIT for a
 * file over 4 MiB, over 200,000 YAML nodes, nesting deeper than 64, or lists
 * over their counts; PAL_ERR_UTF8 for text that is not UTF-8), or why a file
 * could not be read (PAL_ERR_IO). Anchors, aliases and tags are refused. */
pal_err pal_bot_load(const char *dir, pal_bot **out, char *errbuf, size_t errlen);

/* NULL is a no-op. */
void pal_bot_free(pal_bot *bot);

/* The bot's name (its `bot:` key); owned by the bot. */
const char *pal_bot_name(const pal_bot *bot);

/* Seconds during which the same look-up from the same customer is not
 * answered twice (settings: dedup_window; 0: always answered). */
int pal_bot_dedup_window(const pal_bot *bot);

#endif
