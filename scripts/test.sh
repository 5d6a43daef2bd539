#!/usr/bin/env bash
# The whole test suite, as the README gives it: Rust unit and integration tests (real server on
# loopback, real sockets), then the conformance suites that drive the built binary with the real
# SDKs — pusher-js, pusher and laravel-echo from npm (and the dashboard in headless Chromium,
# driven by playwright-core); pusher and pysher from PyPI.
# Installs the npm and PyPI packages it needs on first run (node_modules/, .venv/), and starts
# Redis, NATS, PostgreSQL and MariaDB on loopback if they are not running (scripts/services.sh).
set -euo pipefail
cd "$(dirname "$0")/.."

echo "== Services: Redis, NATS, PostgreSQL and MariaDB on loopback"
bash scripts/services.sh

echo "== Rust: unit and integration tests"
cargo build -p ferrocast
if command -v cargo-nextest >/dev/null 2>&1; then
  cargo nextest run --workspace --no-fail-fast
else
  cargo test --workspace --no-fail-fast
fi

echo "== Supply chain: cargo-deny (licences, bans, sources; skipped when not installed)"
bash scripts/deny.sh

export FERROCAST_BIN="$PWD/target/debug/ferrocast"

echo "== @ferrocast/recovery (clients/js): position rules"
(cd clients/js && node --test test/)

echo "== Conformance: pusher-js, pusher (npm), laravel-echo; the dashboard in Chromium"
(
  cd conformance/node
  if [ ! -d node_modules ] || [ package-lock.json -nt node_modules ]; then
    npm ci --no-audit --no-fund
  fi
  npm test
)

echo "== Conformance: pusher and pysher (PyPI)"
bash conformance/python/run.sh
