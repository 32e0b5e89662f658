#!/usr/bin/env bash
# A throw-away Janus (WebRTC SFU, VideoRoom plugin) on loopback for tests and local calls.
#
#   scripts/janus.sh start DIR   start one in DIR (made if needed); prints its HTTP API URL
#   scripts/janus.sh stop DIR    stop it and delete DIR
#
# Its configuration is generated into DIR (the system's /etc/janus is not read): the HTTP
# transport only, on 127.0.0.1 at a free port from $JANUS_PORT (default 48088) up; only the
# VideoRoom plugin; rooms created through the API only, with $JANUS_ADMIN_KEY (or a random key
# written to DIR/admin_key); recordings under DIR/recordings; RTP ports from DIR's own range;
# ICE on loopback only. Exit status 3, with one line, when janus is not installed
# (scripts/install-deps.sh installs janus).
set -euo pipefail

cmd="${1:-}"
DIR="${2:-}"
[ -n "$cmd" ] && [ -n "$DIR" ] || { echo "usage: $0 start|stop DIR" >&2; exit 2; }

# shellcheck source=daemon_lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/daemon_lib.sh"

start() {
  if ! command -v janus >/dev/null 2>&1; then
    echo "janus.sh: janus is not installed (scripts/install-deps.sh installs it)" >&2
    exit 3
  fi
  LIBDIR="$(dirname "$(find /usr/lib -path '*janus/plugins/libjanus_videoroom.so' 2>/dev/null | head -1)")/.."
  [ -d "$LIBDIR/plugins" ] || { echo "janus.sh: no VideoRoom plugin found under /usr/lib" >&2; exit 3; }
  mkdir -p "$DIR/conf" "$DIR/recordings"
  chmod 700 "$DIR"
  local key="${JANUS_ADMIN_KEY:-}"
  [ -n "$key" ] || key="$(random_secret)"
  printf %s "$key" >"$DIR/admin_key"
  chmod 600 "$DIR/admin_key"
  # A port can look free (nothing answers) and still not bind (a previous instance's sockets
  # linger in TIME_WAIT): up to five tries, each on the next free port.
  local base="${JANUS_PORT:-48088}" attempt
  for attempt in 1 2 3 4 5; do
    if launch "$(free_port "$base")"; then return 0; fi
    base=$(($(cat "$DIR/port") + 1))
  done
  echo "janus.sh: janus did not start (log: $DIR/janus.log)" >&2
  exit 1
}

# Whether the Janus answering on port $1 is the one named $2 (its info carries the name).
janus_named() {
  local answer
  answer="$( (exec 3<>"/dev/tcp/127.0.0.1/$1" && printf 'GET /janus/info HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n' >&3 && timeout 2 cat <&3) 2>/dev/null || true)"
  [[ "$answer" == *"\"$2\""* ]]
}

# Writes the configuration for port $1 and starts Janus; fails when it does not listen.
launch() {
  local port="$1" key libdir
  key="$(cat "$DIR/admin_key")"
  libdir="$LIBDIR"
  local rtp=$((20000 + (port % 50) * 200))
  # Named uniquely: two starts at once may pick the same free port, and only one binds it; the
  # loser must not take the winner's answer for its own (see the wait below).
  local name="parley-test-janus-$$-$RANDOM"
  # Every plugin and transport but the VideoRoom and plain HTTP stays unloaded.
  local plugins_off transports_off
  plugins_off="$(cd "$libdir/plugins" && ls libjanus_*.so | grep -v '^libjanus_videoroom.so$' | paste -sd, -)"
  transports_off="$(cd "$libdir/transports" && ls libjanus_*.so | grep -v '^libjanus_http.so$' | paste -sd, -)"
  cat >"$DIR/conf/janus.jcfg" <<CONF
general: {
  configs_folder = "$DIR/conf"
  plugins_folder = "$libdir/plugins"
  transports_folder = "$libdir/transports"
  events_folder = "$libdir/events"
  loggers_folder = "$libdir/loggers"
  debug_level = 3
  log_to_file = "$DIR/janus.log"
  server_name = "$name"
  session_timeout = 60
  recordings_tmp_ext = "tmp"
}
media: {
  rtp_port_range = "$rtp-$((rtp + 199))"
}
nat: {
  ice_enforce_list = "lo"
  ignore_mdns = true
}
plugins: {
  disable = "$plugins_off"
}
transports: {
  disable = "$transports_off"
}
events: {
  broadcast = false
}
loggers: {
  disable = "libjanus_jsonlog.so"
}
CONF
  cat >"$DIR/conf/janus.transport.http.jcfg" <<CONF
general: {
  json = "compact"
  base_path = "/janus"
  http = true
  port = $port
  interface = "lo"
  ip = "127.0.0.1"
  https = false
}
admin: {
  admin_http = false
}
CONF
  cat >"$DIR/conf/janus.plugin.videoroom.jcfg" <<CONF
general: {
  admin_key = "$key"
  lock_rtp_forward = true
  string_ids = true
}
CONF
  echo "$port" >"$DIR/port"
  janus --configs-folder="$DIR/conf" --config="$DIR/conf/janus.jcfg" --disable-colors \
    --log-file="$DIR/janus.log" >"$DIR/stdout.log" 2>&1 &
  echo $! >"$DIR/janus.pid"
  for _ in $(seq 1 200); do
    if port_busy "$port" && janus_named "$port" "$name"; then
      echo "http://127.0.0.1:$port/janus"
      return 0
    fi
    alive "$(cat "$DIR/janus.pid")" || break
    sleep 0.05
  done
  stop_pidfiles "$DIR/janus.pid"
  return 1
}

stop() {
  stop_pidfiles "$DIR/janus.pid"
  rm -rf "$DIR"
}

case "$cmd" in
  start) start ;;
  stop) stop ;;
  *) echo "usage: $0 start|stop DIR" >&2; exit 2 ;;
esac
