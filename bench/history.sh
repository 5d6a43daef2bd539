#!/usr/bin/env bash
# Fan-out with channel history off and on: the same load (1,000 subscribers on one channel,
# published through the HTTP API, as fast as possible and at 50/s) with no history, with the
# channel's events stored in the embedded SQLite store, and in Redis. One JSON line per case is
# appended to bench/results/<date>-history.jsonl; the report puts the table in BENCHMARKS.md.
#
#   bench/history.sh                            # about 2 minutes
#   FERROCAST_BIN=/path/ferrocast bench/history.sh
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
: "${PORT:=6001}"
OUT=${OUT:-bench/results/$(date -u +%Y-%m-%d)-history.jsonl}
# shellcheck source=bench/prepare.sh
source bench/prepare.sh
TMP=$(mktemp -d)
PID=""
trap '[ -n "$PID" ] && kill "$PID" 2>/dev/null; rm -rf "$TMP"' EXIT
mkdir -p "$(dirname "$OUT")"

for store in off sqlite redis; do
  {
    printf 'data_dir = "%s/data-%s"\ndrain_grace = 0\n\n[clients]\nmax_connections_per_ip = 0\n\n' "$TMP" "$store"
    printf '[cluster]\nprefix = "fcbench-history-%s-%s"\n\n' "$$" "$store"
    printf '[history]\nstore = "%s"\n\n' "$([ "$store" = off ] && echo memory || echo "$store")"
    printf '[[apps]]\nid = "bench-app"\nkey = "bench-key"\nsecret = "bench-secret"\nmax_connections = 0\n'
    printf 'max_backend_events_per_sec = 0\n'
    [ "$store" = off ] || printf 'history = [{ pattern = "fan-*", size = 1000, ttl = 3600 }]\n'
  } > "$TMP/$store.toml"
  "$FERROCAST_BIN" serve --config "$TMP/$store.toml" --host 127.0.0.1 --port "$PORT" --metrics-port 0 \
    > "$TMP/server-$store.log" 2>&1 &
  PID=$!
  for _ in $(seq 1 100); do (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null && break; sleep 0.1; done
  for rate in 0 50; do
    name="$store-$([ "$rate" = 0 ] && echo max || echo "$rate")"
    echo "== history/$name" >&2
    "$BENCH" fanout -n 1000 --payload 100 --rate "$rate" -d 10 --server-pid "$PID" --label "history/$name" | tee -a "$OUT"
    sleep 1
  done
  kill "$PID"; wait "$PID" 2>/dev/null || true; PID=""
  sleep 1
done
echo "== $OUT" >&2
