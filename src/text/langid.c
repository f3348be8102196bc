/*
 * langid.c — French, English or can't tell, for chat messages of a few words
 * (see langid.h).
 *
 * Every word adds French and English evidence, counted in tenths of a point:
 *  1. exact lookup in the lexicon, frequent chat words written for palabre
 *     (function words, greetings, politeness, customer-service and bar
 *     vocabulary, SMS spellings, accent-less French spellings), each with a
 *     French and an English weight. Words both languages use ("ok", "taxi",
 *     "menu") weigh 0/0: they are known, so no spelling cue is guessed for
 *     them either;
 *  2. a word with French accents that is not in the table is looked up again
 *     without them ("résultat" -> "resultat"); the accent itself counts for
 *     French;
 *  3. runs of three or more repeated letters are squeezed ("merciii"), then
 *     one typo is undone (a letter too many, or two letters swapped) — but
 *     only towards a word that clearly belongs to one language;
 *  4. otherwise spelling cues: French diacritics, endings and letter
 *     sequences (-eau, -aient, -euse, -ez), English ones (th, wh-, -ing,
 *     -ght, -n't). A word's cues are capped below a good lexicon word.
 * The language with more evidence wins when it leads by MIN_MARGIN and holds
 * most of the evidence; otherwise the answer is PAL_LANG_UNKNOWN.
 *
 * The words and the cues are kept in langid_lexicon.txt and langid_cues.txt;
 * scripts/gen_langid_table.py turns them into the constant tables of
 * langid_table.h. They are laid out for speed, as this runs on every message
 * and the whole text layer has a few hundred nanoseconds for one: a word is
 * hashed once and found in an open-addressing table, in one slot as a rule
 * and never more than LEX_PROBE_LIMIT. The typo variants of an unknown word
 * are screened by a bitmap of the lexicon's anagram signatures (a variant
 * has the word's letters less one, or all of them), so that few are written
 * out and looked up; the cues that could match are picked from bitmaps by
 * the letters of the word instead of being tried one by one.
 *
 * Assumes: words are lower case, as pal_text_normalize makes them. Every
 * read is bounded by the slice length, so invalid UTF-8, empty slices and
 * huge words are harmless: they give no evidence. Only the first MAX_WORDS
 * words are read, so a call costs a bounded time whatever the input.
 * No allocation, no mutable state: thread-safe.
 */
#include "text/langid.h"

#include <stdint.h>
#include <string.h>

#include "text/langid_table.h"

enum {
    LEX_WORD_MAX = 24,    /* longest word the look-up takes, in bytes */
    CUE_WORD_MAX = 48,    /* longer "words" are noise (or attacks): no evidence */
    MAX_WORDS = 64,       /* words read per message */
    CUE_CAP = 25,         /* at most this much evidence from one word's spelling */
    ACCENT_BONUS = 10,    /* a French accent on a word found once stripped */
    MIN_MARGIN = 18,      /* the winner's lead, in tenths: about one clear word */
    FULL_CONFIDENCE = 50, /* a lead this large is fully confident (with no rival) */
    TYPO_MIN_WEIGHT = 25, /* typo repair only towards words this typical... */
    TYPO_MAX_RIVAL = 5,   /* ...of one language and not of the other */
};

_Static_assert((int)LEX_LONGEST <= (int)LEX_WORD_MAX, "lexicon words must fit the look-up buffers");
_Static_assert(LEX_WORDS < 0xffff, "lex_slot.entry is 16 bits");
_Static_assert(INNER_CUES <= 32 && END_CUES <= 64, "cue sets are 32- and 64-bit masks");
_Static_assert(CUE_BYTE_VALUES == 256, "cue bitmaps are indexed by any byte");
_Static_assert(sizeof(lexicon_anagrams) * 8 == (size_t)1 << LEX_ANAGRAM_BITS,
               "the anagram bitmap has a bit for every signature");

typedef struct evidence {
    int fr; /* tenths of a point */
    int en;
} evidence;

