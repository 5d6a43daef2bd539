#!/usr/bin/env bash
# Runs the SHARED load generator (shared/bench: loadgen + baseline.sh, the harness the peer's
# figures in shared/bench/BASELINE.md were measured with) against Ferrocast, so the two can be
# compared on the same generator. Results: bench/results/loadgen-ferrocast.jsonl (replaced),
# and a copy of the peer's lines in bench/results/sockudo-5.0.1.jsonl; bench/run.sh puts the
# comparison in BENCHMARKS.md.
#
#   bench/loadgen-compare.sh                  # REPS=1, all five scenarios (about 3 minutes)
#   ONLY=fanout-1k-max REPS=3 bench/loadgen-compare.sh
#   FERROCAST_BIN=/abs/path/ferrocast bench/loadgen-compare.sh
#
# shared/bench is read-only, so it is copied to $WORK (kept between runs, so loadgen builds once).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
: "${SHARED:=$ROOT/../shared/bench}" "${REPS:=1}" "${PORT:=6001}" "${WORK:=${TMPDIR:-/tmp}/ferrocast-shared-bench}"
[ -x "$SHARED/baseline.sh" ] || { echo "no shared bench at $SHARED (set SHARED=)" >&2; exit 1; }
if [ -z "${FERROCAST_BIN:-}" ]; then
  (cd "$ROOT" && cargo build --release -p ferrocast)
  FERROCAST_BIN=$ROOT/target/release/ferrocast
fi
FERROCAST_BIN=$(cd "$(dirname "$FERROCAST_BIN")" && pwd)/$(basename "$FERROCAST_BIN")
mkdir -p "$WORK"
cp -r --no-preserve=mode "$SHARED/." "$WORK/"
chmod +x "$WORK/baseline.sh"
cat > "$WORK/ferrocast-bench.toml" <<TOML
data_dir = "$WORK/data"
drain_grace = 0

# The load generator opens every connection from 127.0.0.1.
[clients]
max_connections_per_ip = 0

[[apps]]
id = "bench-app"
key = "bench-key"
secret = "bench-secret"
max_connections = 0
max_client_events_per_sec = 0
max_presence_members = 0
TOML
OUT=$ROOT/bench/results/loadgen-ferrocast.jsonl
mkdir -p "$(dirname "$OUT")"
: > "$OUT"
COMMIT=${FERROCAST_COMMIT:-$(cd "$ROOT" && git rev-parse --short HEAD)}
START_CMD="exec $FERROCAST_BIN serve --config $WORK/ferrocast-bench.toml --host 127.0.0.1 --port $PORT --metrics-port 0" \
  LABEL="ferrocast-$COMMIT" OUT="$OUT" REPS="$REPS" PORT="$PORT" "$WORK/baseline.sh"
cp --no-preserve=mode "$SHARED/results/sockudo-5.0.1.jsonl" "$ROOT/bench/results/sockudo-5.0.1.jsonl"
echo "== $OUT" >&2
