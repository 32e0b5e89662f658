#!/usr/bin/env bash
# A throw-away coturn (TURN/STUN) on loopback for tests and local calls.
#
#   scripts/coturn.sh start DIR   start one in DIR (made if needed); prints HOST:PORT
#   scripts/coturn.sh stop DIR    stop it and delete DIR
#
# Its configuration is generated into DIR (no system config, no database): TURN REST API
# credentials only (use-auth-secret with static-auth-secret = $COTURN_SECRET, or a random one
# written to DIR/secret), UDP and TCP on 127.0.0.1 at a free port from $COTURN_PORT (default
# 43478) up, relay ports from DIR's own range, no TLS, no CLI. Relaying to loopback, private,
# link-local and other special addresses is denied (deploy/coturn/turnserver.conf has the same
# list) except 127.0.0.1, which the tests' browsers relay to each other through. Exit status 3,
# with one line, when turnserver is not installed (scripts/install-deps.sh installs coturn).
set -euo pipefail

cmd="${1:-}"
DIR="${2:-}"
[ -n "$cmd" ] && [ -n "$DIR" ] || { echo "usage: $0 start|stop DIR" >&2; exit 2; }

# shellcheck source=daemon_lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/daemon_lib.sh"

start() {
  if ! command -v turnserver >/dev/null 2>&1; then
    echo "coturn.sh: turnserver is not installed (scripts/install-deps.sh installs coturn)" >&2
    exit 3
  fi
  mkdir -p "$DIR"
  chmod 700 "$DIR"
  local secret="${COTURN_SECRET:-}"
  [ -n "$secret" ] || secret="$(random_secret)"
  printf %s "$secret" >"$DIR/secret"
  chmod 600 "$DIR/secret"
  # Up to three tries, each on a port further up: a port the TCP check found free can still be
  # held (a turnserver of another run going away, a UDP socket), and then the listener retries
  # its bind for a long time instead of failing.
  local attempt base="${COTURN_PORT:-43478}"
  for attempt in 1 2 3; do
    if launch "$secret" "$(free_port "$((base + (attempt - 1) * 10))")"; then return 0; fi
  done
  exit 1
}

# Writes the configuration for the port and starts turnserver; prints HOST:PORT once it listens
# (20 s at most), else stops it, says why and fails.
launch() {
  local secret="$1" port="$2"
  # Relay ports: a block of 200 picked from the port, so two instances rarely overlap.
  local min=$((50000 + (port % 50) * 200))
  rm -f "$DIR/turnserver.pid" "$DIR/launcher.pid" "$DIR/turnserver.log"
  cat >"$DIR/turnserver.conf" <<CONF
listening-ip=127.0.0.1
relay-ip=127.0.0.1
listening-port=$port
min-port=$min
max-port=$((min + 199))
realm=parley.test
use-auth-secret
static-auth-secret=$secret
fingerprint
no-tls
no-dtls
no-cli
no-multicast-peers
allow-loopback-peers
stale-nonce=600
pidfile=$DIR/turnserver.pid
log-file=$DIR/turnserver.log
simple-log
no-stdout-log
userdb=$DIR/turndb
# What a relay may never reach (deploy/coturn/turnserver.conf has the same list)...
denied-peer-ip=0.0.0.0-0.255.255.255
denied-peer-ip=10.0.0.0-10.255.255.255
denied-peer-ip=100.64.0.0-100.127.255.255
denied-peer-ip=127.0.0.0-127.255.255.255
denied-peer-ip=169.254.0.0-169.254.255.255
denied-peer-ip=172.16.0.0-172.31.255.255
denied-peer-ip=192.0.0.0-192.0.0.255
denied-peer-ip=192.0.2.0-192.0.2.255
denied-peer-ip=192.168.0.0-192.168.255.255
denied-peer-ip=198.18.0.0-198.19.255.255
denied-peer-ip=198.51.100.0-198.51.100.255
denied-peer-ip=203.0.113.0-203.0.113.255
denied-peer-ip=240.0.0.0-255.255.255.255
denied-peer-ip=::1
denied-peer-ip=::ffff:0.0.0.0-::ffff:255.255.255.255
denied-peer-ip=64:ff9b::-64:ff9b::ffff:ffff
denied-peer-ip=fc00::-fdff:ffff:ffff:ffff:ffff:ffff:ffff:ffff
denied-peer-ip=fe80::-febf:ffff:ffff:ffff:ffff:ffff:ffff:ffff
# ...except the one the tests need: their browsers' relay addresses are on 127.0.0.1.
allowed-peer-ip=127.0.0.1
CONF
  echo "$port" >"$DIR/port"
  turnserver -c "$DIR/turnserver.conf" >"$DIR/stdout.log" 2>&1 &
  echo $! >"$DIR/launcher.pid"
  for _ in $(seq 1 400); do
    if port_busy "$port" && [ -s "$DIR/turnserver.pid" ]; then
      echo "127.0.0.1:$port"
      return 0
    fi
    if ! alive "$(cat "$DIR/launcher.pid")"; then break; fi
    sleep 0.05
  done
  echo "coturn.sh: turnserver did not start on 127.0.0.1:$port; its log ends:" >&2
  grep -v "Black listing" "$DIR/turnserver.log" 2>/dev/null | tail -n 5 >&2 || true
  stop_pidfiles "$DIR/turnserver.pid" "$DIR/launcher.pid"
  return 1
}

stop() {
  stop_pidfiles "$DIR/turnserver.pid" "$DIR/launcher.pid"
  rm -rf "$DIR"
}

case "$cmd" in
  start) start ;;
  stop) stop ;;
  *) echo "usage: $0 start|stop DIR" >&2; exit 2 ;;
esac
