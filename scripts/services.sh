#!/usr/bin/env bash
# Makes sure the services the tests talk to are listening on loopback: Redis on 6379, NATS on
# 4222, and for the SQL app stores PostgreSQL on 5432 (user postgres, no password, database
# `test`) and MariaDB on 3306 (root, empty password, database `test`); and that Debian's
# `chromium` is installed for the dashboard's browser tests. Starts whichever is down;
# installs it from Debian's packages first if it is missing and we are root; as root, also lets
# those test users in from 127.0.0.1 without a password and creates `test` when they cannot.
# Idempotent: does nothing when all already answer.
set -euo pipefail

listening() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

wait_for() {  # PORT NAME [TENTHS-OF-A-SECOND]
  for _ in $(seq 1 "${3:-100}"); do
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
as_root() { [ "$(id -u)" = 0 ]; }

# PostgreSQL: the newest cluster named main, started the way the machine starts it.
pg() { psql -X -w -q -At -h 127.0.0.1 -U postgres -d postgres "$@"; }
if ! listening 5432; then
  { [ -d /etc/postgresql ] && [ -n "$(ls /etc/postgresql)" ]; } || install postgresql
  pg_version=$(ls /etc/postgresql | sort -V | tail -1)
  pg_ctlcluster --skip-systemctl-redirect "$pg_version" main start
  wait_for 5432 postgresql 300
fi
if ! pg -c 'SELECT 1' >/dev/null 2>&1 && as_root; then
  # A fresh Debian install asks for passwords over TCP: trust loopback, for the tests.
  pg_version=$(ls /etc/postgresql | sort -V | tail -1)
  hba=/etc/postgresql/$pg_version/main/pg_hba.conf
  echo "services: letting PostgreSQL users in from 127.0.0.1 without a password ($hba)"
  sed -i '1i host all all 127.0.0.1/32 trust' "$hba"
  pg_ctlcluster --skip-systemctl-redirect "$pg_version" main reload
  sleep 1
fi
if [ "$(pg -c "SELECT 1 FROM pg_database WHERE datname = 'test'")" != 1 ]; then
  pg -c 'CREATE DATABASE test'
fi

# MariaDB, started the way the machine starts it.
my() { mariadb --protocol=TCP -h 127.0.0.1 -P 3306 -u root "$@"; }
if ! listening 3306; then
  [ -x /usr/sbin/mariadbd ] || install mariadb-server
  if as_root; then mkdir -p /run/mysqld && chown mysql:mysql /run/mysqld; fi
  start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd -- --user=mysql
  wait_for 3306 mariadb 300
fi
if ! my -e 'SELECT 1' >/dev/null 2>&1 && as_root; then
  # A fresh Debian install lets root in only through the socket, as the system's root.
  echo "services: letting MariaDB's root in from 127.0.0.1 with an empty password"
  mariadb -u root -e "ALTER USER root@localhost IDENTIFIED VIA unix_socket OR mysql_native_password USING PASSWORD('');
    CREATE USER IF NOT EXISTS root@'127.0.0.1' IDENTIFIED BY '';
    GRANT ALL PRIVILEGES ON *.* TO root@'127.0.0.1' WITH GRANT OPTION;
    FLUSH PRIVILEGES;"
fi
my -e 'CREATE DATABASE IF NOT EXISTS test'

# Headless Chromium for the dashboard's browser tests (driven by playwright-core, which
# downloads no browser of its own).
[ -x /usr/bin/chromium ] || install chromium

echo "services: redis 127.0.0.1:6379, nats 127.0.0.1:4222, postgresql 127.0.0.1:5432 and" \
  "mariadb 127.0.0.1:3306 are up"
