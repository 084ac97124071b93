#!/usr/bin/env bash
# One plughost-loadgen mode, briefly and with tiny sizes, so the benchmark instrument cannot rot
# (tests/bench/CMakeLists.txt runs each mode as its own ctest; make bench is where speed is judged).
#   smoke.sh echo|hold LOADGEN REFECHO
#   smoke.sh chat|startup|tls|ws LOADGEN PLUGHOSTD PLUGIN_DIR
#   smoke.sh udp LOADGEN REFUDP
# Every wait is a poll with a deadline; only the processes started here are stopped, by PID.
set -euo pipefail
mode=$1 loadgen=$2
work=$(mktemp -d /tmp/plughost-bench-smoke-XXXXXX)
pids=()

now_ns() { date +%s%N; }
alive() { [ -r "/proc/$1/stat" ] && [ "$(cut -d' ' -f3 "/proc/$1/stat" 2>/dev/null)" != Z ]; }
stop() {  # one PID started here, once: SIGTERM, then SIGKILL after 5 s
    local deadline=$(( $(now_ns) + 5000000000 )) kept=() p
    for p in "${pids[@]}"; do [ "$p" = "$1" ] || kept+=("$p"); done
    [ "${#kept[@]}" != "${#pids[@]}" ] || return 0
    pids=("${kept[@]}")  # once reaped, its number may belong to another process
    kill "$1" 2>/dev/null || true
    while alive "$1"; do
        if [ "$(now_ns)" -ge "$deadline" ]; then kill -9 "$1" 2>/dev/null || true; break; fi
        sleep 0.01
    done
    wait "$1" 2>/dev/null || true
}
cleanup() {
    local pid; for pid in "${pids[@]}"; do stop "$pid"; done
    rm -rf "$work"
}
trap cleanup EXIT
wait_for_file() {  # FILE PID: up to 10 s, and only while PID runs
    local deadline=$(( $(now_ns) + 10000000000 ))
    until [ -s "$1" ]; do
        alive "$2" || { echo "process $2 exited before writing $1" >&2; return 1; }
        [ "$(now_ns)" -lt "$deadline" ] || { echo "no $1 within 10 s" >&2; return 1; }
        sleep 0.01
    done
}
# expect KEY VALUE: the last RESULT line has KEY=VALUE.
expect() {
    local got
    got=$(grep '^RESULT ' "$work/out" | tail -n1 | tr ' ' '\n' | awk -F= -v k="$1" '$1 == k { print $2 }')
    [ "$got" = "$2" ] || { echo "expected $1=$2, got '$got'" >&2; exit 1; }
}
run() { "$loadgen" "$@" | tee "$work/out"; }

case $mode in
echo | hold)
    refecho=$3
    "$refecho" --port 0 --port-file "$work/port" & refecho_pid=$!; pids+=("$refecho_pid")
    wait_for_file "$work/port" "$refecho_pid"
    port=$(cat "$work/port")
    if [ "$mode" = echo ]; then
        run echo --port "$port" --conns 4 --size 100 --duration 0.3 --warmup 0.1
        expect errors 0
        run echo --port "$port" --conns 3 --size 70000 --inflight 2 --threads 2 --duration 0.3 --warmup 0.1
        expect errors 0
        # Exactly N round trips (profiles), with the server's CPU time per round trip.
        run echo --port "$port" --conns 4 --size 64 --round-trips 2000 --server-pid "$refecho_pid"
        expect round_trips 2000
        expect errors 0
        grep '^RESULT ' "$work/out" | grep -Eq ' server_us_per_rt=[0-9]' || { echo "no server CPU per round trip" >&2; exit 1; }
        # The instrument must notice a server that does not echo: refecho is not running any more.
        stop "$refecho_pid"
        if "$loadgen" echo --port "$port" --conns 1 --size 8 --duration 0.1 --warmup 0 > "$work/out"; then
            echo "loadgen reported success against a closed port" >&2
            exit 1
        fi
        expect connect_failed 1
    else
        run hold --port "$port" --conns 200 --pid "$refecho_pid" --checkpoints 50,100
        expect verified 200
        expect accepted 200
        grep '^RESULT ' "$work/out" | grep -Eq ' checkpoints=50:[0-9.]+,100:[0-9.]+,200:' || { echo "no memory checkpoints" >&2; exit 1; }
    fi
    ;;
