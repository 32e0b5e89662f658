#!/usr/bin/env bash
# A throw-away S3-compatible server (s3rver, tools/s3rver/) on loopback for tests.
#
#   scripts/s3.sh start [DIR]  start it (or find it running); print its URL
#   scripts/s3.sh url [DIR]    print the URL of the running server
#   scripts/s3.sh env [DIR]    print `export PARLEY_TEST_S3_URL=...` and the two key variables
#   scripts/s3.sh stop [DIR]   stop it and remove DIR
#
# The URL is what the S3 blob store's factory takes: s3://BUCKET?endpoint=http://127.0.0.1:PORT
# &region=us-east-1. The server checks Signature Version 4 against a key pair made at start:
# access key `parley-test`, a random secret in DIR/secret (mode 600), both printed by `env` as
# PARLEY_TEST_S3_ACCESS_KEY and PARLEY_TEST_S3_SECRET_KEY. Port: a free one, chosen by the
# server. DIR defaults to $PARLEY_S3_DIR, else ${TMPDIR:-/tmp}/parley-s3-<user>. Only the URL
# goes to stdout; errors go to stderr, the server's log to DIR/server.log. s3rver is installed
# into tools/s3rver/node_modules from its lock file on first use (npm ci). Exit status 3, with one
# line, when node or npm is not installed (scripts/install-deps.sh installs them).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
TOOL="$ROOT/tools/s3rver"
BUCKET=parley-test
REGION=us-east-1
ACCESS_KEY=parley-test

cmd="${1:-}"
dir="${2:-${PARLEY_S3_DIR:-${TMPDIR:-/tmp}/parley-s3-$(id -un)}}"
marker="$dir/.parley-s3"

say() { echo "s3.sh: $*" >&2; }

# shellcheck source=lib/node-tool.sh
source "$ROOT/scripts/lib/node-tool.sh"

url() { echo "s3://$BUCKET?endpoint=http://127.0.0.1:$(cat "$dir/port")&region=$REGION"; }

start() {
  tool_check_dir
  if running; then
    url
    return
  fi
  tool_install
  tool_fresh_dir
  # 30 random bytes in base64: 40 characters with '/' and '+', like an AWS secret key.
  (umask 077 && head -c 30 /dev/urandom | base64 | tr -d '\n' >"$dir/secret")
  # Keys through the environment, not argv, so that ps does not show the secret. setsid: the
  # server outlives this shell and is not hit by the terminal's signals, like a daemon.
  S3RVER_ACCESS_KEY="$ACCESS_KEY" S3RVER_SECRET_KEY="$(cat "$dir/secret")" \
    setsid node "$TOOL/server.js" "$dir" "$BUCKET" "$REGION" </dev/null >"$dir/server.log" 2>&1 &
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
    echo "export PARLEY_TEST_S3_URL='$(url)'"
    echo "export PARLEY_TEST_S3_ACCESS_KEY='$ACCESS_KEY'"
    echo "export PARLEY_TEST_S3_SECRET_KEY='$(cat "$dir/secret")'"
    ;;
  *)
    sed -n '2,7p' "$0" >&2
    exit 2
    ;;
esac
