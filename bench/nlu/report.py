#!/usr/bin/env python3
"""Gather run.sh's records into the results JSON and print the Markdown tables.

    report.py RECORDS.jsonl OUT.json

RECORDS.jsonl holds one JSON object a line, written by run.sh:
  {"kind":"meta", ...}                         once
  {"kind":"grid_setting","name","args"}         once per fastText setting
  {"kind":"corpus","corpus","train":[..],"test":[..]}
  {"kind":"ft_grid","corpus","setting","train_s","predict_s","bench_lines",
   "model_bytes","score":{...}}                 one per corpus and setting
  {"kind":"ft_run","corpus","setting","run","train_s","predict_s",
   "bench_lines","model_bytes","score":{...}}   the repeated runs of the best
  {"kind":"palabre","corpus","run","wall_s","result":{...}}  or
  {"kind":"palabre","corpus","run","error":"..."}
  {"kind":"palabre_missing","message"}
Standard library only.
"""
import json
import statistics
import sys


def load(path):
    recs = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            if line.strip():
                recs.append(json.loads(line))
    return recs


def spread(values):
    values = [v for v in values if v is not None]
    if not values:
        return None
    return {"median": statistics.median(values), "min": min(values),
            "max": max(values), "n": len(values), "values": values}


def short(score):
    return {k: score.get(k) for k in ("macro_f1", "accuracy", "oos_recall", "intents", "n")}


def build(recs):
    meta = next((r for r in recs if r["kind"] == "meta"), {})
    out = {"meta": {k: v for k, v in meta.items() if k != "kind"},
           "fasttext_grid": [{"name": r["name"], "args": r["args"]}
                             for r in recs if r["kind"] == "grid_setting"],
           "corpora": {}}
    missing = next((r["message"] for r in recs if r["kind"] == "palabre_missing"), None)
    for c in (r for r in recs if r["kind"] == "corpus"):
        name = c["corpus"]
        grid = []
        for r in recs:
            if r["kind"] == "ft_grid" and r["corpus"] == name:
                g = {"setting": r["setting"], **short(r["score"]),
                     "train_s": r["train_s"],
                     "utt_per_s": r["bench_lines"] / r["predict_s"],
                     "model_bytes": r["model_bytes"]}
                grid.append(g)
        best = max(grid, key=lambda g: (g["macro_f1"], g["accuracy"], -g["train_s"]),
                   default=None)
        runs = [r for r in recs if r["kind"] == "ft_run" and r["corpus"] == name]
        ft = {"grid": grid, "best": best["setting"] if best else None,
              "runs": [{"run": r["run"], "train_s": r["train_s"],
                        "utt_per_s": r["bench_lines"] / r["predict_s"],
                        "macro_f1": r["score"]["macro_f1"],
                        "model_bytes": r["model_bytes"]} for r in runs]}
        best_score = next((r["score"] for r in recs if r["kind"] == "ft_grid"
                           and r["corpus"] == name and best
                           and r["setting"] == best["setting"]), None)
        if best:
            ft["best_result"] = {
                **short(best_score),
                "train_s": spread([r["train_s"] for r in ft["runs"]] or [best["train_s"]]),
                "utt_per_s": spread([r["utt_per_s"] for r in ft["runs"]] or [best["utt_per_s"]]),
                "model_bytes": best["model_bytes"],
                "per_intent": best_score["per_intent"]}
        pal = {"status": "missing" if missing else "not run", "message": missing, "runs": []}
        for r in recs:
            if r["kind"] != "palabre" or r["corpus"] != name:
                continue
            if "error" in r:
                pal["status"], pal["message"] = "error", r["error"]
                continue
            res = r["result"]
            pal["runs"].append({"run": r["run"], "wall_s": r["wall_s"],
                                "train_ms": res.get("train_ms"),
                                "predict_per_s": res.get("predict_per_s"),
                                "macro_f1": res.get("macro_f1"),
                                "accuracy": res.get("accuracy"),
                                "model_bytes": res.get("model_bytes")})
            if "result" not in pal:
                pal["result"] = res
        if pal["runs"]:
            if pal["status"] != "error":
                pal["status"] = "ok"
            f1s = {x["macro_f1"] for x in pal["runs"]}
            pal["deterministic_f1"] = len(f1s) == 1
            pal["summary"] = {
                "train_s": spread([x["train_ms"] / 1000 if x["train_ms"] is not None else None
                                   for x in pal["runs"]]),
                "utt_per_s": spread([x["predict_per_s"] for x in pal["runs"]])}
        if c.get("setting_from"):
            ft["setting_from"] = c["setting_from"]
        out["corpora"][name] = {"train": c["train"], "test": c["test"],
                                "fasttext": ft, "palabre": pal}
    return out


