#!/usr/bin/env bash
# Interop test: a real notifyd on a temporary data folder and a free loopback
# port, the Python client against it; the client ends with SIGTERM (its last
# checks are the shutdown's answers), and notifyd must then exit 0.
# Bounded: the client gets INTEROP_TIMEOUT seconds (120), its sockets 10 s
# each read, and notifyd 40 s to exit after SIGTERM (it drains for at most
# --drain-timeout, 30 s).
# Usage: scripts/interop/run.sh BIN_DIR (where notifyd was built)
set -euo pipefail
cd "$(dirname "$0")/../.."
bin="$1"
work=$(mktemp -d)
server_pid=""
cleanup() {
  [ -n "$server_pid" ] && kill -9 "$server_pid" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

protoc --python_out="$work/gen" -I proto proto/notify/v1/*.proto 2>/dev/null || {
  mkdir -p "$work/gen" && protoc --python_out="$work/gen" -I proto proto/notify/v1/*.proto
}
touch "$work/gen/notify/__init__.py" "$work/gen/notify/v1/__init__.py"

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
"$bin/notifyd" serve --data-dir "$work/data" --rpc-port "$port" --no-gateway --log-level warning \
  --rate-limit 0 --max-feed-entries 0 > "$work/server.log" 2>&1 &
server_pid=$!
for _ in $(seq 1 100); do
  grep -q "clients trust the CA" "$work/server.log" 2>/dev/null && python3 -c "import socket; socket.create_connection(('127.0.0.1', $port), 1)" 2>/dev/null && break
  sleep 0.1
done

token=$("$bin/notifyd" admin token create --data-dir "$work/data" --user 1 --role admin --create-user)
"$bin/notifyd" admin user add --data-dir "$work/data" --id 2 >/dev/null
uns=$("$bin/notifyd" admin subscription create --data-dir "$work/data" --user 2 --app interop.example.com --platform windows)

status=0
timeout "${INTEROP_TIMEOUT:-120}" python3 scripts/interop/client.py --port "$port" --ca "$work/data/tls/ca.crt" \
  --gen "$work/gen" --token "$token" --user 1 --uns-id "$uns" --server-pid "$server_pid" || status=$?
[ "$status" = 124 ] && echo "FAIL the interop client ran past ${INTEROP_TIMEOUT:-120} s"

# The client sent SIGTERM itself unless it failed before its last checks.
kill -TERM "$server_pid" 2>/dev/null || true
for _ in $(seq 1 400); do
  kill -0 "$server_pid" 2>/dev/null || break
  sleep 0.1
done
if kill -0 "$server_pid" 2>/dev/null; then
  echo "FAIL notifyd still runs 40 s after SIGTERM"; cat "$work/server.log"; status=1
elif wait "$server_pid"; then
  echo "ok   notifyd exits 0 on SIGTERM"
else
  echo "FAIL notifyd exited $? on SIGTERM"; cat "$work/server.log"; status=1
fi
server_pid=""
exit $status
