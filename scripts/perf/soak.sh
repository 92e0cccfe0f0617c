#!/usr/bin/env bash
# Soak: a fresh notifyd under steady open-loop load for SOAK_SECONDS (default
# 300), its RSS sampled every 10 s. Prints the samples and whether RSS stayed
# flat (last minute against the first minute after warm-up). Loopback only;
# it stops everything by itself.
#
#   SOAK_SECONDS  measured seconds (default 300)
#   SOAK_RATE     calls per second offered (default 2000)
#   SOAK_MIX      notify-load mix (default notify-user=80,send=20)
set -euo pipefail
cd "$(dirname "$0")/../.."

seconds=${SOAK_SECONDS:-300}
rate=${SOAK_RATE:-2000}
mix=${SOAK_MIX:-notify-user=80,send=20}

. scripts/perf/fresh-server.sh
fresh_server soak --no-gateway

"$bin/notify-load" --port "$rpc_port" --ca "$work/data/tls/ca.crt" --token "$token" --user 1 --uns-id "$uns" \
  --mix "$mix" --rate "$rate" --connections 16 --duration "$seconds" --warmup 10 --json > "$work/load.json" &
load_pid=$!

echo "seconds,rss_kib"
samples=()
elapsed=0
while kill -0 "$load_pid" 2>/dev/null; do
  rss=$(awk '/VmRSS/ {print $2}' "/proc/$server_pid/status")
  echo "$elapsed,$rss"
  samples+=("$rss")
  sleep 10
  elapsed=$((elapsed + 10))
done
wait "$load_pid" || true

python3 - "$work/load.json" "${samples[@]}" <<'PY'
import json, sys
summary = json.load(open(sys.argv[1]))
rss = [int(x) for x in sys.argv[2:]]
# Skip the warm-up sample(s); compare the first and last minute (6 samples each).
body = rss[2:] if len(rss) > 8 else rss
first, last = body[:6], body[-6:]
a, b = sum(first) / len(first), sum(last) / len(last)
print(f"load: {summary.get('throughput_per_second', 0):.0f} calls/s, errors {summary.get('errors', 0)}, "
      f"p99 {summary.get('latency_microseconds', {}).get('p99', 0) / 1000:.2f} ms")
print(f"statuses: {summary.get('statuses', {})}")
print(f"RSS first minute {a / 1024:.1f} MiB, last minute {b / 1024:.1f} MiB, max {max(rss) / 1024:.1f} MiB "
      f"({(b - a) / a * 100:+.1f} %)")
PY
