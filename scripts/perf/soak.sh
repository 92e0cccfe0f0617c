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

swift build -c release --product notifyd >/dev/null
swift build -c release --product notify-load >/dev/null
bin=$(swift build -c release --show-bin-path)

work=$(mktemp -d)
server_pid=""
cleanup() {
  [ -n "$server_pid" ] && kill -TERM "$server_pid" 2>/dev/null || true
  sleep 1
  [ -n "$server_pid" ] && kill -9 "$server_pid" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
"$bin/notifyd" serve --data-dir "$work/data" --rpc-port "$port" --no-gateway --log-level warning > "$work/server.log" 2>&1 &
server_pid=$!
for _ in $(seq 1 100); do
  python3 -c "import socket; socket.create_connection(('127.0.0.1', $port), 1)" 2>/dev/null && break
  sleep 0.1
done
token=$("$bin/notifyd" admin token create --data-dir "$work/data" --user 1 --role admin)
"$bin/notifyd" admin user add --data-dir "$work/data" --id 2 >/dev/null
uns=$("$bin/notifyd" admin subscription create --data-dir "$work/data" --user 2 --app soak.example.com --platform windows)

"$bin/notify-load" --port "$port" --ca "$work/data/tls/ca.crt" --token "$token" --user 1 --uns-id "$uns" \
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