static uint32_t load32(const char *p)
{
    uint32_t v;
    memcpy(&v, p, sizeof(v));
    return v;
}

static uint64_t load64(const char *p)
{
    uint64_t v;
    memcpy(&v, p, sizeof(v));
    return v;
}

/* a[0..n) == b[0..n), a word at a time (the last one overlapping), reading
 * no byte past either. This and the look-ups below are inline: they are on
 * the path of every word, where a call costs as much as their work. */
static inline bool same_bytes(const char *a, const char *b, size_t n)
{
    if (n >= 8) {
        for (size_t i = 0; i + 8 < n; i += 8) {
            if (load64(a + i) != load64(b + i))
                return false;
        }
        return load64(a + n - 8) == load64(b + n - 8);
    }
    if (n >= 4)
        return load32(a) == load32(b) && load32(a + n - 4) == load32(b + n - 4);
    for (size_t i = 0; i < n; i++) {
        if (a[i] != b[i])
            return false;
    }
    return true;
}

/* The hash of key[0..len) (langid_table.h says how it is defined). */
static uint64_t lex_hash(const char *key, size_t len)
{
    uint64_t h = 0;
    for (size_t i = 0; i < len; i++)
        h = h * LEX_HASH_STEP + (unsigned char)key[i];
    return h;
}

/* Where the probe for hash h starts, and the tag it looks for. */
typedef struct lex_probe {
    size_t slot;
    uint16_t tag;
} lex_probe;

static lex_probe probe_of(uint64_t h)
{
    uint64_t mixed = h * LEX_HASH_MIX;
    return (lex_probe){(size_t)(mixed >> (64 - LEX_SLOT_BITS)), (uint16_t)(mixed >> 16)};
}

/* The entry for key[0..len), whose hash is h, or NULL. */
static inline const lex_entry *lexicon_find_hashed(const char *key, size_t len, uint64_t h)
{
    lex_probe p = probe_of(h);
    for (int i = 0; i < LEX_PROBE_LIMIT; i++) {
        const lex_slot *s = &lexicon_slots[p.slot];
        if (s->entry == 0)
            return NULL;
        if (s->tag == p.tag) {
            const lex_entry *e = &lexicon[s->entry - 1];
            if (e->len == len && same_bytes(e->word, key, len))
                return e;
        }
        p.slot = (p.slot + 1) & (LEX_SLOTS - 1);
    }
    return NULL;
}

static inline const lex_entry *lexicon_find(const char *key, size_t len)
{
    if (len == 0 || len > LEX_LONGEST)
        return NULL;
    return lexicon_find_hashed(key, len, lex_hash(key, len));
}

/* The plain letters of the French accented letter at s (avail bytes
 * readable), or NULL when s does not start with one. All are two bytes. */
static const char *unaccent(const char *s, size_t avail)
{
    if (avail < 2)
        return NULL;
    unsigned char lead = (unsigned char)s[0];
    unsigned char next = (unsigned char)s[1];
    if (lead == 0xC5 && next == 0x93)
        return "oe"; /* œ */
    if (lead != 0xC3)
        return NULL;
    switch (next) {
    case 0xA0: /* à */
    case 0xA2: /* â */
    case 0xA4: /* ä */
        return "a";
    case 0xA6: /* æ */
        return "ae";
    case 0xA7: /* ç */
        return "c";
    case 0xA8: /* è */
    case 0xA9: /* é */
    case 0xAA: /* ê */
    case 0xAB: /* ë */
        return "e";
    case 0xAE: /* î */
    case 0xAF: /* ï */
        return "i";
    case 0xB4: /* ô */
    case 0xB6: /* ö */
        return "o";
    case 0xB9: /* ù */
    case 0xBB: /* û */
    case 0xBC: /* ü */
        return "u";
    case 0xBF: /* ÿ */
        return "y";
    default:
        return NULL;
    }
}

/* Writes key without its French accents into out (LEX_WORD_MAX + 1 bytes).
 * Returns the new length; 0 when key has no French accent, has other
 * non-ASCII bytes, or would not fit. */
