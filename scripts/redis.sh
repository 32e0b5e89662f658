#!/usr/bin/env bash
# A throw-away redis-server on loopback for tests and benchmarks.
#
#   scripts/redis.sh start   start it (or find it already running); prints its URL
#   scripts/redis.sh env     prints `export PARLEY_TEST_REDIS_URL=...` while it runs
#   scripts/redis.sh url     prints the URL while it runs
#   scripts/redis.sh stop    stop it and delete its folder
#
# Listens on 127.0.0.1 only, keeps nothing on disk (no RDB, no AOF). The port is
# PARLEY_REDIS_PORT (default 56379), or the next free one above it. The folder is
# PARLEY_REDIS_DIR, by default one per user and checkout under $TMPDIR, so two checkouts
# running `make test` at once get two servers. Exit status 3, with one line, when redis-server
# is not installed (scripts/install-deps.sh installs it).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DIR="${PARLEY_REDIS_DIR:-${TMPDIR:-/tmp}/parley-redis-$(id -u)-$(printf %s "$ROOT" | cksum | cut -d' ' -f1)}"
BASE_PORT="${PARLEY_REDIS_PORT:-56379}"

port_busy() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# Running and not a zombie (a daemon's zombie lingers until init reaps it, which some
# container inits do only now and then).
alive() {
  [ -r "/proc/$1/stat" ] || return 1
  local stat
  stat="$(cat "/proc/$1/stat" 2>/dev/null)" || return 1
  stat="${stat##*) }"
  [ "${stat:0:1}" != Z ]
}

running() {
  [ -f "$DIR/redis.pid" ] && [ -f "$DIR/port" ] && alive "$(cat "$DIR/redis.pid")"
}

url() { echo "redis://127.0.0.1:$(cat "$DIR/port")"; }

ping() { redis-cli -h 127.0.0.1 -p "$1" ping 2>/dev/null | grep -q PONG; }

start() {
  if running; then url; return 0; fi
  if ! command -v redis-server >/dev/null 2>&1; then
    echo "redis.sh: redis-server is not installed (scripts/install-deps.sh installs it)" >&2
    exit 3
  fi
  rm -rf "$DIR"
  mkdir -p "$DIR"
  chmod 700 "$DIR"
  local port="$BASE_PORT" tries=0
  while port_busy "$port"; do
    port=$((port + 1)); tries=$((tries + 1))
    [ "$tries" -ge 100 ] && { echo "redis.sh: no free port from $BASE_PORT" >&2; exit 1; }
  done
  redis-server --bind 127.0.0.1 --port "$port" --protected-mode yes \
    --save "" --appendonly no --dir "$DIR" \
    --daemonize yes --pidfile "$DIR/redis.pid" --logfile "$DIR/redis.log" \
    --maxclients 1000 >/dev/null
  echo "$port" >"$DIR/port"
  for _ in $(seq 1 100); do
    if ping "$port" && [ -s "$DIR/redis.pid" ]; then url; return 0; fi
    sleep 0.05
  done
  echo "redis.sh: redis-server did not answer on 127.0.0.1:$port (log: $DIR/redis.log)" >&2
  exit 1
}

stop() {
  if [ -f "$DIR/redis.pid" ]; then
    local pid
    pid="$(cat "$DIR/redis.pid")"
    if alive "$pid"; then
      kill -TERM "$pid" 2>/dev/null || true
      for _ in $(seq 1 250); do alive "$pid" || break; sleep 0.02; done
      kill -KILL "$pid" 2>/dev/null || true
    fi
  fi
  rm -rf "$DIR"
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  url) running && url ;;
  env) running && echo "export PARLEY_TEST_REDIS_URL=$(url)" ;;
  *) echo "usage: $0 start|stop|env|url" >&2; exit 2 ;;
esac
