#!/usr/bin/env bash
# Supply-chain checks with cargo-deny (policy: deny.toml, explained in docs/supply-chain.md):
# licences, banned crates and allowed sources, for the workspace and for the fuzz crate.
#
# The advisory check is not run: it needs the RustSec database from GitHub, which this
# project's machines and CI cannot reach (only the package registries). Where it can be
# fetched, run `cargo deny check advisories` by hand.
#
# Skips (exit 0) with a clear line when cargo-deny is not installed:
#   cargo install cargo-deny --locked
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v cargo-deny >/dev/null 2>&1; then
  echo "== cargo-deny: SKIPPED (not installed; run: cargo install cargo-deny --locked)"
  exit 0
fi

echo "== cargo-deny $(cargo deny --version | awk '{print $2}'): licenses bans sources (advisories: not run, no network access to the advisory database)"
cargo deny --log-level error check licenses bans sources

if [ -f fuzz/Cargo.lock ]; then
  echo "== cargo-deny: fuzz crate"
  # cargo-deny finds ../deny.toml from fuzz/ by itself.
  cargo deny --log-level error --manifest-path fuzz/Cargo.toml check licenses bans sources
fi
echo "== cargo-deny: ok"
