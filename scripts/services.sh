#!/usr/bin/env bash
# Makes sure the services the tests talk to are listening on loopback: Redis on 6379 and NATS on
# 4222. Starts whichever is down; installs it from Debian's packages first if it is missing and
# we are root. Idempotent: does nothing when both already answer.
set -euo pipefail

listening() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

wait_for() {
  for _ in $(seq 1 100); do
    listening "$1" && return 0
    sleep 0.1
  done
  echo "services: $2 did not start on 127.0.0.1:$1" >&2
  return 1
}

install() {
  if [ "$(id -u)" != 0 ]; then
    echo "services: $1 is not installed; install it (apt-get install $1) or start it on its usual port" >&2
    return 1
  fi
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$1" >/dev/null
}

if ! listening 6379; then
  command -v redis-server >/dev/null 2>&1 || install redis-server
  redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no \
    --dir /tmp --logfile /tmp/ferrocast-ci-redis.log
  wait_for 6379 redis-server
fi

if ! listening 4222; then
  command -v nats-server >/dev/null 2>&1 || [ -x /usr/sbin/nats-server ] || install nats-server
  nats=$(command -v nats-server || echo /usr/sbin/nats-server)
  nohup "$nats" -a 127.0.0.1 -p 4222 >/tmp/ferrocast-ci-nats.log 2>&1 &
  wait_for 4222 nats-server
fi
echo "services: redis 127.0.0.1:6379 and nats 127.0.0.1:4222 are up"
