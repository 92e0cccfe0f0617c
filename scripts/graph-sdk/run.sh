#!/usr/bin/env bash
# Graph's own Python SDK (msgraph-beta-sdk, unchanged) against the gateway:
# starts the built notifyd on a temporary data folder with the gateway over
# HTTPS (the data folder's development certificates, trusted through its
# CA), creates a user, his token and a subscription with `notifyd admin`,
# and runs check.py: list, follow @odata.nextLink, get, patch and delete
# through `client.me.notifications`. Always stops the server.
# Usage: scripts/graph-sdk/run.sh BIN_DIR
set -euo pipefail
cd "$(dirname "$0")/../.."
bin="$1"
python3 -c 'import msgraph_beta' 2>/dev/null || { echo "graph-sdk: msgraph-beta-sdk missing (scripts/install-deps.sh --test)"; exit 1; }
work=$(mktemp -d /tmp/notify-graph-sdk-XXXXXX)
pid=""
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }
stop() {
  if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
    kill -KILL "$pid" 2>/dev/null || true
  fi
  pid=""
}
trap 'stop; rm -rf "$work"' EXIT
rpc_port=$(free_port)
http_port=$(free_port)
# A first start makes the data folder's certificates; the second serves HTTPS with them.
"$bin/notifyd" serve --data-dir "$work/data" --rpc-port "$rpc_port" --no-gateway --log-level warning >"$work/first.log" 2>&1 &
pid=$!
for _ in $(seq 1 100); do [ -f "$work/data/tls/server.key" ] && break; sleep 0.1; done
stop
"$bin/notifyd" serve --data-dir "$work/data" --rpc-port "$rpc_port" --http-port "$http_port" --log-level warning \
  --http-tls-cert "$work/data/tls/server.crt" --http-tls-key "$work/data/tls/server.key" --rate-limit 0 >"$work/server.log" 2>&1 &
pid=$!
for _ in $(seq 1 100); do
  curl -sf --cacert "$work/data/tls/ca.crt" "https://localhost:$http_port/readyz" >/dev/null 2>&1 && break
  kill -0 "$pid" 2>/dev/null || { echo "graph-sdk: notifyd exited"; cat "$work/server.log"; exit 1; }
  sleep 0.1
done
"$bin/notifyd" admin user add --data-dir "$work/data" --id 2 --name bob >/dev/null
token=$("$bin/notifyd" admin token create --data-dir "$work/data" --user 2 --role user)
uns=$("$bin/notifyd" admin subscription create --data-dir "$work/data" --user 2 \
  --app graphnotifications.sample.windows.com --platform windows)
status=0
timeout 120 python3 scripts/graph-sdk/check.py --base "https://localhost:$http_port" --ca "$work/data/tls/ca.crt" \
  --token "$token" --uns-id "$uns" || status=$?
[ "$status" = 0 ] || { echo "graph-sdk: FAILED"; tail -20 "$work/server.log"; }
exit "$status"
