#!/usr/bin/env bash
# A throwaway PostgreSQL server on 127.0.0.1 for herald's tests: Debian's postgresql (installed
# with apt-get when missing, as root), a new cluster in a temporary directory (a copy of one
# initdb made once, kept in $TMPDIR), trust auth, no connection from anywhere but loopback. Run as root, the server runs as the postgres user
# (initdb refuses root).
#
#   postgres.sh start STATE   new server on a free port; STATE gets PGDATA, PGPORT, DSN; prints DSN
#   postgres.sh down STATE    stop it, keeping its data (an outage)
#   postgres.sh up STATE      start it again on the same port
#   postgres.sh stop STATE    stop it and remove its data
set -euo pipefail

cmd=${1:?usage: postgres.sh start|down|up|stop STATE}
state=${2:?usage: postgres.sh start|down|up|stop STATE}

bindir() {
  local d
  d=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n1)
  if [ -z "$d" ]; then
    if [ "$(id -u)" != 0 ]; then
      echo "postgres.sh: PostgreSQL is not installed and installing it needs root (apt-get install postgresql)" >&2
      exit 1
    fi
    apt-get update -qq >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >&2
    d=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n1)
  fi
  echo "$d"
}

# as runs a command as the server's user: postgres when we are root, ourselves otherwise.
as() {
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

newdir() {
  local d
  d=$(mktemp -d "${TMPDIR:-/tmp}/herald-pg.XXXXXX")
  chmod 700 "$d"
  if [ "$(id -u)" = 0 ]; then chown postgres: "$d"; fi
  echo "$d"
}

pgctl_start() { # datadir port
  as "$bin/pg_ctl" -D "$1" -l "$1/server.log" -w -t 30 \
    -o "-c listen_addresses=127.0.0.1 -p $2 -k $1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off" \
    start >/dev/null
}

bin=$(bindir)
case $cmd in
start)
  # initdb takes seconds here; a copy of a cluster it made once takes a fraction of one.
  template="${TMPDIR:-/tmp}/herald-pg-template-$(basename "$(dirname "$bin")")"
  if [ ! -f "$template/PG_VERSION" ]; then
    fresh=$(newdir)
    as "$bin/initdb" -D "$fresh" -U postgres --auth=trust --no-sync -E UTF8 >/dev/null
    mv -T "$fresh" "$template" 2>/dev/null || rm -rf "$fresh" # another run made it first
  fi
  data=$(newdir)
  as cp -a "$template/." "$data/"
  # A free port: try random ones until the server starts (another test may take one meanwhile).
  for _ in $(seq 1 20); do
    port=$((20000 + RANDOM % 40000))
    if pgctl_start "$data" "$port" 2>/dev/null; then
      dsn="postgres://postgres@127.0.0.1:$port/postgres?sslmode=disable"
      printf 'PGDATA=%s\nPGPORT=%s\nDSN=%s\n' "$data" "$port" "$dsn" >"$state"
      echo "$dsn"
      exit 0
    fi
  done
  echo "postgres.sh: the server did not start; its log:" >&2
  cat "$data/server.log" >&2 || true
  rm -rf "$data"
  exit 1
  ;;
down | up | stop)
  # shellcheck disable=SC1090
  . "$state"
  case $cmd in
  down) as "$bin/pg_ctl" -D "$PGDATA" -m fast -w stop >/dev/null ;; # clean: synchronous_commit is off
  up) pgctl_start "$PGDATA" "$PGPORT" ;;
  stop)
    as "$bin/pg_ctl" -D "$PGDATA" -m immediate -w stop >/dev/null 2>&1 || true
    rm -rf "$PGDATA" "$state"
    ;;
  esac
  ;;
*)
  echo "postgres.sh: unknown command $cmd" >&2
  exit 2
  ;;
esac
