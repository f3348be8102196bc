#!/usr/bin/env python3
"""Turn `intent<TAB>text` TSV into fastText input (standard library only).

    ftprep.py train IN.tsv [IN.tsv ...]          > train.txt   (__label__X text)
    ftprep.py text  IN.tsv [IN.tsv ...]          > test.txt    (text only)
    ftprep.py text --lines N IN.tsv [IN.tsv ...] > bench.txt   (texts repeated to N lines)

Texts get the preprocessing of fastText's own text-classification tutorial:
lower-cased, with spaces around . ! ? , ' / ( ) and runs of spaces collapsed.
A text left empty becomes "_" so that every input line gives one prediction.
"""
import re
import sys

PUNCT = re.compile(r"([.!?,'/()])")


def norm(text):
    return " ".join(PUNCT.sub(r" \1 ", text).lower().split()) or "_"


def read(paths):
    rows = []
    for path in paths:
        with open(path, encoding="utf-8") as f:
            for line in f:
                line = line.rstrip("\n")
                if not line:
                    continue
                intent, _, text = line.partition("\t")
                rows.append((intent, norm(text)))
    return rows


def main(argv):
    if len(argv) < 2 or argv[0] not in ("train", "text"):
        sys.exit(__doc__)
    mode, args = argv[0], argv[1:]
    lines = None
    if args[:1] == ["--lines"]:
        lines, args = int(args[1]), args[2:]
    rows = read(args)
    out = sys.stdout
    if mode == "train":
        for intent, text in rows:
            out.write(f"__label__{intent} {text}\n")
        return
    texts = [t for _, t in rows]
    if lines is None:
        out.write("".join(t + "\n" for t in texts))
        return
    block = "".join(t + "\n" for t in texts)
    full, rest = divmod(lines, len(texts))
    out.write(block * full)
    out.write("".join(t + "\n" for t in texts[:rest]))


if __name__ == "__main__":
    main(sys.argv[1:])
