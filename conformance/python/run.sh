#!/usr/bin/env bash
# Runs the Python conformance suite (pusher SDK + pysher) against the Ferrocast binary.
# FERROCAST_BIN overrides the binary (default: <repo>/target/debug/ferrocast).
# Extra arguments go to pytest, e.g. `run.sh -k presence -x`.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cd "$here"
if [ ! -x .venv/bin/python ]; then
    python3 -m venv .venv
fi
.venv/bin/python -m pip install --quiet --disable-pip-version-check -r requirements.txt
status=0
.venv/bin/python -m pytest -q "$@" || status=$?
exit "$status"