def f3(x):
    return "–" if x is None else f"{x:.3f}"


def pct(x):
    return "–" if x is None else f"{100 * x:.1f}%"


def secs(x):
    return "–" if x is None else (f"{x:.2f}" if x < 10 else f"{x:.1f}")


def rate(x):
    return "–" if x is None else f"{x:,.0f}"


def mb(x):
    return "–" if x is None else f"{x / 1e6:.1f}"


def med(s, fmt):
    if s is None:
        return "–"
    if s["n"] == 1:
        return fmt(s["median"])
    return f"{fmt(s['median'])} ({fmt(s['min'])}–{fmt(s['max'])})"


def markdown(res):
    lines = []
    runs = res["meta"].get("runs")
    lines.append(f"### Intent classification: palabre vs fastText "
                 f"(median of {runs} runs, min–max; one core)")
    lines.append("")
    lines.append("| corpus | system (setting) | macro-F1 | accuracy | OOS recall "
                 "| train time (s) | utterances/s (one core) | model size (MB) |")
    lines.append("|---|---|---|---|---|---|---|---|")
    for name, c in res["corpora"].items():
        pal = c["palabre"]
        if pal.get("result"):
            r = pal["result"]
            s = pal["summary"]
            lines.append(f"| {name} | palabre (defaults) | {f3(r.get('macro_f1'))} "
                         f"| {pct(r.get('accuracy'))} | {pct(r.get('oos_recall'))} "
                         f"| {med(s['train_s'], secs)} | {med(s['utt_per_s'], rate)} "
                         f"| {mb(r.get('model_bytes'))} |")
        else:
            why = (pal.get("message") or pal["status"]).replace("|", "/").splitlines()
            lines.append(f"| {name} | palabre | not run: {why[0] if why else ''} "
                         f"| | | | | |")
        ft = c["fasttext"]
        b = ft.get("best_result")
        if b:
            label = (f"fastText ({ft['best']}, chosen on {ft['setting_from']})"
                     if ft.get("setting_from") else f"fastText best ({ft['best']})")
            lines.append(f"| {name} | {label} | {f3(b['macro_f1'])} "
                         f"| {pct(b['accuracy'])} | {pct(b['oos_recall'])} "
                         f"| {med(b['train_s'], secs)} | {med(b['utt_per_s'], rate)} "
                         f"| {mb(b['model_bytes'])} |")
    # Ratios from the same run.
    ratio_rows = []
    for name, c in res["corpora"].items():
        pal, b = c["palabre"], c["fasttext"].get("best_result")
        if not (pal.get("result") and b):
            continue
        ps, r = pal["summary"], pal["result"]
        d = None if r.get("macro_f1") is None else 100 * (r["macro_f1"] - b["macro_f1"])
        thr = (ps["utt_per_s"]["median"] / b["utt_per_s"]["median"]
               if ps["utt_per_s"] else None)
        trn = (b["train_s"]["median"] / ps["train_s"]["median"]
               if ps["train_s"] and ps["train_s"]["median"] else None)
        ratio_rows.append(f"| {name} | {'–' if d is None else f'{d:+.1f}'} "
                          f"| {'–' if thr is None else f'{thr:.2f}×'} "
                          f"| {'–' if trn is None else f'{trn:.2f}×'} |")
    if ratio_rows:
        lines += ["", "palabre against fastText's best setting, same run:", "",
                  "| corpus | macro-F1 difference (points) | throughput ratio (palabre ÷ fastText) "
                  "| training speed-up (fastText time ÷ palabre time) |",
                  "|---|---|---|---|"] + ratio_rows
    lines += ["", "fastText grid (one run per setting; the best by macro-F1 is repeated above):",
              "", "| corpus | setting | macro-F1 | accuracy | OOS recall | train time (s) "
              "| utterances/s (one core) | model size (MB) |", "|---|---|---|---|---|---|---|---|"]
    for name, c in res["corpora"].items():
        for g in c["fasttext"]["grid"]:
            lines.append(f"| {name} | {g['setting']} | {f3(g['macro_f1'])} | {pct(g['accuracy'])} "
                         f"| {pct(g['oos_recall'])} | {secs(g['train_s'])} "
                         f"| {rate(g['utt_per_s'])} | {mb(g['model_bytes'])} |")
    lines += ["", "fastText settings (`fasttext supervised -thread 1 -seed 0` plus):", ""]
    for s in res["fasttext_grid"]:
        lines.append(f"- `{s['name']}`: `{s['args']}`")
    return "\n".join(lines)


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    res = build(load(sys.argv[1]))
    with open(sys.argv[2], "w", encoding="utf-8") as f:
        json.dump(res, f, indent=1)
        f.write("\n")
    print(markdown(res))


if __name__ == "__main__":
    main()
