#!/usr/bin/env bash
# Runs one fuzz target for a while: ./run.sh TARGET [SECONDS] [extra cargo-fuzz flags...]
# The working corpus is corpus/TARGET (git-ignored, grows between runs); seeds/TARGET and
# regressions/TARGET are read as extra inputs and never written. Crashes land in
# artifacts/TARGET. Needs nightly and cargo-fuzz (cargo install cargo-fuzz).
set -euo pipefail
cd "$(dirname "$0")"
target=${1:?usage: ./run.sh TARGET [SECONDS] [cargo-fuzz flags...]}
secs=${2:-600}
shift $(( $# >= 2 ? 2 : 1 ))
dirs=("corpus/$target")
mkdir -p "corpus/$target"
for d in "seeds/$target" "regressions/$target"; do
  [ -d "$d" ] && dirs+=("$d")
done
exec cargo +nightly fuzz run "$@" "$target" "${dirs[@]}" -- \
  -max_total_time="$secs" -print_final_stats=1
