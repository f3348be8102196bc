#!/usr/bin/env bash
# bench/nlu/run.sh — intent classification: palabre's classifier vs fastText.
#
#   bench/nlu/run.sh [--out FILE] [--runs N] [--corpus NAME]... [DATA_DIR]
#
# DATA_DIR defaults to ../shared/data beside the repository (see its README).
# Corpora: banking77, clinc150 (in-scope only), clinc150-oos (in-scope + the
# `oos` queries, in training as well as in test).
# Prints Markdown tables on stdout, progress on stderr, and writes the raw
# results as JSON to FILE (default: a new file under ${TMPDIR:-/tmp}, named at
# the end). See bench/nlu/README.md for the method.
set -euo pipefail
export LC_ALL=C

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(git -C "$here" rev-parse --show-toplevel 2>/dev/null || (cd "$here/../.." && pwd))

usage() { sed -n '2,11s/^# \{0,1\}//p' "${BASH_SOURCE[0]}"; }
say() { printf '%s\n' "$*" >&2; }

out=""
runs=5
only=()
data_dir=""
while [ $# -gt 0 ]; do
    case "$1" in
        --out) out=$2; shift 2 ;;
        --out=*) out=${1#--out=}; shift ;;
        --runs) runs=$2; shift 2 ;;
        --runs=*) runs=${1#--runs=}; shift ;;
        --corpus) only+=("$2"); shift 2 ;;
        --corpus=*) only+=("${1#--corpus=}"); shift ;;
        -h|--help) usage; exit 0 ;;
        -*) say "run.sh: unknown option $1"; usage >&2; exit 2 ;;
        *) data_dir=$1; shift ;;
    esac
done
case "$runs" in ''|*[!0-9]*|0) say "run.sh: --runs wants a positive integer"; exit 2 ;; esac
data_dir=${data_dir:-$root/../shared/data}
if [ -z "$out" ]; then
    out="${TMPDIR:-/tmp}/palabre-nlu-$(date +%Y%m%d-%H%M%S).json"
fi

# --- corpora ---------------------------------------------------------------
# name | train files | test files (space-separated, relative to DATA_DIR) |
# corpus whose best fastText setting is reused instead of running the grid
# (when that corpus ran first in the same invocation)
corpora=(
    "banking77|banking77-train.tsv|banking77-test.tsv|"
    "clinc150|clinc150-train.tsv|clinc150-test.tsv|"
    "clinc150-oos|clinc150-train.tsv clinc150-oos-train.tsv|clinc150-test.tsv clinc150-oos-test.tsv|clinc150"
)
if [ "${#only[@]}" -gt 0 ]; then
    sel=()
    for o in "${only[@]}"; do
        found=0
        for c in "${corpora[@]}"; do
            if [ "${c%%|*}" = "$o" ]; then sel+=("$c"); found=1; fi
        done
        if [ $found = 0 ]; then say "run.sh: unknown corpus $o (banking77, clinc150, clinc150-oos)"; exit 2; fi
    done
    corpora=("${sel[@]}")
fi
missing_data=()
for f in banking77-train.tsv banking77-test.tsv clinc150-train.tsv clinc150-test.tsv \
         clinc150-oos-train.tsv clinc150-oos-test.tsv; do
    [ -s "$data_dir/$f" ] || missing_data+=("$data_dir/$f")
done
if [ "${#missing_data[@]}" -gt 0 ]; then
    say "run.sh: corpora missing: ${missing_data[*]}"
    say "run.sh: pass the directory holding banking77-*.tsv and clinc150-*.tsv as DATA_DIR"
    say "        (default: ../shared/data beside the repository; see its README.md)"
    exit 2
fi
data_dir=$(cd "$data_dir" && pwd)

