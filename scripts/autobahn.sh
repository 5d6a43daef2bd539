#!/usr/bin/env bash
# RFC 6455 conformance with the Autobahn test suite (`wstest -m fuzzingclient`).
#
# wstest is Python 2 only, so it runs inside a Debian bullseye chroot made with debootstrap once
# and cached (FERROCAST_AUTOBAHN_CACHE, default /var/tmp/ferrocast-autobahn). Ferrocast is built
# with the `autobahn-echo` feature, which adds an echo endpoint on the real WebSocket stack, and
# started on a loopback port; wstest runs autobahn/fuzzingclient.json against it, and the results
# are compared with autobahn/expected.json. Any case that does worse than expected fails the run.
#
#   scripts/autobahn.sh            set up (first time), build, run, compare
#   scripts/autobahn.sh --setup    only build the chroot (for CI caches)
#   scripts/autobahn.sh --update   run, then write the results as the new expected.json
#
# Exit status: 0 all cases as expected or better; 1 a case regressed (listed); 77 the chroot
# could not be built (Debian's mirror or PyPI unreachable, or not root) — CI prints a skip.
# Needs root (debootstrap, chroot, mounts).
set -euo pipefail
cd "$(dirname "$0")/.."
REPO=$PWD

CACHE=${FERROCAST_AUTOBAHN_CACHE:-/var/tmp/ferrocast-autobahn}
ROOT=$CACHE/bullseye
MIRROR=${FERROCAST_AUTOBAHN_MIRROR:-http://deb.debian.org/debian}
SKIP=77
MODE=${1:-run}

log() { echo "autobahn: $*" >&2; }

case $MODE in
  run | --setup | --update) ;;
  *) echo "usage: scripts/autobahn.sh [--setup | --update]" >&2; exit 2 ;;
esac
if [ "$(id -u)" != 0 ]; then
  log "SKIP: needs root (debootstrap, chroot and mounts)"
  exit $SKIP
fi
# One run at a time: runs share the chroot and its /tmp.
mkdir -p "$CACHE"
exec 9>"$CACHE/lock"
flock 9

# --- The chroot --------------------------------------------------------------------------------

