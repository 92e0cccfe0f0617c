#!/usr/bin/env bash
# Interop test: a real notifyd on a temporary data folder and a free loopback
# port, the Python client against it, then SIGTERM, which must exit 0.
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
python3 scripts/interop/client.py --port "$port" --ca "$work/data/tls/ca.crt" --gen "$work/gen" \
  --token "$token" --user 1 --uns-id "$uns" || status=$?

kill -TERM "$server_pid"
if wait "$server_pid"; then
  echo "ok   notifyd exits 0 on SIGTERM"
else
  echo "FAIL notifyd exited $? on SIGTERM"; cat "$work/server.log"; status=1
fi
server_pid=""
exit $status
