#!/usr/bin/env python3
"""gen_langid_table.py — builds src/text/langid_table.h from the word list and
the spelling cues of src/text/langid.c (src/text/langid_lexicon.txt and
src/text/langid_cues.txt).

Both lists are text files, grouped and commented by hand: they are the source
of truth. This script checks them and writes them out as constant C tables
laid out for speed, so that langid.c needs no initialisation at run time:

  lexicon[]          the words in byte order, with their length and weights;
  lexicon_slots[]    an open-addressing hash table (linear probing) of
                     indexes into lexicon[], each with a 16-bit tag of the
                     word's hash, so that a miss rarely reads a word;
  lex_letter_sig[]   a random 64-bit number per byte value: a word's
                     signature is the sum of its bytes' numbers, the same
                     for every order of the same letters;
  lexicon_anagrams[] a bitmap (a Bloom filter with one hash) of the length
                     and signature of every word of three bytes or more. A
                     typo variant (a letter dropped, two letters swapped) has
                     a signature langid.c gets in one subtraction, or the
                     word's own: one bit rules out most variants unhashed;
  end_cues[]         the cues at the end of a word, and
  inner_cues[]       the others, each with two bitmaps by byte (the cues
                     that end with it, or start with it, and those whose
                     letter before the last, or second letter, it is): two
                     neighbouring letters pick out the few cues to compare.

Hashes (langid.c computes the same; pal_langid__tables_ok(), which the unit
test runs, checks that every word is found through these tables):
    h = sum(b[j] * LEX_HASH_STEP^(len-1-j)) mod 2^64 over the bytes b[0..len)
    m = h * LEX_HASH_MIX mod 2^64: home slot m >> (64 - LEX_SLOT_BITS),
                                   tag (m >> 16) & 0xffff
    s = sum(lex_letter_sig[b[j]]) mod 2^64
    anagram bit ((s + len * LEX_HASH_STEP) * LEX_HASH_MIX mod 2^64) >> (64 - LEX_ANAGRAM_BITS)

Usage:
  scripts/gen_langid_table.py             rewrite src/text/langid_table.h
  scripts/gen_langid_table.py --check     exit 1 when it is not current
  scripts/gen_langid_table.py [--check] [--stamp FILE] LEXICON CUES HEADER
The build runs --check (src/meson.build), so a list edited without rerunning
this script fails the build.
"""
import argparse
import os
import sys

HASH_STEP = 0x100000001B3  # odd: no byte's influence is shifted out
HASH_MIX = 0x9E3779B97F4A7C15  # 2^64 / golden ratio: spreads h into the top bits
SLOT_BITS = 12  # 4,096 slots for ~1,350 words: a miss stops after ~1.3 probes
ANAGRAM_BITS = 16  # 65,536 bits (8 KB) for ~1,350 words: ~98% of other signatures miss
WORD_MAX = 24  # LEX_WORD_MAX in langid.c: longest word the look-up takes
WEIGHT_MAX = 40
CUE_LETTERS_MAX = 5
INNER_CUES_MAX = 32  # langid.c keeps sets of inner cues in 32 bits...
END_CUES_MAX = 64  # ...and of end cues in 64
BYTE_VALUES = 256
CUE_PLACES = {"anywhere": "CUE_ANYWHERE", "start": "CUE_START", "end": "CUE_END",
              "not-end": "CUE_NOT_END"}
M64 = (1 << 64) - 1

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULT_LEXICON = os.path.join(ROOT, "src", "text", "langid_lexicon.txt")
DEFAULT_CUES = os.path.join(ROOT, "src", "text", "langid_cues.txt")
DEFAULT_HEADER = os.path.join(ROOT, "src", "text", "langid_table.h")


def fail(msg):
    print("gen_langid_table: " + msg, file=sys.stderr)
    sys.exit(1)


def data_lines(path):
    """(where, fields) of each line that is not blank or a # comment."""
    with open(path, encoding="utf-8") as f:
        for number, line in enumerate(f, 1):
            line = line.strip()
            if line and not line.startswith("#"):
                yield "%s:%d" % (os.path.basename(path), number), line.split()


