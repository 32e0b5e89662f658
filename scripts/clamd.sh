#!/usr/bin/env bash
# A throw-away clamd for tests, listening on a Unix socket in a folder of its own.
#
#   scripts/clamd.sh start DIR   start it in DIR (or find it already running); prints the socket
#   scripts/clamd.sh socket DIR  prints the socket path while it runs
#   scripts/clamd.sh stop DIR    stop it and delete DIR
#
# Virus definitions cannot be downloaded here (and freshclam is never run), so the database is
# one signature written by this script: the EICAR test string as an .ndb body signature, found
# anywhere in a stream (a hash signature would match only a file that is exactly EICAR). clamd
# loads unsigned .ndb files, refuses to start with no database at all, and reports this one as
# "Parley.Test.EICAR.UNOFFICIAL". With one signature clamd answers PING within a fraction of a
# second. PARLEY_CLAMD_STREAM_MAX sets StreamMaxLength (default 200M; tests of the limit lower
# it). Exit status 3, with one line, when clamd is not installed
# (scripts/install-deps.sh installs it).
set -euo pipefail

usage() { echo "usage: $0 start|socket|stop DIR" >&2; exit 2; }
[ $# -eq 2 ] || usage
DIR="$2"
SOCKET="$DIR/clamd.sock"
STREAM_MAX="${PARLEY_CLAMD_STREAM_MAX:-200M}"
EICAR='X5O!P%@AP[4\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*'

alive() {
  [ -r "/proc/$1/stat" ] || return 1
  local stat
  stat="$(cat "/proc/$1/stat" 2>/dev/null)" || return 1
  stat="${stat##*) }"
  [ "${stat:0:1}" != Z ]
}

running() { [ -f "$DIR/clamd.pid" ] && alive "$(cat "$DIR/clamd.pid")"; }

# Bash cannot open a Unix socket; perl (Essential in Debian) can.
ping() {
  perl -MIO::Socket::UNIX -e '
    my $s = IO::Socket::UNIX->new(Type => SOCK_STREAM(), Peer => $ARGV[0]) or exit 1;
    print $s "zPING\0"; local $/ = "\0"; my $r = <$s>;
    exit(defined $r && $r =~ /^PONG/ ? 0 : 1);' "$SOCKET" 2>/dev/null
}

start() {
  if running && ping; then echo "$SOCKET"; return 0; fi
  local clamd
  clamd="$(command -v clamd || true)"
  [ -z "$clamd" ] && [ -x /usr/sbin/clamd ] && clamd=/usr/sbin/clamd
  if [ -z "$clamd" ]; then
    echo "clamd.sh: clamd is not installed (scripts/install-deps.sh installs clamav-daemon)" >&2
    exit 3
  fi
  # A Unix socket path must fit in sockaddr_un (108 bytes).
  if [ ${#SOCKET} -gt 100 ]; then
    echo "clamd.sh: $SOCKET is too long for a Unix socket; use a shorter DIR" >&2
    exit 1
  fi
  # DIR is deleted and made afresh: refuse a folder that holds anything but an earlier run.
  if [ -d "$DIR" ] && [ -n "$(ls -A "$DIR")" ] && [ ! -f "$DIR/clamd.conf" ]; then
    echo "clamd.sh: $DIR is not empty and holds no clamd.conf; not deleting it" >&2
    exit 1
  fi
  rm -rf "$DIR"
  mkdir -p "$DIR/db"
  chmod 700 "$DIR"
  DIR="$(cd "$DIR" && pwd)"
  SOCKET="$DIR/clamd.sock"
  printf 'Parley.Test.EICAR:0:*:%s\n' "$(printf '%s' "$EICAR" | od -An -tx1 -v | tr -d ' \n')" \
    >"$DIR/db/parley-test.ndb"
  # Size limits above the server's default --max-file-bytes (100 MiB), so a whole upload is
  # scanned; AlertExceedsMax reports a file over them (Heuristics.Limits.Exceeded) instead of
  # calling it clean unscanned. Production clamd.conf files need the same (docs/decisions.md).
  cat >"$DIR/clamd.conf" <<EOF
LocalSocket $SOCKET
LocalSocketMode 600
DatabaseDirectory $DIR/db
PidFile $DIR/clamd.pid
LogFile $DIR/clamd.log
Foreground yes
StreamMaxLength $STREAM_MAX
MaxFileSize 200M
MaxScanSize 400M
AlertExceedsMax yes
MaxThreads 4
SelfCheck 0
EOF
  # Foreground and in the background of this script: the PID is ours to stop, and nothing
  # outlives `stop`. Its output goes to a file so a caller reading our stdout sees EOF.
  "$clamd" -c "$DIR/clamd.conf" >"$DIR/clamd.out" 2>&1 </dev/null &
  echo $! >"$DIR/clamd.pid"
  for _ in $(seq 1 300); do
    if ping; then echo "$SOCKET"; return 0; fi
    alive "$(cat "$DIR/clamd.pid")" || break
    sleep 0.05
  done
  echo "clamd.sh: clamd did not answer PING on $SOCKET (log: $DIR/clamd.out)" >&2
  tail -n 3 "$DIR/clamd.out" >&2 || true
  exit 1
}

stop() {
  [ -d "$DIR" ] || return 0
  if [ -n "$(ls -A "$DIR")" ] && [ ! -f "$DIR/clamd.conf" ]; then
    echo "clamd.sh: $DIR holds no clamd.conf; not deleting it" >&2
    exit 1
  fi
  if [ -f "$DIR/clamd.pid" ]; then
    local pid
    pid="$(cat "$DIR/clamd.pid")"
    if alive "$pid"; then
      kill -TERM "$pid" 2>/dev/null || true
      for _ in $(seq 1 250); do alive "$pid" || break; sleep 0.02; done
      kill -KILL "$pid" 2>/dev/null || true
    fi
  fi
  rm -rf "$DIR"
}

case "$1" in
  start) start ;;
  stop) stop ;;
  socket) running && echo "$SOCKET" ;;
  *) usage ;;
esac
