#!/usr/bin/env bash
# PostgreSQL and Redis for the integration tests and production-like runs, on 127.0.0.1 only.
# Idempotent: installs the Debian packages when missing, then starts one private PostgreSQL
# cluster and one Redis under the data directory (never the system's own instances).
#
#   scripts/services.sh [start]   install if needed, start both, create role and databases
#   scripts/services.sh stop      stop both
#   scripts/services.sh status    one line each; exit 1 when either is down
#   scripts/services.sh env       print the CASESEARCH_* exports (eval "$(scripts/services.sh env)")
#
# Environment: CASESEARCH_DATA_DIR (default .data), CASESEARCH_PG_PORT (5433),
# CASESEARCH_REDIS_PORT (6380).
set -euo pipefail
cd "$(dirname "$0")/.."

PG_PORT=${CASESEARCH_PG_PORT:-5433}
REDIS_PORT=${CASESEARCH_REDIS_PORT:-6380}
mkdir -p "${CASESEARCH_DATA_DIR:-.data}"
DATA_DIR=$(cd "${CASESEARCH_DATA_DIR:-.data}" && pwd)
PG_DIR=$DATA_DIR/postgres
PGDATA=$PG_DIR/data
REDIS_DIR=$DATA_DIR/redis

die() { echo "error: $*" >&2; exit 1; }
is_root() { [[ $(id -u) == 0 ]]; }

# PostgreSQL refuses to run as root and Redis need not: as root, run each as its package user.
as_user() {
  local user=$1; shift
  if is_root; then runuser -u "$user" -- "$@"; else "$@"; fi
}

pg_bin() {
  local dir
  dir=$(find /usr/lib/postgresql -mindepth 2 -maxdepth 2 -name bin -type d 2>/dev/null \
        | sort -V | tail -n 1)
  [[ -n $dir && -x $dir/pg_ctl ]] && echo "$dir"
}

