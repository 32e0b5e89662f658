#!/usr/bin/env bash
# A throw-away PostgreSQL for tests and benchmarks: initdb into a folder of its own, listening on
# 127.0.0.1 at a free port (the first free one from 55432 up) with its unix socket in that folder,
# trust authentication for the superuser `parley`, and a database `parley_test`.
#
#   scripts/postgres.sh start [--fast] [DIR]  start it (or find it running); print its URL
#   scripts/postgres.sh url [DIR]             print the URL of the running server
#   scripts/postgres.sh env [DIR]             print `export PARLEY_TEST_POSTGRES_URL=<url>`
#   scripts/postgres.sh stop [DIR]            stop it and remove DIR
#
# DIR defaults to $PARLEY_PG_DIR, else ${TMPDIR:-/tmp}/parley-pg-<user>. Only the URL goes to
# stdout; progress and errors go to stderr, the server's log to DIR/server.log. --fast turns
# fsync and full-page writes off: for tests, whose data is thrown away (commits still wait for
# the WAL write, so a crash of the server alone loses nothing). PARLEY_PG_PORT sets the first
# port tried; PARLEY_PG_BIN the folder of initdb/pg_ctl (default: the newest
# /usr/lib/postgresql/*/bin).
#
# PostgreSQL refuses to run as root. Run as root, the server runs as the `postgres` system user
# (Debian's package creates it), or as `parley-test`, created when there is no `postgres`.
# Exit status 3: PostgreSQL is not installed (scripts/install-deps.sh installs it).
set -euo pipefail

usage() {
  sed -n '2,9p' "$0" >&2
  exit 2
}

cmd="${1:-}"
[ -n "$cmd" ] || usage
shift
fast=0
dir=""
for arg in "$@"; do
  case "$arg" in
    --fast) fast=1 ;;
    -*) usage ;;
    *) dir="$arg" ;;
  esac
done
dir="${dir:-${PARLEY_PG_DIR:-${TMPDIR:-/tmp}/parley-pg-$(id -un)}}"
first_port="${PARLEY_PG_PORT:-55432}"
marker="$dir/.parley-postgres"

say() { echo "postgres.sh: $*" >&2; }

find_bin() {
  if [ -n "${PARLEY_PG_BIN:-}" ]; then
    echo "$PARLEY_PG_BIN"
    return
  fi
  local b
  b="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)"
  if [ -n "$b" ] && [ -x "$b/initdb" ]; then
    echo "$b"
  elif command -v initdb >/dev/null 2>&1; then
    dirname "$(command -v initdb)"
  fi
}

# The server's user: ourselves, unless we are root.
run_as=""
if [ "$(id -u)" -eq 0 ]; then
  if id postgres >/dev/null 2>&1; then
    run_as=postgres
  else
    id parley-test >/dev/null 2>&1 ||
      useradd --system --no-create-home --shell /usr/sbin/nologin parley-test
    run_as=parley-test
  fi
fi
as_server() {
  if [ -n "$run_as" ]; then runuser -u "$run_as" -- "$@"; else "$@"; fi
}

running() {
  [ -n "$bin" ] && [ -f "$dir/data/postmaster.pid" ] &&
    as_server "$bin/pg_ctl" -D "$dir/data" status >/dev/null 2>&1
}

url() { echo "postgres://parley@127.0.0.1:$(cat "$dir/port")/parley_test"; }

port_free() { ! (: <"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

psql_admin() {
  "$bin/psql" "postgres://parley@127.0.0.1:$(cat "$dir/port")/postgres" -v ON_ERROR_STOP=1 -qAt "$@"
}

start() {
  if [ -e "$dir" ] && [ ! -e "$marker" ] && [ -n "$(ls -A "$dir")" ]; then
    say "$dir exists and was not made by this script; give an empty or new folder"
    exit 1
  fi
  mkdir -p "$dir"
  touch "$marker"
  if [ -n "$run_as" ]; then chown "$run_as" "$dir"; fi
  chmod 0700 "$dir"
  if [ -n "$run_as" ] && ! as_server test -w "$dir"; then
    say "$run_as cannot write to $dir (a folder above it is closed to it); use one under /tmp"
    exit 1
  fi
  if running; then
    url
    return
  fi
  if [ ! -f "$dir/data/PG_VERSION" ]; then
    rm -rf "$dir/data"
    local locale=C.UTF-8
    # A UTF-8 character type lets pg_trgm and the text-search parser see Chinese and Japanese
    # characters as letters.
    locale -a 2>/dev/null | grep -qix 'c.utf-\?8' || locale=C
    if ! as_server "$bin/initdb" -D "$dir/data" -U parley --auth=trust --encoding=UTF8 \
      --locale="$locale" --no-sync >"$dir/initdb.log" 2>&1; then
      say "initdb failed; see $dir/initdb.log"
      tail -n 20 "$dir/initdb.log" >&2
      exit 1
    fi
    {
      echo "listen_addresses = '127.0.0.1'"
      echo "unix_socket_directories = '$dir'"
      echo "max_connections = 300"
      echo "shared_buffers = 64MB"
      echo "log_min_messages = warning"
      if [ "$fast" = 1 ]; then
        echo "fsync = off"
        echo "full_page_writes = off"
      fi
    } >>"$dir/data/postgresql.conf"
  fi
  local port="$first_port" tries=0
  for ((;;)); do
    if port_free "$port"; then
      echo "$port" >"$dir/port"
      if as_server "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -o "-p $port" -w -t 60 \
        start >/dev/null 2>&1; then
        break
      fi
      # Another server may have taken the port between the check and the start.
      grep -qi "could not bind\|address already in use" "$dir/server.log" 2>/dev/null || {
        say "the server did not start; see $dir/server.log"
        tail -n 20 "$dir/server.log" >&2 || true
        exit 1
      }
    fi
    port=$((port + 1))
    tries=$((tries + 1))
    if [ "$tries" -ge 100 ]; then
      say "no free port from $first_port to $port"
      exit 1
    fi
  done
  if [ -z "$(psql_admin -c "SELECT 1 FROM pg_database WHERE datname = 'parley_test'")" ]; then
    psql_admin -c "CREATE DATABASE parley_test"
  fi
  say "started in $dir on port $port"
  url
}

stop() {
  if [ ! -e "$dir" ]; then return; fi
  if [ ! -e "$marker" ] && [ -z "$(ls -A "$dir")" ]; then
    rmdir "$dir"  # an empty folder made for a server that was never started
    return
  fi
  if [ ! -e "$marker" ]; then
    say "$dir was not made by this script; not removing it"
    exit 1
  fi
  if running; then as_server "$bin/pg_ctl" -D "$dir/data" -m fast -w -t 60 stop >/dev/null; fi
  rm -rf "$dir"
}

bin="$(find_bin)"
if [ -z "$bin" ] && [ "$cmd" != stop ]; then
  say "PostgreSQL is not installed (scripts/install-deps.sh installs postgresql-15)"
  exit 3
fi
if [ -n "$bin" ] && [ ! -x "$bin/initdb" ]; then
  say "no initdb in $bin (PARLEY_PG_BIN)"
  exit 1
fi

case "$cmd" in
  start) start ;;
  stop) stop ;;
  url)
    running || { say "not running in $dir"; exit 1; }
    url
    ;;
  env)
    running || { say "not running in $dir"; exit 1; }
    echo "export PARLEY_TEST_POSTGRES_URL=$(url)"
    ;;
  *) usage ;;
esac