def read_lexicon(path):
    """[(word bytes, fr, en)] in byte order; exits on any malformed line."""
    seen = {}
    for where, fields in data_lines(path):
        if len(fields) != 3 or not (fields[1].isdigit() and fields[2].isdigit()):
            fail("%s: expected `word fr en`, got %r" % (where, " ".join(fields)))
        word, fr, en = fields[0], int(fields[1]), int(fields[2])
        key = word.encode("utf-8")
        if fr > WEIGHT_MAX or en > WEIGHT_MAX:
            fail("%s: weights must be 0..%d" % (where, WEIGHT_MAX))
        if word != word.lower():
            fail("%s: %r is not lower case" % (where, word))
        if len(key) > WORD_MAX:
            fail("%s: %r is longer than %d bytes" % (where, word, WORD_MAX))
        if any(b < 0x20 or b in b'"\\' for b in key):
            fail("%s: %r has a control character, quote or backslash" % (where, word))
        if key in seen:
            fail("%s: %r already at %s" % (where, word, seen[key][2]))
        seen[key] = (fr, en, where)
    if not seen:
        fail("%s: no words" % path)
    if len(seen) >= (1 << SLOT_BITS) // 2:
        fail("too many words for %d slots: raise SLOT_BITS" % (1 << SLOT_BITS))
    return [(key, fr, en) for key, (fr, en, _) in sorted(seen.items())]


def read_cues(path):
    """[(place, letters, fr, en)] in file order; exits on any malformed line."""
    cues = []
    for where, fields in data_lines(path):
        if len(fields) != 4:
            fail("%s: expected `place letters language weight`, got %r"
                 % (where, " ".join(fields)))
        place, letters, lang, weight = fields
        if place not in CUE_PLACES:
            fail("%s: place must be start, end, anywhere or not-end" % where)
        if not 1 <= len(letters) <= CUE_LETTERS_MAX or any(
                c not in "abcdefghijklmnopqrstuvwxyz'" for c in letters):
            fail("%s: letters must be 1..%d of a-z and '" % (where, CUE_LETTERS_MAX))
        if lang not in ("fr", "en"):
            fail("%s: language must be fr or en" % where)
        if not weight.isdigit() or not 1 <= int(weight) <= WEIGHT_MAX:
            fail("%s: weight must be 1..%d" % (where, WEIGHT_MAX))
        weight = int(weight)
        cues.append((place, letters, weight if lang == "fr" else 0, weight if lang == "en" else 0))
    if sum(1 for cue in cues if cue[0] != "end") > INNER_CUES_MAX:
        fail("%s: more than %d cues that are not endings" % (path, INNER_CUES_MAX))
    if sum(1 for cue in cues if cue[0] == "end") > END_CUES_MAX:
        fail("%s: more than %d endings" % (path, END_CUES_MAX))
    return cues


def lex_hash(key):
    h = 0
    for b in key:
        h = (h * HASH_STEP + b) & M64
    return h


def build_slots(words):
    """(slots, probe limit): slots[i] = (tag, 1 + index) or (0, 0) when empty;
    every word sits fewer than `probe limit` slots after its home slot."""
    size = 1 << SLOT_BITS
    slots = [(0, 0)] * size
    limit = 1
    for index, (key, _, _) in enumerate(words):
        mixed = (lex_hash(key) * HASH_MIX) & M64
        home, tag = mixed >> (64 - SLOT_BITS), (mixed >> 16) & 0xFFFF
        distance = 0
        while slots[(home + distance) % size][1] != 0:
            distance += 1
        slots[(home + distance) % size] = (tag, index + 1)
        limit = max(limit, distance + 1)
    return slots, limit


def splitmix64(x):
    """A fixed pseudo-random 64-bit number for x (SplitMix64's output step)."""
    x = (x + 0x9E3779B97F4A7C15) & M64
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & M64
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & M64
    return x ^ (x >> 31)


LETTER_SIG = [splitmix64(b) for b in range(BYTE_VALUES)]


