/*
 * convtest.h — conversation tests: the YAML files of a bot's tests/ folder
 * (docs/bots.md, "Conversation tests").
 *
 * One file is one conversation from a fresh state: the customer says…,
 * then what the bot must answer (exact text, contains, PCRE2 regex, or one
 * expectation per reply), the quick replies offered, slot values after the
 * turn, whether a person has taken over, the intent understood, the
 * conversation's language. `services:` gives mock answers of the brand's
 * services for this test, so that tests need no network; a service the test
 * does not mock is called for real.
 *
 * A test is parsed against the bot it tests: slot, intent and service names
 * are checked then, and errors say "FILE:LINE:COLUMN: what was expected".
 * Test files are written by brands; the parser bounds what it reads (size,
 * steps, nesting) and never expands YAML aliases.
 *
 * Threads: a parsed test is immutable; runs of one test may overlap with
 * one analyzer each.
 */
#ifndef PAL_DIALOG_CONVTEST_H
#define PAL_DIALOG_CONVTEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "base/err.h"
#include "dialog/bot.h"
#include "dialog/engine.h"
#include "text/analyze.h"

/* Largest test file, in bytes. */
#define PAL_CONVTEST_MAX_BYTES ((size_t)1 << 20)

typedef struct pal_convtest pal_convtest; /* opaque: one parsed test file */

/* Parses the test file text[0..len) (borrowed) for bot (borrowed; it must
 * outlive the test). path (borrowed) starts error messages. On PAL_OK *out
 * (OUT) is the caller's: free with pal_convtest_free(). Errors, errbuf
 * (errlen bytes) saying "PATH:LINE:COLUMN: what was expected":
 * PAL_ERR_PARSE (bad YAML, an unknown key, a wrong type, a name the bot does
 * not know, a bad regex), PAL_ERR_LIMIT (too big, too many steps). */
pal_err pal_convtest_parse(const pal_bot *bot, const char *text, size_t len, const char *path,
                           pal_convtest **out, char *errbuf, size_t errlen);

/* Reads and parses the file at path. Errors as above, and PAL_ERR_IO when
 * the file cannot be read (errbuf: the path and why). */
pal_err pal_convtest_load(const pal_bot *bot, const char *path, pal_convtest **out, char *errbuf,
                          size_t errlen);

/* NULL is a no-op. */
void pal_convtest_free(pal_convtest *test);

/* The test's `name:`, or NULL when it has none; owned by the test. */
const char *pal_convtest_name(const pal_convtest *test);

/* Runs test in a fresh conversation with its bot, one engine step per
 * `user:`, stopping at the first step whose expectations fail. Look-ups run
 * on the bot's data (pal_engine_lookup_direct); calls to a service the test
 * mocks get the mock's answer, calls to others go to `call` (e.g.
 * pal_http_call; NULL: they fail). analyzer is borrowed for the run.
 * Writes to report (borrowed): every step's exchange when verbose; when a
 * step fails, a readable diff (the step, what the customer said, what was
 * expected and what came: replies, quick replies, slots, handoff, the debug
 * line of the turn). *passed (OUT) says whether every step passed. */
void pal_convtest_run(const pal_convtest *test, pal_analyzer *analyzer,
                      pal_err (*call)(void *ctx, const char *url, long timeout_ms, const char *body,
                                      char **response),
                      bool verbose, FILE *report, bool *passed);

#endif
