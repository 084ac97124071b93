#!/usr/bin/env bash
# make bench: plughost side by side with a raw epoll echo (plughost-refecho) and
# `ncat --chat`, on loopback, pairs interleaved (A B A B A B), medians of 3,
# ratios and targets in a table (also written to bench/results/latest.md).
# Servers run on CPU 0, the load generator on CPU 1. Exits non-zero only if the
# instrument itself broke; a missed target is a FAIL in the table.
set -uo pipefail
BUILD=${1:-build}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=$(cd "$BUILD" && pwd)
LOADGEN="$BUILD/bench/plughost-loadgen"
REFECHO="$BUILD/bench/plughost-refecho"
PLUGHOSTD="$BUILD/host/plughostd"
REPS=${BENCH_REPS:-3}
ECHO_SECONDS=${BENCH_ECHO_SECONDS:-3}
CHAT_SECONDS=${BENCH_CHAT_SECONDS:-5}
HOLD_CONNS=${BENCH_HOLD_CONNS:-10000}

if ! command -v ncat >/dev/null; then
    SUDO=$([ "$(id -u)" = 0 ] || echo sudo)
    $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -q ncat >/dev/null || { echo "cannot install ncat" >&2; exit 1; }
fi
ulimit -n "$(ulimit -Hn)" 2>/dev/null

WORK=$(mktemp -d /tmp/plughost-bench-XXXXXX)
PIDS=()
cleanup() {
    for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null; done
    wait 2>/dev/null
    rm -rf "$WORK"
}
trap cleanup EXIT

# Waits (bounded) until a file exists.
wait_for_file() {
    for _ in $(seq 1 500); do [ -s "$1" ] && return 0; sleep 0.01; done
    echo "timed out waiting for $1" >&2
    return 1
}

# The servers, each pinned to CPU 0. plughost runs one I/O thread there, like the reference.
cat > "$WORK/bench.yaml" <<YAML
plugin_dir: $BUILD/plugins
log_level: warning
workers: 1
services:
  echo:
    plugin: echo
    listen: 127.0.0.1:0
    max_connections: 20000
  chat:
    plugin: chat
    listen: 127.0.0.1:0
    max_queue: 16KiB   # a member that stops reading is cut once ~16 KiB wait for it (see README)
    max_connections: 2000
YAML
taskset -c 0 "$PLUGHOSTD" --config "$WORK/bench.yaml" --ready-file "$WORK/ready" 2>"$WORK/plughost.log" &
PLUGHOST_PID=$!; PIDS+=("$PLUGHOST_PID")
taskset -c 0 "$REFECHO" --port 0 --port-file "$WORK/refecho.port" &
REFECHO_PID=$!; PIDS+=("$REFECHO_PID")
NCAT_PORT=$(( 20000 + RANDOM % 20000 ))
# ncat accepts 100 clients by default; the 1,000-member cell needs more.
taskset -c 0 ncat -l --chat --max-conns 2000 127.0.0.1 "$NCAT_PORT" >/dev/null 2>&1 &
PIDS+=("$!")
wait_for_file "$WORK/ready" || exit 1
wait_for_file "$WORK/refecho.port" || exit 1
ECHO_PORT=$(awk '$1=="echo"{split($2,a,":"); print a[2]}' "$WORK/ready")
CHAT_PORT=$(awk '$1=="chat"{split($2,a,":"); print a[2]}' "$WORK/ready")
REF_PORT=$(cat "$WORK/refecho.port")
for _ in $(seq 1 200); do (exec 3<>"/dev/tcp/127.0.0.1/$NCAT_PORT") 2>/dev/null && break; sleep 0.02; done

