#!/usr/bin/env bash
# Notify to a user with many followers, measured (issue 27): a fresh notifyd with
# --follow-enabled, user 12 given FANOUT_FOLLOWERS followers (ids 100000 on, written
# straight into the database with sqlite3), then FANOUT_PAIRS alternating pairs of
# notify-load runs of other callers' Notify (open loop, FANOUT_RATE/s, user 1's feed):
#   without: the load alone;
#   with:    the same load while FANOUT_COUNT Notify calls of user 12 go to all his
#            followers, FANOUT_SPACING seconds apart from the start of the measured time.
# Prints, per run, the other callers' p50/p99/p99.9 and the host's load (uptime), and
# per fan-out the time from its call to its answer and to its arrival in the last
# follower's feed (the background fan-out writes feeds in id order: then every feed
# holds it); then the medians of p99 and p99.9 with / without.
# Loopback only; it stops everything by itself (about 2 × FANOUT_PAIRS × (FANOUT_SECONDS
# + 4) s after the build).
#
# Usage: scripts/perf/fanout.sh [serve options...]
#   FANOUT_FOLLOWERS  followers of user 12 [100000]
#   FANOUT_RATE       other callers' Notify per second [5000]
#   FANOUT_SECONDS    measured seconds per run, after a 2 s warm-up [8]
#   FANOUT_COUNT      fan-outs per "with" run [5]
#   FANOUT_SPACING    seconds between two fan-outs [1.6]
#   FANOUT_PAIRS      pairs of runs [3]
# The options given are added to `notifyd serve`'s (PROFILE_SERVER names another notifyd).
set -euo pipefail
cd "$(dirname "$0")/../.."
export PATH="/opt/swift/usr/bin:$PATH"

followers=${FANOUT_FOLLOWERS:-100000}
rate=${FANOUT_RATE:-5000}
seconds=${FANOUT_SECONDS:-8}
count=${FANOUT_COUNT:-5}
spacing=${FANOUT_SPACING:-1.6}
pairs=${FANOUT_PAIRS:-3}

. scripts/perf/fresh-server.sh
fresh_server fanout --follow-enabled "$@"

admin user add --id 12 > /dev/null
first=100000
last=$(( first + followers - 1 ))
sqlite3 "$work/data/notify.sqlite" <<SQL
.timeout 30000
BEGIN;
WITH RECURSIVE n(i) AS (SELECT $first UNION ALL SELECT i + 1 FROM n WHERE i < $last)
INSERT INTO users (id) SELECT i FROM n;
INSERT INTO connections (user, kind, "to") SELECT id, 'follow', 12 FROM users WHERE id BETWEEN $first AND $last;
COMMIT;
SQL
echo "fanout: user 12 has $followers followers ($first-$last); other callers' Notify at $rate/s, open loop, 16 connections"

run() {
  local name=$1; shift
  local load
  load=$(cut -d' ' -f1-3 /proc/loadavg)
  "$bin/notify-load" --target rpc --port "$rpc_port" --ca "$work/data/tls/ca.crt" --connections 16 \
    --token "$token" --user 1 --mix notify-user --rate "$rate" --duration "$seconds" --warmup 2 --json "$@" \
    > "$work/$name.json"
  python3 - "$work/$name.json" "$name" "$load" <<'PY'
import json, sys
s = json.load(open(sys.argv[1]))
l = s["latency_microseconds"]
line = "  %-10s %6.0f calls/s  p50 %6.2f  p99 %6.2f  p99.9 %6.2f  max %7.2f ms  errors %d  (load %s)" % (
    sys.argv[2], s["throughput_per_second"], l["p50"] / 1000, l["p99"] / 1000, l["p999"] / 1000, l["max"] / 1000,
    s["errors"], sys.argv[3])
print(line)
f = s.get("fan_outs")
if f:
    for t in f["timings"]:
        print("             fan-out to %d: answered in %.1f ms, in every feed after %s" % (
            t["recipients"], t["answered_milliseconds"],
            "%.0f ms" % t["last_feed_milliseconds"] if "last_feed_milliseconds" in t else "(not seen)"))
    if f.get("failure"): print("             fan-out failed: " + f["failure"])
PY
}

for pair in $(seq 1 "$pairs"); do
  run "without-$pair"
  run "with-$pair" --fan-outs "$count" --fan-out-user 12 --fan-out-spacing "$spacing" --fan-out-last-recipient "$last"
done
python3 - "$work" "$pairs" <<'PY'
import json, statistics, sys
work, pairs = sys.argv[1], int(sys.argv[2])
def runs(kind): return [json.load(open("%s/%s-%d.json" % (work, kind, i))) for i in range(1, pairs + 1)]
for key, name in (("p99", "p99"), ("p999", "p99.9")):
    without = statistics.median(r["latency_microseconds"][key] / 1000 for r in runs("without"))
    within = statistics.median(r["latency_microseconds"][key] / 1000 for r in runs("with"))
    print("median %-6s without %.2f ms, with %.2f ms: %.2fx" % (name, without, within, within / without))
every = [t["last_feed_milliseconds"] for r in runs("with") for t in r["fan_outs"]["timings"] if "last_feed_milliseconds" in t]
if every:
    print("every feed holds a fan-out after: median %.0f ms, max %.0f ms (%d fan-outs)" % (
        statistics.median(every), max(every), len(every)))
PY
