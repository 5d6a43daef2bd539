#!/usr/bin/env bash
# Runs Ferrocast's benchmark suite on this machine and writes BENCHMARKS.md.
#
#   bench/run.sh                      # everything (about 15 minutes on 2 cores, 25 at most)
#   ONLY=fanout bench/run.sh          # one group or case: idle fanout channels client-events
#                                     # connect presence-churn soak, or a case name (fanout-1k-100B-max)
#   SERVERS=ferrocast bench/run.sh    # skip the null broadcaster
#   FERROCAST_BIN=/path/ferrocast bench/run.sh   # use that binary instead of building the tree
#
# Builds Ferrocast (release) and the bench, raises the open-file limit, and runs each case
# against a freshly started server (config in a temp dir: app bench-app / bench-key /
# bench-secret, limits off) on 127.0.0.1:$PORT. One JSON line per case is appended to
# bench/results/<date>.jsonl; then BENCHMARKS.md is written from all result files.
# Every case is bounded (the bench has a watchdog; the suite skips what would pass SUITE_LIMIT).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
: "${PORT:=6001}" "${SERVERS:=ferrocast null}" "${SOAK_MINUTES:=3}" "${SUITE_LIMIT:=1500}"
DATE=$(date -u +%Y-%m-%d)
OUT=${OUT:-bench/results/$DATE.jsonl}
LOG=${OUT%.jsonl}.log
BENCH=bench/target/release/ferrocast-bench
NULL=bench/target/release/null-broadcaster
SUITE_START=$SECONDS

if [ -z "${FERROCAST_BIN:-}" ]; then
  echo "== building Ferrocast (release) and the bench" >&2
  cargo build --release -p ferrocast
  FERROCAST_BIN=target/release/ferrocast
fi
cargo build --release --manifest-path bench/Cargo.toml
ulimit -n "$(ulimit -Hn)"
[ "$(ulimit -n)" -ge 19000 ] || echo "!! open-file limit $(ulimit -n): the 18k idle case will fall short" >&2

TMP=$(mktemp -d)
SERVER_PID=""
cleanup() {
  if [ -n "$SERVER_PID" ]; then kill -KILL "$SERVER_PID" 2>/dev/null || true; fi
  rm -rf "$TMP"
}
trap cleanup EXIT
# shellcheck source=bench/config.sh
source "$ROOT/bench/config.sh"
write_bench_config "$TMP/ferrocast.toml" "$TMP/data"
mkdir -p "$(dirname "$OUT")"

start_server() { # server kind
  case $1 in
    ferrocast) "$FERROCAST_BIN" serve --config "$TMP/ferrocast.toml" --host 127.0.0.1 --port "$PORT" --metrics-port 0 > "$TMP/server.log" 2>&1 & ;;
    null) "$NULL" --port "$PORT" > "$TMP/server.log" 2>&1 & ;;
  esac
  SERVER_PID=$!
  for _ in $(seq 1 100); do
    (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null && { sleep 1; return 0; }
    kill -0 "$SERVER_PID" 2>/dev/null || break
    sleep 0.1
  done
  echo "!! $1 did not open port $PORT" >&2; cat "$TMP/server.log" >&2; return 1
}

stop_server() { # SIGTERM; SIGKILL after 15 s. Logs how long it took and the server's warnings.
  local kind=$1 label=$2 t0=$SECONDS
  kill "$SERVER_PID" 2>/dev/null || true
  for _ in $(seq 1 150); do kill -0 "$SERVER_PID" 2>/dev/null || break; sleep 0.1; done
  if kill -0 "$SERVER_PID" 2>/dev/null; then
    echo "!! $label: server still running 15 s after SIGTERM; SIGKILL" | tee -a "$LOG" >&2
    kill -KILL "$SERVER_PID" 2>/dev/null || true
  fi
  wait "$SERVER_PID" 2>/dev/null || true
  SERVER_PID=""
  echo "$label: stopped in $((SECONDS - t0)) s" >> "$LOG"
  if [ "$kind" = ferrocast ]; then
    grep -E 'WARN|ERROR|panick' "$TMP/server.log" | sort | uniq -c | sort -rn | head -5 | sed "s|^|$label server log: |" >> "$LOG" || true
  fi
}