install_packages() {
  local missing=()
  pg_bin >/dev/null || missing+=(postgresql)
  command -v redis-server >/dev/null || missing+=(redis-server)
  ((${#missing[@]})) || return 0
  if ! is_root || ! command -v apt-get >/dev/null; then
    die "${missing[*]} not installed: install them with your package manager (as root, on" \
        "Debian/Ubuntu: apt-get install -y postgresql redis-server)"
  fi
  echo "installing ${missing[*]} from Debian packages ..."
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql redis-server >/dev/null
}

# The service user must be able to reach the data directory (e.g. not under /root).
prepare_dir() {
  local user=$1 dir=$2
  mkdir -p "$dir"
  if is_root; then
    chown -R "$user:" "$dir"
    runuser -u "$user" -- test -w "$dir" ||
      die "user $user cannot write $dir: set CASESEARCH_DATA_DIR to a directory it can reach"
  fi
}

pg_running() {
  local bin
  bin=$(pg_bin) || return 1
  [[ -f $PGDATA/PG_VERSION ]] && as_user postgres "$bin/pg_ctl" -D "$PGDATA" status >/dev/null 2>&1
}

pg_sql() {
  "$(pg_bin)/psql" -X -q -h 127.0.0.1 -p "$PG_PORT" -U postgres -d postgres -v ON_ERROR_STOP=1 \
    -tAc "$1"
}

start_postgres() {
  local bin
  bin=$(pg_bin) || die "PostgreSQL binaries not found under /usr/lib/postgresql/*/bin"
  prepare_dir postgres "$PG_DIR"
  if [[ ! -f $PGDATA/PG_VERSION ]]; then
    echo "creating PostgreSQL cluster in $PGDATA ..."
    as_user postgres "$bin/initdb" -D "$PGDATA" -U postgres --auth=trust --encoding=UTF8 \
      --locale=C >"$PG_DIR/initdb.log" 2>&1 || die "initdb failed; see $PG_DIR/initdb.log"
    echo "include_if_exists = 'casesearch.conf'" >>"$PGDATA/postgresql.conf"
    # Trust on loopback only: the cluster listens on 127.0.0.1 and holds test data.
    printf '%s\n' "local all all trust" "host all all 127.0.0.1/32 trust" \
      "host all all ::1/128 trust" >"$PGDATA/pg_hba.conf"
  fi
  # Rewritten on every start so a changed CASESEARCH_PG_PORT takes effect.
  mkdir -p "$PG_DIR/run"
  printf '%s\n' "port = $PG_PORT" "listen_addresses = '127.0.0.1'" \
    "unix_socket_directories = '$PG_DIR/run'" >"$PGDATA/casesearch.conf"
  is_root && chown -R postgres: "$PG_DIR"
  if pg_running; then
    echo "PostgreSQL already running (port $(pg_port_of_running))"
  else
    as_user postgres "$bin/pg_ctl" -D "$PGDATA" -l "$PG_DIR/postgres.log" -w -t 60 start \
      >/dev/null || die "PostgreSQL did not start; see $PG_DIR/postgres.log"
    echo "PostgreSQL started on 127.0.0.1:$PG_PORT"
  fi
  pg_sql "DO \$\$ BEGIN
            IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'casesearch') THEN
              CREATE ROLE casesearch LOGIN CREATEDB PASSWORD 'casesearch';
            END IF;
          END \$\$;"
  # Tests and benchmarks drop their throwaway databases WITH (FORCE); that must be able to end
  # an autovacuum worker busy on a freshly filled database (a superuser process).
  pg_sql "GRANT pg_signal_backend TO casesearch" >/dev/null
  local db
  for db in casesearch casesearch_test; do
    if [[ -z $(pg_sql "SELECT 1 FROM pg_database WHERE datname = '$db'") ]]; then
      pg_sql "CREATE DATABASE $db OWNER casesearch"
    fi
  done
}

pg_port_of_running() { sed -n 4p "$PGDATA/postmaster.pid" 2>/dev/null || echo "?"; }

stop_postgres() {
  if pg_running; then
    as_user postgres "$(pg_bin)/pg_ctl" -D "$PGDATA" -m fast -w stop >/dev/null
    echo "PostgreSQL stopped"
  else
    echo "PostgreSQL was not running"
  fi
}

redis_user() { if is_root && id redis >/dev/null 2>&1; then echo redis; else id -un; fi; }
redis_ping() { redis-cli -h 127.0.0.1 -p "$REDIS_PORT" ping 2>/dev/null | grep -q PONG; }

start_redis() {
  if redis_ping; then
    echo "Redis already running on 127.0.0.1:$REDIS_PORT"
    return
  fi
  local user
  user=$(redis_user)
  prepare_dir "$user" "$REDIS_DIR"
  # No persistence: the broker holds only transient task messages.
  as_user "$user" redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --daemonize yes \
    --dir "$REDIS_DIR" --save '' --appendonly no --pidfile "$REDIS_DIR/redis.pid" \
    --logfile "$REDIS_DIR/redis.log"
  for _ in $(seq 50); do
    redis_ping && { echo "Redis started on 127.0.0.1:$REDIS_PORT"; return; }
    sleep 0.2
  done
  die "Redis did not answer on port $REDIS_PORT; see $REDIS_DIR/redis.log"
}

stop_redis() {
  # Only a Redis this script started (it has our pid file), never someone else's on the port.
  local pid
  pid=$(cat "$REDIS_DIR/redis.pid" 2>/dev/null || true)
  if [[ -n $pid ]] && kill -0 "$pid" 2>/dev/null; then
    kill "$pid"
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
    echo "Redis stopped"
  else
    echo "Redis was not running (from $REDIS_DIR)"
  fi
}

status() {
  local down=0
  if pg_running; then
    echo "postgresql: running on 127.0.0.1:$(pg_port_of_running) (data $PGDATA)"
  else
    echo "postgresql: stopped"; down=1
  fi
  if redis_ping; then
    echo "redis:      running on 127.0.0.1:$REDIS_PORT"
  else
    echo "redis:      stopped"; down=1
  fi
  return $down
}

print_env() {
  echo "export CASESEARCH_DATABASE_URL=postgresql+psycopg://casesearch:casesearch@127.0.0.1:$PG_PORT/casesearch"
  echo "export CASESEARCH_BROKER_URL=redis://127.0.0.1:$REDIS_PORT/0"
}

case ${1:-start} in
  start) install_packages; start_postgres; start_redis ;;
  stop) stop_postgres; stop_redis ;;
  status) status ;;
  env) print_env ;;
  *) die "usage: $0 [start|stop|status|env]" ;;
esac