# Runs the load generator on CPU 1; prints the value of KEY from its RESULT line.
measure() {
    local key=$1; shift
    local line
    line=$(taskset -c 1 "$LOADGEN" "$@" 2>&1 | tee -a "$WORK/runs.log" | grep '^RESULT') || { echo "loadgen failed: $*" >&2; echo nan; return; }
    echo "$line" | tr ' ' '\n' | awk -F= -v k="$key" '$1==k{print $2}'
}
median() { printf '%s\n' "$@" | sort -g | awk '{v[NR]=$1} END{print v[int((NR+1)/2)]}'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN{ if (b+0 == 0) print "n/a"; else printf "%.2f", a/b }'; }
check() { awk -v r="$1" -v op="$2" -v t="$3" 'BEGIN{ if (r=="n/a") {print "n/a"; exit} ok = (op=="<=") ? (r+0 <= t+0) : (r+0 >= t+0); print ok ? "PASS" : "FAIL" }'; }

ROWS=()
row() { ROWS+=("| $1 | $2 | $3 | $4 | $5 | $6 | $7 |"); echo "  $1: $2: plughost $3, reference $4, ratio $5 (target $6): $7"; }

echo "echo cells (plughost vs plughost-refecho, ${ECHO_SECONDS}s each, ${REPS} interleaved pairs)"
declare -A P R
for cell in "1 64" "50 64" "50 16384"; do
    set -- $cell
    pa=(); ra=(); p99a=(); r99a=(); pma=(); rma=(); prt=(); rrt=()
    for _ in $(seq 1 "$REPS"); do
        out=$(taskset -c 1 "$LOADGEN" echo --port "$ECHO_PORT" --conns "$1" --size "$2" --duration "$ECHO_SECONDS" | grep RESULT)
        pa+=("$(echo "$out" | sed 's/.*p50_us=\([^ ]*\).*/\1/')"); p99a+=("$(echo "$out" | sed 's/.*p99_us=\([^ ]*\).*/\1/')")
        prt+=("$(echo "$out" | sed 's/.*rtt_per_s=\([^ ]*\).*/\1/')"); pma+=("$(echo "$out" | sed 's/.*mb_per_s=\([^ ]*\).*/\1/')")
        echo "$out" >> "$WORK/runs.log"
        out=$(taskset -c 1 "$LOADGEN" echo --port "$REF_PORT" --conns "$1" --size "$2" --duration "$ECHO_SECONDS" | grep RESULT)
        ra+=("$(echo "$out" | sed 's/.*p50_us=\([^ ]*\).*/\1/')"); r99a+=("$(echo "$out" | sed 's/.*p99_us=\([^ ]*\).*/\1/')")
        rrt+=("$(echo "$out" | sed 's/.*rtt_per_s=\([^ ]*\).*/\1/')"); rma+=("$(echo "$out" | sed 's/.*mb_per_s=\([^ ]*\).*/\1/')")
        echo "$out" >> "$WORK/runs.log"
    done
    name="echo, $1 conn$([ "$1" = 1 ] || echo s), $( [ "$2" = 64 ] && echo "64 B" || echo "16 KiB")"
    if [ "$1" = 1 ]; then
        p=$(median "${pa[@]}"); r=$(median "${ra[@]}"); q=$(ratio "$p" "$r")
        row "$name" "p50 latency (µs)" "$p" "$r" "$q" "≤ 1.2×" "$(check "$q" "<=" 1.2)"
    elif [ "$2" = 64 ]; then
        p=$(median "${prt[@]}"); r=$(median "${rrt[@]}"); q=$(ratio "$p" "$r")
        row "$name" "round trips/s" "$p" "$r" "$q" "≥ 0.9×" "$(check "$q" ">=" 0.9)"
        p=$(median "${p99a[@]}"); r=$(median "${r99a[@]}"); q=$(ratio "$p" "$r")
        row "$name" "p99 latency (µs)" "$p" "$r" "$q" "≤ 1.5×" "$(check "$q" "<=" 1.5)"
    else
        p=$(median "${pma[@]}"); r=$(median "${rma[@]}"); q=$(ratio "$p" "$r")
        row "$name" "MB/s" "$p" "$r" "$q" "≥ 0.9×" "$(check "$q" ">=" 0.9)"
    fi
done

echo "hold cell ($HOLD_CONNS connections held, each verified; resident memory per connection of a fresh server)"
pk=(); rk=(); pv=()
for rep in $(seq 1 "$REPS"); do
    # A fresh process each time: memory freed by an earlier run stays resident and would hide the cost.
    taskset -c 0 "$PLUGHOSTD" --config "$WORK/bench.yaml" --ready-file "$WORK/hold-ready-$rep" 2>/dev/null &
    pid=$!; wait_for_file "$WORK/hold-ready-$rep" || exit 1
    port=$(awk '$1=="echo"{split($2,a,":"); print a[2]}' "$WORK/hold-ready-$rep")
    out=$(taskset -c 1 "$LOADGEN" hold --port "$port" --conns "$HOLD_CONNS" --pid "$pid" | grep RESULT); echo "$out" >> "$WORK/runs.log"
    kill "$pid"; wait "$pid" 2>/dev/null
    pk+=("$(echo "$out" | sed 's/.*kib_per_conn=\([^ ]*\).*/\1/')"); pv+=("$(echo "$out" | sed 's/.*verified=\([^ ]*\).*/\1/')")
    taskset -c 0 "$REFECHO" --port 0 --port-file "$WORK/hold-ref-$rep" &
    pid=$!; wait_for_file "$WORK/hold-ref-$rep" || exit 1
    out=$(taskset -c 1 "$LOADGEN" hold --port "$(cat "$WORK/hold-ref-$rep")" --conns "$HOLD_CONNS" --pid "$pid" | grep RESULT); echo "$out" >> "$WORK/runs.log"
    kill "$pid"; wait "$pid" 2>/dev/null
    rk+=("$(echo "$out" | sed 's/.*kib_per_conn=\([^ ]*\).*/\1/')")
done
verified=$(median "${pv[@]}")
row "hold, $HOLD_CONNS echo conns" "accepted and verified" "$verified" "$HOLD_CONNS" "$(ratio "$verified" "$HOLD_CONNS")" "all" "$([ "$verified" = "$HOLD_CONNS" ] && echo PASS || echo FAIL)"
p=$(median "${pk[@]}"); r=$(median "${rk[@]}")
row "hold, $HOLD_CONNS echo conns" "RSS KiB per conn" "$p" "$r" "n/a" "≤ 16 KiB" "$(check "$p" "<=" 16)"

echo "chat cells (plughost's chat vs ncat --chat, ${CHAT_SECONDS}s each, ${REPS} interleaved pairs)"
chat_cell() {
    local members=$1 rate=$2 limit=$3
    local p99p=() p99n=() lostp=() lostn=()
    local loss='{for(i=1;i<=NF;i++){split($i,kv,"="); if(kv[1]=="lost"||kv[1]=="duplicated"||kv[1]=="reordered") s+=kv[2]}} END{print s+0}'
    for _ in $(seq 1 "$REPS"); do
        out=$(taskset -c 1 "$LOADGEN" chat --port "$CHAT_PORT" --members "$members" --senders 10 --rate "$rate" --duration "$CHAT_SECONDS" --dialect line | grep RESULT); echo "$out" >> "$WORK/runs.log"
        p99p+=("$(echo "$out" | sed 's/.*p99_us=\([^ ]*\).*/\1/')")
        lostp+=("$(echo "$out" | awk "$loss")")
        # ncat --chat sends the whole member list to every member at each join: O(members^3)
        # bytes (~10 GB for 1,000), so it cannot seat 1,000 members in bounded time.
        if [ "$members" -le 200 ]; then
            out=$(taskset -c 1 "$LOADGEN" chat --port "$NCAT_PORT" --members "$members" --senders 10 --rate "$rate" --duration "$CHAT_SECONDS" --dialect ncat | grep RESULT); echo "$out" >> "$WORK/runs.log"
            p99n+=("$(echo "$out" | sed 's/.*p99_us=\([^ ]*\).*/\1/')")
            lostn+=("$(echo "$out" | awk "$loss")")
        fi
    done
    local name="chat, $members members, 10 senders × $rate msg/s, ${CHAT_SECONDS} s"
    local lost lostRef; lost=$(printf '%s\n' "${lostp[@]}" | awk '{s+=$1} END{print s+0}')
    lostRef=$(printf '%s\n' "${lostn[@]}" | awk '{s+=$1} END{print s+0}')
    row "$name" "lost + duplicated + reordered (all runs)" "$lost" "$([ "${#lostn[@]}" -gt 0 ] && echo "$lostRef" || echo "not run")" "n/a" "0" "$([ "$lost" = 0 ] && echo PASS || echo FAIL)"
    local p n q; p=$(median "${p99p[@]}")
    if [ "${#p99n[@]}" -gt 0 ]; then
        n=$(median "${p99n[@]}"); q=$(ratio "$p" "$n")
        row "$name" "p99 delivery latency (µs)" "$p" "$n" "$q" "≤ 0.5×$limit" "$( [ "$(check "$q" "<=" 0.5)" = PASS ] && { [ -z "$limit" ] || [ "$(check "$p" "<=" 50000)" = PASS ]; } && echo PASS || echo FAIL)"
    else
        row "$name" "p99 delivery latency (µs)" "$p" "ncat: cannot seat $members (see README)" "n/a" "≤ 50 ms" "$(check "$p" "<=" 50000)"
    fi
    CHAT_P99=$p
}
chat_cell 100 50 ""
BASELINE_P99=$CHAT_P99
chat_cell 1000 20 " and ≤ 50 ms"

echo "chat with one member that never reads (vs the same run without it)"
sp=(); sl=(); sc=()
for _ in $(seq 1 "$REPS"); do
    out=$(taskset -c 1 "$LOADGEN" chat --port "$CHAT_PORT" --members 100 --senders 10 --rate 50 --duration "$CHAT_SECONDS" --dialect line --stalled 1 | grep RESULT); echo "$out" >> "$WORK/runs.log"
    sp+=("$(echo "$out" | sed 's/.*p99_us=\([^ ]*\).*/\1/')")
    sl+=("$(echo "$out" | sed 's/.*lost=\([^ ]*\).*/\1/')")
    sc+=("$(echo "$out" | sed 's/.*stalled_closed=\([^ ]*\).*/\1/')")
done
lost=$(printf '%s\n' "${sl[@]}" | awk '{s+=$1} END{print s+0}')
closed=$(printf '%s\n' "${sc[@]}" | awk '{s+=$1} END{print s+0}')
row "chat, 100 members + 1 that never reads" "lost by the 99 others (all runs)" "$lost" "n/a" "n/a" "0" "$([ "$lost" = 0 ] && echo PASS || echo FAIL)"
p=$(median "${sp[@]}"); q=$(ratio "$p" "$BASELINE_P99")
row "chat, 100 members + 1 that never reads" "p99 vs without it (µs)" "$p" "$BASELINE_P99" "$q" "≤ 1.5×" "$(check "$q" "<=" 1.5)"
row "chat, 100 members + 1 that never reads" "stalled member closed as too slow" "$closed of $REPS" "n/a" "n/a" "every run" "$([ "$closed" = "$REPS" ] && echo PASS || echo FAIL)"

echo "start-up (exec to every default service accepting)"
sed -e "s|plugin_dir: .*|plugin_dir: $BUILD/plugins|" -e "s|socket: .*|socket: $WORK/admin.sock|" \
    -e 's|127\.0\.0\.1:[0-9]*|127.0.0.1:0|' "$ROOT/config/plughost.yaml" > "$WORK/default.yaml"
st=()
for _ in $(seq 1 "$REPS"); do
    out=$(taskset -c 0 "$LOADGEN" startup --exec "$PLUGHOSTD" --config "$WORK/default.yaml" | grep RESULT); echo "$out" >> "$WORK/runs.log"
    st+=("$(echo "$out" | sed 's/.*ms=\([^ ]*\).*/\1/')")
done
p=$(median "${st[@]}")
row "start-up, the default config" "ms from exec to all accepting" "$p" "n/a" "n/a" "≤ 100 ms" "$(check "$p" "<=" 100)"

{
    echo "# plughost benchmark"
    echo
    echo "$(date -u '+%Y-%m-%d %H:%M UTC'); $(nproc) CPUs ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//')); Linux $(uname -r)."
    echo "Servers on CPU 0 (plughost with \`workers: 1\`), load generator on CPU 1; medians of $REPS interleaved runs."
    echo "Reproduce: \`make bench\`."
    echo
    echo "| cell | metric | plughost | reference | ratio | target | result |"
    echo "|---|---|---|---|---|---|---|"
    printf '%s\n' "${ROWS[@]}"
} > "$ROOT/bench/results/latest.md"
echo
cat "$ROOT/bench/results/latest.md"
grep -q "nan" "$ROOT/bench/results/latest.md" && { echo "the instrument failed somewhere; see above" >&2; exit 1; }
exit 0