static size_t strip_accents(const char *key, size_t len, char *out)
{
    size_t n = 0;
    bool changed = false;
    for (size_t i = 0; i < len;) {
        unsigned char c = (unsigned char)key[i];
        if (c < 0x80) {
            if (n >= LEX_WORD_MAX)
                return 0;
            out[n++] = (char)c;
            i++;
            continue;
        }
        const char *plain = unaccent(key + i, len - i);
        if (!plain)
            return 0;
        for (; *plain; plain++) {
            if (n >= LEX_WORD_MAX)
                return 0;
            out[n++] = *plain;
        }
        i += 2;
        changed = true;
    }
    return changed ? n : 0;
}

/* Writes key into out (LEX_WORD_MAX + 1 bytes) with every run of three or
 * more equal bytes cut to keep bytes ("merciiii" -> "merci" or "mercii").
 * Returns the new length; 0 when nothing changed or it would not fit. */
static size_t squeeze_runs(const char *key, size_t len, size_t keep, char *out)
{
    size_t n = 0;
    bool changed = false;
    for (size_t i = 0; i < len;) {
        size_t run = 1;
        while (i + run < len && key[i + run] == key[i])
            run++;
        size_t copy = run;
        if (run >= 3) {
            copy = keep;
            changed = true;
        }
        if (n + copy > LEX_WORD_MAX)
            return 0;
        memset(out + n, key[i], copy);
        n += copy;
        i += run;
    }
    return changed ? n : 0;
}

/* True when e is typical of one language and not the other. */
static bool entry_is_clear(const lex_entry *e)
{
    return (e->fr >= TYPO_MIN_WEIGHT && e->en <= TYPO_MAX_RIVAL) ||
           (e->en >= TYPO_MIN_WEIGHT && e->fr <= TYPO_MAX_RIVAL);
}

static bool is_ascii(const char *key, size_t len)
{
    unsigned char bytes = 0;
    for (size_t i = 0; i < len; i++)
        bytes |= (unsigned char)key[i];
    return bytes < 0x80;
}

/* True when key has a run of three or more equal bytes (squeeze_runs' work). */
static bool has_long_run(const char *key, size_t len)
{
    for (size_t i = 2; i < len; i++) {
        if (key[i] == key[i - 1] && key[i] == key[i - 2])
            return true;
    }
    return false;
}

/* The signature of key[0..len): the same for any order of the same bytes. */
static uint64_t letters_sig(const char *key, size_t len)
{
    uint64_t sig = 0;
    for (size_t i = 0; i < len; i++)
        sig += lex_letter_sig[(unsigned char)key[i]];
    return sig;
}

/* False when no lexicon word has len bytes and signature sig: no word is an
 * anagram of them. True may be a near miss (langid_table.h). */
static bool anagram_may_be_word(size_t len, uint64_t sig)
{
    uint64_t bit = ((sig + len * LEX_HASH_STEP) * LEX_HASH_MIX) >> (64 - LEX_ANAGRAM_BITS);
    return (lexicon_anagrams[bit / 64] >> (bit % 64)) & 1u;
}

/* The clear lexicon word that buf[0..len) is, or NULL. */
static const lex_entry *clear_word(const char *buf, size_t len)
{
    const lex_entry *e = lexicon_find(buf, len);
    return e && entry_is_clear(e) ? e : NULL;
}

/* A clear lexicon word one typo away from key: a letter too many
 * ("bonjourr", "thankss") or two neighbours swapped ("thnaks"), the first
 * found trying deletions from the first letter on, then swaps. buf has
 * LEX_WORD_MAX + 1 bytes. Short words are left alone: too many neighbours.
 * A variant has the letters of key less one, or all of them: the anagram
 * bitmap rules out most variants before they are written out and hashed. */
