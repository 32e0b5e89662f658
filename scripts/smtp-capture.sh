#!/usr/bin/env bash
# A throw-away SMTP server on loopback that captures mail to a folder (scripts/smtp_capture.py
# on Debian's python3-aiosmtpd), for tests and for trying mail by hand.
#
#   scripts/smtp-capture.sh start DIR [--tls] [--auth USER:PASSWORD]
#                                    start it; prints its URL (smtp://127.0.0.1:PORT)
#   scripts/smtp-capture.sh stop DIR stop it (the captured mail stays in DIR)
#
# Each mail lands in DIR as mail-NNNN.eml (raw) and mail-NNNN.json (parsed by Python's email
# package). Exit status 3, with one line, when python3-aiosmtpd is not installed
# (scripts/install-deps.sh installs it).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PY=/usr/bin/python3  # Debian's, where python3-aiosmtpd lives (not a pyenv shim)

cmd="${1:-}"
dir="${2:-}"
[ -n "$cmd" ] && [ -n "$dir" ] || { echo "usage: $0 start|stop DIR [--tls] [--auth U:P]" >&2; exit 2; }
shift 2

case "$cmd" in
  start)
    if ! "$PY" -c 'import aiosmtpd' 2>/dev/null; then
      echo "smtp-capture.sh: python3-aiosmtpd is not installed (scripts/install-deps.sh installs it)" >&2
      exit 3
    fi
    mkdir -p "$dir"
    rm -f "$dir/port"
    nohup "$PY" "$ROOT/scripts/smtp_capture.py" --dir "$dir" "$@" >"$dir/server.log" 2>&1 &
    echo $! >"$dir/pid"
    for _ in $(seq 1 100); do
      if [ -f "$dir/port" ]; then echo "smtp://127.0.0.1:$(cat "$dir/port")"; exit 0; fi
      if ! kill -0 "$(cat "$dir/pid")" 2>/dev/null; then cat "$dir/server.log" >&2; exit 1; fi
      sleep 0.1
    done
    echo "smtp-capture.sh: did not start in 10 s" >&2
    exit 1
    ;;
  stop)
    if [ -f "$dir/pid" ]; then
      kill "$(cat "$dir/pid")" 2>/dev/null || true
      rm -f "$dir/pid" "$dir/port"
    fi
    ;;
  *)
    echo "usage: $0 start|stop DIR [--tls] [--auth U:P]" >&2
    exit 2
    ;;
esac
