#!/usr/bin/env bash
# Property-based check of the REST gateway against docs/openapi.yaml with
# schemathesis: starts the built notifyd on a temporary data folder and free
# ports, creates an admin token, users and a subscription with `notifyd
# admin`, runs a bounded number of generated requests (valid and invalid)
# against every route, and fails on any 5xx or any answer that breaks the
# spec. Prints one result line; always stops the server.
#
# Usage: scripts/gateway-check.sh [BIN_DIR] [MAX_EXAMPLES]
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="/opt/swift/usr/bin:$PATH"
bin="${1:-$(swift build --show-bin-path)}"
examples="${2:-${GATEWAY_CHECK_EXAMPLES:-25}}"

# The module form works even when pip's script folder is not on PATH.
python3 -c 'import schemathesis' 2>/dev/null || { echo "gateway-check: schemathesis missing (scripts/install-deps.sh --test)"; exit 1; }

data=$(mktemp -d /tmp/notify-gateway-check-XXXXXX)
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }
rpc_port=$(free_port)
http_port=$(free_port)
pid=""
cleanup() {
  if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
    kill -KILL "$pid" 2>/dev/null || true
  fi
  rm -rf "$data"
}
trap cleanup EXIT

"$bin/notifyd" serve --data-dir "$data" --rpc-port "$rpc_port" --http-port "$http_port" --log-level warning \
  --rate-limit 0 --max-feed-entries 0 >"$data/server.log" 2>&1 &
pid=$!
for _ in $(seq 1 100); do
  curl -sf "http://127.0.0.1:$http_port/readyz" >/dev/null 2>&1 && break
  kill -0 "$pid" 2>/dev/null || { echo "gateway-check: notifyd exited"; cat "$data/server.log"; exit 1; }
  sleep 0.1
done

"$bin/notifyd" admin user add --data-dir "$data" --id 1 --name alice >/dev/null
"$bin/notifyd" admin user add --data-dir "$data" --id 2 --name bob >/dev/null
token=$("$bin/notifyd" admin token create --data-dir "$data" --user 1 --role admin)
user_token=$("$bin/notifyd" admin token create --data-dir "$data" --user 2 --role user)
"$bin/notifyd" admin connection add --data-dir "$data" --user 1 --to 2 --kind friend
uns=$("$bin/notifyd" admin subscription create --data-dir "$data" --user 2 \
  --app graphnotifications.sample.windows.com --platform windows)

status=0
spec="$PWD/docs/openapi.yaml"
# Run inside the temporary folder: schemathesis keeps its example database in the working directory.
# One worker: with two, hypothesis's threads met CPython 3.11's "AST constructor recursion depth
# mismatch" error in two of four runs (a runtime error of the tool, every generated case passing).
# The event streams (/feed/events, /me/notifications/stream under every prefix) are left out: their
# answer does not end while it is read, which a request/response checker can only time out on or
# misread (FeedEventsTests and NotificationStreamTests cover them instead).
(cd "$data" && timeout 600 python3 -m schemathesis.cli run "$spec" --url "http://127.0.0.1:$http_port" \
  -H "Authorization: Bearer $token" -H "X-UNS-ID: $uns" --exclude-path-regex '^(/feed/events|(/beta|/v1\.0)?/me/notifications/stream/?)$' \
  --max-examples "$examples" --seed 1 --workers 1 --request-timeout 10 \
  --checks not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance,response_headers_conformance \
  --suppress-health-check all --no-color >"$data/schemathesis.log" 2>&1) || status=$?
# The feed views again as user 2 (the admin token has no /me feed, so the pass above sees only their
# 403s): lists, entries, read and unseen count, with bob's own token and subscription.
if [ "$status" = 0 ]; then
  (cd "$data" && timeout 600 python3 -m schemathesis.cli run "$spec" --url "http://127.0.0.1:$http_port" \
    -H "Authorization: Bearer $user_token" -H "X-UNS-ID: $uns" \
    --include-path-regex '^((/beta|/v1\.0)?/me/notifications(/\{id\})?/?|/api/v2/notification(/read|/unseen/count)?/?)$' \
    --max-examples "$examples" --seed 1 --workers 1 --request-timeout 10 \
    --checks not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance,response_headers_conformance \
    --suppress-health-check all --no-color >"$data/schemathesis-user.log" 2>&1) || { status=$?; cat "$data/schemathesis-user.log" >>"$data/schemathesis.log"; }
fi

if ! kill -0 "$pid" 2>/dev/null; then
  echo "gateway-check: notifyd died during the run"; cat "$data/server.log"; status=1
fi
if [ "$status" = 0 ]; then
  echo "gateway-check: passed ($examples examples per operation, $(grep -cE '^  /|^  "/' docs/openapi.yaml || true) paths less the event streams, the feed views again as a user; no 5xx, every answer matches docs/openapi.yaml)"
else
  tail -60 "$data/schemathesis.log"
  echo "gateway-check: FAILED (schemathesis exit $status)"
fi
exit "$status"
