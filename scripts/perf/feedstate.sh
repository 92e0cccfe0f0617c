#!/usr/bin/env bash
# The feed's state calls over RPC (issue 27), side by side on one fresh notifyd:
# closed-loop runs (16 connections × 16 in flight, NotifyClient) of
#   notify:         Notify to user 1 (the reference; his feed grows by every call);
#   unseen-count:   UnseenCount of user 1's feed (a counter read, no write);
#   mark-read:      MarkRead up to the head of users 2-11's feeds, in turn, with nothing
#                   to read (answers "nothing changed": a write-path call that appends nothing);
#   notify+read:    Notify and MarkRead, one each in turn, to users 2-11 in turn: each
#                   MarkRead reads what came since the last one and appends one "read" event;
# FEEDSTATE_ROUNDS rounds of the four in turn, each run with the host's load (uptime),
# then the medians. Loopback only; it stops everything by itself (about FEEDSTATE_ROUNDS
# × 4 × (FEEDSTATE_SECONDS + 1) s after the build).
#
# Usage: scripts/perf/feedstate.sh [notify-load options...]
#   FEEDSTATE_SECONDS  measured seconds per run, after a 1 s warm-up [6]
#   FEEDSTATE_ROUNDS   rounds [2]
set -euo pipefail
cd "$(dirname "$0")/../.."
export PATH="/opt/swift/usr/bin:$PATH"

seconds=${FEEDSTATE_SECONDS:-6}
rounds=${FEEDSTATE_ROUNDS:-2}

. scripts/perf/fresh-server.sh
fresh_server feedstate --no-gateway

run() {
  local name=$1 mix=$2; shift 2
  local load
  load=$(cut -d' ' -f1-3 /proc/loadavg)
  "$bin/notify-load" --target rpc --port "$rpc_port" --ca "$work/data/tls/ca.crt" --connections 16 --in-flight 16 \
    --token "$token" --user 1 --mix "$mix" --duration "$seconds" --warmup 1 --json "$@" > "$work/$name.json"
  python3 - "$work/$name.json" "$name" "$load" <<'PY'
import json, sys
s = json.load(open(sys.argv[1]))
l = s["latency_microseconds"]
ops = ", ".join("%s %.0f/s" % (k, v["requests"] / s["measured_seconds"]) for k, v in sorted(s["operations"].items()))
print("  %-16s %8.0f calls/s (%s)  p50 %.2f  p99 %.2f ms  errors %d  (load %s)" % (
    sys.argv[2], s["throughput_per_second"], ops, l["p50"] / 1000, l["p99"] / 1000, s["errors"], sys.argv[3]))
PY
}

for round in $(seq 1 "$rounds"); do
  run "notify-$round" notify-user "$@"
  run "unseen-count-$round" unseen-count "$@"
  run "mark-read-$round" mark-read --user 2 --users 10 "$@"
  run "notify+read-$round" notify-user=1,mark-read=1 --user 2 --users 10 "$@"
done
python3 - "$work" "$rounds" <<'PY'
import json, statistics, sys
work, rounds = sys.argv[1], int(sys.argv[2])
for name in ("notify", "unseen-count", "mark-read", "notify+read"):
    rates = [json.load(open("%s/%s-%d.json" % (work, name, r)))["throughput_per_second"] for r in range(1, rounds + 1)]
    print("median %-14s %8.0f calls/s" % (name, statistics.median(rates)))
PY