static const lex_entry *typo_find(const char *key, size_t len, char *buf)
{
    if (len < 4 || len > LEX_WORD_MAX || len > LEX_LONGEST + 1)
        return NULL; /* too short, or every variant is longer than any word */
    const uint64_t sig = letters_sig(key, len);
    const lex_entry *e;
    for (size_t i = 0; i < len; i++) {
        if (i > 0 && key[i] == key[i - 1])
            continue; /* same word as dropping key[i - 1] */
        if (!anagram_may_be_word(len - 1, sig - lex_letter_sig[(unsigned char)key[i]]))
            continue;
        for (size_t j = 0, n = 0; j < len; j++) {
            if (j != i)
                buf[n++] = key[j];
        }
        if ((e = clear_word(buf, len - 1)) != NULL)
            return e;
    }
    if (len > LEX_LONGEST || !anagram_may_be_word(len, sig))
        return NULL;
    memcpy(buf, key, len);
    for (size_t i = 0; i + 1 < len; i++) {
        if (key[i] == key[i + 1])
            continue;
        buf[i] = key[i + 1];
        buf[i + 1] = key[i];
        e = clear_word(buf, len);
        buf[i] = key[i];
        buf[i + 1] = key[i + 1];
        if (e)
            return e;
    }
    return NULL;
}

static bool is_ascii_consonant(char c)
{
    return c >= 'b' && c <= 'z' && !strchr("eiouy", c);
}

static void add_cue(evidence *ev, const spelling_cue *cue)
{
    ev->fr += cue->fr;
    ev->en += cue->en;
}

/* Adds to *ev the inner cues of set maybe that match w[0..len) at p, and
 * returns the set of those. */
static uint32_t inner_cues_at(const char *w, size_t len, size_t p, uint32_t maybe, evidence *ev)
{
    uint32_t matched = 0;
    while (maybe) {
        unsigned k = (unsigned)__builtin_ctz(maybe);
        const spelling_cue *cue = &inner_cues[k];
        size_t end = cue->place == CUE_NOT_END ? len - 1 : len;
        maybe &= maybe - 1;
        if (p + cue->len > end || (cue->place == CUE_START && p > 0))
            continue;
        if (same_bytes(w + p, cue->letters, cue->len)) {
            matched |= 1u << k;
            add_cue(ev, cue);
        }
    }
    return matched;
}

/* Evidence from the spelling of a word the lexicon does not know (ascii:
 * whether it is all ASCII). The cue bitmaps leave few cues to compare: the
 * endings that share the word's last two letters, and at each position the
 * inner cues that share its letter and the next. */
static evidence spelling_evidence(const char *w, size_t len, bool ascii)
{
    evidence ev = {0, 0};
    for (size_t i = 0; !ascii && i < len; i++) {
        if ((unsigned char)w[i] < 0x80)
            continue;
        if (!unaccent(w + i, len - i))
            return (evidence){0, 0}; /* another language or script: no opinion */
        ev.fr = 20;                  /* é, è, ç, œ…: French */
        i++;
    }
    /* Spoken French glues j' to its verb: "jveux", "jpeux", "jcrois". */
    if (len >= 3 && w[0] == 'j' && is_ascii_consonant(w[1]))
        ev.fr += 20;

    /* A missing neighbour is looked up as byte 0, which no cue has. */
    unsigned char last = (unsigned char)w[len - 1];
    unsigned char before_last = len >= 2 ? (unsigned char)w[len - 2] : 0;
    uint64_t endings = end_cues_last[last] & end_cues_before_last[before_last];
    while (endings) {
        const spelling_cue *cue = &end_cues[__builtin_ctzll(endings)];
        endings &= endings - 1;
        if (cue->len <= len && same_bytes(w + len - cue->len, cue->letters, cue->len))
            add_cue(&ev, cue);
    }
    uint32_t found = 0; /* each inner cue counts once, wherever it appears */
    for (size_t p = 0; p < len; p++) {
        unsigned char next = p + 1 < len ? (unsigned char)w[p + 1] : 0;
        uint32_t maybe = inner_cues_first[(unsigned char)w[p]] & inner_cues_second[next];
        if (maybe)
            found |= inner_cues_at(w, len, p, maybe & ~found, &ev);
    }
    if (ev.fr > CUE_CAP)
        ev.fr = CUE_CAP;
    if (ev.en > CUE_CAP)
        ev.en = CUE_CAP;
    return ev;
}

