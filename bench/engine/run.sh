#!/usr/bin/env bash
# bench/engine/run.sh [RUNS] — messages per second through language
# understanding + dialogue, in process, one core, for each example bot,
# replaying bench/engine/BOT.txt (median of RUNS runs, default 5, min–max).
# Needs a build (make) and the generated monresultat data (scripts/bootstrap).
set -euo pipefail
cd "$(dirname "$0")/../.."
runs=${1:-5}
bench=build/bench/engine/engine_bench
if [ ! -x "$bench" ]; then
    echo "bench/engine: $bench not built: run make first" >&2
    exit 2
fi
core=1
taskset -c "$core" true 2>/dev/null || core=0
printf '| bot | messages/s, one core (median, min–max) | messages in the script |\n|---|---|---|\n'
for script in bench/engine/*.txt; do
    bot=$(basename "$script" .txt)
    rates=()
    for _ in $(seq "$runs"); do
        rates+=("$(taskset -c "$core" "$bench" "bots/$bot" "$script" 2 |
            python3 -c 'import json,sys; print(round(json.load(sys.stdin)["messages_per_s"]))')")
    done
    sorted=$(printf '%s\n' "${rates[@]}" | sort -n)
    median=$(printf '%s\n' "$sorted" | sed -n "$(((runs + 1) / 2))p")
    lines=$(grep -cv '^\(# \|#$\|$\)' "$script")
    printf '| %s | %s (%s–%s) | %s |\n' "$bot" "$median" "$(printf '%s\n' "$sorted" | head -1)" \
        "$(printf '%s\n' "$sorted" | tail -1)" "$lines"
done
