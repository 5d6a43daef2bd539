#!/usr/bin/env bash
# Cross-node fan-out: the same load (1,000 subscribers on one channel, published through node
# A's HTTP API) with every subscriber on one node, then with the subscribers spread over two
# nodes sharing the machine's Redis, then NATS. One JSON line per case is appended to
# bench/results/<date>-cluster.jsonl; bench/run.sh (or `ferrocast-bench report`) puts the table
# in BENCHMARKS.md.
#
#   bench/cluster.sh                            # about 2 minutes
#   FERROCAST_BIN=/path/ferrocast bench/cluster.sh
#
# Needs Redis on 127.0.0.1:6379 and NATS on 127.0.0.1:4222 (scripts/services.sh starts them).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
: "${PORT:=6001}" "${PORT2:=6002}"
OUT=${OUT:-bench/results/$(date -u +%Y-%m-%d)-cluster.jsonl}
# shellcheck source=bench/prepare.sh
source bench/prepare.sh
TMP=$(mktemp -d)
PIDS=()
stop_all() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
  PIDS=()
}
trap 'stop_all; rm -rf "$TMP"' EXIT
PREFIX="fcbench-$$-$(date +%s)"

config() { # file adapter data-dir
  cat > "$1" <<TOML
data_dir = "$3"
drain_grace = 0

[clients]
max_connections_per_ip = 0

[cluster]
adapter = "$2"
prefix = "$PREFIX-$2"

[history]
store = "memory"

[[apps]]
id = "bench-app"
key = "bench-key"
secret = "bench-secret"
max_connections = 0
max_backend_events_per_sec = 0
TOML
}

start() { # config port
  "$FERROCAST_BIN" serve --config "$1" --host 127.0.0.1 --port "$2" --metrics-port 0 >> "$TMP/servers.log" 2>&1 &
  PIDS+=($!)
  for _ in $(seq 1 100); do (exec 3<>"/dev/tcp/127.0.0.1/$2") 2>/dev/null && return 0; sleep 0.1; done
  echo "server on $2 did not start" >&2; exit 1
}

run() { # setup extra-args...
  local setup=$1; shift
  for rate in 0 50; do
    local name="$setup-$([ "$rate" = 0 ] && echo max || echo "$rate")"
    echo "== cluster/$name" >&2
    "$BENCH" fanout -n 1000 --payload 100 --rate "$rate" -d 10 --server-pid "${PIDS[0]}" \
      --label "cluster/$name" "$@" | tee -a "$OUT"
    sleep 1
  done
}

mkdir -p "$(dirname "$OUT")"
config "$TMP/local.toml" local "$TMP/d-local"
start "$TMP/local.toml" "$PORT"
run 1-node
stop_all

for adapter in redis nats; do
  config "$TMP/$adapter-a.toml" "$adapter" "$TMP/d-$adapter-a"
  config "$TMP/$adapter-b.toml" "$adapter" "$TMP/d-$adapter-b"
  start "$TMP/$adapter-a.toml" "$PORT"
  start "$TMP/$adapter-b.toml" "$PORT2"
  sleep 2 # the nodes hear each other's heartbeats
  run "2-nodes-$adapter" --ws-port "$PORT2"
  stop_all
done
echo "== $OUT" >&2
