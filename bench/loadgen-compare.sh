#!/usr/bin/env bash
# Runs the SHARED load generator (shared/bench: loadgen + baseline.sh, the harness the peer's
# figures in shared/bench/BASELINE.md were measured with) against Ferrocast, so the two can be
# compared on the same generator. Results: bench/results/loadgen-ferrocast.jsonl (replaced),
# and a copy of the peer's lines in bench/results/sockudo-5.0.1.jsonl; bench/run.sh puts the
# comparison in BENCHMARKS.md.
#
#   bench/loadgen-compare.sh                  # REPS=1, the five scenarios + fanout-1k-50 (about 3.5 minutes)
#   ONLY=fanout-1k-max REPS=3 bench/loadgen-compare.sh
#   FERROCAST_BIN=/abs/path/ferrocast bench/loadgen-compare.sh
#   SERVER=null ONLY="connect-10k fanout-1k-50" REPS=3 bench/loadgen-compare.sh
#                                             # the null broadcaster on the same generator, to
#                                             # bench/results/loadgen-null.jsonl (the machine's floor)
#
# shared/bench is read-only, so it is copied to $WORK (kept between runs, so loadgen builds once).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
: "${SHARED:=$ROOT/../shared/bench}" "${REPS:=1}" "${PORT:=6001}" "${WORK:=${TMPDIR:-/tmp}/ferrocast-shared-bench}"
[ -x "$SHARED/baseline.sh" ] || { echo "no shared bench at $SHARED (set SHARED=)" >&2; exit 1; }
mkdir -p "$WORK"
cp -r --no-preserve=mode "$SHARED/." "$WORK/"
chmod +x "$WORK/baseline.sh"
if [ "${SERVER:-ferrocast}" = null ]; then
  cargo build --release --manifest-path "$ROOT/bench/Cargo.toml"
  START_CMD="exec $ROOT/bench/target/release/null-broadcaster --port $PORT"
  LABEL=null
  OUT=$ROOT/bench/results/loadgen-null.jsonl
else
  if [ -z "${FERROCAST_BIN:-}" ]; then
    (cd "$ROOT" && cargo build --release -p ferrocast)
    FERROCAST_BIN=$ROOT/target/release/ferrocast
  fi
  FERROCAST_BIN=$(cd "$(dirname "$FERROCAST_BIN")" && pwd)/$(basename "$FERROCAST_BIN")
  # shellcheck source=bench/config.sh
  source "$ROOT/bench/config.sh"
  write_bench_config "$WORK/ferrocast-bench.toml" "$WORK/data"
  START_CMD="exec $FERROCAST_BIN serve --config $WORK/ferrocast-bench.toml --host 127.0.0.1 --port $PORT --metrics-port 0"
  LABEL="ferrocast-${FERROCAST_COMMIT:-$(cd "$ROOT" && git rev-parse --short HEAD)}"
  OUT=$ROOT/bench/results/loadgen-ferrocast.jsonl
fi
mkdir -p "$(dirname "$OUT")"
: > "$OUT"
START_CMD="$START_CMD" LABEL="$LABEL" OUT="$OUT" REPS="$REPS" PORT="$PORT" "$WORK/baseline.sh"
# The peer's fixed-rate variant (BASELINE.md, "Variants"): 1,000 subscribers at 50 publishes/s,
# which baseline.sh does not run. Same server start, same generator, appended to $OUT.
if [ -z "${ONLY:-}" ] || [[ " $ONLY " == *" fanout-1k-50 "* ]]; then
  ulimit -n "$(ulimit -Hn)"
  for rep in $(seq 1 "$REPS"); do
    bash -c "$START_CMD" > "${TMPDIR:-/tmp}/server-fanout-1k-50.log" 2>&1 &
    pid=$!
    for _ in $(seq 1 100); do (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null && break; sleep 0.1; done
    sleep 1
    echo "== $LABEL fanout-1k-50 rep $rep" >&2
    "$WORK/loadgen/target/release/loadgen" fanout -n 1000 --payload 100 -d 10 --rate 50 --source-ips 8 \
      --port "$PORT" --server-pid "$pid" --label "$LABEL/fanout-1k-50" | tee -a "$OUT" || true
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    sleep 2
  done
fi
cp --no-preserve=mode "$SHARED/results/sockudo-5.0.1.jsonl" "$ROOT/bench/results/sockudo-5.0.1.jsonl"
echo "== $OUT" >&2
