#!/usr/bin/env bash
# make bench: plughost against a raw epoll echo server (plughost-refecho), `ncat --chat`, HAProxy
# terminating TLS in front of refecho, a UDP echo (plughost-refudp) and a WebSocket echo over Node's ws
# (bench/refws.js), on loopback. Servers run on CPU 0, the load generator on CPU 1; every plughost/reference pair runs
# interleaved (A B A B ...) BENCH_REPS times; the table has medians, ratios and targets. It is printed
# and written to bench/results/latest.md (every run's full output: bench/results/latest.log).
#
#   bench/run.sh BUILD_DIR
#
# Knobs: BENCH_ONLY (some sections only, e.g. tls,udp), BENCH_TLS_REPS, BENCH_TLS_SECONDS, BENCH_TLS_HOLD_CONNS,
# BENCH_TLS_HOLD_REPS, BENCH_UDP_REPS, BENCH_UDP_SECONDS, BENCH_WS_REPS, BENCH_WS_SECONDS (see bench/README.md), BENCH_REPS (3: chat and hold), BENCH_ECHO_REPS (7: echo pairs are cheap), BENCH_STALLED_REPS (5:
# the 100-member chat runs with and without a member that never reads), BENCH_ECHO_SECONDS (3),
# BENCH_CHAT_SECONDS (5), BENCH_HOLD_CONNS (the descriptor cap less 100, at most 19,900; memory is also
# read at 5,000 and 10,000 on the way).
# Every cell shows the median and, in brackets, the fewest and most of its runs. Echo cells also show
# each server's CPU time per round trip (/proc/PID/stat over the measured window, read by the load
# generator), which does not depend on who set the pace.
# Exit status: non-zero only if the instrument itself broke. A missed target is a FAIL in the table;
# a server that is not built or does not start makes its cells "n/a: reason".
set -uo pipefail

BUILD=$(cd "${1:?usage: bench/run.sh BUILD_DIR}" && pwd) || exit 2
ROOT=$(cd "$(dirname "$0")/.." && pwd)
LOADGEN=$BUILD/bench/plughost-loadgen
REFECHO=$BUILD/bench/plughost-refecho
PLUGHOSTD=$BUILD/host/plughostd
PLUGINS=$BUILD/plugins
REPS=${BENCH_REPS:-3}
ECHO_REPS=${BENCH_ECHO_REPS:-7}
STALLED_REPS=${BENCH_STALLED_REPS:-5}
[ "$STALLED_REPS" -ge "$REPS" ] || STALLED_REPS=$REPS
ECHO_SECONDS=${BENCH_ECHO_SECONDS:-3}
CHAT_SECONDS=${BENCH_CHAT_SECONDS:-5}
# As many connections as the per-process descriptor cap allows, for the load generator and the host
# alike (each holds one end, plus a few descriptors of its own), but no more than one loopback address's
# ephemeral ports comfortably give.
HARD_FILES=$(ulimit -Hn)
[ "$HARD_FILES" = unlimited ] && HARD_FILES=1048576
HOLD_CAP=$(( HARD_FILES < 20000 ? HARD_FILES - 100 : 19900 ))
HOLD_CONNS=${BENCH_HOLD_CONNS:-$HOLD_CAP}
HOLD_CHECKPOINTS=$(for c in 5000 10000; do [ "$c" -lt "$HOLD_CONNS" ] && printf '%s,' "$c"; done | sed 's/,$//')
RESULTS=$ROOT/bench/results
# A run of some sections only (BENCH_ONLY) does not replace the full report: results/only-tls-udp.md.
REPORT=latest; [ -z "${BENCH_ONLY:-}" ] || REPORT=only-${BENCH_ONLY//,/-}
BEGAN=$(date +%s)
LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)

for tool in "$LOADGEN" "$REFECHO"; do
    [ -x "$tool" ] || { echo "missing $tool: build the plughost-loadgen and plughost-refecho targets" >&2; exit 1; }
done

WORK=$(mktemp -d /tmp/plughost-bench-XXXXXX)
RUNLOG=$WORK/runs.log
PIDS=()     # every server this script started, and only those
BROKEN=()   # what went wrong with the instrument itself
ROWS=()     # the table
DETAILS=()  # every run's value behind each median
NOTES=()

now_ns() { date +%s%N; }
broken() { BROKEN+=("$*"); echo "instrument: $*" >&2; }

# alive PID: running and not a zombie.
alive() { [ -r "/proc/$1/stat" ] && [ "$(cut -d' ' -f3 "/proc/$1/stat" 2>/dev/null)" != Z ]; }

