#!/usr/bin/env bash
# A throw-away rabbitmq-server on loopback for tests and benchmarks.
#
#   scripts/rabbitmq.sh start     start it (or find it already running); prints its AMQP URL
#   scripts/rabbitmq.sh env       prints `export PARLEY_TEST_AMQP_URL=...` while it runs
#   scripts/rabbitmq.sh url       prints the URL while it runs
#   scripts/rabbitmq.sh restart   stop the node and start it again on the same port and data
#                                 (durable queues and persistent messages survive)
#   scripts/rabbitmq.sh queues    prints "NAME MESSAGES" for each queue while it runs
#   scripts/rabbitmq.sh stop      stop it and delete its folder
#
# Its own node name, data folder, Erlang cookie and ports (AMQP, distribution and epmd), bound
# to 127.0.0.1, so it never meets a system RabbitMQ or another checkout's. The AMQP port is
# PARLEY_AMQP_PORT (default 15672) or the next free one above it; the distribution and epmd
# ports are 12,000 and 13,000 above it. All three lie below the kernel's ephemeral range
# (32768-60999): a port in that range can be taken by any outgoing connection while the node is
# down, and a restart then fails with eaddrinuse (seen in CI during a burst of notifications). The folder is
# PARLEY_RABBITMQ_DIR, by default one per user and checkout under $TMPDIR. The user is
# RabbitMQ's default guest/guest, which it accepts from loopback only. Exit status 3, with one
# line, when rabbitmq-server is not installed (scripts/install-deps.sh installs it).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DIR="${PARLEY_RABBITMQ_DIR:-${TMPDIR:-/tmp}/parley-rabbitmq-$(id -u)-$(printf %s "$ROOT" | cksum | cut -d' ' -f1)}"
BASE_PORT="${PARLEY_AMQP_PORT:-15672}"
# The packaged scripts, not /usr/sbin's wrappers (those switch to the rabbitmq user, which could
# not write a private folder).
BIN=/usr/lib/rabbitmq/bin

port_busy() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

free_port() {
  local port="$1" tries=0
  while port_busy "$port"; do
    port=$((port + 1)); tries=$((tries + 1))
    [ "$tries" -ge 100 ] && { echo "rabbitmq.sh: no free port from $1" >&2; exit 1; }
  done
  echo "$port"
}

# Everything the node and rabbitmqctl must agree on, from the folder's saved ports.
node_env() {
  local port epmd
  port="$(cat "$DIR/port")"
  epmd="$(cat "$DIR/epmd_port")"
  export HOME="$DIR" ERL_EPMD_PORT="$epmd" ERL_EPMD_ADDRESS=127.0.0.1 ERL_CRASH_DUMP="$DIR/erl_crash.dump"
  export RABBITMQ_NODENAME="parley-test-$port@localhost"
  export RABBITMQ_NODE_IP_ADDRESS=127.0.0.1 RABBITMQ_NODE_PORT="$port"
  export RABBITMQ_DIST_PORT="$(cat "$DIR/dist_port")"
  export RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS="-kernel inet_dist_use_interface {127,0,0,1}"
  export RABBITMQ_MNESIA_BASE="$DIR/mnesia" RABBITMQ_LOG_BASE="$DIR/log"
  export RABBITMQ_ENABLED_PLUGINS_FILE="$DIR/enabled_plugins"
  export RABBITMQ_CONFIG_FILE="$DIR/rabbitmq" RABBITMQ_ADVANCED_CONFIG_FILE="$DIR/advanced.config"
  export RABBITMQ_CONF_ENV_FILE="$DIR/rabbitmq-env.conf" RABBITMQ_PID_FILE="$DIR/rabbitmq.pid"
}

url() { echo "amqp://guest:guest@127.0.0.1:$(cat "$DIR/port")/%2f"; }

alive() { [ -f "$DIR/rabbitmq.pid" ] && kill -0 "$(cat "$DIR/rabbitmq.pid")" 2>/dev/null; }

running() { [ -f "$DIR/port" ] && alive && port_busy "$(cat "$DIR/port")"; }