/* The evidence of a lexicon entry found for a word, scaled by tenths; a
 * word that carried French accents only counts for French. */
static evidence entry_evidence(const lex_entry *e, int tenths, bool accented)
{
    evidence ev = {e->fr * tenths / 10, e->en * tenths / 10};
    if (accented) {
        ev.fr += ACCENT_BONUS;
        if (ev.fr < 20)
            ev.fr = 20;
        ev.en = 0;
    }
    return ev;
}

/* The evidence of word[0..len), which the lexicon does not have as it is
 * (steps 2-4 of the top comment); ascii: whether the word is all ASCII.
 * Kept out of line: most words are found as they are, and this frame (two
 * buffers) would slow each of them down. */
__attribute__((noinline)) static evidence unknown_word_evidence(const char *word, size_t len)
{
    char plain[LEX_WORD_MAX + 1];
    char variant[LEX_WORD_MAX + 1];
    const lex_entry *e;
    const char *key = word;
    size_t key_len = len;
    bool accented = false;
    bool ascii = is_ascii(word, len);
    size_t n = ascii ? 0 : strip_accents(word, len, plain);
    if (n > 0) {
        e = lexicon_find(plain, n);
        if (e)
            return entry_evidence(e, 10, true);
        key = plain;
        key_len = n;
        accented = true;
    }
    if (has_long_run(key, key_len)) {
        for (size_t keep = 1; keep <= 2; keep++) {
            n = squeeze_runs(key, key_len, keep, variant);
            e = n > 0 ? lexicon_find(variant, n) : NULL;
            if (e)
                return entry_evidence(e, 10, accented);
        }
    }
    e = typo_find(key, key_len, variant);
    if (e)
        return entry_evidence(e, 6, accented);
    return spelling_evidence(word, len, ascii);
}

static evidence word_evidence(pal_slice word)
{
    if (!word.ptr || word.len == 0 || word.len > CUE_WORD_MAX)
        return (evidence){0, 0};
    const lex_entry *e = lexicon_find(word.ptr, word.len);
    if (e)
        return entry_evidence(e, 10, false);
    return unknown_word_evidence(word.ptr, word.len);
}

pal_langid_result pal_langid_words(const pal_slice *words, size_t n)
{
    pal_langid_result result = {PAL_LANG_UNKNOWN, 0.0f};
    int fr = 0;
    int en = 0;
    if (!words)
        return result;
    if (n > MAX_WORDS)
        n = MAX_WORDS;
    for (size_t i = 0; i < n; i++) {
        evidence ev = word_evidence(words[i]);
        fr += ev.fr;
        en += ev.en;
    }
    int lead = fr > en ? fr - en : en - fr;
    /* Too little said, or both languages said about as much ("merci thanks"). */
    if (lead < MIN_MARGIN || lead * 4 < fr + en)
        return result;
    result.lang = fr > en ? PAL_LANG_FR : PAL_LANG_EN;
    float clarity = (float)lead / (float)(fr + en);
    float strength = lead >= FULL_CONFIDENCE ? 1.0f : (float)lead / (float)FULL_CONFIDENCE;
    result.confidence = clarity * strength;
    return result;
}

const char *pal_lang_code(pal_lang lang)
{
    switch (lang) {
    case PAL_LANG_FR:
        return "fr";
    case PAL_LANG_EN:
        return "en";
    case PAL_LANG_UNKNOWN:
        break;
    }
    return "unknown";
}

/* True when s equals lower (all lower case ASCII), ignoring ASCII case. */
static bool ascii_equal_nocase(const char *s, const char *lower)
{
    for (; *lower; s++, lower++) {
        char c = *s;
        if (c >= 'A' && c <= 'Z')
            c = (char)(c - 'A' + 'a');
        if (c != *lower)
            return false;
    }
    return *s == '\0';
}

