#!/usr/bin/env python3
"""Score intent predictions against a gold TSV (standard library only).

    score.py --gold TEST.tsv [--gold MORE.tsv ...] --pred PRED.txt

GOLD is `intent<TAB>text`, one example a line; several --gold files are read
in order, as if concatenated. PRED has one predicted label a line, in the same
order (a `__label__` prefix is stripped; only the first token counts; an empty
line means "no answer" and is always wrong).

Prints one JSON object on one line:
  accuracy    share of examples whose prediction equals the gold intent
  macro_f1    per-intent F1 averaged over the intents present in the gold
              file (labels predicted but absent from the gold never count as
              classes; they only lower the recall of the gold intents they
              replace). Precision of an intent never predicted is 0.
  per_intent  {intent: {precision, recall, f1, support}}
  oos_recall  share of gold `oos` examples predicted `oos`; null when the
              gold has no `oos` label
  intents, n
"""
import argparse
import json
import sys
from collections import Counter

PREFIX = "__label__"


def read_gold(paths):
    gold = []
    for path in paths:
        with open(path, encoding="utf-8") as f:
            for lineno, line in enumerate(f, 1):
                line = line.rstrip("\n")
                if not line:
                    continue
                intent, sep, _ = line.partition("\t")
                if not sep or not intent:
                    sys.exit(f"score.py: {path}:{lineno}: not intent<TAB>text")
                gold.append(intent)
    return gold


def read_pred(path):
    pred = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            tok = line.split()
            label = tok[0] if tok else ""
            if label.startswith(PREFIX):
                label = label[len(PREFIX):]
            pred.append(label)
    return pred


def score(gold, pred):
    if len(gold) != len(pred):
        raise ValueError(f"{len(gold)} gold examples but {len(pred)} predictions")
    if not gold:
        raise ValueError("empty gold set")
    tp, npred = Counter(), Counter()
    support = Counter(gold)
    for g, p in zip(gold, pred):
        npred[p] += 1
        if g == p:
            tp[g] += 1
    per, f1s = {}, []
    for intent in sorted(support):
        prec = tp[intent] / npred[intent] if npred[intent] else 0.0
        rec = tp[intent] / support[intent]
        f1 = 2 * prec * rec / (prec + rec) if prec + rec else 0.0
        f1s.append(f1)
        per[intent] = {"precision": round(prec, 6), "recall": round(rec, 6),
                       "f1": round(f1, 6), "support": support[intent]}
    macro = sum(f1s) / len(f1s)
    acc = sum(tp.values()) / len(gold)
    oos = None
    if "oos" in support:
        oos = tp["oos"] / support["oos"]
    return {"accuracy": round(acc, 6), "macro_f1": round(macro, 6),
            "oos_recall": None if oos is None else round(oos, 6),
            "intents": len(per), "n": len(gold), "per_intent": per}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--gold", action="append", required=True, help="gold TSV (repeatable)")
    ap.add_argument("--pred", required=True, help="predicted labels, one a line")
    args = ap.parse_args()
    try:
        res = score(read_gold(args.gold), read_pred(args.pred))
    except ValueError as e:
        sys.exit(f"score.py: {e}")
    json.dump(res, sys.stdout, separators=(",", ":"))
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