# Starts the node; fails (status 1) with the log's tail when it does not listen within 60 s.
launch() {
  node_env
  "$BIN/rabbitmq-server" >>"$DIR/server.out" 2>&1 &
  local pid=$!
  for _ in $(seq 1 600); do
    kill -0 "$pid" 2>/dev/null || break
    if port_busy "$RABBITMQ_NODE_PORT" && [ -s "$DIR/rabbitmq.pid" ]; then url; return 0; fi
    sleep 0.1
  done
  echo "rabbitmq.sh: rabbitmq-server did not listen on 127.0.0.1:$RABBITMQ_NODE_PORT" \
    "(distribution port $RABBITMQ_DIST_PORT, epmd $ERL_EPMD_PORT); its first errors, then its end:" >&2
  grep -m 5 -iE "error|eaddrinuse|nxdomain|refused" "$DIR/server.out" >&2 || true
  tail -n 15 "$DIR/server.out" >&2 || true
  kill -KILL "$pid" 2>/dev/null || true
  return 1
}

# A new folder with free ports, config and cookie. $1: how far from the usual distribution and
# epmd ports to look (another try takes other ports).
fresh_folder() {
  rm -rf "$DIR"
  mkdir -p "$DIR/mnesia" "$DIR/log"
  chmod 700 "$DIR"
  local port dist epmd
  port="$(free_port "$BASE_PORT")"
  dist="$(free_port $((port + 12000 + ${1:-0})))"
  epmd="$(free_port $((port + 13000 + ${1:-0})))"
  echo "$port" >"$DIR/port"
  echo "$dist" >"$DIR/dist_port"
  echo "$epmd" >"$DIR/epmd_port"
  echo "[]." >"$DIR/enabled_plugins"
  printf 'loopback_users.guest = true\nlisteners.tcp.local = 127.0.0.1:%s\n' "$port" >"$DIR/rabbitmq.conf"
  echo "[]." >"$DIR/advanced.config"
  : >"$DIR/rabbitmq-env.conf"
  head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$DIR/.erlang.cookie"
  chmod 400 "$DIR/.erlang.cookie"
}

start() {
  if running; then url; return 0; fi
  if [ ! -x "$BIN/rabbitmq-server" ]; then
    echo "rabbitmq.sh: rabbitmq-server is not installed (scripts/install-deps.sh installs it)" >&2
    exit 3
  fi
  # A second try on fresh ports: the distribution and epmd ports lie in the ephemeral range, so a
  # busy machine's outgoing connection can take one between the check and the bind.
  # A node that does not come up (a CI run's failed twice in Erlang's net_kernel, its
  # distribution) is tried again on ports of its own, a moment later.
  local attempt
  for attempt in 1 2 3; do
    fresh_folder $(((attempt - 1) * 97))
    if launch; then return 0; fi
    [ -f "$DIR/epmd_port" ] && epmd -port "$(cat "$DIR/epmd_port")" -kill >/dev/null 2>&1 || true
    if [ "$attempt" -lt 3 ]; then
      echo "rabbitmq.sh: trying again on other ports" >&2
      sleep 1
    fi
  done
  exit 1
}

stop_node() {
  [ -f "$DIR/port" ] || return 0
  node_env
  "$BIN/rabbitmqctl" -q stop >/dev/null 2>&1 || true
  if [ -f "$DIR/rabbitmq.pid" ]; then
    local pid
    pid="$(cat "$DIR/rabbitmq.pid")"
    for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
    rm -f "$DIR/rabbitmq.pid"
  fi
}

stop() {
  if [ -d "$DIR" ]; then
    stop_node
    [ -f "$DIR/epmd_port" ] && epmd -port "$(cat "$DIR/epmd_port")" -kill >/dev/null 2>&1 || true
  fi
  rm -rf "$DIR"
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  restart)
    # The same AMQP port (clients reconnect to the same URL) and data. Should the distribution
    # port be taken meanwhile, again on the next free one.
    stop_node
    for attempt in 1 2 3; do
      if launch; then exit 0; fi
      free_port $(( $(cat "$DIR/dist_port") + 1 )) >"$DIR/dist_port.next" && mv "$DIR/dist_port.next" "$DIR/dist_port"
      echo "rabbitmq.sh: restart: trying again (attempt $((attempt + 1)))" >&2
    done
    exit 1 ;;
  url) running && url ;;
  queues) running && { node_env; "$BIN/rabbitmqctl" -q list_queues name messages --no-table-headers; } ;;
  env) running && echo "export PARLEY_TEST_AMQP_URL=$(url)" ;;
  *) echo "usage: $0 start|stop|restart|env|url|queues" >&2; exit 2 ;;
esac