selected() { # group case
  [ -z "${ONLY:-}" ] || [[ " $ONLY " == *" $1 "* ]] || [[ " $ONLY " == *" $2 "* ]]
}

run_case() { # group case [servers] -- bench args...
  local group=$1 case=$2 servers=$SERVERS
  shift 2
  if [ "$1" != "--" ]; then servers=$1; shift; fi
  shift
  selected "$group" "$case" || return 0
  for server in $servers; do
    [[ " $SERVERS " == *" $server "* ]] || continue
    if (( SECONDS - SUITE_START > SUITE_LIMIT )); then
      echo "!! suite time limit ($SUITE_LIMIT s) reached: skipping $server/$case" | tee -a "$LOG" >&2; continue
    fi
    start_server "$server" || continue
    echo "== $server/$case: ferrocast-bench $*" >&2
    timeout 900 "$BENCH" "$@" --server-pid "$SERVER_PID" --label "$server/$case" | tee -a "$OUT" || true
    kill -0 "$SERVER_PID" 2>/dev/null || echo "!! $server/$case: the server died during the run" | tee -a "$LOG" >&2
    stop_server "$server" "$server/$case"
    sleep 1  # let TIME_WAIT sockets and the port settle
  done
}

KB=1024
run_case idle idle-2k  -- idle -n 2000  --hold 5
run_case idle idle-5k  -- idle -n 5000  --hold 5
run_case idle idle-10k -- idle -n 10000 --hold 5
run_case idle idle-18k -- idle -n 18000 --hold 5
for n in 1k 10k; do
  subs=${n%k}000
  rate=$((100000 / subs))  # 100k deliveries/s offered at the fixed rate
  for p in 100B 1KB; do
    bytes=$([ $p = 1KB ] && echo $KB || echo 100)
    run_case fanout "fanout-$n-$p-rate" -- fanout -n "$subs" --payload "$bytes" --rate "$rate" -d 10
    run_case fanout "fanout-$n-$p-max"  -- fanout -n "$subs" --payload "$bytes" --rate 0 -d 10
  done
done
run_case channels channels-10k -- channels -n 10000 --payload 100 --rate 0 -d 10 --in-flight 8
run_case client-events client-events-100 -- client-events -n 100 --senders 10 --rate 20 -d 10
run_case connect connect-10k -- connect -n 10000
run_case presence-churn churn-1k -- presence-churn -n 1000 --churners 50 --rate 100 -d 10
run_case soak "soak-2k-${SOAK_MINUTES}min" ferrocast -- soak -n 2000 --minutes "$SOAK_MINUTES" --settle 20

MODEL=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//')
MEM=$(awk '/MemTotal/ {printf "%.1f GiB", $2 / 1048576}' /proc/meminfo)
COMMIT=${FERROCAST_COMMIT:-$(git rev-parse --short HEAD)$(git diff --quiet HEAD -- crates || echo "+changes")}
MACHINE="$(nproc) vCPU ($MODEL), $MEM RAM, Linux $(uname -r), $(rustc --version | cut -d' ' -f1-2), open-file limit $(ulimit -n); Ferrocast $COMMIT (release profile of the repo); suite run $(date -u +%Y-%m-%d)"
mapfile -t RESULTS < <(ls bench/results/20*.jsonl 2>/dev/null | sort)
[[ " ${RESULTS[*]} " == *" $OUT "* ]] || RESULTS+=("$OUT")
ARGS=()
for r in "${RESULTS[@]}"; do ARGS+=(--results "$r"); done
[ -f bench/results/loadgen-ferrocast.jsonl ] && ARGS+=(--loadgen bench/results/loadgen-ferrocast.jsonl --baseline bench/results/sockudo-5.0.1.jsonl)
[ -f bench/results/loadgen-null.jsonl ] && ARGS+=(--loadgen-null bench/results/loadgen-null.jsonl)
[ -f bench/profile.md ] && ARGS+=(--notes bench/profile.md)
"$BENCH" report "${ARGS[@]}" --machine "$MACHINE" --suite-command "${ONLY:+ONLY=\"$ONLY\" }bench/run.sh" --output "${REPORT:-BENCHMARKS.md}"
echo "== wrote ${REPORT:-BENCHMARKS.md} from ${RESULTS[*]} in $((SECONDS - SUITE_START)) s; server notes in $LOG" >&2
