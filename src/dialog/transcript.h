/*
 * transcript.h — how one turn of a conversation reads as text.
 *
 * `palabre chat` and `palabre test` print the same things the same way: a
 * reply's text, its quick replies on one line ("  [1] Bud  [2] Coors"),
 * the notice that a person takes over, and the --debug line saying what the
 * engine understood:
 *   # lang=fr intent=order_beer (0.93) entities: quantity=2 beer=corona | flow=order
 *   step=bot.yaml:25
 * (one line). "intent=none" when not understood, "entities: -" when none,
 * "flow=-" when no flow waits. Entity values holding a space, '=' or '"'
 * are quoted.
 *
 * Every line starts with `indent` (borrowed; "" for none). Pure apart from
 * the writes to f; thread-safe on distinct streams.
 */
#ifndef PAL_DIALOG_TRANSCRIPT_H
#define PAL_DIALOG_TRANSCRIPT_H

#include <stddef.h>
#include <stdio.h>

#include "dialog/engine.h"

/* The quick replies as one line: indent, then "  [1] Bud  [2] Coors". */
void pal_transcript_buttons(FILE *f, const char *indent, const char *const *buttons, size_t n);

/* Each reply of turn (a text of several lines gives several lines), its
 * quick replies after it, then "— a person takes over (reason) —" when the
 * turn hands over. */
void pal_transcript_turn(FILE *f, const char *indent, const pal_turn *turn);

/* The --debug line of turn (see above), with its newline. */
void pal_transcript_debug(FILE *f, const char *indent, const pal_turn *turn);

#endif
