#!/usr/bin/env bash
# bench/http/run.sh — palabre end to end over HTTP (REST API, durable store) against
# the ceiling of this machine: nginx answering a fixed 200.
#
#   bench/http/run.sh [--rounds N] [--duration S] [--rate R] [--conns C[,C...]]
#                     [--customers N] [--bots LIST] [--sync-normal] [--only pinned|shared]
#                     [--out FILE]
#
# Defaults: 5 rounds, 8 s per load, 5,000 requests/s, 64 then 256 connections
# for the throughput (the first count also for the fixed rate), 50,000
# customers, bots "stade" (e.g. --bots stade,monresultat,assistant for a mix),
# the store fsyncing each commit (store_sync_full=true; --sync-normal: false).
# About 8 minutes. Needs build/palabre (or PALABRE=/path); installs wrk and
# nginx-light from Debian when missing. Summary on stdout, progress on stderr,
# raw results as JSON lines in FILE, written as the runs go (default: a new
# file under ${TMPDIR:-/tmp}).
# Method and how to read it: bench/http/README.md.
#
# What runs, all on 127.0.0.1, each palabre run with a fresh data directory,
# first with the server on core 0 and the load generator on core 1 ("pinned"),
# then with no pinning, everything sharing both cores ("shared": the "2 cores"
# of the targets in BENCH.md):
#   1. throughput: `wrk -t1 -cC -d8s --latency -s bench/http/messages.lua`
#      (closed loop: C connections, each sends its next message as soon as the
#      answer comes), palabre and nginx alternately, A B A B, N rounds each,
#      for each C of --conns (64, then 256: a durable server answers a message
#      once its batch is on disk, so 64 in flight leave the cores waiting for
#      the fsync; 256 measure its saturation rate);
#   2. latency at a fixed rate: bench/http/fixedrate.c, N runs against palabre
#      and one against nginx (the load generator's own floor).
#
# Why a C program for the fixed rate and not wrk with a Lua delay(): wrk's
# delay() only spaces a connection's requests, and wrk times a request from the
# moment it is sent. When the server stalls, a paced closed-loop client stops
# sending, so the requests that real customers would have sent meanwhile are
# never made and their waiting is never counted ("coordinated omission"): the
# p99 comes out too good, by far when there are stalls (an fsync, a lock).
# fixedrate.c is open loop: request i is due at t0 + i/rate whatever happened
# before, and its latency runs from that due time (as wrk2 does; Debian 12 has
# no wrk2). It is about 500 lines, built here with `cc -O2` in a few tenths of
# a second; it also reports the latency from the actual send ("service_us"),
# the figure a closed-loop tool would give, so the difference shows.
set -euo pipefail
export LC_ALL=C

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(git -C "$here" rev-parse --show-toplevel 2>/dev/null || (cd "$here/../.." && pwd))
self="$here/$(basename "${BASH_SOURCE[0]}")"
orig=$PWD
cd "$root"
# abs PATH -> PATH made absolute against the directory run.sh was started from
abs() { case "$1" in /*) printf '%s' "$1" ;; *) printf '%s/%s' "$orig" "$1" ;; esac; }

usage() { sed -n '2,16s/^# \{0,1\}//p' "$self"; }
say() { printf '%s\n' "$*" >&2; }
die() { say "run.sh: $*"; exit 2; }

rounds=5 duration=8 rate=5000 conns_list=64,256 customers=50000 bots=stade sync_full=true
only="" out=""
while [ $# -gt 0 ]; do
    case "$1" in
        --rounds) rounds=$2; shift 2 ;;
        --duration) duration=$2; shift 2 ;;
        --rate) rate=$2; shift 2 ;;
        --conns) conns_list=$2; shift 2 ;;
        --customers) customers=$2; shift 2 ;;
        --bots) bots=$2; shift 2 ;;
        --sync-normal) sync_full=false; shift ;;
        --only) only=$2; shift 2 ;;
        --out) out=$2; shift 2 ;;
        -h|--help) usage; exit 0 ;;
        *) say "run.sh: unknown argument $1"; usage >&2; exit 2 ;;
    esac
done
for v in rounds duration rate customers; do
    case "${!v}" in ''|*[!0-9]*|0) die "--$v wants a positive integer" ;; esac
done
IFS=, read -r -a conns_all <<<"$conns_list"
[ "${#conns_all[@]}" -ge 1 ] && [ "${#conns_all[@]}" -le 4 ] || die "--conns: one to four connection counts, comma-separated"
for c in "${conns_all[@]}"; do
    case "$c" in ''|*[!0-9]*|0) die "--conns: positive integers, comma-separated (got $conns_list)" ;; esac
    [ "$c" -le 4000 ] || die "--conns: at most 4000 connections (palabre's and nginx's limits here)"
done
conns=${conns_all[0]} # the fixed-rate runs' connections
[ "$rounds" -le 50 ] && [ "$duration" -le 120 ] || die "at most 50 rounds of 120 s"
case "$only" in ''|pinned|shared) ;; *) die "--only pinned or --only shared" ;; esac
case "$bots" in *[!a-z0-9_,]*|'') die "--bots: a comma-separated list of bot names" ;; esac
for b in ${bots//,/ }; do
    [ -s "bench/engine/$b.txt" ] || die "no conversations for bot $b (bench/engine/$b.txt)"
done
if [ -n "$out" ]; then out=$(abs "$out"); else out=${TMPDIR:-/tmp}/palabre-http-$(date +%Y%m%d-%H%M%S).jsonl; fi

# --- what we need ------------------------------------------------------------
palabre=build/palabre
[ -z "${PALABRE:-}" ] || palabre=$(abs "$PALABRE")
if [ ! -x "$palabre" ]; then
    die "$palabre not found: build it first (make, or meson setup build && ninja -C build), or set PALABRE=/path/to/palabre; this benchmark builds nothing of palabre"
fi
newer=$(find src -name '*.[ch]' -newer "$palabre" -print -quit 2>/dev/null || true)
[ -z "$newer" ] || say "run.sh: warning: $newer is newer than $palabre: rebuild (ninja -C build) to measure the current code"
for t in taskset cc python3; do
    command -v "$t" >/dev/null || die "$t is needed (Debian: util-linux, build-essential, python3; scripts/bootstrap installs them)"
done
nginx_bin=$(command -v nginx || true)
[ -n "$nginx_bin" ] || { [ -x /usr/sbin/nginx ] && nginx_bin=/usr/sbin/nginx; } || true
missing=()
command -v wrk >/dev/null || missing+=(wrk)
[ -n "$nginx_bin" ] || missing+=(nginx-light)
if [ "${#missing[@]}" -gt 0 ]; then
    say "run.sh: installing the peers ${missing[*]} (Debian packages) with apt-get"
    sudo_cmd=()
    [ "$(id -u)" = 0 ] || sudo_cmd=(sudo)
    export DEBIAN_FRONTEND=noninteractive
    "${sudo_cmd[@]}" apt-get update -qq
    "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
    nginx_bin=$(command -v nginx || echo /usr/sbin/nginx)
fi
[ -x "$nginx_bin" ] || die "nginx still missing after apt-get"
wrk_version=$(dpkg-query -W -f='${Version}' wrk 2>/dev/null || echo unknown)
nginx_version=$("$nginx_bin" -v 2>&1 | sed 's/^nginx version: //')

placements=(pinned shared)
if ! taskset -c 1 true 2>/dev/null; then
    say "run.sh: only one core: no pinned runs"
    placements=(shared)
fi
[ -z "$only" ] || placements=("$only")

# --- temp dir, cleanup ---------------------------------------------------------
tmp=$(mktemp -d -t palabre-http.XXXXXX)
pal_pid="" nginx_pid=""
# alive PID: running (a zombie, dead but not yet waited for, is not)
alive() {
    local st
    st=$(sed 's/.*) //' "/proc/$1/stat" 2>/dev/null | cut -c1) || return 1
    [ -n "$st" ] && [ "$st" != Z ] && [ "$st" != X ]
}
stop_pid() { # PID WAIT-SECONDS: TERM, wait (bounded), then KILL
    local pid=$1 secs=$2 i
    [ -n "$pid" ] && alive "$pid" || return 0
    kill -TERM "$pid" 2>/dev/null || true
    for ((i = 0; i < secs * 10; i++)); do
        alive "$pid" || return 0
        sleep 0.1
    done
    kill -KILL "$pid" 2>/dev/null || true
}
cleanup() {
    stop_pid "$pal_pid" 5
    stop_pid "$nginx_pid" 5
    rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
pal_port=$(free_port) nginx_port=$(free_port) orders_port=$(free_port)
[ "$pal_port" != "$nginx_port" ] && [ "$nginx_port" != "$orders_port" ] && [ "$pal_port" != "$orders_port" ] ||
    die "could not find three free ports"
token="bench-$(od -An -N8 -tx8 /dev/urandom | tr -d ' ')"
tck=$(getconf CLK_TCK)

# the open-loop generator
cc -O2 -o "$tmp/fixedrate" "$here/fixedrate.c" || die "could not build bench/http/fixedrate.c"

# http_status PORT PATH -> the status code of a GET on loopback (bash only, 1 s max)
http_status() {
    local code=000 line
    if { exec 3<>"/dev/tcp/127.0.0.1/$1"; } 2>/dev/null; then
        printf 'GET %s HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n' "$2" >&3 || true
        if IFS= read -r -t 1 line <&3; then code=$(printf '%s' "$line" | awk '{print $2}'); fi
        exec 3>&- 3<&-
    fi
    printf '%s' "${code:-000}"
}

# --- nginx: the ceiling (one port) and the stade bot's order service (another) --
mkdir -p "$tmp/nginx"
nginx_user=""
[ "$(id -u)" != 0 ] || nginx_user="user $(id -un);"
cat >"$tmp/nginx/nginx.conf" <<EOF
# minimal nginx for bench/http: one worker, a fixed 200, no access log
$nginx_user
worker_processes 1;
pid $tmp/nginx/nginx.pid;
error_log $tmp/nginx/error.log warn;
events { worker_connections 4096; }
http {
    access_log off;
    keepalive_requests 1000000;
    client_body_temp_path $tmp/nginx/body;
    proxy_temp_path $tmp/nginx/proxy;
    fastcgi_temp_path $tmp/nginx/fastcgi;
    uwsgi_temp_path $tmp/nginx/uwsgi;
    scgi_temp_path $tmp/nginx/scgi;
    server {
        listen 127.0.0.1:$nginx_port;
        location / { return 200 'ok'; }
    }
    server {
        listen 127.0.0.1:$orders_port;
        location = /orders {
            default_type application/json;
            return 200 '{"id": 4521, "status": "placed"}';
        }
    }
}
EOF
nginx_cmd=("$nginx_bin" -p "$tmp/nginx" -c "$tmp/nginx/nginx.conf" -e "$tmp/nginx/error.log" -g "daemon off;")
start_nginx() { # PIN...
    "$@" "${nginx_cmd[@]}" 2>>"$tmp/nginx/stderr" &
    nginx_pid=$!
    local i
    for ((i = 0; i < 100; i++)); do
        [ "$(http_status "$nginx_port" /)" = 200 ] && return 0
        alive "$nginx_pid" || break
        sleep 0.05
    done
    die "nginx did not start: $(tail -c 500 "$tmp/nginx/stderr" "$tmp/nginx/error.log" 2>/dev/null)"
}
stop_nginx() { stop_pid "$nginx_pid" 5; wait "$nginx_pid" 2>/dev/null || true; nginx_pid=""; }

# --- palabre -----------------------------------------------------------------------
bot_dirs=(bots/stade bots/monresultat bots/assistant)
pal_args=(serve --listen "127.0.0.1:$pal_port" --set rate_customer_per_minute=1000000
    --set "store_sync_full=$sync_full")
run_n=0
start_palabre() { # PIN... ; sets pal_pid, pal_dir, pal_ready_ms
    run_n=$((run_n + 1))
    pal_dir="$tmp/run$run_n"
    mkdir -p "$pal_dir"
    local t0=$EPOCHREALTIME i
    PALABRE_API_TOKEN=$token PALABRE_STADE_SERVICE_ORDERS_URL="http://127.0.0.1:$orders_port/orders" \
        "$@" "$palabre" "${pal_args[@]}" --data "$pal_dir/data" "${bot_dirs[@]}" >"$pal_dir/log" 2>&1 &
    pal_pid=$!
    for ((i = 0; i < 200; i++)); do
        if [ "$(http_status "$pal_port" /readyz)" = 200 ]; then
            pal_ready_ms=$(awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.0f", (b - a) * 1000 }')
            return 0
        fi
        alive "$pal_pid" || break
        sleep 0.05
    done
    die "palabre did not become ready: $(tail -c 800 "$pal_dir/log")"
}
proc_kb() { awk -v k="$2:" '$1 == k { print $2 }' "/proc/$1/status" 2>/dev/null || true; }
proc_cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat" 2>/dev/null || echo 0; }
# stop_palabre -> sets PROC_JSON (process facts of the run) and removes the data dir
stop_palabre() {
    local alive=true rss hwm threads exit_code t0 stop_ms warn err fatal stored="null" pending="null" db_kb
    alive "$pal_pid" || alive=false
    rss=$(proc_kb "$pal_pid" VmRSS) hwm=$(proc_kb "$pal_pid" VmHWM) threads=$(proc_kb "$pal_pid" Threads)
    t0=$EPOCHREALTIME
    stop_pid "$pal_pid" 15
    exit_code=0
    wait "$pal_pid" 2>/dev/null || exit_code=$?
    stop_ms=$(awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.0f", (b - a) * 1000 }')
    pal_pid=""
    warn=$(grep -c '"level":"warn"' "$pal_dir/log" || true)
    err=$(grep -c '"level":"error"' "$pal_dir/log" || true)
    fatal=$(grep -v -e '^{' -e '^palabre: serving on' -e '^[[:space:]]*$' "$pal_dir/log" | grep -c . || true)
    if command -v sqlite3 >/dev/null && [ -f "$pal_dir/data/palabre.db" ]; then
        stored=$(sqlite3 "$pal_dir/data/palabre.db" "select count(*) from messages where direction = 'in'" 2>/dev/null || echo null)
        pending=$(sqlite3 "$pal_dir/data/palabre.db" "select count(*) from messages where direction = 'in' and status = 'received'" 2>/dev/null || echo null)
    fi
    db_kb=$(du -sk "$pal_dir/data" 2>/dev/null | awk '{ print $1 }')
    # keep the log lines worth reading (deduplicated, at most 5 per run)
    { grep -v -e '"level":"info"' -e '^palabre: serving on' -e '^[[:space:]]*$' "$pal_dir/log" |
        sed 's/"ts":"[^"]*",//' | sort | uniq -c | sort -rn | head -n 5 |
        sed "s/^/run $run_n ($1): /"; } >>"$tmp/notable.log" || true
    PROC_JSON=$(printf '{"ready_ms": %s, "rss_ready_kb": %s, "rss_end_kb": %s, "hwm_kb": %s, "threads": %s, "cpu_s": %s, "alive_at_end": %s, "exit": %s, "stop_ms": %s, "log_warn": %s, "log_error": %s, "log_other": %s, "stored_in": %s, "unprocessed_in": %s, "data_kb": %s}' \
        "$pal_ready_ms" "${RSS_READY:-null}" "${rss:-null}" "${hwm:-null}" "${threads:-null}" "${CPU_S:-null}" \
        "$alive" "$exit_code" "$stop_ms" "${warn:-0}" "${err:-0}" "${fatal:-0}" "${stored:-null}" "${pending:-null}" "${db_kb:-null}")
    rm -rf "$pal_dir"
}

# --- the load ---------------------------------------------------------------------
wrk_args=(-t1 "-cCONNS" "-d${duration}s" --latency -s "bench/http/messages.lua")
# run_wrk LABEL PORT ROUND CONNS PIN... -> sets WRK_JSON; wrk's own output goes to stderr
run_wrk() {
    local label=$1 port=$2 round=$3 c=$4 rc=0
    shift 4
    timeout $((duration + 30)) "$@" wrk "${wrk_args[@]/CONNS/$c}" "http://127.0.0.1:$port" \
        -- "$token" "$customers" "$round" bench/engine "$bots" >"$tmp/wrk.out" 2>&1 || rc=$?
    sed 's/^/    /' "$tmp/wrk.out" | grep -v 'wrk-json' >&2
    WRK_JSON=$(sed -n 's/^wrk-json //p' "$tmp/wrk.out" | tail -n 1)
    if [ $rc != 0 ] || [ -z "$WRK_JSON" ]; then
        say "run.sh: wrk failed against $label (exit $rc)"
        WRK_JSON='{"failed": true}'
    fi
}
fixed_args=(--rate "$rate" --conns "$conns" --duration "$duration" --warmup 1 --customers "$customers"
    --bots "$bots" --scripts bench/engine)
# run_fixed LABEL PORT ROUND PIN... -> sets FIXED_JSON
run_fixed() {
    local label=$1 port=$2 round=$3 rc=0
    shift 3
    timeout $((duration + 30)) "$@" "$tmp/fixedrate" --port "$port" --token "$token" --seed "$round" \
        "${fixed_args[@]}" >"$tmp/fixed.out" 2>"$tmp/fixed.err" || rc=$?
    sed -n '1,12s/^/    /p' "$tmp/fixed.err" >&2
    FIXED_JSON=$(tail -n 1 "$tmp/fixed.out")
    if [ $rc != 0 ] || [ -z "$FIXED_JSON" ]; then
        say "run.sh: fixedrate failed against $label (exit $rc)"
        FIXED_JSON='{"failed": true}'
    fi
    say "    $(python3 -c 'import json,sys; r=json.loads(sys.argv[1]); l=r.get("latency_us",{}); print("achieved %s/s, p50 %s µs, p99 %s µs, max %s µs, non-2xx %s, errors %s, unanswered %s" % (r.get("achieved_rps"), l.get("p50"), l.get("p99"), l.get("max"), r.get("non2xx"), r.get("errors"), r.get("unanswered")))' "$FIXED_JSON")"
}
mkdir -p "$(dirname "$out")"
: >"$out"
record() { printf '%s\n' "$1" >>"$out"; } # as it goes: a run cut short keeps its results

commit=$(git rev-parse --short HEAD 2>/dev/null || echo none)
dirty=$(git status --porcelain --untracked-files=no 2>/dev/null | wc -l)
record "$(printf '{"bench": "http", "kind": "meta", "date": "%s", "commit": "%s", "modified_files": %s, "cpu": "%s", "cpus": %s, "kernel": "%s", "wrk": "%s", "nginx": "%s", "palabre": "%s", "rounds": %s, "duration_s": %s, "rate": %s, "conns": %s, "conns_throughput": [%s], "customers": %s, "bots": "%s", "store_sync_full": %s, "data_fs": "%s", "palabre_port": %s, "nginx_port": %s, "orders_port": %s}' \
    "$(date -u +%FT%TZ)" "$commit" "$dirty" "$(awk -F': ' '/model name/ { print $2; exit }' /proc/cpuinfo | tr -d '"')" \
    "$(nproc)" "$(uname -r)" "$wrk_version" "$nginx_version" "$palabre" "$rounds" "$duration" "$rate" "$conns" "$conns_list" \
    "$customers" "$bots" "$sync_full" "$(df -PT "$tmp" | awk 'NR == 2 { print $2 }')" "$pal_port" "$nginx_port" "$orders_port")"
: >"$tmp/notable.log"

start=$EPOCHREALTIME
say "run.sh: palabre $palabre (commit $commit), wrk $wrk_version, nginx $nginx_version; temp $tmp"
say "run.sh: ports: palabre $pal_port, nginx $nginx_port, order service (nginx) $orders_port; results: $out"
for placement in "${placements[@]}"; do
    if [ "$placement" = pinned ]; then
        pin_server=(taskset -c 0) pin_client=(taskset -c 1)
    else
        pin_server=() pin_client=()
    fi
    start_nginx "${pin_server[@]}"

    for c in "${conns_all[@]}"; do
    say "== $placement: throughput, wrk -t1 -c$c -d${duration}s, A B A B x $rounds"
    for ((r = 1; r <= rounds; r++)); do
        start_palabre "${pin_server[@]}"
        RSS_READY=$(proc_kb "$pal_pid" VmRSS)
        c0=$(proc_cpu_ticks "$pal_pid")
        say "  [$placement] -c$c round $r: palabre (ready in $pal_ready_ms ms, RSS $RSS_READY kB)"
        run_wrk palabre "$pal_port" "$r" "$c" "${pin_client[@]}"
        CPU_S=$(awk -v a="$c0" -v b="$(proc_cpu_ticks "$pal_pid")" -v t="$tck" 'BEGIN { printf "%.2f", (b - a) / t }')
        stop_palabre "$placement throughput"
        say "    palabre process: $PROC_JSON"
        record "{\"bench\": \"http\", \"kind\": \"throughput\", \"placement\": \"$placement\", \"conns\": $c, \"server\": \"palabre\", \"round\": $r, \"result\": $WRK_JSON, \"process\": $PROC_JSON}"
        say "  [$placement] -c$c round $r: nginx"
        run_wrk nginx "$nginx_port" "$r" "$c" "${pin_client[@]}"
        record "{\"bench\": \"http\", \"kind\": \"throughput\", \"placement\": \"$placement\", \"conns\": $c, \"server\": \"nginx\", \"round\": $r, \"result\": $WRK_JSON}"
    done
    done

    say "== $placement: latency at $rate requests/s (open loop), $rounds runs + 1 of nginx"
    say "  [$placement] nginx (the load generator's floor)"
    run_fixed nginx "$nginx_port" 0 "${pin_client[@]}"
    record "{\"bench\": \"http\", \"kind\": \"fixedrate\", \"placement\": \"$placement\", \"server\": \"nginx\", \"round\": 0, \"result\": $FIXED_JSON}"
    for ((r = 1; r <= rounds; r++)); do
        start_palabre "${pin_server[@]}"
        RSS_READY=$(proc_kb "$pal_pid" VmRSS)
        c0=$(proc_cpu_ticks "$pal_pid")
        say "  [$placement] run $r: palabre (ready in $pal_ready_ms ms)"
        run_fixed palabre "$pal_port" "$r" "${pin_client[@]}"
        CPU_S=$(awk -v a="$c0" -v b="$(proc_cpu_ticks "$pal_pid")" -v t="$tck" 'BEGIN { printf "%.2f", (b - a) / t }')
        stop_palabre "$placement fixed rate"
        say "    palabre process: $PROC_JSON"
        record "{\"bench\": \"http\", \"kind\": \"fixedrate\", \"placement\": \"$placement\", \"server\": \"palabre\", \"round\": $r, \"result\": $FIXED_JSON, \"process\": $PROC_JSON}"
    done
    stop_nginx
done
elapsed=$(awk -v a="$start" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.0f", b - a }')

# --- the summary -------------------------------------------------------------------
pin_note="server (palabre or nginx) on core 0, load generator on core 1"
cmd_palabre="PALABRE_API_TOKEN=\$TOKEN PALABRE_STADE_SERVICE_ORDERS_URL=http://127.0.0.1:$orders_port/orders [taskset -c 0] $palabre ${pal_args[*]} --data FRESH_DIR ${bot_dirs[*]}"
cmd_nginx="[taskset -c 0] $nginx_bin -p TMP/nginx -c TMP/nginx/nginx.conf -e TMP/nginx/error.log -g 'daemon off;'"
cmd_wrk="[taskset -c 1] wrk ${wrk_args[*]/CONNS/C} http://127.0.0.1:PORT -- \$TOKEN $customers ROUND bench/engine $bots"
cmd_fixed="cc -O2 -o fixedrate bench/http/fixedrate.c && [taskset -c 1] ./fixedrate --port PORT --token \$TOKEN --seed ROUND ${fixed_args[*]}"
python3 - "$out" "$elapsed" "$pin_note" "$cmd_palabre" "$cmd_nginx" "$cmd_wrk" "$cmd_fixed" "$tmp/notable.log" \
    "$tmp/nginx/nginx.conf" <<'EOF'
import json, sys
path, elapsed, pin_note, c_pal, c_ngx, c_wrk, c_fixed, notable, conf = sys.argv[1:10]
recs = [json.loads(l) for l in open(path)]
meta = recs[0]
def med(v):
    v = sorted(v)
    if not v:
        return None
    n = len(v)
    return v[n // 2] if n % 2 else (v[n // 2 - 1] + v[n // 2]) / 2
def fmt(v, f="{:,.0f}"):
    return "–" if v is None else f.format(v)
def mmm(v, f="{:,.0f}", scale=1.0):
    v = [x * scale for x in v if x is not None]
    if not v:
        return "–"
    return f"{f.format(med(v))} ({f.format(min(v))}–{f.format(max(v))})"
def ms(us):
    return None if us is None or us < 0 else us / 1000.0
def sel(kind, placement, server):
    return [r for r in recs if r.get("kind") == kind and r.get("placement") == placement and r.get("server") == server]
placements = [p for p in ("pinned", "shared") if any(r.get("placement") == p for r in recs)]
label = {"pinned": "pinned (" + pin_note + ")", "shared": "shared (no pinning: both cores for everything)"}
P = print
P("")
P(f"# palabre over HTTP vs nginx (bench/http) — {meta['date']}, commit {meta['commit']}"
  + (f" + {meta['modified_files']} modified file(s)" if meta['modified_files'] else ""))
P("")
P(f"Machine: {meta['cpus']} × {meta['cpu']}, Linux {meta['kernel']}; wrk {meta['wrk']}, {meta['nginx']}; "
  f"data directories on {meta['data_fs']} (fresh for every palabre run).")
conns_tp = meta.get("conns_throughput") or [meta["conns"]]
P(f"Load: {', then '.join(str(c) for c in conns_tp)} connections for the throughput, {meta['conns']} for the fixed rate, {meta['duration_s']} s per run, {meta['rounds']} round{'s' if meta['rounds'] > 1 else ''}; messages for "
  f"bot(s) {meta['bots']} from {meta['customers']:,} customers replaying bench/engine's conversations; "
  f"store_sync_full={str(meta['store_sync_full']).lower()}. Total time {elapsed} s.")
P("")
P("## 1. Sustained throughput (wrk, closed loop), A B A B: median (min–max)")
P("")
P("| placement | connections | palabre req/s | p50 ms | p99 ms | non-2xx | nginx req/s | palabre / nginx |")
P("|---|---|---|---|---|---|---|---|")
bad = []
for p, c in [(p, c) for p in placements for c in conns_tp]:
    at_c = lambda rs: [r for r in rs if r.get("conns", meta["conns"]) == c and not r["result"].get("failed")]
    pa = at_c(sel("throughput", p, "palabre"))
    ng = at_c(sel("throughput", p, "nginx"))
    if not pa and not ng:
        continue
    ratios = []
    for a in pa:
        b = [x for x in ng if x["round"] == a["round"]]
        if b and b[0]["result"]["rps"] > 0:
            ratios.append(100.0 * a["result"]["rps"] / b[0]["result"]["rps"])
    non2xx = sum(r["result"]["non2xx"] for r in pa)
    sock = sum(sum(r["result"]["socket_errors"].values()) for r in pa)
    P(f"| {label[p]} | {c} | {mmm([r['result']['rps'] for r in pa])} | "
      f"{mmm([ms(r['result']['latency_us']['p50']) for r in pa], '{:.2f}')} | "
      f"{mmm([ms(r['result']['latency_us']['p99']) for r in pa], '{:.1f}')} | {non2xx}"
      + (f" (+{sock} socket errors)" if sock else "") + " | "
      f"{mmm([r['result']['rps'] for r in ng])} | {mmm(ratios, '{:.1f}%')} |")
    if non2xx or sock:
        bad.append(f"{p} throughput at {c} connections: {non2xx} non-2xx answers, {sock} socket errors from palabre")
    ngbad = sum(r["result"]["non2xx"] for r in ng)
    if ngbad:
        bad.append(f"{p} throughput at {c} connections: nginx gave {ngbad} non-2xx answers")
P("")
P("## 2. Latency at a fixed rate (fixedrate.c, open loop, from each request's due time), runs: median (min–max)")
P("")
P("| placement | server | target/s | achieved/s | p50 ms | p90 ms | p99 ms | p99.9 ms | max ms | p99 from send ms | stalls: 100-ms slots over 50 ms | non-2xx | errors + unanswered + unsent |")
P("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
for p in placements:
    for server in ("palabre", "nginx"):
        rs = [r["result"] for r in sel("fixedrate", p, server) if not r["result"].get("failed")]
        if not rs:
            continue
        lost = sum(r["errors"] + r["unanswered"] + r["unsent"] for r in rs)
        nb = sum(r["non2xx"] for r in rs)
        P(f"| {p} | {server}" + (" (1 run: the generator's floor)" if server == "nginx" else f" ({len(rs)} run{'s' if len(rs) > 1 else ''})")
          + f" | {rs[0]['target_rps']:,.0f} | {mmm([r['achieved_rps'] for r in rs])} | "
          + " | ".join(mmm([ms(r['latency_us'][k]) for r in rs], '{:.2f}') for k in ("p50", "p90", "p99", "p99.9", "max"))
          + f" | {mmm([ms(r['service_us']['p99']) for r in rs], '{:.2f}')} | {mmm([r.get('slots_over_50ms') for r in rs])} | {nb} | {lost} |")
        if server == "palabre" and (nb or lost):
            for i, r in enumerate(rs, 1):
                if r["unsent"]:
                    bad.append(f"{p} fixed rate run {i}: palabre could not keep up with {r['target_rps']:,.0f}/s "
                               f"(achieved {r['achieved_rps']:,.0f}/s; at the end {r['unsent']} requests still "
                               f"queued in the generator and {r['unanswered']} in flight): overload")
                elif r["unanswered"]:
                    bad.append(f"{p} fixed rate run {i}: {r['unanswered']} request(s) sent, never answered "
                               f"(no backlog: the other answers came) — a lost response")
                if r["errors"] or r["non2xx"]:
                    bad.append(f"{p} fixed rate run {i}: {r['non2xx']} non-2xx answers, {r['errors']} "
                               f"connection errors, status {r['status']}")
P("")
P("## 3. The palabre process (every run): median (min–max)")
P("")
P("| placement | load | ready (ms) | RSS at ready (MB) | RSS at the end (MB) | peak RSS (MB) | RSS growth per 1k messages (MB) | CPU s per 10k messages | store on disk per 10k messages (MB) | clean stop |")
P("|---|---|---|---|---|---|---|---|---|---|")
for p in placements:
    for kind, name in (("throughput", "wrk"), ("fixedrate", "fixed rate")):
        rs = [r for r in sel(kind, p, "palabre") if "process" in r]
        if not rs:
            continue
        def per10k(r, key):
            n = r["process"].get("stored_in")
            v = r["process"].get(key)
            return None if not n or v is None else v * 10000.0 / n
        stops = [r["process"] for r in rs]
        clean = sum(1 for s in stops if s["exit"] == 0 and s["alive_at_end"])
        P(f"| {p} | {name} | {mmm([s['ready_ms'] for s in stops])} | {mmm([s['rss_ready_kb'] for s in stops], '{:.1f}', 1/1024)} | "
          f"{mmm([s['rss_end_kb'] for s in stops], '{:.1f}', 1/1024)} | {mmm([s['hwm_kb'] for s in stops], '{:.1f}', 1/1024)} | "
          f"{mmm([None if not s.get('stored_in') or s['rss_end_kb'] is None or s['rss_ready_kb'] is None else (s['rss_end_kb'] - s['rss_ready_kb']) * 1000.0 / s['stored_in'] for s in stops], '{:.2f}', 1/1024)} | "
          f"{mmm([per10k(r, 'cpu_s') for r in rs], '{:.2f}')} | {mmm([per10k(r, 'data_kb') for r in rs], '{:.1f}', 1/1024)} | {clean}/{len(rs)} |")
        for r in rs:
            s = r["process"]
            if not s["alive_at_end"]:
                bad.append(f"{p} {name} run {r['round']}: palabre had died before the end of the load (exit {s['exit']})")
            elif s["exit"] != 0:
                bad.append(f"{p} {name} run {r['round']}: palabre exited {s['exit']} on SIGTERM"
                           + (" (killed after 15 s)" if s["exit"] == 137 else "")
                           + (" (abort)" if s["exit"] == 134 else ""))
            if s.get("unprocessed_in"):
                bad.append(f"{p} {name} run {r['round']}: {s['unprocessed_in']} stored messages left unprocessed at stop")
            if s["log_error"] or s["log_other"]:
                bad.append(f"{p} {name} run {r['round']}: {s['log_error']} error log lines, {s['log_other']} other lines on stderr")
P("")
P("Targets (../shared/BENCH.md): ≥ 20,000 messages/s on this 2-core machine (read the 'shared' rows: the "
  "most connections is the saturation rate), "
  "p99 < 20 ms at 5,000/s, aim ≥ 50% of nginx's rate; RSS < 50 MB.")
P("")
P("## What looked wrong")
P("")
if bad:
    for b in bad:
        P(f"- {b}")
else:
    P("- nothing: every answer 2xx, no socket error, every request answered, every stop clean")
lines = [l.rstrip("\n") for l in open(notable) if l.strip()]
if lines:
    P("")
    P("palabre's log lines above info (count, first runs):")
    P("```")
    for l in lines[:25]:
        P(l[:300])
    if len(lines) > 25:
        P(f"... {len(lines) - 25} more")
    P("```")
P("")
P("## Commands")
P("")
P("```sh")
P("# palabre (fresh data directory each run; the stade bot's order service is the nginx below)")
P(c_pal)
P("# nginx (the ceiling on one port, the order service on another), nginx.conf below")
P(c_ngx)
P("# 1. throughput: the same command against palabre and nginx, round R seeds the customers")
P(c_wrk)
P("# 2. fixed rate")
P(c_fixed)
P("```")
P("[taskset …] only in the pinned runs. nginx.conf:")
P("```nginx")
for l in open(conf):
    P(l.rstrip("\n"))
P("```")
P("")
P(f"## Machine-readable ({path})")
P("")
for r in recs:
    P(json.dumps(r, ensure_ascii=False))
EOF
