#!/usr/bin/env bash
# Writes a data folder with the notifyd and notifyctl at hand, for the upgrade
# test (Tests/NotifyEndToEndTests/UpgradeTests.swift): users, connections,
# tokens, subscriptions, a blocked caller, and Notify and SendNotification
# calls with idempotency keys in every content shape the contracts allow. Next
# to the database it records what that release answered, so that a later
# release can be held to it:
#   tokens.env        the bearer tokens (test data only)
#   calls.jsonl       one line per call: route, headers, body, status, answer
#   feeds/USER.jsonl  `notifyctl feed` of each user
#   feeds/USER.sse    the gateway's /feed/events backlog of each user
#
# usage: scripts/make-upgrade-fixture.sh OUT_DIR [BIN_DIR]
# BIN_DIR holds notifyd and notifyctl (default .build/debug). OUT_DIR must not exist.
set -euo pipefail

out=${1:?usage: make-upgrade-fixture.sh OUT_DIR [BIN_DIR]}
bin=${2:-.build/debug}
[ ! -e "$out" ] || { echo "$out exists" >&2; exit 1; }
mkdir -p "$out/data" "$out/feeds"
out=$(cd "$out" && pwd)
data="$out/data"
notifyd="$bin/notifyd"
notifyctl="$bin/notifyctl"

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
rpc_port=$(free_port)
http_port=$(free_port)

admin() { "$notifyd" admin "$@" --data-dir "$data"; }

# The directory, written offline (safe while the server runs; done before it starts).
admin user add --id 1 --name "Ada Admin" >/dev/null
admin user add --id 2 --name "Zoë Ünïcödé 🚀" >/dev/null
admin user add --id 3 --name "Ravi" >/dev/null
admin user add --id 4 >/dev/null
admin user add --id 5 --name "Follower" >/dev/null
admin connection add --user 2 --to 3 --kind friend >/dev/null
admin connection add --user 2 --to 4 --kind friend >/dev/null
admin connection add --user 5 --to 2 --kind follow >/dev/null
admin block --user 99 >/dev/null
admin block --app "blocked.example.com" >/dev/null
admin_token=$(admin token create --user 1 --role admin --role user --days 3650)
app_token=$(admin token create --app graphnotifications.sample.windows.com --days 3650)
other_app_token=$(admin token create --app fabrikam.example.com --days 3650)
user_token=$(admin token create --user 3 --days 3650)
sub_windows=$(admin subscription create --user 3 --app graphnotifications.sample.windows.com --platform windows --device "device-α")
sub_ios=$(admin subscription create --user 4 --app fabrikam.example.com --platform ios)
{
    echo "ADMIN_TOKEN=$admin_token"
    echo "APP_TOKEN=$app_token"
    echo "OTHER_APP_TOKEN=$other_app_token"
    echo "USER_TOKEN=$user_token"
    echo "SUB_WINDOWS=$sub_windows"
    echo "SUB_IOS=$sub_ios"
} >"$out/tokens.env"

"$notifyd" serve --data-dir "$data" --rpc-port "$rpc_port" --http-port "$http_port" --log-level warning \
    >"$out/notifyd.log" 2>&1 &
server=$!
trap 'kill $server 2>/dev/null || true' EXIT
for _ in $(seq 1 100); do
    curl -fsS "http://127.0.0.1:$http_port/readyz" >/dev/null 2>&1 && break
    sleep 0.1
done