bool pal_lang_parse(const char *code, pal_lang *out)
{
    if (!code)
        return false;
    if (ascii_equal_nocase(code, "fr")) {
        *out = PAL_LANG_FR;
        return true;
    }
    if (ascii_equal_nocase(code, "en")) {
        *out = PAL_LANG_EN;
        return true;
    }
    return false;
}

/* True when cues[0..count) have the length they say, and are all endings
 * or none, as at_end says. */
static bool cues_ok(const spelling_cue *cues, size_t count, bool at_end)
{
    for (size_t k = 0; k < count; k++) {
        if (cues[k].len == 0 || cues[k].len != strlen(cues[k].letters) ||
            (cues[k].place == CUE_END) != at_end)
            return false;
    }
    return true;
}

/* The bitmap of the cues of cues[0..count) whose key letter (at_end: the
 * last; else the first) is c or, with neighbour, whose neighbour letter (the
 * one before the last; the second) is c, as langid_table.h should have it.
 * A one-letter cue has every neighbour, 0 included. */
static uint64_t cues_with_letter(const spelling_cue *cues, size_t count, bool at_end,
                                 bool neighbour, size_t c)
{
    uint64_t bits = 0;
    for (size_t k = 0; k < count; k++) {
        size_t n = cues[k].len;
        size_t at = at_end ? n - 1 : 0;
        bool has = false;
        if (!neighbour)
            has = (unsigned char)cues[k].letters[at] == c;
        else
            has = n == 1 || (unsigned char)cues[k].letters[at_end ? n - 2 : 1] == c;
        if (has)
            bits |= UINT64_C(1) << k;
    }
    return bits;
}

/* For the unit test (not in langid.h, which stays the public surface): true
 * when the tables of langid_table.h are well formed — lexicon sorted without
 * duplicates, words lower case and as long as they say, weights within
 * 0..40, every word found through the hash table and nothing else in it (so
 * the generator and the hashing here agree), cues indexed by their letter. */
bool pal_langid__tables_ok(void)
{
    for (size_t i = 0; i < LEX_WORDS; i++) {
        const lex_entry *e = &lexicon[i];
        size_t len = strlen(e->word);
        if (len == 0 || len != e->len || len > LEX_LONGEST || e->fr > 40 || e->en > 40)
            return false;
        for (size_t j = 0; j < len; j++) {
            if (e->word[j] >= 'A' && e->word[j] <= 'Z')
                return false;
        }
        if (i > 0 && strcmp(lexicon[i - 1].word, e->word) >= 0)
            return false;
        if (lexicon_find(e->word, len) != e)
            return false;
        if (len >= 3 && !anagram_may_be_word(len, letters_sig(e->word, len)))
            return false;
    }
    size_t used = 0;
    for (size_t s = 0; s < LEX_SLOTS; s++) {
        const lex_slot *slot = &lexicon_slots[s];
        if (slot->entry == 0)
            continue;
        if (slot->entry > LEX_WORDS)
            return false;
        const lex_entry *e = &lexicon[slot->entry - 1];
        if (probe_of(lex_hash(e->word, e->len)).tag != slot->tag)
            return false;
        used++;
    }
    if (used != LEX_WORDS)
        return false;
    if (!cues_ok(end_cues, END_CUES, true) || !cues_ok(inner_cues, INNER_CUES, false))
        return false;
    for (size_t c = 0; c < CUE_BYTE_VALUES; c++) {
        if (end_cues_last[c] != cues_with_letter(end_cues, END_CUES, true, false, c) ||
            end_cues_before_last[c] != cues_with_letter(end_cues, END_CUES, true, true, c) ||
            inner_cues_first[c] != cues_with_letter(inner_cues, INNER_CUES, false, false, c) ||
            inner_cues_second[c] != cues_with_letter(inner_cues, INNER_CUES, false, true, c))
            return false;
    }
    return true;
}
