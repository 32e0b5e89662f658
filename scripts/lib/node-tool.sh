# Shared by the scripts that run a throw-away test server from an npm package under tools/
# (scripts/s3.sh, scripts/oidc-provider.sh). Sourced, not run. The caller sets:
#   TOOL    the tool's folder (its package.json, package-lock.json and server.js)
#   dir     the server's folder (pid, port, log); marker: a file that says this script made it
#   say     a function that prints one line to stderr under the script's name
# and starts the server itself between tool_fresh_dir and tool_wait_started.

# Running and not a zombie.
alive() {
  [ -r "/proc/$1/stat" ] || return 1
  local stat
  stat="$(cat "/proc/$1/stat" 2>/dev/null)" || return 1
  stat="${stat##*) }"
  [ "${stat:0:1}" != Z ]
}

running() { [ -f "$dir/server.pid" ] && [ -f "$dir/port" ] && alive "$(cat "$dir/server.pid")"; }

# npm ci of the tool, only when its lock file changed since the last install (npm ci deletes
# node_modules first). Exit status 3 when node or npm is not installed.
tool_install() {
  if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
    say "node/npm are not installed (scripts/install-deps.sh installs them)"
    exit 3
  fi
  if [ ! -f "$TOOL/node_modules/.package-lock.json" ] ||
    [ "$TOOL/package-lock.json" -nt "$TOOL/node_modules/.package-lock.json" ]; then
    (cd "$TOOL" && npm ci --silent --no-audit --no-fund) >&2 || {
      say "npm ci in $TOOL failed"
      exit 1
    }
  fi
}

# Refuses a non-empty folder this script did not make; then an empty $dir (mode 700) with the
# marker in it.
tool_check_dir() {
  if [ -e "$dir" ] && [ ! -e "$marker" ] && [ -n "$(ls -A "$dir")" ]; then
    say "$dir exists and was not made by this script; give an empty or new folder"
    exit 1
  fi
}
tool_fresh_dir() {
  rm -rf "$dir"
  mkdir -p "$dir"
  chmod 700 "$dir"
  touch "$marker"
}

# After the server was started in the background with its pid in $dir/server.pid: waits for
# $dir/port, then runs the command given (which prints the URL); exits 1 with the log's tail
# when the server dies or takes over 10 s.
tool_wait_started() {
  for _ in $(seq 1 200); do
    if [ -s "$dir/port" ]; then
      "$@"
      return
    fi
    alive "$(cat "$dir/server.pid")" || break
    sleep 0.05
  done
  say "the server did not start; see $dir/server.log"
  tail -n 20 "$dir/server.log" >&2 || true
  exit 1
}

# Stops the server (TERM, then KILL after 5 s) and removes $dir; leaves alone a folder this
# script did not make.
tool_stop() {
  [ -e "$dir" ] || return 0
  if [ ! -e "$marker" ] && [ -z "$(ls -A "$dir")" ]; then
    rmdir "$dir"  # an empty folder made for a server that was never started
    return
  fi
  if [ ! -e "$marker" ]; then
    say "$dir was not made by this script; not removing it"
    exit 1
  fi
  if [ -f "$dir/server.pid" ]; then
    local pid
    pid="$(cat "$dir/server.pid")"
    if alive "$pid"; then
      kill -TERM "$pid" 2>/dev/null || true
      for _ in $(seq 1 250); do alive "$pid" || break; sleep 0.02; done
      kill -KILL "$pid" 2>/dev/null || true
    fi
  fi
  rm -rf "$dir"
}
