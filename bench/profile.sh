#!/usr/bin/env bash
# Instructions per echo round trip, plughost against plughost-refecho, counted by callgrind (user space
# only; it counts instructions whatever else the machine is doing) and system calls per round trip
# counted by strace. Same work for both: the load generator's --round-trips.
#
#   bench/profile.sh BUILD_DIR [ROUND_TRIPS]     (default 20000; each cell runs N and then 3N)
#   PROFILE_SERVERS="ref host" (which), PROFILE_CELLS="1x64 50x64 50x16384", PROFILE_STRACE=1 (0: skip)
#
# Per round trip = (instructions over 3N - instructions over N) / 2N, so what does not grow with round
# trips (start-up, connecting, the first allocations) drops out. The callgrind files stay in
# $PROFILE_OUT (default /tmp/plughost-profile) for callgrind_annotate.
set -uo pipefail
BUILD=$(cd "${1:?usage: bench/profile.sh BUILD_DIR [ROUND_TRIPS]}" && pwd) || exit 2
N=${2:-20000}
OUT=${PROFILE_OUT:-/tmp/plughost-profile}
LOADGEN=$BUILD/bench/plughost-loadgen
mkdir -p "$OUT"
rm -f "$OUT"/cg.* "$OUT"/strace.*
command -v valgrind >/dev/null || { echo "needs valgrind (apt-get install valgrind)" >&2; exit 1; }
PIDS=()
cleanup() { local p; for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; wait "$p" 2>/dev/null; done; }
trap cleanup EXIT
cat > "$OUT/host.yaml" <<YAML
plugin_dir: $BUILD/plugins
log_level: warning
workers: 1
services:
  echo: {plugin: echo, listen: "127.0.0.1:0"}
YAML
wait_file() { local i; for i in $(seq 600); do [ -s "$1" ] && return 0; sleep 0.05; done; return 1; }
# start NAME WRAPPER...: the server under WRAPPER; sets PID and PORT.
start() {
    local name=$1; shift
    WRAPPER=$1
    rm -f "$OUT/$name.port" "$OUT/$name.ready"
    if [ "$name" = ref ]; then
        "$@" "$BUILD/bench/plughost-refecho" --port 0 --port-file "$OUT/$name.port" 2>>"$OUT/$name.log" &
        PID=$!; wait_file "$OUT/$name.port" || return 1; PORT=$(cat "$OUT/$name.port")
    else
        "$@" "$BUILD/host/plughostd" --config "$OUT/host.yaml" --ready-file "$OUT/$name.ready" >/dev/null 2>>"$OUT/$name.log" &
        PID=$!; wait_file "$OUT/$name.ready" || return 1
        PORT=$(awk '$1 == "echo" { n = split($2, a, ":"); print a[n] }' "$OUT/$name.ready")
    fi
    PIDS+=("$PID")
}
# stop: the server (under strace, the traced child: strace itself would only detach).
stop() {
    local child; child=$(cat "/proc/$PID/task/$PID/children" 2>/dev/null | cut -d' ' -f1)
    [ "$WRAPPER" = strace ] && [ -n "$child" ] && kill "$child" 2>/dev/null
    kill "$PID" 2>/dev/null; wait "$PID" 2>/dev/null
}
load() { "$LOADGEN" echo --port "$PORT" --conns "$1" --size "$2" --round-trips "$3" | grep '^RESULT' | grep -q ' errors=0'; }
total_ir() { awk '/^summary:/ { print $2 }' "$1"; }

printf '%-16s %-10s %14s %14s %8s\n' cell server "instr/rt" "syscalls/rt" ratio
SERVERS=${PROFILE_SERVERS:-ref host}
for cell in ${PROFILE_CELLS:-1x64 50x64 50x16384}; do
    conns=${cell%x*} size=${cell#*x}
    declare -A ir sc
    ir[ref]=""
    for name in $SERVERS; do
        tag="$name.${conns}x$size"
        start "$name" valgrind --tool=callgrind --compress-strings=no --compress-pos=no --callgrind-out-file="$OUT/cg.$tag.%p" || { echo "$name did not start" >&2; exit 1; }
        callgrind_control -z "$PID" >/dev/null
        load "$conns" "$size" "$N" || echo "warning: $tag verification failed" >&2
        callgrind_control -d "$PID" >/dev/null; mv "$(ls -t "$OUT"/cg."$tag".*.[0-9]* | head -n1)" "$OUT/cg.$tag.n1"
        callgrind_control -z "$PID" >/dev/null
        load "$conns" "$size" $(( 3 * N )) || echo "warning: $tag verification failed" >&2
        callgrind_control -d "$PID" >/dev/null; mv "$(ls -t "$OUT"/cg."$tag".*.[0-9]* | head -n1)" "$OUT/cg.$tag.n3"
        stop
        ir[$name]=$(( ( $(total_ir "$OUT/cg.$tag.n3") - $(total_ir "$OUT/cg.$tag.n1") ) / (2 * N) ))
        sc[$name]=n/a
        [ "${PROFILE_STRACE:-1}" = 1 ] || continue
        # System calls, every thread, over 3N round trips less over N.
        start "$name" strace -f -c -o "$OUT/strace.$tag.n1" || exit 1
        load "$conns" "$size" "$N"; stop
        start "$name" strace -f -c -o "$OUT/strace.$tag.n3" || exit 1
        load "$conns" "$size" $(( 3 * N )); stop
        calls() { awk '$NF == "total" { print $4 }' "$1"; }  # % time, seconds, usecs/call, calls, [errors], total
        sc[$name]=$(awk -v a="$(calls "$OUT/strace.$tag.n3")" -v b="$(calls "$OUT/strace.$tag.n1")" -v n="$N" 'BEGIN { printf "%.2f", (a - b) / (2 * n) }')
    done
    for name in $SERVERS; do
        printf '%-16s %-10s %14s %14s %8s\n' "${conns}x$size" "$name" "${ir[$name]}" "${sc[$name]}" \
            "$(awk -v a="${ir[$name]}" -v b="${ir[ref]}" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "n/a" }')"
    done
done
echo "callgrind files: $OUT/cg.*.n3 (callgrind_annotate --inclusive=yes FILE); strace summaries: $OUT/strace.*"
