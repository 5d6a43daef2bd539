# Sourced by the bench scripts: builds Ferrocast (release, unless FERROCAST_BIN names a binary)
# and the bench, raises the open-file limit, and sets BENCH and FERROCAST_BIN. Run from the
# repository's root.
BENCH=bench/target/release/ferrocast-bench
if [ -z "${FERROCAST_BIN:-}" ]; then
  cargo build --release -p ferrocast
  FERROCAST_BIN=target/release/ferrocast
fi
cargo build --release --manifest-path bench/Cargo.toml
ulimit -n "$(ulimit -Hn)"
