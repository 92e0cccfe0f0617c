# Sourced by scripts/loadtest.sh, scripts/perf/soak.sh and scripts/perf/profile.sh:
# a release build, a fresh `notifyd serve` (RPC server and in-process gateway) on a
# temporary data folder and free loopback ports, bootstrapped with `notifyd admin`,
# and stopped with the calling script.
#
# Call fresh_server NAME [serve options...]. Afterwards: bin, work, rpc_port,
# http_port (empty with --no-gateway), server_pid, token (an admin of user 1, who
# has users 2-11 as friends) and uns (a subscription of user 2).
# PROFILE_SERVER names a notifyd binary to serve with instead of this build's (a
# before/after of the server against the same generator).
# PROFILE_USERS: users 12 up to it exist too (SQLite only), for notify-load's
# --users N, which spreads its calls over users 1-N.

swift build -c release --product notifyd >&2
swift build -c release --product notify-load >&2
bin=$(swift build -c release --show-bin-path)

work=$(mktemp -d)
server_pid=""
stop_fresh_server() {
  if [ -n "$server_pid" ] && kill -0 "$server_pid" 2>/dev/null; then
    kill -TERM "$server_pid" 2>/dev/null || true
    for _ in $(seq 1 50); do kill -0 "$server_pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$server_pid" 2>/dev/null || true
  fi
  rm -rf "$work"
}
trap stop_fresh_server EXIT
trap 'exit 130' INT TERM

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

fresh_server() {
  local name=$1; shift
  local serve=(serve --data-dir "$work/data" --log-level warning)
  # A load generator is one caller making tens of thousands of calls a second into one feed:
  # no per-caller rate limit and no feed bound (both on by default).
  serve+=(--rate-limit 0 --max-feed-entries 0)
  rpc_port=$(free_port)
  serve+=(--rpc-port "$rpc_port")
  http_port=""
  if [[ " $* " != *" --no-gateway "* ]]; then
    http_port=$(free_port)
    serve+=(--http-port "$http_port")
  fi
  "${PROFILE_SERVER:-$bin/notifyd}" "${serve[@]}" "$@" > "$work/server.log" 2>&1 &
  server_pid=$!
  local port
  for port in "$rpc_port" $http_port; do
    for _ in $(seq 1 100); do
      python3 -c "import socket; socket.create_connection(('127.0.0.1', $port), 1)" 2>/dev/null && continue 2
      sleep 0.1
    done
    echo "$name: nothing listens on port $port; server log:" >&2
    cat "$work/server.log" >&2
    return 1
  done
  # The served binary bootstraps its own data folder: another one's migrations could leave a
  # schema it does not write (v7 moved notifications.content to typed columns).
  admin() { "${PROFILE_SERVER:-$bin/notifyd}" admin "$@" --data-dir "$work/data"; }
  token=$(admin token create --user 1 --role admin --create-user)
  for friend in $(seq 2 11); do admin connection add --user 1 --to "$friend" --kind friend --create-user; done
  uns=$(admin subscription create --user 2 --app load.example.com --platform windows)
  if [ "${PROFILE_USERS:-11}" -gt 11 ]; then
    sqlite3 "$work/data/notify.sqlite" ".timeout 30000" \
      "WITH RECURSIVE n(i) AS (SELECT 12 UNION ALL SELECT i + 1 FROM n WHERE i < $PROFILE_USERS) INSERT OR IGNORE INTO users (id) SELECT i FROM n"
  fi
}
