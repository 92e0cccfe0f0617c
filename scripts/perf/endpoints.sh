#!/usr/bin/env bash
# From commit to arrival on many live endpoints (issue 27): a fresh notifyd, users
# 1000 to 1000 + ENDPOINTS_USERS - 1 (written straight into the database with sqlite3),
# each holding one FeedService/Watch on a TLS connection of its own, while notify-load
# sends Notify to them in turn (open loop, ENDPOINTS_RATE/s). Each notification is
# timed from its `created_date_time` (set by the server when it stores it; the same
# clock on loopback) to its arrival at the watcher: p50, p99, p99.9. Then each feed
# is listed and checked against what its watcher received (no kept entry skipped).
# ENDPOINTS_RUNS runs, one after another, each with the host's load (uptime).
# Loopback only; it stops everything by itself (about ENDPOINTS_RUNS × (ENDPOINTS_SECONDS
# + 10) s after the build).
#
# Usage: scripts/perf/endpoints.sh [notify-load options...]
#   ENDPOINTS_USERS    users, one live Watch each [1000]
#   ENDPOINTS_RATE     Notify calls per second, spread over the users [2000]
#   ENDPOINTS_SECONDS  measured seconds per run, after a 3 s warm-up [8]
#   ENDPOINTS_RUNS     runs [3]
# The options given are added to notify-load's (e.g. --mix notify-user=9,mark-read=1).
set -euo pipefail
cd "$(dirname "$0")/../.."
export PATH="/opt/swift/usr/bin:$PATH"

users=${ENDPOINTS_USERS:-1000}
rate=${ENDPOINTS_RATE:-2000}
seconds=${ENDPOINTS_SECONDS:-8}
runs=${ENDPOINTS_RUNS:-3}

. scripts/perf/fresh-server.sh
fresh_server endpoints --no-gateway

first=1000
last=$(( first + users - 1 ))
sqlite3 "$work/data/notify.sqlite" <<SQL
.timeout 30000
WITH RECURSIVE n(i) AS (SELECT $first UNION ALL SELECT i + 1 FROM n WHERE i < $last)
INSERT INTO users (id) SELECT i FROM n;
SQL
echo "endpoints: $users users ($first-$last), one live Watch each; Notify at $rate/s to them in turn, open loop, 16 connections"

for run in $(seq 1 "$runs"); do
  load=$(cut -d' ' -f1-3 /proc/loadavg)
  "$bin/notify-load" --target rpc --port "$rpc_port" --ca "$work/data/tls/ca.crt" --connections 16 \
    --token "$token" --user "$first" --users "$users" --watchers "$users" --mix notify-user --rate "$rate" \
    --duration "$seconds" --warmup 3 --timeout 30 --json "$@" > "$work/run-$run.json"
  python3 - "$work/run-$run.json" "$run" "$load" <<'PY'
import json, sys
s = json.load(open(sys.argv[1]))
l, d = s["latency_microseconds"], s["delivery"]
dl = d["latency_microseconds"]
print("  run %s: %.0f calls/s (p99 %.2f ms, errors %d); delivered %d entries to %d watchers, %d gaps: "
      "commit to arrival p50 %.2f  p99 %.2f  p99.9 %.2f  max %.2f ms%s  (load %s)" % (
    sys.argv[2], s["throughput_per_second"], l["p99"] / 1000, s["errors"], d["entries"], d["watchers"], d["gaps"],
    dl["p50"] / 1000, dl["p99"] / 1000, dl["p999"] / 1000, dl["max"] / 1000,
    "; a watcher failed: " + d["failure"] if d.get("failure") else "", sys.argv[3]))
PY
done
