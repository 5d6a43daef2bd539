#!/usr/bin/env bash
# The socket path with webhooks off and on: the same loads with no webhook endpoint, then with
# one endpoint that wants every event type and answers each request only after a second (a slow
# receiver, `ferrocast-bench slow-receiver`), so the webhook queue backs up during the run.
# Loads: connect+subscribe with each connection on its own channel (channel_occupied and
# subscription_count per connection), client events on a presence channel (one client_event
# webhook per event) and presence churn (member_added/member_removed). After each "on" case the
# server's webhook counters are read from /metrics (queued vs refused), and at the end the
# receiver's counts. One JSON line per case is appended to bench/results/<date>-webhooks.jsonl;
# the report puts the medians in BENCHMARKS.md. Each case runs REPS times (default 3), off and
# on alternating, since one connect run varies by ±5 % here.
#
#   bench/webhooks.sh                           # about 8 minutes
#   REPS=1 bench/webhooks.sh                    # about 3 minutes
#   FERROCAST_BIN=/path/ferrocast bench/webhooks.sh
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
: "${PORT:=6001}" "${METRICS_PORT:=6091}" "${RECEIVER_PORT:=6099}" "${DELAY_MS:=1000}" "${REPS:=3}"
OUT=${OUT:-bench/results/$(date -u +%Y-%m-%d)-webhooks.jsonl}
# shellcheck source=bench/prepare.sh
source bench/prepare.sh
# shellcheck source=bench/config.sh
source bench/config.sh
TMP=$(mktemp -d)
PID=""
RECEIVER=""
cleanup() {
  if [ -n "$PID" ]; then kill "$PID" 2>/dev/null || true; fi
  if [ -n "$RECEIVER" ]; then kill "$RECEIVER" 2>/dev/null || true; fi
  rm -rf "$TMP"
}
trap cleanup EXIT
mkdir -p "$(dirname "$OUT")"

# GET http://127.0.0.1:$1$2 with bash alone; prints the body.
http_get() {
  exec 3<>"/dev/tcp/127.0.0.1/$1"
  printf 'GET %s HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n' "$2" >&3
  sed '1,/^\r$/d' <&3
  exec 3<&-
}

wait_port() {
  for _ in $(seq 1 100); do (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0; sleep 0.1; done
  echo "nothing listens on 127.0.0.1:$1" >&2
  return 1
}

"$BENCH" slow-receiver --port "$RECEIVER_PORT" --delay-ms "$DELAY_MS" > "$TMP/receiver.log" 2>&1 &
RECEIVER=$!
wait_port "$RECEIVER_PORT"

# name: the bench arguments
declare -A LOADS=(
  [connect-10k]="connect -n 10000 --channels 10000"
  [client-events]="client-events -n 50 --senders 50 --rate 100 -d 10"
  [presence-churn]="presence-churn -n 1000 --rate 200 -d 10"
)
for rep in $(seq 1 "$REPS"); do
for load in connect-10k client-events presence-churn; do
  for mode in off on; do
    write_bench_config "$TMP/$mode.toml" "$TMP/data-$load-$mode"
    if [ "$mode" = on ]; then
      printf '\n[[apps.webhooks]]\nurl = "http://127.0.0.1:%s/webhooks"\n' "$RECEIVER_PORT" >> "$TMP/$mode.toml"
    fi
    "$FERROCAST_BIN" serve --config "$TMP/$mode.toml" --host 127.0.0.1 --port "$PORT" \
      --metrics-port "$METRICS_PORT" > "$TMP/server-$load-$mode.log" 2>&1 &
    PID=$!
    wait_port "$PORT"
    echo "== webhooks/$load-$mode (run $rep of $REPS)" >&2
    # shellcheck disable=SC2086
    "$BENCH" ${LOADS[$load]} --server-pid "$PID" --label "webhooks/$load-$mode" | tee -a "$OUT"
    if [ "$mode" = on ]; then
      sleep 1 # the connections' closing events reach the pipeline
      http_get "$METRICS_PORT" /metrics | awk -v label="webhooks/$load-queue" '
        /^ferrocast_webhook_events_total\{/ { match($0, /result="[a-z_]+"/); k = substr($0, RSTART + 8, RLENGTH - 9); v[k] = $NF }
        END { printf "{\"label\":\"%s\",\"webhook_events_queued\":%d,\"webhook_events_refused\":%d}\n", label, v["queued"], v["refused"] }' \
        | tee -a "$OUT"
    fi
    kill "$PID"; wait "$PID" 2>/dev/null || true; PID=""
    rm -rf "$TMP/data-$load-$mode"
    sleep 1
  done
done
done
http_get "$RECEIVER_PORT" "/stats?label=webhooks/receiver" | tee -a "$OUT"
echo
echo "== $OUT" >&2
