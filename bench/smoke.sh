#!/usr/bin/env bash
# A quick run of every load generator mode with tiny sizes, so the instrument
# cannot rot unnoticed (make test runs it; make bench is where speed is judged).
#   smoke.sh BUILD_DIR
set -euo pipefail
BUILD=$(cd "$1" && pwd)
LOADGEN="$BUILD/bench/plughost-loadgen"
WORK=$(mktemp -d /tmp/plughost-smoke-XXXXXX)
PIDS=()
trap 'for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$WORK"' EXIT
wait_for_file() { for _ in $(seq 1 500); do [ -s "$1" ] && return 0; sleep 0.01; done; echo "no $1" >&2; return 1; }

"$BUILD/bench/plughost-refecho" --port 0 --port-file "$WORK/ref.port" & PIDS+=("$!")
REF_PID=$!
cat > "$WORK/host.yaml" <<YAML
plugin_dir: $BUILD/plugins
log_level: warning
services:
  echo: {plugin: echo, listen: "127.0.0.1:0"}
  chat: {plugin: chat, listen: "127.0.0.1:0", max_queue: 16KiB}
  seed: {plugin: chat, listen: "127.0.0.1:0", settings: {dialect: seed}}
YAML
"$BUILD/host/plughostd" --config "$WORK/host.yaml" --ready-file "$WORK/ready" 2>"$WORK/host.log" & PIDS+=("$!")
wait_for_file "$WORK/ref.port"
wait_for_file "$WORK/ready"
port() { awk -v s="$1" '$1==s{split($2,a,":"); print a[2]}' "$WORK/ready"; }

"$LOADGEN" echo --port "$(cat "$WORK/ref.port")" --conns 4 --size 512 --inflight 2 --duration 0.5 --warmup 0.1
"$LOADGEN" echo --port "$(port echo)" --conns 4 --size 16384 --duration 0.5 --warmup 0.1 --threads 2
"$LOADGEN" hold --port "$(cat "$WORK/ref.port")" --conns 50 --pid "$REF_PID"
"$LOADGEN" chat --port "$(port chat)" --members 8 --senders 2 --rate 20 --duration 0.5 --dialect line | tee "$WORK/chat.out"
"$LOADGEN" chat --port "$(port seed)" --members 5 --senders 2 --rate 20 --duration 0.5 --dialect seed | tee -a "$WORK/chat.out"
"$LOADGEN" startup --exec "$BUILD/host/plughostd" --config "$WORK/host.yaml"
# Every delivery arrived, none twice, in order.
if grep '^RESULT' "$WORK/chat.out" | grep -v ' lost=0 duplicated=0 reordered=0 '; then
    echo "chat smoke lost, duplicated or reordered messages" >&2
    exit 1
fi
echo "bench smoke: every mode ran"
