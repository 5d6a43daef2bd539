#!/usr/bin/env bash
# Profiles Ferrocast's fan-out path once: 1,000 subscribers on one channel, events published
# through the HTTP API. Two views, both bounded in time:
#   callgrind  user-space instructions per function (valgrind; only the publish phase: counters
#              are zeroed once the subscribers are connected). Slow: ~50x, so a low rate.
#   perf       cpu-clock samples of the server process, kernel included (software event: this
#              VM has no hardware counters, so `perf stat -e instructions` does not work).
#
#   bench/profile.sh                 # both; summaries in $OUTDIR (default bench/results/profile)
#   MODE=perf bench/profile.sh
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
: "${MODE:=callgrind perf}" "${PORT:=6001}" "${OUTDIR:=bench/results/profile}"
BENCH=bench/target/release/ferrocast-bench
if [ -z "${FERROCAST_BIN:-}" ]; then cargo build --release -p ferrocast; FERROCAST_BIN=target/release/ferrocast; fi
cargo build --release --manifest-path bench/Cargo.toml
ulimit -n "$(ulimit -Hn)"
mkdir -p "$OUTDIR"
TMP=$(mktemp -d)
PID=""
trap '[ -n "$PID" ] && kill -KILL "$PID" 2>/dev/null; rm -rf "$TMP"' EXIT
printf 'data_dir = "%s/data"\ndrain_grace = 0\n[clients]\nmax_connections_per_ip = 0\n[[apps]]\nid = "bench-app"\nkey = "bench-key"\nsecret = "bench-secret"\nmax_connections = 0\n' "$TMP" > "$TMP/f.toml"
SERVE=("$FERROCAST_BIN" serve --config "$TMP/f.toml" --host 127.0.0.1 --port "$PORT" --metrics-port 0)

wait_port() {
  for _ in $(seq 1 600); do (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null && return 0; sleep 0.1; done
  return 1
}
stop() { kill "$PID" 2>/dev/null || true; for _ in $(seq 1 300); do kill -0 "$PID" 2>/dev/null || break; sleep 0.1; done; kill -KILL "$PID" 2>/dev/null || true; wait "$PID" 2>/dev/null || true; PID=""; }

if [[ " $MODE " == *" callgrind "* ]]; then
  rm -f "$OUTDIR"/callgrind.out*
  valgrind --tool=callgrind --callgrind-out-file="$OUTDIR/callgrind.out" "${SERVE[@]}" > "$TMP/server.log" 2>&1 &
  PID=$!
  wait_port
  "$BENCH" fanout -n 1000 --payload 100 --rate 10 -d 15 --drain 10 --connect-timeout 120 --server-pid "$PID" \
    --label callgrind/fanout-1k > "$OUTDIR/callgrind-run.json" 2> "$TMP/bench.err" &
  B=$!
  for _ in $(seq 1 1200); do grep -q "connected and subscribed" "$TMP/bench.err" && break; sleep 0.1; done
  callgrind_control -z "$PID" > /dev/null  # count the publish phase only
  wait "$B" || true
  callgrind_control -d "$PID" > /dev/null
  stop
  DUMP=$(ls -t "$OUTDIR"/callgrind.out.* 2>/dev/null | tail -1)
  # (Frames already on the stack when the counters were zeroed show 100% in both views.)
  callgrind_annotate --threshold=100 "${DUMP:-$OUTDIR/callgrind.out}" > "$TMP/self.txt" 2>&1 || true
  callgrind_annotate --threshold=100 --inclusive=yes "${DUMP:-$OUTDIR/callgrind.out}" > "$TMP/incl.txt" 2>&1 || true
  head -n 90 "$TMP/self.txt" > "$OUTDIR/callgrind-self.txt"
  head -n 120 "$TMP/incl.txt" > "$OUTDIR/callgrind-inclusive.txt"
  rm -f "$OUTDIR"/callgrind.out*  # large; the summaries are kept
  echo "== callgrind: $OUTDIR/callgrind-self.txt, callgrind-inclusive.txt" >&2
fi

if [[ " $MODE " == *" perf "* ]]; then
  "${SERVE[@]}" > "$TMP/server.log" 2>&1 &
  PID=$!
  wait_port
  sleep 0.5
  "$BENCH" fanout -n 1000 --payload 100 --rate 0 -d 12 --server-pid "$PID" --label perf/fanout-1k-max \
    > "$OUTDIR/perf-run.json" 2> "$TMP/bench.err" &
  B=$!
  for _ in $(seq 1 600); do grep -q "connected and subscribed" "$TMP/bench.err" && break; sleep 0.1; done
  sleep 1
  perf record -e cpu-clock -F 1999 -g -p "$PID" -o "$TMP/perf.data" -- sleep 8 2> /dev/null
  wait "$B" || true
  stop
  report() { # output, perf report args...
    local out=$1; shift
    perf report -i "$TMP/perf.data" --stdio "$@" > "$TMP/r.txt" 2> /dev/null || true
    grep -v -e '^#' -e '^$' "$TMP/r.txt" | head -n 60 > "$out" || true
  }
  report "$OUTDIR/perf-dso.txt" --no-children --sort dso -g none
  report "$OUTDIR/perf-sym.txt" --no-children --sort dso,sym -g none
  report "$OUTDIR/perf-children.txt" --children --sort sym -g none
  echo "== perf: $OUTDIR/perf-dso.txt, perf-sym.txt, perf-children.txt" >&2
fi
