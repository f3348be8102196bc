/*
 * analyze.h — one message through the whole text layer, in one call.
 *
 * raw text -> UTF-8 check -> normalised -> tokens -> language -> folded
 * form and stem of each token. Everything the NLU and the entity extractors
 * look at comes from a pal_analysis.
 *
 * A pal_analyzer holds what is expensive to make (Snowball stemmers) and a
 * per-message arena; give each thread its own (it is not thread-safe). A
 * pal_analysis is a borrowed view into the analyzer's arena, valid until the
 * next pal_analyze() or pal_analyzer_reset() on the same analyzer.
 */
#ifndef PAL_TEXT_ANALYZE_H
#define PAL_TEXT_ANALYZE_H

#include <stddef.h>

#include "base/err.h"
#include "base/mem.h"
#include "base/slice.h"
#include "text/langid.h"
#include "text/tokenize.h"

/* Largest message the text layer accepts, in bytes; larger -> PAL_ERR_LIMIT. */
#define PAL_TEXT_MAX_BYTES ((size_t)1 << 20)

typedef struct pal_analyzer pal_analyzer; /* opaque */

typedef struct pal_analysis {
    pal_slice norm;          /* normalised text (NFKC, case-folded) */
    pal_slice fold;          /* folded tokens joined by single spaces */
    const pal_token *tokens; /* spans in norm */
    const pal_slice *folded; /* folded form of each token */
    const pal_slice *stems;  /* Snowball stem (folded) of each word token;
                                the folded form for other kinds */
    size_t n_tokens;
    pal_lang lang; /* detected (or forced) language */
    float lang_confidence;
} pal_analysis;

/* A new analyzer; caller frees with pal_analyzer_free(). PAL_ERR_INTERNAL if
 * the Snowball stemmers cannot be created. */
pal_err pal_analyzer_new(pal_analyzer **out);
/* NULL is a no-op. */
void pal_analyzer_free(pal_analyzer *analyzer);

/* Analyses text[0..len). lang_hint: PAL_LANG_UNKNOWN to detect, or a language
 * to force (stemming then follows it). *out (OUT) borrows from the analyzer.
 * Errors: PAL_ERR_UTF8 (invalid UTF-8 or NUL byte), PAL_ERR_LIMIT (more than
 * PAL_TEXT_MAX_BYTES). Empty text is fine: zero tokens. */
pal_err pal_analyze(pal_analyzer *analyzer, const char *text, size_t len, pal_lang lang_hint,
                    pal_analysis *out);

/* The analyzer's per-message arena, for callers that build results about the
 * current analysis (entities, features); reset by the next pal_analyze(). */
pal_arena *pal_analyzer_arena(pal_analyzer *analyzer);

/* Stems one folded-or-normalised word in lang (UNKNOWN: returned as is).
 * *out (OUT) is owned by the analyzer's arena. */
pal_err pal_analyzer_stem(pal_analyzer *analyzer, pal_lang lang, pal_slice word, pal_slice *out);

#endif