# --- tools -------------------------------------------------------------------
command -v python3 >/dev/null || { say "run.sh: python3 is needed (Debian package python3)"; exit 2; }
command -v taskset >/dev/null || { say "run.sh: taskset is needed (Debian package util-linux)"; exit 2; }
if ! command -v fasttext >/dev/null; then
    say "run.sh: fastText is missing: installing the Debian package fasttext with apt-get"
    sudo_cmd=()
    [ "$(id -u)" = 0 ] || sudo_cmd=(sudo)
    export DEBIAN_FRONTEND=noninteractive
    "${sudo_cmd[@]}" apt-get update -qq
    "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends fasttext >&2
fi
ft_version=$(dpkg-query -W -f='${Version}' fasttext 2>/dev/null || echo unknown)

# Timed work runs single-threaded on core 1 (core 0 if there is only one);
# untimed helpers are niced.
core=1
taskset -c "$core" true 2>/dev/null || core=0
pin=(taskset -c "$core")
helper=(nice -n 10)

# palabre: $PALABRE, else build/palabre. Missing: fastText still runs, and
# the tables say palabre was not run and why.
palabre=${PALABRE:-$root/build/palabre}
palabre_missing=""
if [ ! -x "$palabre" ]; then
    palabre_missing="palabre binary not found at $palabre: run make first (or meson setup build && ninja -C build), or set PALABRE=/path/to/palabre"
    say "run.sh: $palabre_missing"
    for b in /tmp/build*/palabre; do
        if [ -x "$b" ]; then say "run.sh: (there is $b: PALABRE=$b $0 would use it)"; fi
    done
    say "run.sh: going on with fastText only"
fi

