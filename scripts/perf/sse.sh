#!/usr/bin/env bash
# The feed as server-sent events (GET /feed/events), measured: a fresh notifyd,
# user 1's feed filled with SSE_BACKLOG notifications over RPC, then
#   backlog: one reader reads the whole feed from the start to its `live` event;
#   live:    SSE_READERS readers hold the stream open while notify-load appends to
#            the same feed for SSE_SECONDS; each must receive every entry, in order.
# Prints entries per second and whether any reader missed or repeated one.
# Loopback only; it stops everything by itself.
#
#   SSE_BACKLOG  notifications in the feed before the backlog read [200000]
#   SSE_READERS  live readers [4]
#   SSE_SECONDS  seconds of appends while they read [10]
set -euo pipefail
cd "$(dirname "$0")/../.."

backlog=${SSE_BACKLOG:-200000}
readers=${SSE_READERS:-4}
seconds=${SSE_SECONDS:-10}

. scripts/perf/fresh-server.sh
fresh_server sse

load() {
  "$bin/notify-load" --target rpc --port "$rpc_port" --ca "$work/data/tls/ca.crt" --rpc-client raw \
    --token "$token" --user 1 --mix notify-user --warmup 0 --json --max-error-rate 0 "$@"
}
url="http://127.0.0.1:$http_port/feed/events?user=1&limit=1000"

load --connections 64 --in-flight 16 --count "$backlog" > /dev/null
# One reader from the start, reading the stream in 64 KiB chunks until its `live` event (the
# stream itself stays open: curl ends on the closed pipe), timed from the request to that event.
{ curl -sN "$url" -H "Authorization: Bearer $token" || true; } | python3 -c '
import os, re, sys, time
started, backlog = float(sys.argv[1]), int(sys.argv[2])
tail, entries, last = b"", 0, 0
while True:
    chunk = os.read(0, 65536)
    if not chunk: break
    data = tail + chunk
    cut = data.rfind(b"\n\n") + 2  # whole events only; the rest waits for the next chunk
    events, tail = data[:cut], data[cut:]
    live = events.find(b"event: live\n")
    if live >= 0: events = events[:live]
    entries += events.count(b"event: notification\n")
    ids = re.findall(rb"^id: (\d+)$", events, re.M)
    if ids: last = int(ids[-1])
    if live >= 0: break
seconds = time.time() - started
print("backlog: %d entries (last sequence %d) in %.2f s: %.0f entries/s" % (entries, last, seconds, entries / seconds))
sys.exit(0 if entries == last == backlog else 1)
' "$(date +%s.%N)" "$backlog"

# Live readers from the end of the backlog; grep keeps each entry's id line.
pids=()
for r in $(seq 1 "$readers"); do
  curl -sN "$url&after=$backlog" -H "Authorization: Bearer $token" \
    | grep --line-buffered -B1 '^event: notification' > "$work/reader-$r" &
  pids+=($!)
done
sleep 1
load --connections 16 --in-flight 16 --duration "$seconds" > "$work/live.json"
appended=$(python3 -c 'import json,sys; s=json.load(open(sys.argv[1])); print(s["statuses"].get("OK", 0))' "$work/live.json")
sleep 2
pkill -P $$ curl 2>/dev/null || true
wait "${pids[@]}" 2>/dev/null || true
python3 - "$work" "$readers" "$backlog" "$appended" "$seconds" <<'PY'
import sys
work, readers, backlog, appended, seconds = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
ok = True
for r in range(1, readers + 1):
    seqs = [int(line[4:]) for line in open(f"{work}/reader-{r}") if line.startswith("id: ")]
    expected = list(range(backlog + 1, backlog + appended + 1))
    whole = seqs == expected
    ok &= whole
    print("live reader %d: %d of %d entries%s" % (r, len(seqs), appended, ", in order, none missed or repeated" if whole else ": MISMATCH"))
print("live: %d entries appended in %d s (%.0f/s), delivered to %d readers: %.0f entries/s in all" % (
    appended, seconds, appended / seconds, readers, appended * readers / seconds))
sys.exit(0 if ok else 1)
PY