def build_anagrams(words):
    bits = [0] * ((1 << ANAGRAM_BITS) // 64)
    for key, _, _ in words:
        if len(key) < 3:
            continue  # a typo variant has three bytes or more
        sig = sum(LETTER_SIG[b] for b in key) & M64
        bit = (((sig + len(key) * HASH_STEP) * HASH_MIX) & M64) >> (64 - ANAGRAM_BITS)
        bits[bit // 64] |= 1 << (bit % 64)
    return bits


def c_string(key):
    """key as a C string literal (UTF-8, like the rest of our sources)."""
    return '"' + key.decode("utf-8") + '"'


def emit_u64s(emit, values, per_line=3):
    for start in range(0, len(values), per_line):
        emit("    " + " ".join("UINT64_C(0x%016X)," % v for v in values[start : start + per_line]))


def emit_cues(emit, name, count, cues, bits, letter_maps):
    """cues as a C array, then for each (suffix, letter_of) a bitmap by byte
    of the cues whose letter_of is that byte (None: every byte, 0 too)."""
    emit("static const spelling_cue %s[%s] = {" % (name, count))
    for place, letters, fr, en in cues:
        emit('    {"%s", %d, %s, %d, %d},' % (letters, len(letters), CUE_PLACES[place], fr, en))
    emit("};")
    for suffix, letter_of in letter_maps:
        masks = [0] * BYTE_VALUES
        for k, cue in enumerate(cues):
            letter = letter_of(cue[1])
            for b in range(BYTE_VALUES) if letter is None else [ord(letter)]:
                masks[b] |= 1 << k
        per_line = 4 if bits == 64 else 6
        emit("static const uint%d_t %s_%s[CUE_BYTE_VALUES] = {" % (bits, name, suffix))
        for start in range(0, BYTE_VALUES, per_line):
            row = masks[start : start + per_line]
            emit("    " + " ".join("0x%0*x," % (bits // 4, m) for m in row))
        emit("};")
    emit("")


def render(words, cues, lexicon_name, cues_name):
    slots, limit = build_slots(words)
    anagrams = build_anagrams(words)
    end_cues = [cue for cue in cues if cue[0] == "end"]
    inner_cues = [cue for cue in cues if cue[0] != "end"]
    out = []
    emit = out.append
    emit("/*")
    emit(" * langid_table.h — GENERATED by scripts/gen_langid_table.py from")
    emit(" * src/text/%s and src/text/%s: do not edit; edit" % (lexicon_name, cues_name))
    emit(" * those and rerun the script (the build fails while this file is stale).")
    emit(" *")
    emit(" * The lexicon and spelling cues of langid.c as constant tables; the script's")
    emit(" * top comment says how they are laid out and hashed. Every word is found")
    emit(" * fewer than LEX_PROBE_LIMIT slots after its home slot. Cue bitmaps: bit k of")
    emit(" * end_cues_last[c] is set when end_cues[k] ends with byte c, of")
    emit(" * end_cues_before_last[c] when its letter before the last is c or it has only")
    emit(" * one; inner_cues_first[] and inner_cues_second[] are the same for the first")
    emit(" * and second letters of inner_cues[]. langid.c looks up the missing neighbour")
    emit(" * of a word's first or last letter as byte 0: no cue has it, so only")
    emit(" * one-letter cues pass next to it. Included by langid.c only.")
    emit(" */")
    emit("#ifndef PAL_TEXT_LANGID_TABLE_H")
    emit("#define PAL_TEXT_LANGID_TABLE_H")
    emit("")
    emit("#include <stdint.h>")
    emit("")
    emit("typedef struct lex_entry {")
    emit("    const char *word; /* lower case, UTF-8 */")
    emit("    uint8_t len;      /* bytes in word */")
    emit("    uint8_t fr;       /* evidence for French, in tenths of a point */")
    emit("    uint8_t en;       /* evidence for English */")
    emit("} lex_entry;")
    emit("")
    emit("typedef struct lex_slot {")
    emit("    uint16_t tag;   /* 16 bits of the word's mixed hash */")
    emit("    uint16_t entry; /* 1 + index into lexicon[]; 0: empty slot */")
    emit("} lex_slot;")
    emit("")
    emit("typedef enum cue_place {")
    emit("    CUE_ANYWHERE,")
    emit("    CUE_START,")
    emit("    CUE_END,")
    emit("    CUE_NOT_END, /* anywhere but the last letters: \"ee\" in \"need\", not in \"idee\" */")
    emit("} cue_place;")
    emit("")
    emit("typedef struct spelling_cue {")
    emit("    char letters[%d]; /* ASCII, NUL-terminated */" % (CUE_LETTERS_MAX + 1))
    emit("    uint8_t len;     /* strlen(letters) */")
    emit("    uint8_t place;   /* cue_place: CUE_END in end_cues[] and only there */")
    emit("    uint8_t fr;      /* evidence for French, in tenths of a point */")
    emit("    uint8_t en;      /* evidence for English */")
    emit("} spelling_cue;")
    emit("")
    emit("#define LEX_HASH_STEP UINT64_C(0x%X)" % HASH_STEP)
    emit("#define LEX_HASH_MIX UINT64_C(0x%X)" % HASH_MIX)
    emit("")
    emit("enum {")
    emit("    LEX_WORDS = %d," % len(words))
    emit("    LEX_LONGEST = %d, /* bytes in the longest word */" % max(len(w[0]) for w in words))
    emit("    LEX_SLOT_BITS = %d," % SLOT_BITS)
    emit("    LEX_SLOTS = %d," % (1 << SLOT_BITS))
    emit("    /* slots probed to find a word, at most: bounds every look-up */")
    emit("    LEX_PROBE_LIMIT = %d," % limit)
    emit("    LEX_ANAGRAM_BITS = %d," % ANAGRAM_BITS)
    emit("    END_CUES = %d," % len(end_cues))
    emit("    INNER_CUES = %d," % len(inner_cues))
    emit("    CUE_BYTE_VALUES = %d, /* cue bitmaps are indexed by byte */" % BYTE_VALUES)
    emit("};")
    emit("")
    emit("/* clang-format off */")
    emit("static const lex_entry lexicon[LEX_WORDS] = {")
    for key, fr, en in words:
        emit("    {%s, %d, %d, %d}," % (c_string(key), len(key), fr, en))
    emit("};")
    emit("")
    emit("static const lex_slot lexicon_slots[LEX_SLOTS] = {")
    for start in range(0, len(slots), 6):
        emit("    " + " ".join("{0x%04x, %4d}," % slot for slot in slots[start : start + 6]))
    emit("};")
    emit("")
    emit("static const uint64_t lex_letter_sig[%d] = {" % BYTE_VALUES)
    emit_u64s(emit, LETTER_SIG)
    emit("};")
    emit("")
    emit("static const uint64_t lexicon_anagrams[%d] = {" % len(anagrams))
    emit_u64s(emit, anagrams)
    emit("};")
    emit("")
    emit_cues(emit, "end_cues", "END_CUES", end_cues, 64,
              [("last", lambda letters: letters[-1]),
               ("before_last", lambda letters: letters[-2] if len(letters) > 1 else None)])
    emit_cues(emit, "inner_cues", "INNER_CUES", inner_cues, 32,
              [("first", lambda letters: letters[0]),
               ("second", lambda letters: letters[1] if len(letters) > 1 else None)])
    emit("/* clang-format on */")
    emit("")
    emit("#endif")
    return "\n".join(out) + "\n"


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--check", action="store_true",
                        help="do not write: exit 1 when HEADER is not what the lists give")
    parser.add_argument("--stamp", help="write this file on success (for the build)")
    parser.add_argument("lexicon", nargs="?", default=DEFAULT_LEXICON)
    parser.add_argument("cues", nargs="?", default=DEFAULT_CUES)
    parser.add_argument("header", nargs="?", default=DEFAULT_HEADER)
    args = parser.parse_args()

    text = render(read_lexicon(args.lexicon), read_cues(args.cues),
                  os.path.basename(args.lexicon), os.path.basename(args.cues))
    if args.check:
        try:
            with open(args.header, encoding="utf-8") as f:
                current = f.read()
        except OSError as e:
            fail("cannot read %s: %s" % (args.header, e))
        if current != text:
            fail("%s is stale: run scripts/gen_langid_table.py" % args.header)
    else:
        with open(args.header, "w", encoding="utf-8") as f:
            f.write(text)
    if args.stamp:
        with open(args.stamp, "w", encoding="utf-8") as f:
            f.write("ok\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