tmp=$(mktemp -d -t palabre-nlu.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
trap 'exit 130' INT TERM
rec="$tmp/records.jsonl"
: >"$rec"

# jstr S -> S as a JSON string
jstr() { python3 -c 'import json,sys; print(json.dumps(sys.argv[1]))' "$1"; }
# elapsed T0 T1 -> seconds between two $EPOCHREALTIME readings
elapsed() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.6f", b - a }'; }

palabre_commit=$(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo none)
printf '{"kind":"meta","date":"%s","host_cpus":%s,"cpu":"%s","core":%s,"runs":%s,"fasttext":"%s","palabre":%s,"palabre_commit":"%s","data_dir":%s,"bench_lines":100000,"preprocessing_fasttext":"lower-cased, spaces around . ! ? , %s / ( ) (fastText tutorial)","fasttext_common_args":"-thread 1 -seed 0 -verbose 0"}\n' \
    "$(date -u +%FT%TZ)" "$(nproc)" "$(awk -F': ' '/model name/ { print $2; exit }' /proc/cpuinfo | tr -d '"')" \
    "$core" "$runs" "$ft_version" "$(jstr "$palabre")" "$palabre_commit" "$(jstr "$data_dir")" "'" >>"$rec"

# --- fastText grid -----------------------------------------------------------
# Five settings, the same for every corpus (no per-corpus tuning); the best by
# macro-F1 on the test split is reported, which flatters fastText.
grid=(
    "words|-dim 50 -epoch 50 -lr 1.0 -wordNgrams 1"
    "bigrams|-dim 50 -epoch 50 -lr 1.0 -wordNgrams 2 -bucket 100000"
    "bigrams-ova|-dim 50 -epoch 50 -lr 1.0 -wordNgrams 2 -bucket 100000 -loss ova"
    "char3-5|-dim 50 -epoch 50 -lr 0.5 -wordNgrams 2 -minn 3 -maxn 5 -bucket 100000"
    "char3-5-ova|-dim 50 -epoch 50 -lr 0.5 -wordNgrams 2 -minn 3 -maxn 5 -bucket 100000 -loss ova"
)
for g in "${grid[@]}"; do
    printf '{"kind":"grid_setting","name":"%s","args":"%s"}\n' "${g%%|*}" "${g#*|}" >>"$rec"
done

# ft_train DIR ARGS -> trains DIR/model.bin; sets T_TRAIN
ft_train() {
    local dir=$1 args=$2 t0 t1
    t0=$EPOCHREALTIME
    # shellcheck disable=SC2086  # ARGS is a list of options
    "${pin[@]}" fasttext supervised -input "$dir/train.txt" -output "$dir/model" \
        -thread 1 -seed 0 -verbose 0 $args
    t1=$EPOCHREALTIME
    T_TRAIN=$(elapsed "$t0" "$t1")
}
# ft_speed DIR -> sets T_PRED: wall time of `fasttext predict` over the
# 100,000-line file, model loading included.
ft_speed() {
    local dir=$1 t0 t1
    t0=$EPOCHREALTIME
    "${pin[@]}" fasttext predict "$dir/model.bin" "$dir/bench.txt" >/dev/null
    t1=$EPOCHREALTIME
    T_PRED=$(elapsed "$t0" "$t1")
}
# ft_record KIND CORPUS SETTING RUN DIR
ft_record() {
    local kind=$1 corpus=$2 setting=$3 run=$4 dir=$5 score
    "${helper[@]}" fasttext predict "$dir/model.bin" "$dir/test.txt" >"$dir/pred.txt"
    # shellcheck disable=SC2046
    score=$("${helper[@]}" python3 "$here/score.py" $(printf -- '--gold %s ' "${test_files[@]}") \
        --pred "$dir/pred.txt")
    printf '{"kind":"%s","corpus":"%s","setting":"%s","run":%s,"train_s":%s,"predict_s":%s,"bench_lines":100000,"model_bytes":%s,"score":%s}\n' \
        "$kind" "$corpus" "$setting" "$run" "$T_TRAIN" "$T_PRED" \
        "$(stat -c %s "$dir/model.bin")" "$score" >>"$rec"
    SCORE_LINE=$(python3 -c 'import json,sys; s=json.loads(sys.argv[1]); print("macro-F1 %.3f, accuracy %.3f" % (s["macro_f1"], s["accuracy"]) + ("" if s["oos_recall"] is None else ", OOS recall %.3f" % s["oos_recall"]))' "$score")
}

# --- palabre -----------------------------------------------------------------
palabre_ok=1
palabre_run() {
    local corpus=$1 run=$2 dir=$3 t0 t1 args=() f json rc=0
    for f in "${train_files[@]}"; do args+=(--train "$f"); done
    for f in "${test_files[@]}"; do args+=(--test "$f"); done
    t0=$EPOCHREALTIME
    "${pin[@]}" "$palabre" nlu-eval "${args[@]}" --json >"$dir/palabre.json" 2>"$dir/palabre.err" || rc=$?
    t1=$EPOCHREALTIME
    if [ $rc != 0 ]; then
        local msg
        msg="palabre nlu-eval failed (exit $rc): $(tail -c 300 "$dir/palabre.err")"
        say "  [$corpus] $msg"
        printf '{"kind":"palabre","corpus":"%s","run":%s,"error":%s}\n' "$corpus" "$run" "$(jstr "$msg")" >>"$rec"
        palabre_ok=0
        return 0
    fi
    if ! json=$(python3 -c 'import json,sys; print(json.dumps(json.load(open(sys.argv[1]))))' "$dir/palabre.json" 2>/dev/null); then
        say "  [$corpus] palabre nlu-eval printed no valid JSON (see its --json output)"
        printf '{"kind":"palabre","corpus":"%s","run":%s,"error":"nlu-eval --json printed no valid JSON"}\n' "$corpus" "$run" >>"$rec"
        palabre_ok=0
        return 0
    fi
    printf '{"kind":"palabre","corpus":"%s","run":%s,"wall_s":%s,"result":%s}\n' \
        "$corpus" "$run" "$(elapsed "$t0" "$t1")" "$json" >>"$rec"
    say "  [$corpus] palabre run $run: $(python3 -c 'import json,sys; r=json.loads(sys.argv[1]); f=lambda k,fmt: "?" if r.get(k) is None else fmt % r[k]; print("macro-F1 %s, train %s ms, %s utt/s" % (f("macro_f1","%.3f"), f("train_ms","%.0f"), f("predict_per_s","%.0f")))' "$json")"
}

# --- main loop -----------------------------------------------------------------
declare -A best_of=()
start=$EPOCHREALTIME
say "run.sh: data $data_dir; fastText $ft_version; timed work on core $core; $runs runs"
if [ -n "$palabre_missing" ]; then
    printf '{"kind":"palabre_missing","message":%s}\n' "$(jstr "$palabre_missing")" >>"$rec"
fi
for c in "${corpora[@]}"; do
    IFS='|' read -r name trains tests grid_from <<<"$c"
    train_files=() test_files=()
    for f in $trains; do train_files+=("$data_dir/$f"); done
    for f in $tests; do test_files+=("$data_dir/$f"); done
    dir="$tmp/$name"
    mkdir -p "$dir"
    "${helper[@]}" python3 "$here/ftprep.py" train "${train_files[@]}" >"$dir/train.txt"
    "${helper[@]}" python3 "$here/ftprep.py" text "${test_files[@]}" >"$dir/test.txt"
    "${helper[@]}" python3 "$here/ftprep.py" text --lines 100000 "${test_files[@]}" >"$dir/bench.txt"

    # 1. fastText grid: one run per setting (F1 is deterministic with -thread 1).
    settings=("${grid[@]}")
    if [ -n "$grid_from" ] && [ -n "${best_of[$grid_from]:-}" ]; then
        settings=("${best_of[$grid_from]}")
        say "  [$name] fastText: setting chosen on $grid_from: ${settings[0]%%|*}"
    else
        grid_from=""
    fi
    printf '{"kind":"corpus","corpus":"%s","train":["%s"],"test":["%s"],"setting_from":"%s"}\n' "$name" \
        "${trains// /\",\"}" "${tests// /\",\"}" "$grid_from" >>"$rec"
    best="" best_f1=-1
    for g in "${settings[@]}"; do
        setting=${g%%|*} ftargs=${g#*|}
        ft_train "$dir" "$ftargs"
        ft_speed "$dir"
        ft_record ft_grid "$name" "$setting" 0 "$dir"
        say "  [$name] fastText $setting: $SCORE_LINE; train ${T_TRAIN%????} s; $(awk -v t="$T_PRED" 'BEGIN { printf "%.0f", 100000 / t }') utt/s"
        f1=$(tail -n 1 "$rec" | python3 -c 'import json,sys; print(json.load(sys.stdin)["score"]["macro_f1"])')
        if awk -v a="$f1" -v b="$best_f1" 'BEGIN { exit !(a > b) }'; then
            best=$setting best_args=$ftargs best_f1=$f1
        fi
    done
    say "  [$name] fastText best: $best (macro-F1 $best_f1)"
    best_of[$name]="$best|$best_args"

    # 2. A B A B: palabre, then fastText's best setting (train + throughput).
    for ((i = 1; i <= runs; i++)); do
        if [ -z "$palabre_missing" ] && [ $palabre_ok = 1 ]; then
            palabre_run "$name" "$i" "$dir"
        fi
        ft_train "$dir" "$best_args"
        ft_speed "$dir"
        ft_record ft_run "$name" "$best" "$i" "$dir"
        say "  [$name] fastText $best run $i: train ${T_TRAIN%????} s; $(awk -v t="$T_PRED" 'BEGIN { printf "%.0f", 100000 / t }') utt/s"
    done
    palabre_ok=1
done

mkdir -p "$(dirname "$out")"
"${helper[@]}" python3 "$here/report.py" "$rec" "$out"
say ""
say "run.sh: done in $(awk -v a="$start" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.0f", b - a }') s; raw results: $out"
