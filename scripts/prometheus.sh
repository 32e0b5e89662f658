#!/usr/bin/env bash
# A throw-away Prometheus on loopback for tests: scrapes the given Parley ports every second
# and evaluates deploy/prometheus/parley.rules.yml.
#
#   scripts/prometheus.sh start DIR PORT...   start it with its data in DIR, scraping
#                                             127.0.0.1:PORT/metrics (job "parley") for each
#                                             PORT; prints its URL (http://127.0.0.1:N)
#   scripts/prometheus.sh url DIR             prints the URL while it runs
#   scripts/prometheus.sh stop DIR            stop it and delete DIR
#
# Listens on 127.0.0.1 only, on PARLEY_PROMETHEUS_PORT (default 19090) or the next free port
# above it: below Linux's ephemeral range (32768-60999), where servers that tests running beside
# it start on port 0 could take the port between the check and the bind. Exit status 3, with one
# line, when prometheus is not installed (scripts/install-deps.sh installs Debian's, which also
# ships promtool).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BASE_PORT="${PARLEY_PROMETHEUS_PORT:-19090}"
RULES="$ROOT/deploy/prometheus/parley.rules.yml"

port_busy() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

alive() {
  [ -r "/proc/$1/stat" ] || return 1
  local stat
  stat="$(cat "/proc/$1/stat" 2>/dev/null)" || return 1
  stat="${stat##*) }"
  [ "${stat:0:1}" != Z ]
}

running() {
  [ -f "$DIR/prometheus.pid" ] && [ -f "$DIR/port" ] && alive "$(cat "$DIR/prometheus.pid")"
}

url() { echo "http://127.0.0.1:$(cat "$DIR/port")"; }

ready() { curl -fsS -m 2 "http://127.0.0.1:$1/-/ready" >/dev/null 2>&1; }

start() {
  if running; then url; return 0; fi
  if ! command -v prometheus >/dev/null 2>&1; then
    echo "prometheus.sh: prometheus is not installed (scripts/install-deps.sh installs it)" >&2
    exit 3
  fi
  [ $# -ge 1 ] || { echo "prometheus.sh: start needs at least one target port" >&2; exit 2; }
  rm -rf "$DIR"
  mkdir -p "$DIR/data"
  chmod 700 "$DIR"
  local targets="" p
  for p in "$@"; do
    [[ "$p" =~ ^[0-9]+$ ]] || { echo "prometheus.sh: not a port: $p" >&2; exit 2; }
    targets+="\"127.0.0.1:$p\", "
  done
  cp "$RULES" "$DIR/parley.rules.yml"
  cat >"$DIR/prometheus.yml" <<CONF
global:
  scrape_interval: 1s
  scrape_timeout: 1s
  evaluation_interval: 1s
rule_files:
  - parley.rules.yml
scrape_configs:
  - job_name: parley
    metrics_path: /metrics
    static_configs:
      - targets: [${targets%, }]
CONF
  local port="$BASE_PORT" tries=0
  while port_busy "$port"; do
    port=$((port + 1)); tries=$((tries + 1))
    [ "$tries" -ge 100 ] && { echo "prometheus.sh: no free port from $BASE_PORT" >&2; exit 1; }
  done
  # setsid: its own session, so the caller's terminal signals do not reach it.
  setsid prometheus --config.file="$DIR/prometheus.yml" --storage.tsdb.path="$DIR/data" \
    --web.listen-address="127.0.0.1:$port" --storage.tsdb.retention.time=1h \
    --log.level=warn </dev/null >"$DIR/prometheus.log" 2>&1 &
  echo $! >"$DIR/prometheus.pid"
  echo "$port" >"$DIR/port"
  for _ in $(seq 1 200); do
    if ready "$port"; then url; return 0; fi
    alive "$(cat "$DIR/prometheus.pid")" || break
    sleep 0.05
  done
  echo "prometheus.sh: prometheus did not get ready on 127.0.0.1:$port (log: $DIR/prometheus.log)" >&2
  tail -5 "$DIR/prometheus.log" >&2 || true
  exit 1
}

stop() {
  if [ -f "$DIR/prometheus.pid" ]; then
    local pid
    pid="$(cat "$DIR/prometheus.pid")"
    if alive "$pid"; then
      kill -TERM "$pid" 2>/dev/null || true
      for _ in $(seq 1 250); do alive "$pid" || break; sleep 0.02; done
      kill -KILL "$pid" 2>/dev/null || true
    fi
  fi
  rm -rf "$DIR"
}

cmd="${1:-}"
DIR="${2:-}"
if [ -z "$cmd" ] || [ -z "$DIR" ]; then
  echo "usage: $0 start DIR PORT... | url DIR | stop DIR" >&2
  exit 2
fi
shift 2
case "$cmd" in
  start) start "$@" ;;
  stop) stop ;;
  url) running && url ;;
  *) echo "usage: $0 start DIR PORT... | url DIR | stop DIR" >&2; exit 2 ;;
esac