# One gateway call: KEY ROUTE TOKEN UNS_ID CONTENT_TYPE BODY. Appends a line to calls.jsonl.
call() {
    local key=$1 route=$2 token=$3 uns=$4 type=$5 body=$6
    local headers=(-H "Authorization: Bearer $token" -H "Content-Type: $type" -H "Idempotency-Key: $key")
    [ -z "$uns" ] || headers+=(-H "X-UNS-ID: $uns")
    local answer status
    answer=$(curl -sS -o - -w '\n%{http_code}' "${headers[@]}" --data-binary "$body" "http://127.0.0.1:$http_port$route")
    status=${answer##*$'\n'}
    answer=${answer%$'\n'*}
    jq -cn --arg key "$key" --arg route "$route" --arg token "$token" --arg uns "$uns" --arg type "$type" \
        --arg body "$body" --argjson status "$status" --arg answer "$answer" \
        '{key:$key,route:$route,token:$token,uns:$uns,contentType:$type,body:$body,status:$status,answer:$answer}' \
        >>"$out/calls.jsonl"
    [ "$status" -lt 300 ] || { echo "call $key answered $status: $answer" >&2; exit 1; }
}

notify=/api/v2/notification/notify/
graph=/v1.0/me/notifications/
json=application/json
form=application/x-www-form-urlencoded

# Notify (SelfCommunity): each content shape.
call n-minimal $notify "$admin_token" "" $json '{"type":"wishlist","title":"a","description":"b","user":2}'
call n-nulls $notify "$admin_token" "" $json '{"type":"wishlist","title":null,"description":null,"user":3}'
call n-unicode $notify "$admin_token" "" $json \
    '{"type":"comment","title":"Zoë said “hi” 👋 — ok?","description":"line1\nline2\ttab \\ back \"quoted\" \u00e9 \ud83d\ude00","user":2,"recipients_type":"user"}'
call n-embed $notify "$admin_token" "" $json \
    '{"type":"contribution","title":"t","description":"d","user":2,"embed":{"embed_type":"post","embed_id":"42","url":"https://example.com/p/42?a=1&b=%20"}}'
call n-metadata $notify "$admin_token" "" $json \
    '{"type":"contribution","title":null,"description":null,"user":2,"embed":{"embed_type":"event","embed_id":"e-7","metadata":{"n":1,"f":-2.5e-3,"big":12345678901234,"t":true,"z":null,"s":"ü/😀","a":[1,"two",[3],{"k":"v"}],"o":{"deep":{"deeper":{"x":[{}]}}}}}}'
call n-metadata-string $notify "$admin_token" "" $json \
    '{"type":"contribution","title":"m","description":null,"user":3,"embed":{"embed_type":"event","embed_id":"e-8","metadata":"{\"k\": [1, 2.0, \"x\"], \"e\": {}}"}}'
call n-connections $notify "$admin_token" "" $json \
    '{"type":"follow","title":"to friends","description":"all of them","user":2,"recipients_type":"connections"}'
call n-form $notify "$admin_token" "" $form \
    'type=mention&title=form+%C3%A9t%C3%A9&description=&user=3&embed=%7B%22embed_type%22%3A%22post%22%2C%22embed_id%22%3A%221%22%7D'

# SendNotification (Graph): raw, visual, both, every platform, priorities, expirations.
call g-seed $graph "$app_token" "$sub_windows" $json '{
    "targetHostName": "graphnotifications.sample.windows.com",
    "appNotificationId": "testDirectToastNotification",
    "payload": {"visualContent": {"title": "Hello World!", "body": "Notifications are Great!"}},
    "targetPolicy": {"platformTypes": ["windows", "ios", "android"]},
    "priority": "High", "groupName": "TestGroup", "displayTimeToLive": "60"}'
call g-raw $graph "$app_token" "$sub_windows" $json \
    '{"payload":{"rawContent":"{\"raw\":true,\"ü\":\"😀\"}"},"priority":"low","targetPolicy":{"platformTypes":["WebPush"]}}'
call g-both $graph "$app_token" "$sub_windows" $json \
    '{"payload":{"rawContent":"raw and visual","visualContent":{"title":"Ünïcode title 🚀"}},"targetPolicy":{"platformTypes":["android","ANDROID","windows"]},"displayTimeToLive":0}'
exp7=$(date -u -d '+20 days' +%Y-%m-%dT%H:%M:%S).1234567Z
call g-exp7 $graph "$app_token" "$sub_windows" $json \
    "{\"payload\":{\"visualContent\":{\"title\":\"seven digits\",\"body\":\"b\"}},\"expirationDateTime\":\"$exp7\",\"priority\":\"None\"}"
exp3=$(date -u -d '+21 days' +%Y-%m-%dT%H:%M:%S).208Z
call g-exp3 $graph "$app_token" "$sub_windows" $json \
    "{\"payload\":{\"rawContent\":\"three digits\"},\"expirationDateTime\":\"$exp3\"}"
expoff=$(date -u -d '+22 days' +%Y-%m-%dT%H:%M:%S).5+02:00
call g-offset $graph "$app_token" "$sub_windows" $json \
    "{\"payload\":{\"rawContent\":\"an offset\"},\"expirationDateTime\":\"$expoff\"}"
exp9=$(date -u -d '+23 days' +%Y-%m-%dT%H:%M:%S).9999999Z
call g-exp-nines $graph "$app_token" "$sub_windows" $json \
    "{\"payload\":{\"rawContent\":\"nines\"},\"expirationDateTime\":\"$exp9\"}"
call g-ios $graph "$other_app_token" "$sub_ios" $json \
    '{"targetHostName":"fabrikam.example.com","payload":{"visualContent":{"title":"iOS","body":"with a fallback"}},"targetPolicy":{"platformTypes":["ios"]},"fallbackPolicy":{"platformTypes":["windows"],"nested":{"a":[1,2,{"b":null}]}},"groupName":"G","displayTimeToLive":172800}'

# A user's own feed over RPC and the gateway's event stream, as this release prints them.
for user in 1 2 3 4 5; do
    "$notifyctl" feed --host 127.0.0.1 --port "$rpc_port" --ca "$data/tls/ca.crt" --token "$admin_token" \
        --user "$user" --limit 1000 >"$out/feeds/$user.jsonl"
    curl -sS -N --max-time 2 -H "Authorization: Bearer $admin_token" \
        "http://127.0.0.1:$http_port/feed/events?user=$user&limit=1000" >"$out/feeds/$user.sse" || true
done

kill -TERM $server
wait $server || true
trap - EXIT
# A clean shutdown checkpoints the WAL into the database file; keep only what a data folder needs.
rm -rf "$data/tls"
ls -la "$data" >&2
