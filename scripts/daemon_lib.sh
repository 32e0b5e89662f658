# Shared by the scripts that run a throw-away daemon for tests (coturn.sh, janus.sh): source it.

# Whether something listens on 127.0.0.1:$1.
port_busy() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# Running and not a zombie (a daemon's zombie lingers until init reaps it, which some container
# inits do only now and then).
alive() {
  [ -r "/proc/$1/stat" ] || return 1
  local stat
  stat="$(cat "/proc/$1/stat" 2>/dev/null)" || return 1
  stat="${stat##*) }"
  [ "${stat:0:1}" != Z ]
}

# The first free port from $1 up (tries 200), or exits.
free_port() {
  local port="$1" tries=0
  while port_busy "$port"; do
    port=$((port + 1)); tries=$((tries + 1))
    [ "$tries" -ge 200 ] && { echo "no free port from $1" >&2; exit 1; }
  done
  echo "$port"
}

# A random hex secret of 24 bytes.
random_secret() { head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n'; }

# SIGTERM to the process in each pid file, SIGKILL after 3 s.
stop_pidfiles() {
  local f pid
  for f in "$@"; do
    [ -f "$f" ] || continue
    pid="$(cat "$f")"
    [ -n "$pid" ] && alive "$pid" || continue
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 1 150); do alive "$pid" || break; sleep 0.02; done
    kill -KILL "$pid" 2>/dev/null || true
  done
}
