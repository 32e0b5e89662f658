#!/usr/bin/env bash
# A Web Push service stand-in on loopback (tools/push-service: the npm package
# web-push-testing), which checks VAPID headers and decrypts aes128gcm payloads, for tests.
#
#   scripts/push-service.sh start   start it (npm ci on first use); prints its URL
#   scripts/push-service.sh env     prints `export PARLEY_TEST_PUSH_URL=...` while it runs
#   scripts/push-service.sh stop    stop it
#
# The port is PARLEY_PUSH_PORT (default 58090) or the next free one above it. Exit status 3,
# with one line, when node is not installed.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
TOOL="$ROOT/tools/push-service"
DIR="${PARLEY_PUSH_DIR:-${TMPDIR:-/tmp}/parley-push-$(id -u)-$(printf %s "$ROOT" | cksum | cut -d' ' -f1)}"
BASE_PORT="${PARLEY_PUSH_PORT:-58090}"

port_busy() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
running() { [ -f "$DIR/pid" ] && kill -0 "$(cat "$DIR/pid")" 2>/dev/null; }
url() { echo "http://127.0.0.1:$(cat "$DIR/port")"; }

start() {
  if running; then url; return 0; fi
  if ! command -v node >/dev/null 2>&1; then
    echo "push-service.sh: node is not installed (scripts/install-deps.sh installs it)" >&2
    exit 3
  fi
  if [ ! -f "$TOOL/node_modules/.package-lock.json" ] || [ "$TOOL/package-lock.json" -nt "$TOOL/node_modules/.package-lock.json" ]; then
    (cd "$TOOL" && npm ci --no-audit --no-fund --loglevel=error >&2)
  fi
  rm -rf "$DIR"
  mkdir -p "$DIR"
  local port="$BASE_PORT" tries=0
  while port_busy "$port"; do
    port=$((port + 1)); tries=$((tries + 1))
    [ "$tries" -ge 100 ] && { echo "push-service.sh: no free port from $BASE_PORT" >&2; exit 1; }
  done
  echo "$port" >"$DIR/port"
  nohup node "$TOOL/serve.js" "$port" >"$DIR/log" 2>&1 &
  echo $! >"$DIR/pid"
  for _ in $(seq 1 200); do
    if port_busy "$port"; then url; return 0; fi
    sleep 0.05
  done
  echo "push-service.sh: web-push-testing did not listen on 127.0.0.1:$port (log: $DIR/log)" >&2
  exit 1
}

stop() {
  if running; then
    local pid
    pid="$(cat "$DIR/pid")"
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.02; done
    kill -KILL "$pid" 2>/dev/null || true
  fi
  rm -rf "$DIR"
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  url) running && url ;;
  env) running && echo "export PARLEY_TEST_PUSH_URL=$(url)" ;;
  *) echo "usage: $0 start|stop|env|url" >&2; exit 2 ;;
esac
