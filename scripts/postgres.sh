#!/usr/bin/env bash
# Runs a command beside a throwaway PostgreSQL server: the PostgreSQL store's
# tests (Tests/NotifyStorageTests) need a real one.
#
# Usage: scripts/postgres.sh [COMMAND [ARGS...]]
#   Creates a cluster with initdb in a new temporary folder, starts it on a
#   free loopback port (its unix socket in that folder too; fsync on,
#   synchronous_commit = on, as production runs it), creates the user and
#   database `notify`, exports
#     NOTIFY_TEST_POSTGRES=postgres://notify@127.0.0.1:PORT/notify
#   and runs COMMAND with it. Without COMMAND it prints the URL and waits
#   until interrupted. On exit, however it exits, the server is stopped and
#   the folder removed; the exit status is COMMAND's.
#
# PostgreSQL refuses to run as root: run as root, the server runs as the
# `postgres` system user (Debian's package creates it), which owns the folder.
# The server's binaries come from Debian's postgresql package
# (scripts/install-deps.sh --test installs it); PG_BIN overrides where they are.
set -euo pipefail

bin=${PG_BIN:-}
if [ -z "$bin" ]; then
  bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1 || true)
fi
if [ -z "$bin" ] || [ ! -x "$bin/initdb" ]; then
  echo "postgres.sh: no PostgreSQL server found (run scripts/install-deps.sh --test, or set PG_BIN)" >&2
  exit 1
fi

as_server=()
if [ "$(id -u)" = 0 ]; then
  id postgres >/dev/null 2>&1 || { echo "postgres.sh: running as root needs the postgres system user" >&2; exit 1; }
  as_server=(runuser -u postgres --)
fi

dir=$(mktemp -d "${TMPDIR:-/tmp}/notify-postgres.XXXXXX")
chmod 700 "$dir"
[ ${#as_server[@]} = 0 ] || chown postgres: "$dir"

stop() {
  if [ -f "$dir/data/postmaster.pid" ]; then
    "${as_server[@]}" "$bin/pg_ctl" -D "$dir/data" -m fast -w stop >/dev/null 2>&1 || true
  fi
  rm -rf "$dir"
}
trap stop EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# A free loopback port: bound and released at once, then given to the server
# (another process could take it in between: then the start fails, loudly).
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()')

# trust on loopback and the private socket only: a throwaway test cluster.
"${as_server[@]}" "$bin/initdb" -D "$dir/data" -U notify --auth=trust --encoding=UTF8 --locale=C.UTF-8 \
  >"$dir/initdb.log" 2>&1 || { cat "$dir/initdb.log" >&2; exit 1; }
"${as_server[@]}" "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 \
  -o "-c listen_addresses=127.0.0.1 -c port=$port -c unix_socket_directories=$dir -c fsync=on -c synchronous_commit=on -c max_connections=200" \
  start >/dev/null || { cat "$dir/server.log" >&2; exit 1; }
"${as_server[@]}" "$bin/createdb" -h "$dir" -p "$port" -U notify notify

export NOTIFY_TEST_POSTGRES="postgres://notify@127.0.0.1:$port/notify"
echo "postgres.sh: PostgreSQL $("$bin/postgres" --version | awk '{print $3}') at $NOTIFY_TEST_POSTGRES (data in $dir)"
if [ $# -eq 0 ]; then
  echo "postgres.sh: running until interrupted"
  while true; do sleep 3600; done
fi
status=0
"$@" || status=$?
exit "$status"
