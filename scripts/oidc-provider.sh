#!/usr/bin/env bash
# A throw-away OpenID Connect provider (oidc-provider, tools/oidc-provider/) on loopback for the
# single sign-on tests, with a second, forging issuer beside it (see tools/oidc-provider/server.js).
#
#   scripts/oidc-provider.sh start [DIR]  start it (or find it running); print its issuer URL
#   scripts/oidc-provider.sh url [DIR]    print the issuer URL of the running provider
#   scripts/oidc-provider.sh env [DIR]    print `export PARLEY_TEST_OIDC_...=` lines: ISSUER,
#                                         FORGE_ISSUER, CLIENT_ID, CLIENT_SECRET
#   scripts/oidc-provider.sh stop [DIR]   stop it and remove DIR
#
# The provider has one client, `parley-test`, with a random secret made at start (DIR/secret,
# mode 600) and accepts Parley's callback on any loopback port. Its sign-in page accepts any
# login and password. Ports: free ones, chosen by the server. DIR defaults to
# $PARLEY_OIDC_DIR, else ${TMPDIR:-/tmp}/parley-oidc-<user>. Only the URL goes to stdout; errors
# go to stderr, the server's log to DIR/server.log. oidc-provider is installed into
# tools/oidc-provider/node_modules from its lock file on first use (npm ci). Exit status 3, with
# one line, when node or npm is not installed (scripts/install-deps.sh installs them).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
TOOL="$ROOT/tools/oidc-provider"
CLIENT_ID=parley-test

cmd="${1:-}"
dir="${2:-${PARLEY_OIDC_DIR:-${TMPDIR:-/tmp}/parley-oidc-$(id -un)}}"
marker="$dir/.parley-oidc"

say() { echo "oidc-provider.sh: $*" >&2; }

# shellcheck source=lib/node-tool.sh
source "$ROOT/scripts/lib/node-tool.sh"

url() { echo "http://127.0.0.1:$(cat "$dir/port")"; }

start() {
  tool_check_dir
  if running; then
    url
    return
  fi
  tool_install
  tool_fresh_dir
  (umask 077 && head -c 24 /dev/urandom | base64 | tr -d '\n/+=' >"$dir/secret")
  # The secret through argv is fine for a throw-away test provider on loopback. setsid: the
  # server outlives this shell and is not hit by the terminal's signals, like a daemon.
  setsid node "$TOOL/server.js" "$dir" "$CLIENT_ID" "$(cat "$dir/secret")" </dev/null \
    >"$dir/server.log" 2>&1 &
  echo $! >"$dir/server.pid"
  tool_wait_started url
}

case "$cmd" in
  start) start ;;
  stop) tool_stop ;;
  url)
    running || { say "not running in $dir"; exit 1; }
    url
    ;;
  env)
    running || { say "not running in $dir"; exit 1; }
    echo "export PARLEY_TEST_OIDC_ISSUER='$(url)'"
    echo "export PARLEY_TEST_OIDC_FORGE_ISSUER='http://127.0.0.1:$(cat "$dir/forge_port")'"
    echo "export PARLEY_TEST_OIDC_CLIENT_ID='$CLIENT_ID'"
    echo "export PARLEY_TEST_OIDC_CLIENT_SECRET='$(cat "$dir/secret")'"
    ;;
  *)
    sed -n '2,10p' "$0" >&2
    exit 2
    ;;
esac