chat | startup)
    plughostd=$3 plugins=$4
    cat > "$work/host.yaml" <<YAML
plugin_dir: $plugins
log_level: warning
services:
  chat: {plugin: chat, listen: "127.0.0.1:0", max_queue: 16KiB}
  seed: {plugin: chat, listen: "127.0.0.1:0", settings: {dialect: seed}}
  irc: {plugin: chat, listen: "127.0.0.1:0", settings: {dialect: irc}}
YAML
    if [ "$mode" = startup ]; then
        run startup --exec "$plughostd" --config "$work/host.yaml" --timeout 10
        expect accepting 3
        exit 0
    fi
    "$plughostd" --config "$work/host.yaml" --ready-file "$work/ready" 2> "$work/host.log" & host_pid=$!; pids+=("$host_pid")
    wait_for_file "$work/ready" "$host_pid" || { cat "$work/host.log" >&2; exit 1; }
    port() { awk -v s="$1" '$1 == s { n = split($2, a, ":"); print a[n] }' "$work/ready"; }
    run chat --port "$(port chat)" --dialect line --members 8 --senders 2 --rate 20 --duration 0.5 --grace 2
    expect lost 0
    expect errors 0
    run chat --port "$(port seed)" --dialect seed --members 5 --senders 2 --rate 20 --duration 0.5 --grace 2
    expect expected 100
    expect errors 0
    run chat --port "$(port chat)" --dialect line --members 4 --senders 1 --rate 20 --duration 0.3 --stalled 1 --grace 2
    expect errors 0
    # IRC: registration, JOIN, PRIVMSG to the channel; members from two loopback source addresses.
    run chat --port "$(port irc)" --dialect irc --members 6 --senders 2 --rate 5 --duration 0.4 --sources 2 --grace 2
    expect joined 6
    expect expected 20
    expect lost 0
    expect errors 0
    ;;
tls)
    # The TLS client modes against plughost's own TLS listener (a throwaway certificate).
    plughostd=$3 plugins=$4
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 -subj /CN=localhost \
        -keyout "$work/key.pem" -out "$work/cert.pem" 2>/dev/null
    cat > "$work/host.yaml" <<YAML
plugin_dir: $plugins
log_level: warning
services:
  echo:
    plugin: echo
    listen:
      - address: 127.0.0.1:0
        tls: {certificate: $work/cert.pem, key: $work/key.pem}
YAML
    "$plughostd" --config "$work/host.yaml" --ready-file "$work/ready" 2> "$work/host.log" & host_pid=$!; pids+=("$host_pid")
    wait_for_file "$work/ready" "$host_pid" || { cat "$work/host.log" >&2; exit 1; }
    port=$(awk '$1 == "echo" { n = split($2, a, ":"); print a[n] }' "$work/ready")
    run handshakes --port "$port" --conns 2 --duration 0.3 --warmup 0.1 --server-pid "$host_pid"
    expect errors 0
    grep '^RESULT ' "$work/out" | grep -Eq ' handshakes=[1-9]' || { echo "no handshake completed" >&2; exit 1; }
    run echo --tls 1 --port "$port" --conns 3 --size 70000 --inflight 2 --duration 0.3 --warmup 0.1
    expect errors 0
    run hold --tls 1 --port "$port" --conns 20 --pid "$host_pid"
    expect verified 20
    # A plaintext server is not a TLS one: the handshakes fail and the run says so.
    stop "$host_pid"
    if "$loadgen" handshakes --port "$port" --conns 1 --duration 0.1 --warmup 0 > "$work/out"; then
        echo "loadgen reported success against a closed port" >&2
        exit 1
    fi
    ;;