MOUNTS=()
unmount_all() {
  local m
  for ((i = ${#MOUNTS[@]} - 1; i >= 0; i--)); do
    m=${MOUNTS[i]}
    mountpoint -q "$m" && umount -l "$m" || true
  done
  MOUNTS=()
}

mount_chroot() {
  mkdir -p "$ROOT/proc" "$ROOT/dev"
  if ! mountpoint -q "$ROOT/proc"; then
    mount -t proc proc "$ROOT/proc"
    MOUNTS+=("$ROOT/proc")
  fi
  if ! mountpoint -q "$ROOT/dev"; then
    mount --bind /dev "$ROOT/dev"
    MOUNTS+=("$ROOT/dev")
  fi
  # Name resolution for pip, and the host's CA bundle for pip's TLS.
  cp /etc/resolv.conf "$ROOT/etc/resolv.conf"
  mkdir -p "$ROOT/etc/ssl/certs"
  cp /etc/ssl/certs/ca-certificates.crt "$ROOT/etc/ssl/certs/ca-certificates.crt"
}

reachable() {
  curl -fsI --max-time 30 "$1" >/dev/null 2>&1 || wget -q --spider --timeout=30 "$1" >/dev/null 2>&1 ||
    python3 -c 'import sys, urllib.request; urllib.request.urlopen(sys.argv[1], timeout=30)' "$1" >/dev/null 2>&1
}

# pip is told about the host's CA bundle through the environment, so the build environments it
# makes for sdists trust it too.
in_chroot() {
  chroot "$ROOT" /usr/bin/env -i HOME=/root PATH=/usr/local/bin:/usr/bin:/bin LANG=C.UTF-8 \
    PIP_CERT=/etc/ssl/certs/ca-certificates.crt PIP_DISABLE_PIP_VERSION_CHECK=1 PYTHONWARNINGS=ignore "$@"
}

# Debian bullseye is the last release with python2.7; its pip comes as a wheel (python-pip-whl)
# that can run itself to install pip into /usr/local.
setup_chroot() {
  if [ ! -f "$ROOT/.debootstrap-done" ]; then
    command -v debootstrap >/dev/null 2>&1 || {
      log "installing debootstrap"
      apt-get install -y -qq debootstrap >/dev/null 2>&1 ||
        { apt-get update -qq && apt-get install -y -qq debootstrap >/dev/null; } ||
        { log "SKIP: cannot install debootstrap"; exit $SKIP; }
    }
    if mountpoint -q "$ROOT/proc" || mountpoint -q "$ROOT/dev"; then
      log "refusing to remove $ROOT while something is mounted in it"; exit 1
    fi
    reachable "$MIRROR/dists/bullseye/Release" ||
      { log "SKIP: Debian's mirror $MIRROR is unreachable"; exit $SKIP; }
    rm -rf "$ROOT"
    mkdir -p "$CACHE"
    log "debootstrap bullseye into $ROOT (once; a few minutes)"
    if ! debootstrap --variant=minbase \
      --include=python2.7,python2.7-dev,python-pip-whl,ca-certificates,gcc,libc6-dev,libffi-dev,libssl-dev \
      bullseye "$ROOT" "$MIRROR" >"$CACHE/debootstrap.log" 2>&1; then
      tail -5 "$CACHE/debootstrap.log" >&2
      log "debootstrap failed (log: $CACHE/debootstrap.log)"
      exit 1
    fi
    touch "$ROOT/.debootstrap-done"
  fi
  # The pip layer is redone whenever the pin set changes.
  local stamp
  stamp="$ROOT/.pip-$(sha256sum "$REPO/autobahn/requirements.txt" | cut -c1-16)"
  if [ ! -f "$stamp" ]; then
    mount_chroot
    cp "$REPO/autobahn/requirements.txt" "$ROOT/tmp/requirements.txt"
    log "installing pip and autobahntestsuite (pinned: autobahn/requirements.txt)"
    local pipwhl
    pipwhl=$(cd "$ROOT" && ls usr/share/python-wheels/pip-*.whl | head -1)
    reachable https://pypi.org/simple/autobahntestsuite/ ||
      { log "SKIP: PyPI is unreachable"; exit $SKIP; }
    # pip (upstream: Debian's is patched to use /usr/share/python-wheels, which cannot build
    # wheels in isolation), setuptools and wheel first: the sdists among the pins need them.
    local pip=(python2.7 -m pip install -q --no-warn-script-location)
    if ! in_chroot python2.7 "/$pipwhl/pip" install -q --no-index "/$pipwhl" ||
      ! in_chroot "${pip[@]}" --force-reinstall --no-deps $(grep -E '^(pip|setuptools|wheel)==' "$REPO/autobahn/requirements.txt") ||
      ! in_chroot "${pip[@]}" -r /tmp/requirements.txt; then
      log "pip could not install the pinned packages"
      exit 1
    fi
    in_chroot wstest --help >/dev/null || { log "wstest does not start"; exit 1; }
    rm -f "$ROOT"/.pip-*
    touch "$stamp"
  fi
}

trap unmount_all EXIT
setup_chroot
if [ "$MODE" = "--setup" ]; then
  log "chroot ready at $ROOT"
  exit 0
fi

# --- Ferrocast with the echo endpoint ----------------------------------------------------------

RUN=$CACHE/run
rm -rf "$RUN"
mkdir -p "$RUN"
log "building ferrocast with the autobahn-echo feature"
nice -n 15 cargo build -q -p ferrocast --features autobahn-echo
cp target/debug/ferrocast "$RUN/ferrocast"
# Put the normal binary back (cargo keeps both builds, so this is a copy, not a compile): the
# echo endpoint must never be in a binary someone picks up from target/.
nice -n 15 cargo build -q -p ferrocast

# The real settings but for the message cap: the 9.* cases send messages of up to 16 MiB, which
# the default 64 KiB cap would (rightly) refuse with 1009.
cat >"$RUN/ferrocast.toml" <<TOML
app_store = "config"
data_dir = "$RUN/data"
max_message_kb = 16384
log = "warn"
TOML
"$RUN/ferrocast" serve --host 127.0.0.1 --port 0 --metrics-port 0 --config "$RUN/ferrocast.toml" \
  >"$RUN/ferrocast.log" 2>&1 &
SERVER=$!
stop_server() { kill "$SERVER" 2>/dev/null && wait "$SERVER" 2>/dev/null || true; }
trap 'stop_server; unmount_all' EXIT
PORT=
for _ in $(seq 1 300); do
  PORT=$(sed -n 's|^Ferrocast listening on http://127.0.0.1:\([0-9]*\)$|\1|p' "$RUN/ferrocast.log")
  [ -n "$PORT" ] && break
  kill -0 "$SERVER" 2>/dev/null || { cat "$RUN/ferrocast.log" >&2; log "ferrocast did not start"; exit 1; }
  sleep 0.1
done
[ -n "$PORT" ] || { log "ferrocast did not print its port"; exit 1; }
log "ferrocast (pid $SERVER) echoing on ws://127.0.0.1:$PORT/autobahn"

# --- wstest ------------------------------------------------------------------------------------

mount_chroot
rm -rf "$ROOT/tmp/autobahn-reports"
sed "s/:PORT\//:$PORT\//" autobahn/fuzzingclient.json >"$ROOT/tmp/fuzzingclient.json"
log "running wstest -m fuzzingclient (a few minutes; output in $RUN/wstest.log)"
start=$(date +%s)
if ! in_chroot sh -c 'cd /tmp && wstest -m fuzzingclient -s /tmp/fuzzingclient.json' >"$RUN/wstest.log" 2>&1; then
  tail -20 "$RUN/wstest.log" >&2
  log "wstest failed"
  exit 1
fi
log "wstest took $(($(date +%s) - start)) s"
cp "$ROOT/tmp/autobahn-reports/index.json" "$RUN/index.json"
kill -0 "$SERVER" 2>/dev/null || { log "ferrocast died during the run (log: $RUN/ferrocast.log)"; exit 1; }

# --- Compare -----------------------------------------------------------------------------------

compare=(python3 autobahn/compare.py "$RUN/index.json" autobahn/expected.json autobahn/summary.md)
[ "$MODE" = "--update" ] && compare+=(--update)
"${compare[@]}"