# stop PID: SIGTERM to one process this script started (and has not stopped yet); SIGKILL if it has
# not exited within 5 s.
stop() {
    local pid=$1 deadline=$(( $(now_ns) + 5000000000 )) kept=() p
    for p in "${PIDS[@]}"; do [ "$p" = "$pid" ] || kept+=("$p"); done
    [ "${#kept[@]}" != "${#PIDS[@]}" ] || return 0  # not ours, or stopped already
    PIDS=("${kept[@]}")  # once reaped, its number may belong to someone else's process
    kill "$pid" 2>/dev/null
    while alive "$pid"; do
        if [ "$(now_ns)" -ge "$deadline" ]; then kill -9 "$pid" 2>/dev/null; break; fi
        sleep 0.01
    done
    wait "$pid" 2>/dev/null
    return 0
}
cleanup() {
    local pid; for pid in "${PIDS[@]}"; do stop "$pid"; done
    rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# wait_for_file FILE SECONDS PID: polls until FILE is non-empty; fails at the deadline or if PID exits.
wait_for_file() {
    local deadline=$(( $(now_ns) + $2 * 1000000000 ))
    until [ -s "$1" ]; do
        alive "$3" || return 1
        [ "$(now_ns)" -lt "$deadline" ] || return 1
        sleep 0.01
    done
}

# listen_port PID SECONDS: the TCP port PID listens on (from /proc; ncat cannot report a port it was
# given as 0), polled until it appears.
listen_port() {
    local deadline=$(( $(now_ns) + $2 * 1000000000 )) inodes hex
    while alive "$1" && [ "$(now_ns)" -lt "$deadline" ]; do
        inodes=$(ls -l "/proc/$1/fd" 2>/dev/null | sed -n 's/.*socket:\[\([0-9]*\)\].*/\1/p' | tr '\n' ' ')
        hex=$(awk -v list=" $inodes " '$4 == "0A" && index(list, " " $10 " ") { split($2, a, ":"); print a[2]; exit }' \
              /proc/net/tcp /proc/net/tcp6 2>/dev/null)
        [ -n "$hex" ] && { echo $(( 16#$hex )); return 0; }
        sleep 0.01
    done
    return 1
}

# Pinning: servers on CPU 0, the load generator on CPU 1.
if command -v taskset >/dev/null && [ "$(nproc)" -ge 2 ]; then
    SERVER_CPU=(taskset -c 0); LOAD_CPU=(taskset -c 1)
    PINNING="servers on CPU 0, load generator on CPU 1"
else
    SERVER_CPU=(); LOAD_CPU=()
    PINNING="NOT pinned (needs taskset and 2 CPUs)"
fi
ulimit -n "$(ulimit -Hn)" 2>/dev/null

# load ARGS...: runs the load generator on its CPU; its whole output goes to the run log. Sets RESULT
# to its RESULT line (empty, and the instrument counts as broken, if it printed none).
load() {
    local out rc
    out=$("${LOAD_CPU[@]}" "$LOADGEN" "$@" 2>&1); rc=$?
    printf '$ plughost-loadgen %s   (exit %d)\n%s\n\n' "$*" "$rc" "$out" >> "$RUNLOG"
    RESULT=$(printf '%s\n' "$out" | grep '^RESULT ' | tail -n1)
    printf '    %s\n' "$(printf '%s' "${RESULT:-no RESULT}" | cut -c1-150)"
    [ -n "$RESULT" ] || broken "no RESULT from plughost-loadgen $* (exit $rc): $(printf '%s\n' "$out" | tail -n1)"
}
# val KEY [LINE]: KEY's value in a RESULT line (default: the last one).
val() { printf '%s\n' "${2:-$RESULT}" | tr ' ' '\n' | awk -F= -v k="$1" '$1 == k { print $2; exit }'; }
# values KEY LINES...: KEY of each line, one a line.
values() { local key=$1 line; shift; for line in "$@"; do val "$key" "$line"; done; }
fmt() { awk -v v="$1" 'BEGIN { if (v == "" || v == "nan") print "nan"; else if (v + 0 >= 1000 || v + 0 <= -1000) printf "%.0f", v; else if (v + 0 < 10 && v + 0 > -10) printf "%.2f", v; else printf "%.1f", v }'; }
# median KEY LINES... / sum KEY LINES... / list KEY LINES...
median() {
    values "$@" | sort -g | awk 'NF { v[++n] = $1 } END { if (!n) print "nan"; else if (n % 2) print v[(n + 1) / 2]; else print (v[n / 2] + v[n / 2 + 1]) / 2 }'
}
sum() { values "$@" | awk '{ s += $1 } END { print s + 0 }'; }
# spread KEY LINES...: "[fewest–most]" of the runs, formatted like the median.
spread() {
    local lo hi
    lo=$(values "$@" | sort -g | awk 'NF { print; exit }'); hi=$(values "$@" | sort -g | awk 'NF { v = $1 } END { print v }')
    [ -n "$lo" ] && echo "[$(fmt "$lo")–$(fmt "$hi")]" || echo ""
}
# ms MEDIAN KEY LINES...: "median [fewest–most]".
ms() { local key=$1; shift; echo "$(fmt "$(median "$key" "$@")") $(spread "$key" "$@")"; }
list() { values "$@" | tr '\n' ' ' | sed 's/ $//'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a == "nan" || b == "nan" || a == "" || b == "" || b + 0 == 0) print "n/a"; else printf "%.2f", a / b }'; }
# check VALUE OP LIMIT: PASS, FAIL or n/a.
check() {
    awk -v v="$1" -v op="$2" -v t="$3" 'BEGIN { if (v == "n/a" || v == "nan" || v == "") { print "n/a"; exit }
        ok = (op == "<=") ? (v + 0 <= t + 0) : (op == ">=") ? (v + 0 >= t + 0) : (v + 0 == t + 0); print ok ? "PASS" : "FAIL" }'
}
both() { if [ "$1" = FAIL ] || [ "$2" = FAIL ]; then echo FAIL; elif [ "$1" = PASS ] && [ "$2" = PASS ]; then echo PASS; else echo n/a; fi; }
row() {
    ROWS+=("| $1 | $2 | $3 | $4 | $5 | $6 | $7 |")
    printf '  %-44s %-36s plughost %-12s reference %-12s ratio %-5s %-9s %s\n' "$1" "$2" "$3" "$4" "$5" "$6" "$7"
}
detail() { DETAILS+=("- $1: $2"); }
# saturation LABEL LINES...: a note when the load generator came near a full CPU in some run (then it,
# not the server, may have set the pace).
saturation() {
    local label=$1 most; shift
    most=$(values loadgen_cpu "$@" | sort -g | tail -n1)
    if awk -v c="${most:-0}" 'BEGIN { exit !(c > 0.85) }'; then
        NOTES+=("$label: the load generator used up to $(awk -v c="$most" 'BEGIN { printf "%.0f", c * 100 }')% of its CPU, so it may have set the pace (a ratio near 1 can then hide a difference between the servers)")
    fi
}

# ---- the servers ------------------------------------------------------------------------------

start_refecho() {  # sets REF_PID and REF_PORT
    local file=$WORK/refecho-$RANDOM.port
    "${SERVER_CPU[@]}" "$REFECHO" --port 0 --port-file "$file" 2>>"$WORK/refecho.log" &
    REF_PID=$!; PIDS+=("$REF_PID")
    wait_for_file "$file" 5 "$REF_PID" || { broken "plughost-refecho did not start: $(tail -n1 "$WORK/refecho.log")"; return 1; }
    REF_PORT=$(cat "$file")
}

HOST_NA=""  # why plughost cannot be measured, if it cannot
if [ ! -x "$PLUGHOSTD" ]; then
    HOST_NA="n/a: $PLUGHOSTD is not built"
elif [ ! -e "$PLUGINS/echo.so" ]; then
    HOST_NA="n/a: the echo plugin is not built"
fi
CHAT_NA=$HOST_NA
[ -n "$CHAT_NA" ] || [ -e "$PLUGINS/chat.so" ] || CHAT_NA="n/a: the chat plugin is not built"

# One I/O thread on CPU 0, like the reference. A chat member is cut once ~16 KiB wait for it.
{
    echo "plugin_dir: $PLUGINS"
    echo "log_level: warning"
    # Chat senders here send up to 50 lines/s each: above the chat plugin's default flood limit (a burst
    # of 20, then 5/s), which would delay them. The cells measure delivery, so the limit is raised.
    echo "workers: 1"
    echo "services:"
    echo "  echo: {plugin: echo, listen: \"127.0.0.1:0\", max_connections: $(( HOLD_CONNS + 1000 ))}"
    [ -n "$CHAT_NA" ] || echo "  chat: {plugin: chat, listen: \"127.0.0.1:0\", max_queue: 16KiB, send_timeout: 1s, max_connections: 2000, settings: {dialect: line, flood_burst: 200, flood_rate: 100}}"
} > "$WORK/bench.yaml"

start_host() {  # sets HOST_PID and HOST_READY, or HOST_ERR
    HOST_READY=$WORK/host-$RANDOM.ready
    "${SERVER_CPU[@]}" "$PLUGHOSTD" --config "$WORK/bench.yaml" --ready-file "$HOST_READY" >/dev/null 2>>"$WORK/plughost.log" &
    HOST_PID=$!; PIDS+=("$HOST_PID")
    if ! wait_for_file "$HOST_READY" 10 "$HOST_PID"; then
        HOST_ERR="n/a: plughostd did not become ready: $(tail -n1 "$WORK/plughost.log" | cut -c1-160)"
        stop "$HOST_PID"
        return 1
    fi
}
service_port() { awk -v s="$2" '$1 == s { n = split($2, a, ":"); print a[n]; exit }' "$1"; }

NCAT_NA=""
if ! command -v ncat >/dev/null; then
    echo "installing ncat (the chat reference)"
    SUDO=(); [ "$(id -u)" = 0 ] || SUDO=(sudo -n)
    "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q ncat >/dev/null 2>&1 ||
        { "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -q >/dev/null 2>&1 &&
          "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q ncat >/dev/null 2>&1; }
    command -v ncat >/dev/null || NCAT_NA="n/a: ncat is not installed and apt-get could not install it"
fi
start_ncat() {  # sets NCAT_PID and NCAT_PORT
    [ -z "$NCAT_NA" ] || return 1
    # ncat accepts 100 clients by default; the 1,000-member cell needs more.
    "${SERVER_CPU[@]}" ncat -l --chat --max-conns 2000 127.0.0.1 0 </dev/null >/dev/null 2>>"$WORK/ncat.log" &
    NCAT_PID=$!; PIDS+=("$NCAT_PID")
    NCAT_PORT=$(listen_port "$NCAT_PID" 5) || { NCAT_NA="n/a: ncat --chat did not start: $(tail -n1 "$WORK/ncat.log")"; stop "$NCAT_PID"; return 1; }
}

start_refecho || exit 1
HOST_ERR=""
if [ -z "$HOST_NA" ] && ! start_host; then
    HOST_NA=$HOST_ERR; CHAT_NA=$HOST_ERR
fi
if [ -z "$HOST_NA" ]; then
    ECHO_PORT=$(service_port "$HOST_READY" echo)
    [ -n "$ECHO_PORT" ] || { HOST_NA="n/a: plughostd's ready file names no echo service"; CHAT_NA=$HOST_NA; stop "$HOST_PID"; }
fi
echo "plughost: ${HOST_NA:-pid $HOST_PID}; refecho: pid $REF_PID; ncat: ${NCAT_NA:-$(command -v ncat)}; $PINNING"

# BENCH_ONLY=tls,udp (a comma-separated list of echo, hold, chat, tls, udp, ws, startup) runs only those
# sections; the default is all of them.
want() { [ -z "${BENCH_ONLY:-}" ] || [[ ",$BENCH_ONLY," == *",$1,"* ]]; }
# failed_runs LINES...: how many runs reported errors.
failed_runs() { values errors "$@" | awk '$1 != 0 { n++ } END { print n + 0 }'; }
# problems LINES...: lost + duplicated + reordered + unexpected, over all runs.
problems() { { values lost "$@"; values duplicated "$@"; values reordered "$@"; values unexpected "$@"; } | awk '{ s += $1 } END { print s + 0 }'; }
# seated: the last chat run (RESULT) seated every member.
seated() { [ -n "$RESULT" ] && [ "$(val join_failed)" != 1 ]; }

if want echo; then
# ---- echo -------------------------------------------------------------------------------------

echo "echo: plughost vs plughost-refecho, ${ECHO_SECONDS} s each, $ECHO_REPS interleaved pairs"
echo_cell() {  # CONNS SIZE LABEL
    local conns=$1 size=$2 label=$3 p=() r=() rep
    for rep in $(seq "$ECHO_REPS"); do
        if [ -z "$HOST_NA" ]; then
            load echo --port "$ECHO_PORT" --conns "$conns" --size "$size" --duration "$ECHO_SECONDS" --server-pid "$HOST_PID"
            [ -z "$RESULT" ] || p+=("$RESULT")
        fi
        load echo --port "$REF_PORT" --conns "$conns" --size "$size" --duration "$ECHO_SECONDS" --server-pid "$REF_PID"
        [ -z "$RESULT" ] || r+=("$RESULT")
    done
    [ "$(failed_runs "${r[@]}")" = 0 ] || broken "plughost-refecho failed verification in '$label' (see the log)"
    local bad=""; [ "$(failed_runs "${p[@]}")" = 0 ] || bad=" (echo errors in $(failed_runs "${p[@]}") runs)"
    ECHO_P=("${p[@]}"); ECHO_R=("${r[@]}"); ECHO_BAD=$bad
    saturation "$label" "${p[@]}" "${r[@]}"
}
# echo_row LABEL METRIC KEY OP LIMIT TARGET [throughput]: median [fewest–most] of each server's runs,
# the ratio of the medians. A throughput cell that misses its target while the load generator used
# (median) 90% or more of its CPU and plughost's CPU per round trip is within 1.05x of the reference's
# is judged by CPU per round trip: the load generator set the pace, not the server.
ECHO_CPU_RESULT=n/a
echo_row() {
    local pv rv q result
    rv=$(median "$3" "${ECHO_R[@]}")
    if [ -n "$HOST_NA" ]; then
        row "$1" "$2" "$HOST_NA" "$(ms "$3" "${ECHO_R[@]}")" "n/a" "$6" "n/a"
        return
    fi
    pv=$(median "$3" "${ECHO_P[@]}"); q=$(ratio "$pv" "$rv"); result=$(check "$q" "$4" "$5")
    if [ "${7:-}" = throughput ] && [ "$result" = FAIL ]; then
        local lg; lg=$(median loadgen_cpu "${ECHO_P[@]}" "${ECHO_R[@]}")
        if awk -v c="$lg" 'BEGIN { exit !(c >= 0.9) }' && [ "$ECHO_CPU_RESULT" = PASS ]; then
            result="PASS on CPU per round trip (the load generator was the ceiling: $(awk -v c="$lg" 'BEGIN { printf "%.0f", c * 100 }')% of its CPU)"
        fi
    fi
    [ -z "$ECHO_BAD" ] || result="FAIL$ECHO_BAD"
    row "$1" "$2" "$(ms "$3" "${ECHO_P[@]}")" "$(ms "$3" "${ECHO_R[@]}")" "$q" "$6" "$result"
    detail "$1, $2" "plughost $(list "$3" "${ECHO_P[@]}"); reference $(list "$3" "${ECHO_R[@]}")"
}
# echo_cpu_rows LABEL: the servers' CPU per round trip (target ≤ 1.05×), then the load generator's own
# CPU use (no target: it says who set the pace). Sets ECHO_CPU_RESULT for the throughput row.
echo_cpu_rows() {
    local pv rv q
    ECHO_CPU_RESULT=n/a
    if [ -n "$HOST_NA" ]; then
        row "$1" "server CPU per round trip (µs)" "$HOST_NA" "$(ms server_us_per_rt "${ECHO_R[@]}")" "n/a" "≤ 1.05×" "n/a"
        return
    fi
    pv=$(median server_us_per_rt "${ECHO_P[@]}"); rv=$(median server_us_per_rt "${ECHO_R[@]}"); q=$(ratio "$pv" "$rv")
    ECHO_CPU_RESULT=$(check "$q" "<=" 1.05)
    row "$1" "server CPU per round trip (µs)" "$(ms server_us_per_rt "${ECHO_P[@]}")" "$(ms server_us_per_rt "${ECHO_R[@]}")" "$q" "≤ 1.05×" "$ECHO_CPU_RESULT"
    row "$1" "load generator: share of its CPU; µs per round trip" \
        "$(fmt "$(median loadgen_cpu "${ECHO_P[@]}")"); $(fmt "$(median loadgen_us_per_rt "${ECHO_P[@]}")")" \
        "$(fmt "$(median loadgen_cpu "${ECHO_R[@]}")"); $(fmt "$(median loadgen_us_per_rt "${ECHO_R[@]}")")" "n/a" "(who set the pace)" "n/a"
    detail "$1, server CPU per round trip (µs)" "plughost $(list server_us_per_rt "${ECHO_P[@]}"); reference $(list server_us_per_rt "${ECHO_R[@]}")"
    detail "$1, server CPU share" "plughost $(list server_cpu "${ECHO_P[@]}"); reference $(list server_cpu "${ECHO_R[@]}")"
    detail "$1, load generator CPU share" "plughost runs $(list loadgen_cpu "${ECHO_P[@]}"); reference runs $(list loadgen_cpu "${ECHO_R[@]}")"
}
echo_cell 1 64 "echo, 1 conn, 64 B"
echo_row "echo, 1 conn, 64 B" "p50 latency (µs)" p50_us "<=" 1.2 "≤ 1.2×"
echo_cpu_rows "echo, 1 conn, 64 B"
echo_cell 50 64 "echo, 50 conns, 64 B"
echo_cpu_rows "echo, 50 conns, 64 B"
echo_row "echo, 50 conns, 64 B" "round trips/s" rtt_per_s ">=" 0.9 "≥ 0.9×" throughput
echo_row "echo, 50 conns, 64 B" "p99 latency (µs)" p99_us "<=" 1.5 "≤ 1.5×"
echo_cell 50 16384 "echo, 50 conns, 16 KiB"
echo_cpu_rows "echo, 50 conns, 16 KiB"
echo_row "echo, 50 conns, 16 KiB" "MB/s" mb_per_s ">=" 0.9 "≥ 0.9×" throughput

fi

if want hold; then
# ---- hold -------------------------------------------------------------------------------------

echo "hold: $HOLD_CONNS connections each (descriptor cap $HARD_FILES), a fresh server every run (freed memory stays resident)"
[ -n "$HOST_NA" ] || stop "$HOST_PID"
stop "$REF_PID"
hp=(); hr=()
hold_args=(--conns "$HOLD_CONNS" --timeout 180)
[ -z "$HOLD_CHECKPOINTS" ] || hold_args+=(--checkpoints "$HOLD_CHECKPOINTS")
for rep in $(seq "$REPS"); do
    if [ -z "$HOST_NA" ] && start_host; then
        load hold --port "$(service_port "$HOST_READY" echo)" --pid "$HOST_PID" "${hold_args[@]}"
        [ -z "$RESULT" ] || hp+=("$RESULT")
        stop "$HOST_PID"
    fi
    start_refecho || break
    load hold --port "$REF_PORT" --pid "$REF_PID" "${hold_args[@]}"
    [ -z "$RESULT" ] || hr+=("$RESULT")
    stop "$REF_PID"
done
# checkpoint N LINES...: KiB per connection at N open connections, one a line.
checkpoint() {
    local n=$1 line; shift
    for line in "$@"; do val checkpoints "$line" | tr ',' '\n' | awk -F: -v n="$n" '$1 == n { print "kib=" $2 }'; done
}
label="hold, $HOLD_CONNS echo conns"
[ "$(values verified "${hr[@]}" | sort -g | head -n1)" = "$HOLD_CONNS" ] || broken "plughost-refecho did not hold $HOLD_CONNS verified connections"
if [ -n "$HOST_NA" ] || [ "${#hp[@]}" = 0 ]; then
    row "$label" "accepted and verified (fewest of the runs)" "${HOST_NA:-n/a: plughostd did not start}" "$(values verified "${hr[@]}" | sort -g | head -n1)" "n/a" "all" "n/a"
    row "$label" "server RSS per conn (KiB)" "${HOST_NA:-n/a}" "$(ms kib_per_conn "${hr[@]}")" "n/a" "≤ 1 KiB" "n/a"
else
    least=$(values verified "${hp[@]}" | sort -g | head -n1)
    accepted=$(values accepted "${hp[@]}" | sort -g | head -n1)
    result=$(check "$least" "==" "$HOLD_CONNS"); [ "$accepted" = "$HOLD_CONNS" ] || result="FAIL (the host gained $accepted sockets)"
    row "$label" "accepted and verified (fewest of the runs)" "$least" "$(values verified "${hr[@]}" | sort -g | head -n1)" "n/a" "all" "$result"
    for n in ${HOLD_CHECKPOINTS//,/ }; do
        mapfile -t cp < <(checkpoint "$n" "${hp[@]}"); mapfile -t cr < <(checkpoint "$n" "${hr[@]}")
        kib=$(median kib "${cp[@]}")
        row "$label" "server RSS per conn at $n open (KiB)" "$(ms kib "${cp[@]}")" "$(ms kib "${cr[@]}")" "n/a" "≤ 1 KiB" "$(check "$kib" "<=" 1)"
    done
    kib=$(median kib_per_conn "${hp[@]}")
    row "$label" "server RSS per conn at $HOLD_CONNS open (KiB)" "$(ms kib_per_conn "${hp[@]}")" "$(ms kib_per_conn "${hr[@]}")" "n/a" "≤ 1 KiB" "$(check "$kib" "<=" 1)"
    row "$label" "kernel slab per conn, both ends (KiB; machine-wide)" "$(ms kernel_slab_kib_per_conn "${hp[@]}")" "$(ms kernel_slab_kib_per_conn "${hr[@]}")" "n/a" "(for sizing)" "n/a"
    detail "$label, accepted/verified" "plughost $(list accepted "${hp[@]}") / $(list verified "${hp[@]}"); reference $(list accepted "${hr[@]}") / $(list verified "${hr[@]}")"
    detail "$label, KiB per conn at each checkpoint" "plughost $(list checkpoints "${hp[@]}"); reference $(list checkpoints "${hr[@]}")"
    detail "$label, ms to open them all" "plughost $(list connect_ms "${hp[@]}"); reference $(list connect_ms "${hr[@]}")"
fi

fi

if want chat; then
# ---- chat -------------------------------------------------------------------------------------

echo "chat: plughost's chat (line dialect) vs ncat --chat, ${CHAT_SECONDS} s each, $REPS interleaved rounds"
# A fresh server for every chat run, plughost and ncat alike: runs are independent (a server still busy
# with the last run's 1,000 departures would skew the next, and ncat --chat quits when a connection is
# reset before it has looked at it).
# chat_host ARGS...: one run against a fresh plughost; RESULT as load sets it (empty if it did not start).
chat_host() {
    RESULT=""
    if ! start_host; then NOTES+=("a chat run could not start plughostd: $HOST_ERR"); return; fi
    load chat --port "$(service_port "$HOST_READY" chat)" --dialect line "$@"
    stop "$HOST_PID"
}
chat_ncat() {
    RESULT=""
    start_ncat || return 1
    load chat --port "$NCAT_PORT" --dialect ncat "$@"
    alive "$NCAT_PID" || NOTES+=("ncat --chat exited during a run: $(tail -n1 "$WORK/ncat.log")")
    stop "$NCAT_PID"
}
chat_args() { echo --senders 10 --duration "$CHAT_SECONDS" --join-timeout 60; }
# chat_cell MEMBERS RATE STALLED_TOO: CP, CN and CS get the RESULT lines of plughost, of ncat and of
# plughost with a member that never reads; runs that could not seat every member are counted apart
# (SEAT_FAILED and STALLED_SEAT_FAILED for plughost; NCAT_SEAT_NA says why ncat has none).
chat_cell() {
    local members=$1 rate=$2 rep rounds=$REPS
    # With a member that never reads, its runs and the plain plughost runs they are compared with get
    # more rounds (cheap: plughost seats 100 members in milliseconds); ncat keeps REPS.
    [ "$3" != 1 ] || rounds=$STALLED_REPS
    CP=(); CN=(); CS=(); NCAT_SEAT_NA=""; SEAT_FAILED=0; STALLED_SEAT_FAILED=0
    for rep in $(seq "$rounds"); do
        if [ -z "$CHAT_NA" ]; then
            chat_host --members "$members" --rate "$rate" $(chat_args)
            if seated; then CP+=("$RESULT"); elif [ -n "$RESULT" ]; then SEAT_FAILED=$(( SEAT_FAILED + 1 )); fi
        fi
        if [ "$rep" -le "$REPS" ] && chat_ncat --members "$members" --rate "$rate" $(chat_args); then
            if seated; then
                CN+=("$RESULT")
            elif [ -n "$RESULT" ]; then
                NCAT_SEAT_NA="n/a: ncat seated $(val joined) of $members"
            fi
        fi
        if [ "$3" = 1 ] && [ -z "$CHAT_NA" ]; then
            chat_host --members "$members" --rate "$rate" --stalled 1 $(chat_args)
            if seated; then CS+=("$RESULT"); elif [ -n "$RESULT" ]; then STALLED_SEAT_FAILED=$(( STALLED_SEAT_FAILED + 1 )); fi
        fi
    done
}
chat_rows() {  # LABEL ABSOLUTE_P99_LIMIT_US (empty: none)
    local label=$1 limit=$2 ref refp99 p99 q result target
    if [ "${#CN[@]}" -gt 0 ]; then
        ref=$(problems "${CN[@]}"); refp99=$(median p99_us "${CN[@]}")
    else
        ref=${NCAT_SEAT_NA:-${NCAT_NA:-n/a}}; refp99=$ref
    fi
    if [ -n "$CHAT_NA" ] || [ "${#CP[@]}" = 0 ]; then
        row "$label" "lost + duplicated + reordered (all runs)" "${CHAT_NA:-n/a: no run}" "$ref" "n/a" "0" "n/a"
        row "$label" "p99 delivery latency (µs)" "${CHAT_NA:-n/a: no run}" "$(fmt "$refp99")" "n/a" "≤ 0.5×" "n/a"
        return
    fi
    local lost seat; lost=$(problems "${CP[@]}"); seat=$(check "$lost" "==" 0)
    [ "$SEAT_FAILED" = 0 ] || seat="FAIL ($SEAT_FAILED runs could not seat every member)"
    row "$label" "lost + duplicated + reordered (all runs)" "$lost" "$ref" "n/a" "0" "$seat"
    p99=$(median p99_us "${CP[@]}"); q=$(ratio "$p99" "$refp99")
    result=$(check "$q" "<=" 0.5); target="≤ 0.5×"
    if [ -n "$limit" ]; then
        local absolute; absolute=$(check "$p99" "<=" "$limit")
        target="≤ $(( limit / 1000 )) ms and ≤ 0.5×"
        if [ "$q" = n/a ] && [ "$absolute" = PASS ]; then
            result="PASS on ≤ $(( limit / 1000 )) ms (no ratio)"
        else
            result=$(both "$result" "$absolute")
        fi
    fi
    local refshown=$refp99; [ "${#CN[@]}" = 0 ] || refshown=$(ms p99_us "${CN[@]}")
    row "$label" "p99 delivery latency (µs)" "$(ms p99_us "${CP[@]}")" "$refshown" "$q" "$target" "$result"
    detail "$label, p99 µs" "plughost $(list p99_us "${CP[@]}"); ncat $(list p99_us "${CN[@]}")"
    detail "$label, joined in ms" "plughost $(list join_ms "${CP[@]}"); ncat $(list join_ms "${CN[@]}")"
    detail "$label, deliveries/s" "plughost $(list deliveries_per_s "${CP[@]}"); ncat $(list deliveries_per_s "${CN[@]}")"
    detail "$label, load generator CPU" "plughost runs $(list loadgen_cpu "${CP[@]}"); ncat runs $(list loadgen_cpu "${CN[@]}")"
    saturation "$label" "${CP[@]}" "${CN[@]}"
}
chat_cell 100 50 1
label100="chat, 100 members, 10 senders × 50 msg/s, ${CHAT_SECONDS} s"
chat_rows "$label100" ""
BASE=("${CP[@]}")
label="chat, 100 members + 1 that never reads"
if [ -n "$CHAT_NA" ] || [ "${#CS[@]}" = 0 ]; then
    row "$label" "lost + duplicated + reordered by the 99 others (all runs)" "${CHAT_NA:-n/a: no run}" "n/a" "n/a" "0" "n/a"
else
    lost=$(problems "${CS[@]}"); seat=$(check "$lost" "==" 0)
    [ "$STALLED_SEAT_FAILED" = 0 ] || seat="FAIL ($STALLED_SEAT_FAILED runs could not seat every member)"
    row "$label" "lost + duplicated + reordered by the 99 others (all runs)" "$lost" "n/a" "n/a" "0" "$seat"
    p99=$(median p99_us "${CS[@]}"); base=$(median p99_us "${BASE[@]}"); q=$(ratio "$p99" "$base")
    row "$label" "p99 (µs) vs the same runs without it" "$(ms p99_us "${CS[@]}")" "$(ms p99_us "${BASE[@]}")" "$q" "≤ 1.5×" "$(check "$q" "<=" 1.5)"
    closed=$(values stalled_closed "${CS[@]}" | awk '$1 == 1 { n++ } END { print n + 0 }')
    row "$label" "the one that never reads was closed" "$closed of ${#CS[@]} runs" "n/a" "n/a" "every run" "$(check "$closed" "==" "$STALLED_REPS")"
    detail "$label, p99 µs" "with it $(list p99_us "${CS[@]}"); without $(list p99_us "${BASE[@]}")"
fi
chat_cell 1000 20 0
chat_rows "chat, 1000 members, 10 senders × 20 msg/s, ${CHAT_SECONDS} s" 50000

fi

# tls_row LABEL METRIC KEY OP LIMIT TARGET: plughost's runs in TP, the reference's in TR (HAProxy's in the
# TLS section, refudp's in the UDP one: REF_LABEL names it); TLS_NA/HAPROXY_NA say why a side has none.
tls_row() {
    local pv rv q result pshown=${TLS_NA:-} rshown=${HAPROXY_NA:-}
    [ -n "$pshown" ] || [ "${#TP[@]}" -gt 0 ] || pshown="n/a: no run"
    [ -n "$rshown" ] || [ "${#TR[@]}" -gt 0 ] || rshown="n/a: no run"
    if [ -n "$pshown" ] || [ -n "$rshown" ]; then
        [ -n "$pshown" ] || pshown=$(ms "$3" "${TP[@]}")
        [ -n "$rshown" ] || rshown=$(ms "$3" "${TR[@]}")
        row "$1" "$2" "$pshown" "$rshown" "n/a" "$6" "n/a"
        return
    fi
    pv=$(median "$3" "${TP[@]}"); rv=$(median "$3" "${TR[@]}"); q=$(ratio "$pv" "$rv")
    result=$(check "$q" "$4" "$5")
    [ -z "$5" ] && result="n/a"
    [ "$(failed_runs "${TP[@]}")" = 0 ] || result="FAIL (errors in $(failed_runs "${TP[@]}") plughost runs)"
    row "$1" "$2" "$(ms "$3" "${TP[@]}")" "$(ms "$3" "${TR[@]}")" "$q" "$6" "$result"
    detail "$1, $2" "plughost $(list "$3" "${TP[@]}"); ${REF_LABEL:-HAProxy + refecho} $(list "$3" "${TR[@]}")"
}
if want tls; then
# ---- TLS --------------------------------------------------------------------------------------

# plughost terminating TLS itself vs what operators run today: HAProxy from Debian terminating TLS in
# front of plughost-refecho. Fair means the same budget: every server process on CPU 0 (plughost
# `workers: 1`; HAProxy `nbthread 1` and the single-threaded refecho behind it, whose CPU time and
# memory count with HAProxy's), the same throwaway ECDSA P-256 certificate, and the same client: TLS 1.3
# with OpenSSL's default cipher suites, X25519, no session cache and no tickets (every connection of the
# handshake cell is a full handshake). Both servers send TLS 1.3 session tickets the client ignores.
TLS_REPS=${BENCH_TLS_REPS:-5}
TLS_HOLD_REPS=${BENCH_TLS_HOLD_REPS:-$REPS}
TLS_SECONDS=${BENCH_TLS_SECONDS:-3}
TLS_HANDSHAKE_CONNS=${BENCH_TLS_HANDSHAKE_CONNS:-16}
# HAProxy holds two descriptors per client connection (the client's and refecho's).
TLS_HOLD_CAP=$(( (HARD_FILES - 200) / 2 ))
[ "$TLS_HOLD_CAP" -lt 10000 ] || TLS_HOLD_CAP=10000
TLS_HOLD_CONNS=${BENCH_TLS_HOLD_CONNS:-$TLS_HOLD_CAP}
echo "TLS: plughost vs HAProxy in front of plughost-refecho, ${TLS_SECONDS} s each, $TLS_REPS interleaved pairs"
HAPROXY_NA=""
if ! command -v haproxy >/dev/null; then
    echo "installing haproxy (the TLS reference)"
    SUDO=(); [ "$(id -u)" = 0 ] || SUDO=(sudo -n)
    "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends haproxy >/dev/null 2>&1 ||
        { "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -q >/dev/null 2>&1 &&
          "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends haproxy >/dev/null 2>&1; }
    command -v haproxy >/dev/null || HAPROXY_NA="n/a: haproxy is not installed and apt-get could not install it"
fi
TLS_DIR=$WORK/tls
mkdir -p "$TLS_DIR"
TLS_NA=$HOST_NA
if ! openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj /CN=localhost \
        -keyout "$TLS_DIR/key.pem" -out "$TLS_DIR/cert.pem" >/dev/null 2>&1; then
    TLS_NA="n/a: openssl could not make the bench certificate"; HAPROXY_NA=$TLS_NA
fi
cat "$TLS_DIR/cert.pem" "$TLS_DIR/key.pem" > "$TLS_DIR/haproxy.pem" 2>/dev/null  # HAProxy: both in one file
{
    echo "plugin_dir: $PLUGINS"
    echo "log_level: warning"
    echo "workers: 1"
    echo "services:"
    echo "  echo:"
    echo "    plugin: echo"
    echo "    max_connections: $(( TLS_HOLD_CONNS + 1000 ))"
    echo "    listen:"
    echo "      - address: 127.0.0.1:0"
    echo "        tls: {certificate: $TLS_DIR/cert.pem, key: $TLS_DIR/key.pem}"
} > "$WORK/bench-tls.yaml"
start_tls_host() {  # sets TLSH_PID and TLSH_PORT, or returns 1 (TLS_NA says why)
    local ready=$WORK/tls-host-$RANDOM.ready
    "${SERVER_CPU[@]}" "$PLUGHOSTD" --config "$WORK/bench-tls.yaml" --ready-file "$ready" >/dev/null 2>>"$WORK/plughost-tls.log" &
    TLSH_PID=$!; PIDS+=("$TLSH_PID")
    if ! wait_for_file "$ready" 10 "$TLSH_PID"; then
        TLS_NA="n/a: plughostd did not start with a TLS listener: $(tail -n1 "$WORK/plughost-tls.log" | cut -c1-160)"
        stop "$TLSH_PID"; return 1
    fi
    TLSH_PORT=$(service_port "$ready" echo)
}
# free_port: a port from 20000-29999 nothing listens on (HAProxy cannot bind port 0 and report it).
free_port() {
    local port
    for _ in $(seq 50); do
        port=$(( 20000 + RANDOM % 10000 ))
        awk -v p="$(printf '%04X' "$port")" '$4 == "0A" { split($2, a, ":"); if (a[2] == p) found = 1 } END { exit found }' \
            /proc/net/tcp /proc/net/tcp6 2>/dev/null && { echo "$port"; return 0; }
    done
    return 1
}
start_haproxy() {  # sets HAP_PID, HAP_PORT and HAP_REF_PID (the refecho behind it), or returns 1
    [ -z "$HAPROXY_NA" ] || return 1
    start_refecho || { HAPROXY_NA="n/a: plughost-refecho did not start"; return 1; }
    HAP_REF_PID=$REF_PID
    local attempt
    for attempt in 1 2 3; do
        HAP_PORT=$(free_port) || break
        cat > "$WORK/haproxy.cfg" <<HAPROXY
global
    nbthread 1
    maxconn $(( TLS_HOLD_CONNS + 50 ))
defaults
    mode tcp
    timeout connect 5s
    timeout client 300s
    timeout server 300s
frontend tls
    bind 127.0.0.1:$HAP_PORT ssl crt $TLS_DIR/haproxy.pem
    default_backend echo
backend echo
    server refecho 127.0.0.1:$REF_PORT
HAPROXY
        "${SERVER_CPU[@]}" haproxy -db -f "$WORK/haproxy.cfg" >/dev/null 2>>"$WORK/haproxy.log" &
        HAP_PID=$!; PIDS+=("$HAP_PID")
        [ "$(listen_port "$HAP_PID" 10)" = "$HAP_PORT" ] && return 0
        stop "$HAP_PID"
    done
    HAPROXY_NA="n/a: haproxy did not start: $(grep -m1 ALERT "$WORK/haproxy.log" | cut -c1-160)"
    stop "$HAP_REF_PID"
    return 1
}
stop_haproxy() { stop "$HAP_PID"; stop "$HAP_REF_PID"; }
# tls_cell LABEL ARGS...: TLS_REPS interleaved runs of the load generator against each server (started
# once for the cell), ARGS plus the port and --server-pid.
tls_cell() {
    local label=$1 rep; shift
    TP=(); TR=()
    local host_up=0 hap_up=0
    [ -z "$TLS_NA" ] && start_tls_host && host_up=1
    start_haproxy && hap_up=1
    for rep in $(seq "$TLS_REPS"); do
        if [ "$host_up" = 1 ]; then
            load "$@" --port "$TLSH_PORT" --server-pid "$TLSH_PID"
            [ -z "$RESULT" ] || TP+=("$RESULT")
        fi
        if [ "$hap_up" = 1 ]; then
            load "$@" --port "$HAP_PORT" --server-pid "$HAP_PID,$HAP_REF_PID"
            [ -z "$RESULT" ] || TR+=("$RESULT")
        fi
    done
    [ "$host_up" = 0 ] || stop "$TLSH_PID"
    [ "$hap_up" = 0 ] || stop_haproxy
    [ "$(failed_runs "${TR[@]}")" = 0 ] || NOTES+=("$label: HAProxy + refecho had errors in $(failed_runs "${TR[@]}") runs (see the log)")
    saturation "$label" "${TP[@]}" "${TR[@]}"
}
label="TLS new connections, $TLS_HANDSHAKE_CONNS at a time"
tls_cell "$label" handshakes --conns "$TLS_HANDSHAKE_CONNS" --duration "$TLS_SECONDS"
tls_row "$label" "full handshakes/s" handshakes_per_s ">=" 0.9 "≥ 0.9×"
tls_row "$label" "server CPU per handshake (µs)" server_us_per_handshake "<=" "" "(for sizing)"
label="TLS echo, 50 conns, 16 KiB"
tls_cell "$label" echo --tls 1 --conns 50 --size 16384 --duration "$TLS_SECONDS"
tls_row "$label" "MB/s" mb_per_s ">=" 1.2 "≥ 1.2×"
tls_row "$label" "server CPU per round trip (µs)" server_us_per_rt "<=" "" "(for sizing)"
label="TLS echo, 1 conn, 64 B"
tls_cell "$label" echo --tls 1 --conns 1 --size 64 --duration "$TLS_SECONDS"
tls_row "$label" "p50 latency (µs)" p50_us "<=" 0.9 "≤ 0.9×"
tls_row "$label" "server CPU per round trip (µs)" server_us_per_rt "<=" "" "(for sizing)"

echo "TLS hold: $TLS_HOLD_CONNS idle TLS connections (handshake done, one echo each), a fresh server every run"
TP=(); TR=()
for rep in $(seq "$TLS_HOLD_REPS"); do
    if [ -z "$TLS_NA" ] && start_tls_host; then
        load hold --tls 1 --port "$TLSH_PORT" --pid "$TLSH_PID" --conns "$TLS_HOLD_CONNS" --timeout 180
        [ -z "$RESULT" ] || TP+=("$RESULT")
        stop "$TLSH_PID"
    fi
    if start_haproxy; then
        load hold --tls 1 --port "$HAP_PORT" --pid "$HAP_PID" --extra-pid "$HAP_REF_PID" --conns "$TLS_HOLD_CONNS" --timeout 180
        [ -z "$RESULT" ] || TR+=("$RESULT")
        stop_haproxy
    fi
done
label="TLS hold, $TLS_HOLD_CONNS idle conns"
tls_row "$label" "verified (fewest of the runs)" verified "==" "" "all"
if [ -z "$TLS_NA$HAPROXY_NA" ] && [ "${#TP[@]}" -gt 0 ] && [ "${#TR[@]}" -gt 0 ]; then
    least=$(values verified "${TP[@]}" | sort -g | head -n1)
    ROWS[${#ROWS[@]}-1]="| $label | verified (fewest of the runs) | $least | $(values verified "${TR[@]}" | sort -g | head -n1) | n/a | all | $(check "$least" "==" "$TLS_HOLD_CONNS") |"
    mapfile -t sums < <(for line in "${TR[@]}"; do awk -v a="$(val kib_per_conn "$line")" -v b="$(val extra_kib_per_conn "$line")" 'BEGIN { printf "kib=%.2f\n", a + b }'; done)
    row "$label" "server RSS per conn (KiB): plughost vs HAProxy alone" "$(ms kib_per_conn "${TP[@]}")" "$(ms kib_per_conn "${TR[@]}")" \
        "$(ratio "$(median kib_per_conn "${TP[@]}")" "$(median kib_per_conn "${TR[@]}")")" "(reported)" "n/a"
    row "$label" "server RSS per conn (KiB): plughost vs HAProxy + refecho" "$(ms kib_per_conn "${TP[@]}")" "$(ms kib "${sums[@]}")" \
        "$(ratio "$(median kib_per_conn "${TP[@]}")" "$(median kib "${sums[@]}")")" "(reported)" "n/a"
    detail "$label, KiB per conn" "plughost $(list kib_per_conn "${TP[@]}"); HAProxy $(list kib_per_conn "${TR[@]}"); refecho behind it $(list extra_kib_per_conn "${TR[@]}")"
    detail "$label, ms to open them all (handshakes included)" "plughost $(list connect_ms "${TP[@]}"); HAProxy $(list connect_ms "${TR[@]}")"
else
    row "$label" "server RSS per conn (KiB)" "${TLS_NA:-$(ms kib_per_conn "${TP[@]}")}" "${HAPROXY_NA:-$(ms kib_per_conn "${TR[@]}")}" "n/a" "(reported)" "n/a"
fi

fi

if want udp; then
# ---- UDP --------------------------------------------------------------------------------------

# plughost's echo on a UDP listener vs plughost-refudp (bench/refudp.cpp: one thread, blocking
# recvmmsg/sendmmsg, 32 at a time). 50 peers (50 sockets, 50 source ports), 4 datagrams of 64 B in
# flight each, 1 of 1,400 B (4 × 50 of those overflow a default 208 KiB socket receive buffer: the cell
# would measure drops and 100 ms loss timeouts, not the server).
UDP_REPS=${BENCH_UDP_REPS:-5}
UDP_SECONDS=${BENCH_UDP_SECONDS:-3}
echo "UDP: plughost vs plughost-refudp, 50 peers, ${UDP_SECONDS} s each, $UDP_REPS interleaved pairs"
REFUDP=$BUILD/bench/plughost-refudp
UDP_NA=$HOST_NA
REFUDP_NA=""
[ -x "$REFUDP" ] || REFUDP_NA="n/a: $REFUDP is not built"
{
    echo "plugin_dir: $PLUGINS"
    echo "log_level: warning"
    echo "workers: 1"
    echo "services:"
    echo "  echo: {plugin: echo, listen: [{address: 127.0.0.1:0, protocol: udp}]}"
} > "$WORK/bench-udp.yaml"
start_udp_host() {  # sets UDPH_PID and UDPH_PORT, or returns 1 (UDP_NA says why)
    local ready=$WORK/udp-host-$RANDOM.ready
    "${SERVER_CPU[@]}" "$PLUGHOSTD" --config "$WORK/bench-udp.yaml" --ready-file "$ready" >/dev/null 2>>"$WORK/plughost-udp.log" &
    UDPH_PID=$!; PIDS+=("$UDPH_PID")
    if ! wait_for_file "$ready" 10 "$UDPH_PID"; then
        UDP_NA="n/a: no UDP in this build (plughostd refused \`protocol: udp\`)"
        NOTES+=("UDP: plughostd said: $(tail -n1 "$WORK/plughost-udp.log" | cut -c1-200)")
        stop "$UDPH_PID"; return 1
    fi
    UDPH_PORT=$(service_port "$ready" echo)
    UDPH_PORT=${UDPH_PORT%/udp}  # the ready file says 127.0.0.1:PORT/udp for a UDP listener
}
start_refudp() {  # sets REFUDP_PID and REFUDP_PORT
    [ -z "$REFUDP_NA" ] || return 1
    local file=$WORK/refudp-$RANDOM.port
    "${SERVER_CPU[@]}" "$REFUDP" --port 0 --port-file "$file" 2>>"$WORK/refudp.log" &
    REFUDP_PID=$!; PIDS+=("$REFUDP_PID")
    wait_for_file "$file" 5 "$REFUDP_PID" || { REFUDP_NA="n/a: plughost-refudp did not start"; stop "$REFUDP_PID"; return 1; }
    REFUDP_PORT=$(cat "$file")
}
udp_up=0; refudp_up=0
[ -z "$UDP_NA" ] && start_udp_host && udp_up=1
start_refudp && refudp_up=1
for size in 64 1400; do
    TP=(); TR=(); window=4; [ "$size" -le 64 ] || window=1
    for rep in $(seq "$UDP_REPS"); do
        if [ "$udp_up" = 1 ]; then
            load udp --peers 50 --size "$size" --window "$window" --duration "$UDP_SECONDS" --port "$UDPH_PORT" --server-pid "$UDPH_PID"
            [ -z "$RESULT" ] || TP+=("$RESULT")
        fi
        if [ "$refudp_up" = 1 ]; then
            load udp --peers 50 --size "$size" --window "$window" --duration "$UDP_SECONDS" --port "$REFUDP_PORT" --server-pid "$REFUDP_PID"
            [ -z "$RESULT" ] || TR+=("$RESULT")
        fi
    done
    label="UDP echo, 50 peers, $size B"
    TLS_NA=$UDP_NA HAPROXY_NA=$REFUDP_NA REF_LABEL=refudp tls_row "$label" "datagrams/s" datagrams_per_s ">=" 0.9 "≥ 0.9×"
    if [ "${#TP[@]}" -gt 0 ] || [ "${#TR[@]}" -gt 0 ]; then
        row "$label" "lost of sent (all runs)" "$( [ "${#TP[@]}" -gt 0 ] && echo "$(sum lost "${TP[@]}") of $(sum sent "${TP[@]}")" || echo "${UDP_NA:-n/a}")" \
            "$( [ "${#TR[@]}" -gt 0 ] && echo "$(sum lost "${TR[@]}") of $(sum sent "${TR[@]}")" || echo "${REFUDP_NA:-n/a}")" "n/a" "(reported)" "n/a"
        row "$label" "server CPU per datagram (µs)" "$( [ "${#TP[@]}" -gt 0 ] && ms server_us_per_datagram "${TP[@]}" || echo "${UDP_NA:-n/a}")" \
            "$( [ "${#TR[@]}" -gt 0 ] && ms server_us_per_datagram "${TR[@]}" || echo "${REFUDP_NA:-n/a}")" "n/a" "(for sizing)" "n/a"
    fi
done
[ "$udp_up" = 0 ] || stop "$UDPH_PID"
[ "$refudp_up" = 0 ] || stop "$REFUDP_PID"

fi

if want ws; then
# ---- WebSocket --------------------------------------------------------------------------------

# plughost's echo on a WebSocket listener (`workers: 1`) vs a minimal echo over Node's ws
# (bench/refws.js on Debian's node-ws, permessage-deflate off: plughost does no compression), both on
# CPU 0: 50 connections, one 64 B message in flight each, every message one masked binary frame (the
# load generator's --websocket). Then the 1,000-member chat cell of the chat section, over WebSocket
# against the same cell over TCP: one host config with both listeners, a fresh host every run, the
# two transports interleaved.
WS_REPS=${BENCH_WS_REPS:-5}
WS_SECONDS=${BENCH_WS_SECONDS:-3}
echo "WebSocket: plughost vs node-ws (bench/refws.js), ${WS_SECONDS} s each, $WS_REPS interleaved pairs; then chat over WebSocket vs TCP"
NODE=(env "NODE_PATH=/usr/share/nodejs${NODE_PATH:+:$NODE_PATH}" node)
NODE_NA=""
if ! "${NODE[@]}" -e "require('ws')" >/dev/null 2>&1; then
    echo "installing node-ws (the WebSocket reference)"
    SUDO=(); [ "$(id -u)" = 0 ] || SUDO=(sudo -n)
    "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends node-ws >/dev/null 2>&1 ||
        { "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -q >/dev/null 2>&1 &&
          "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends node-ws >/dev/null 2>&1; }
    "${NODE[@]}" -e "require('ws')" >/dev/null 2>&1 || NODE_NA="n/a: node with node-ws is not installed and apt-get could not install it"
fi
NODE_WS_VERSION=$("${NODE[@]}" -p "require('ws/package.json').version" 2>/dev/null)
# ws uses the optional native addons bufferutil (masking) and utf-8-validate when they can be loaded.
NODE_ADDONS=$("${NODE[@]}" -p "['bufferutil', 'utf-8-validate'].map(m => { try { require(m); return 'with ' + m; } catch (e) { return 'without ' + m; } }).join(', ')" 2>/dev/null)
WS_NA=$HOST_NA
[ -n "$WS_NA" ] || [ -e "$PLUGINS/chat.so" ] || WS_NA="n/a: the chat plugin is not built"
# The chat services are the chat section's (its limits, its raised flood limit), one on each transport.
chat_settings="max_queue: 16KiB, send_timeout: 1s, max_connections: 2000, settings: {dialect: line, flood_burst: 200, flood_rate: 100}"
{
    echo "plugin_dir: $PLUGINS"
    echo "log_level: warning"
    echo "workers: 1"
    echo "services:"
    echo "  echo: {plugin: echo, listen: [{address: 127.0.0.1:0, websocket: {path: /echo}}]}"
    echo "  chat: {plugin: chat, listen: \"127.0.0.1:0\", $chat_settings}"
    echo "  chatws: {plugin: chat, listen: [{address: 127.0.0.1:0, websocket: {path: /chat}}], $chat_settings}"
} > "$WORK/bench-ws.yaml"
start_ws_host() {  # sets WSH_PID and WSH_READY, or returns 1 (WS_NA says why)
    WSH_READY=$WORK/ws-host-$RANDOM.ready
    "${SERVER_CPU[@]}" "$PLUGHOSTD" --config "$WORK/bench-ws.yaml" --ready-file "$WSH_READY" >/dev/null 2>>"$WORK/plughost-ws.log" &
    WSH_PID=$!; PIDS+=("$WSH_PID")
    if ! wait_for_file "$WSH_READY" 10 "$WSH_PID"; then
        WS_NA="n/a: plughostd did not start with WebSocket listeners: $(tail -n1 "$WORK/plughost-ws.log" | cut -c1-160)"
        stop "$WSH_PID"; return 1
    fi
}
start_refws() {  # sets REFWS_PID and REFWS_PORT, or returns 1 (NODE_NA says why)
    [ -z "$NODE_NA" ] || return 1
    local file=$WORK/refws-$RANDOM.port
    "${SERVER_CPU[@]}" "${NODE[@]}" "$ROOT/bench/refws.js" --port 0 --port-file "$file" 2>>"$WORK/refws.log" &
    REFWS_PID=$!; PIDS+=("$REFWS_PID")
    wait_for_file "$file" 10 "$REFWS_PID" || { NODE_NA="n/a: bench/refws.js did not start: $(tail -n1 "$WORK/refws.log" | cut -c1-160)"; stop "$REFWS_PID"; return 1; }
    REFWS_PORT=$(cat "$file")
}

TP=(); TR=()
wsh_up=0; refws_up=0
[ -z "$WS_NA" ] && start_ws_host && wsh_up=1
start_refws && refws_up=1
for rep in $(seq "$WS_REPS"); do
    if [ "$wsh_up" = 1 ]; then
        load echo --websocket /echo --port "$(service_port "$WSH_READY" echo)" --conns 50 --size 64 --duration "$WS_SECONDS" --server-pid "$WSH_PID"
        [ -z "$RESULT" ] || TP+=("$RESULT")
    fi
    if [ "$refws_up" = 1 ]; then
        load echo --websocket /echo --port "$REFWS_PORT" --conns 50 --size 64 --duration "$WS_SECONDS" --server-pid "$REFWS_PID"
        [ -z "$RESULT" ] || TR+=("$RESULT")
    fi
done
[ "$wsh_up" = 0 ] || stop "$WSH_PID"
[ "$refws_up" = 0 ] || { alive "$REFWS_PID" || NOTES+=("refws.js exited during the runs: $(tail -n1 "$WORK/refws.log")"); stop "$REFWS_PID"; }
[ "$(failed_runs "${TR[@]}")" = 0 ] || NOTES+=("WebSocket echo: node-ws had errors in $(failed_runs "${TR[@]}") runs (see the log)")
label="WebSocket echo, 50 conns, 64 B"
saturation "$label" "${TP[@]}" "${TR[@]}"
# Neither server nor load generator busy (medians under 90% of a CPU), yet the messages wait: something
# else had the CPUs, and throughput and p99 then measure that (CPU per round trip does not).
if [ "${#TP[@]}" -gt 0 ] && [ "${#TR[@]}" -gt 0 ]; then
    for side in plughost node-ws; do
        lines=("${TP[@]}"); [ "$side" = plughost ] || lines=("${TR[@]}")
        sc=$(median server_cpu "${lines[@]}"); lc=$(median loadgen_cpu "${lines[@]}")
        if awk -v s="$sc" -v l="$lc" 'BEGIN { exit !(s < 0.9 && l < 0.9) }'; then
            NOTES+=("$label: in the $side runs the server used $(fmt "$sc") and the load generator $(fmt "$lc") of a CPU (medians): neither set the pace, so the CPUs were shared with something else (load average above) and messages/s and p99 measure that; server CPU per round trip does not depend on it")
        fi
    done
fi
TLS_NA=$WS_NA HAPROXY_NA=$NODE_NA REF_LABEL=node-ws tls_row "$label" "messages/s" rtt_per_s ">=" 1.5 "≥ 1.5×"
TLS_NA=$WS_NA HAPROXY_NA=$NODE_NA REF_LABEL=node-ws tls_row "$label" "p99 latency (µs)" p99_us "<=" 0.5 "≤ 0.5×"
TLS_NA=$WS_NA HAPROXY_NA=$NODE_NA REF_LABEL=node-ws tls_row "$label" "server CPU per round trip (µs)" server_us_per_rt "<=" "" "(for sizing)"
if [ "${#TP[@]}" -gt 0 ] && [ "${#TR[@]}" -gt 0 ]; then
    row "$label" "load generator: share of its CPU; µs per round trip" \
        "$(fmt "$(median loadgen_cpu "${TP[@]}")"); $(fmt "$(median loadgen_us_per_rt "${TP[@]}")")" \
        "$(fmt "$(median loadgen_cpu "${TR[@]}")"); $(fmt "$(median loadgen_us_per_rt "${TR[@]}")")" "n/a" "(who set the pace)" "n/a"
    detail "$label, p50 latency (µs)" "plughost $(list p50_us "${TP[@]}"); node-ws $(list p50_us "${TR[@]}")"
    detail "$label, server CPU share" "plughost $(list server_cpu "${TP[@]}"); node-ws $(list server_cpu "${TR[@]}")"
    detail "$label, load generator CPU share" "plughost runs $(list loadgen_cpu "${TP[@]}"); node-ws runs $(list loadgen_cpu "${TR[@]}")"
fi

# The 1,000-member chat cell: members and senders over WebSocket (one text message a line) against the
# same cell over TCP, each run on a fresh host; WS_REPS rounds, TCP first in each.
echo "WebSocket chat: 1000 members, 10 senders × 20 msg/s, ${CHAT_SECONDS} s, over WebSocket vs TCP, $WS_REPS interleaved rounds"
CT=(); CW=(); TCP_SEAT_FAILED=0; WS_SEAT_FAILED=0
ws_chat_args=(--dialect line --members 1000 --senders 10 --rate 20 --duration "$CHAT_SECONDS" --join-timeout 60)
for rep in $(seq "$WS_REPS"); do
    [ -z "$WS_NA" ] || break
    if start_ws_host; then
        load chat --port "$(service_port "$WSH_READY" chat)" "${ws_chat_args[@]}"
        stop "$WSH_PID"
        if seated; then CT+=("$RESULT"); elif [ -n "$RESULT" ]; then TCP_SEAT_FAILED=$(( TCP_SEAT_FAILED + 1 )); fi
    fi
    if start_ws_host; then
        load chat --websocket /chat --port "$(service_port "$WSH_READY" chatws)" "${ws_chat_args[@]}"
        stop "$WSH_PID"
        if seated; then CW+=("$RESULT"); elif [ -n "$RESULT" ]; then WS_SEAT_FAILED=$(( WS_SEAT_FAILED + 1 )); fi
    fi
done
label="chat over WebSocket vs over TCP (reference column), 1000 members, 10 senders × 20 msg/s, ${CHAT_SECONDS} s"
if [ -n "$WS_NA" ] || [ "${#CW[@]}" = 0 ] || [ "${#CT[@]}" = 0 ]; then
    row "$label" "lost + duplicated + reordered (all runs)" "${WS_NA:-n/a: no run seated every member}" "n/a" "n/a" "0" "n/a"
    row "$label" "p99 delivery latency (µs)" "${WS_NA:-n/a}" "n/a" "n/a" "≤ 1.5× TCP" "n/a"
else
    lost=$(problems "${CW[@]}"); result=$(check "$lost" "==" 0)
    [ "$WS_SEAT_FAILED" = 0 ] || result="FAIL ($WS_SEAT_FAILED runs could not seat every member)"
    tcp_lost=$(problems "${CT[@]}"); [ "$TCP_SEAT_FAILED" = 0 ] || tcp_lost="$tcp_lost ($TCP_SEAT_FAILED runs could not seat every member)"
    row "$label" "lost + duplicated + reordered (all runs)" "$lost" "$tcp_lost" "n/a" "0" "$result"
    q=$(ratio "$(median p99_us "${CW[@]}")" "$(median p99_us "${CT[@]}")")
    row "$label" "p99 delivery latency (µs)" "$(ms p99_us "${CW[@]}")" "$(ms p99_us "${CT[@]}")" "$q" "≤ 1.5× TCP" "$(check "$q" "<=" 1.5)"
    row "$label" "p50 delivery latency (µs)" "$(ms p50_us "${CW[@]}")" "$(ms p50_us "${CT[@]}")" "$(ratio "$(median p50_us "${CW[@]}")" "$(median p50_us "${CT[@]}")")" "(reported)" "n/a"
    detail "$label, p99 µs" "WebSocket $(list p99_us "${CW[@]}"); TCP $(list p99_us "${CT[@]}")"
    detail "$label, joined in ms" "WebSocket $(list join_ms "${CW[@]}"); TCP $(list join_ms "${CT[@]}")"
    detail "$label, deliveries/s" "WebSocket $(list deliveries_per_s "${CW[@]}"); TCP $(list deliveries_per_s "${CT[@]}")"
    detail "$label, load generator CPU" "WebSocket runs $(list loadgen_cpu "${CW[@]}"); TCP runs $(list loadgen_cpu "${CT[@]}")"
    saturation "$label" "${CW[@]}" "${CT[@]}"
fi

fi

if want startup; then
# ---- start-up ---------------------------------------------------------------------------------

echo "start-up: exec of plughostd with the default services (ports 0) to every one accepting"
label="start-up, the default config's services"
STARTUP_NA=$HOST_NA
for plugin in $(sed -n 's/^ *plugin: *\([A-Za-z0-9_-]*\).*/\1/p' "$ROOT/config/plughost.yaml" | sort -u); do
    [ -n "$STARTUP_NA" ] || [ -e "$PLUGINS/$plugin.so" ] || STARTUP_NA="n/a: the $plugin plugin is not built"
done
if [ -n "$STARTUP_NA" ]; then
    row "$label" "ms from exec to all accepting" "$STARTUP_NA" "n/a" "n/a" "≤ 100 ms" "n/a"
else
    # The default config with every port 0, the plugins and the admin socket of this build.
    sed -e "s|^plugin_dir:.*|plugin_dir: $PLUGINS|" -e "s|socket: .*|socket: $WORK/admin.sock|" \
        -e 's|\(listen: *\)\([0-9.]*\|\[[0-9a-fA-F:]*\]\):[0-9]*|\1\2:0|' \
        "$ROOT/config/plughost.yaml" |
        sed -E -e 's/^( *- *(address: *)?)([0-9.]+|\[[0-9a-fA-F:]*\]):[0-9]+/\1\3:0/' \
            -e "s|static: \.\./|static: $ROOT/|" > "$WORK/default.yaml"
    st=()
    for rep in $(seq $(( REPS + 2 ))); do
        load startup --exec "$PLUGHOSTD" --config "$WORK/default.yaml" --server-cpu 0
        [ -z "$RESULT" ] || st+=("$RESULT")
    done
    ms=$(median ms "${st[@]}")
    listeners=$(values listeners "${st[@]}" | sort -g | head -n1)
    result=$(check "$ms" "<=" 100)
    if [ "$(failed_runs "${st[@]}")" != 0 ] || [ "${listeners:-0}" -lt 3 ]; then
        result="FAIL (only ${listeners:-0} services came up; see the log)"
    fi
    row "$label" "ms from exec to all ${listeners:-?} accepting" "$(fmt "$ms")" "n/a" "n/a" "≤ 100 ms" "$result"
    detail "$label, ms" "$(list ms "${st[@]}")"
fi

fi

# ---- the report -------------------------------------------------------------------------------

LOAD_AFTER=$(cut -d' ' -f1-3 /proc/loadavg)
mkdir -p "$RESULTS"
{
    echo "# plughost benchmark"
    echo
    echo "$(date -u '+%Y-%m-%d %H:%M UTC'); $(nproc) CPUs ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//')); Linux $(uname -r)."
    echo "Load average before/after: $LOAD_BEFORE / $LOAD_AFTER (anything else running skews the numbers)."
    echo "$PINNING; each value is the median of its interleaved runs ($ECHO_REPS for echo, $STALLED_REPS for the 100-member chat, $REPS otherwise) with [fewest–most] of them; ratios are of the medians; $(( $(date +%s) - BEGAN )) s in all. Reproduce: \`make bench\`."
    echo "Echo cells: server CPU per round trip is the server's user + system time (/proc/PID/stat, every thread) over the measured window divided by the round trips; the load generator's CPU share says whether it set the pace."
    echo "plughost: \`workers: 1\`; chat \`max_queue: 16KiB\`, \`send_timeout: 1s\`. References: \`plughost-refecho\` (bench/refecho.cpp) and \`ncat --chat\` ($(ncat --version 2>&1 | head -n1 | sed 's/^Ncat: Version /version /;s/ (.*//'))."
    want tls && echo "TLS cells: the reference is HAProxy $(haproxy -v 2>/dev/null | head -n1 | awk '{ print $3 }') (\`nbthread 1\`) terminating TLS in front of plughost-refecho, all on CPU 0; plughost \`workers: 1\`. Same ECDSA P-256 certificate; the client offers TLS 1.3 only, X25519, no session cache or tickets (full handshakes). Server CPU and memory for HAProxy include the refecho behind it where said. TLS hold: $TLS_HOLD_CONNS connections (HAProxy needs two descriptors each; the cap is $HARD_FILES)."
    want udp && echo "UDP cells: the reference is plughost-refudp (bench/refudp.cpp: one thread, blocking recvmmsg/sendmmsg, up to 32 datagrams a call); 50 peers (sockets), 4 datagrams of 64 B or 1 of 1,400 B in flight each; a peer silent for 100 ms counts its in-flight datagrams as lost and sends new ones."
    want ws && echo "WebSocket cells: the echo reference is bench/refws.js, a minimal echo on Node $("${NODE[@]}" --version 2>/dev/null)'s ws ${NODE_WS_VERSION:-(not installed)} (Debian's node-ws, ${NODE_ADDONS:-addons unknown}; \`perMessageDeflate: false\`), on CPU 0 like plughost (\`workers: 1\`); $WS_REPS interleaved pairs of ${WS_SECONDS} s; one 64 B binary message in flight per connection, masked by the client. The chat cell compares plughost with itself: the same 1,000-member cell over WebSocket (members and senders, one text message a line) and over TCP, $WS_REPS interleaved rounds, a fresh host each run."
    echo "Chat senders are spread evenly over each interval; latency is from send to receipt, CLOCK_MONOTONIC."
    echo
    echo "| cell | metric | plughost | reference | ratio | target | result |"
    echo "|---|---|---|---|---|---|---|"
    printf '%s\n' "${ROWS[@]}"
    echo
    echo "## Every run"
    echo
    printf '%s\n' "${DETAILS[@]}"
    if [ "${#NOTES[@]}" -gt 0 ] || [ "${#BROKEN[@]}" -gt 0 ]; then
        echo
        echo "## Notes"
        echo
        for note in "${NOTES[@]}"; do echo "- $note"; done
        for problem in "${BROKEN[@]}"; do echo "- instrument problem: $problem"; done
    fi
} > "$RESULTS/$REPORT.md"
cp "$RUNLOG" "$RESULTS/$REPORT.log"
echo
cat "$RESULTS/$REPORT.md"
if [ "${#BROKEN[@]}" -gt 0 ]; then
    echo "the instrument broke (${#BROKEN[@]} problems, above); full output in bench/results/$REPORT.log" >&2
    exit 1
fi
exit 0