ws)
    # --websocket against plughost's own WebSocket listeners: echo (binary frames, big ones split
    # across reads) and the chat's line dialect (one text message a line), a member that never reads.
    plughostd=$3 plugins=$4
    cat > "$work/host.yaml" <<YAML
plugin_dir: $plugins
log_level: warning
services:
  echo: {plugin: echo, listen: [{address: 127.0.0.1:0, websocket: {path: /echo}}]}
  chat: {plugin: chat, listen: [{address: 127.0.0.1:0, websocket: {path: /chat, ping_interval: 100ms}}], max_queue: 16KiB}
  plain: {plugin: echo, listen: "127.0.0.1:0"}
YAML
    "$plughostd" --config "$work/host.yaml" --ready-file "$work/ready" 2> "$work/host.log" & host_pid=$!; pids+=("$host_pid")
    wait_for_file "$work/ready" "$host_pid" || { cat "$work/host.log" >&2; exit 1; }
    port() { awk -v s="$1" '$1 == s { n = split($2, a, ":"); print a[n] }' "$work/ready"; }
    run echo --websocket /echo --port "$(port echo)" --conns 4 --size 64 --round-trips 2000 --server-pid "$host_pid"
    expect websocket 1
    expect round_trips 2000
    expect errors 0
    run echo --websocket /echo --port "$(port echo)" --conns 3 --size 70000 --inflight 2 --duration 0.3 --warmup 0.1
    expect errors 0
    # The host pings members silent for 100 ms: they answer (pongs), or it would close them as dead.
    run chat --websocket /chat --port "$(port chat)" --dialect line --members 8 --senders 2 --rate 20 --duration 0.5 --grace 2
    expect websocket 1
    expect expected 140
    expect lost 0
    expect errors 0
    grep '^RESULT ' "$work/out" | grep -Eq ' pongs=[1-9]' || { echo "no ping was answered" >&2; exit 1; }
    run chat --websocket /chat --port "$(port chat)" --dialect line --members 4 --senders 1 --rate 20 --duration 0.3 --stalled 1 --grace 2
    expect errors 0
    # A path the listener does not serve: the upgrade is refused (404) and the run says so.
    if "$loadgen" echo --websocket /nowhere --port "$(port echo)" --conns 1 --size 8 --duration 0.1 --warmup 0 > "$work/out"; then
        echo "loadgen reported success after a refused upgrade" >&2
        exit 1
    fi
    expect connect_failed 1
    grep -q 'upgrade refused: HTTP/1.1 404' "$work/out" || { echo "the refusal was not reported" >&2; exit 1; }
    # A plain TCP echo is no WebSocket server: it echoes the request instead of a 101, the join fails.
    if "$loadgen" chat --websocket /chat --port "$(port plain)" --dialect line --members 2 --senders 1 --rate 5 --duration 0.1 --join-timeout 2 > "$work/out"; then
        echo "loadgen reported success against a server that never upgraded" >&2
        exit 1
    fi
    expect join_failed 1
    grep -q 'upgrade refused: GET /chat' "$work/out" || { echo "the missing 101 was not reported" >&2; exit 1; }
    ;;
udp)
    refudp=$3
    "$refudp" --port 0 --port-file "$work/port" & refudp_pid=$!; pids+=("$refudp_pid")
    wait_for_file "$work/port" "$refudp_pid"
    run udp --port "$(cat "$work/port")" --peers 5 --size 1400 --window 2 --duration 0.3 --warmup 0.1 --server-pid "$refudp_pid"
    expect errors 0
    grep '^RESULT ' "$work/out" | grep -Eq ' datagrams_per_s=[1-9]' || { echo "no datagram echoed" >&2; exit 1; }
    ;;
*)
    echo "usage: smoke.sh echo|hold|chat|startup|tls|ws|udp LOADGEN ..." >&2
    exit 2
    ;;
esac
echo "bench smoke ($mode): ok"
