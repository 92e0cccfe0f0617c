#!/usr/bin/env bash
# The standard load scenario, from nothing: release build, a fresh notifyd on
# a temporary data folder and free loopback ports, bootstrap with
# `notifyd admin`, short notify-load runs against the RPC path (and the REST
# gateway when this notifyd has one), a summary table, then everything stops.
#
# Usage: scripts/loadtest.sh
#   LOADTEST_SECONDS  measured seconds per scenario (default 10)
#   LOADTEST_WARMUP   warm-up seconds per scenario, not counted (default 2)
# With the defaults the runs take about 2 minutes (RPC only) or 3.5 minutes
# (with the gateway and wrk), after the build. Loopback only. The load generator and the
# server share the machine's cores: read the client CPU column.
set -euo pipefail
cd "$(dirname "$0")/.."

seconds=${LOADTEST_SECONDS:-10}
warmup=${LOADTEST_WARMUP:-2}

scripts/install-deps.sh --load
. scripts/perf/fresh-server.sh
fresh_server loadtest

clk_tck=$(getconf CLK_TCK)
server_cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$server_pid/stat"; }

status=0
scenarios=()
# scenario NAME COMMAND...: one scenario. COMMAND prints notify-load's JSON summary, kept in
# $work/NAME.json; the server's CPU over it is kept beside it for the table.
scenario() {
  local name=$1; shift
  local before after rc=0
  before=$(server_cpu_ticks)
  "$@" > "$work/$name.json" || rc=$?
  after=$(server_cpu_ticks)
  echo "$(( after - before ))" > "$work/$name.server-ticks"
  if [ "$rc" -ne 0 ]; then
    echo "loadtest: $name exited $rc" >&2
    status=1
    [ -s "$work/$name.json" ] || return 0
  fi
  scenarios+=("$name")
  python3 -c 'import json,sys; s=json.load(open(sys.argv[1])); print("  %-26s %9.0f calls/s  p99 %.2f ms  errors %d" % (sys.argv[2], s["throughput_per_second"], s["latency_microseconds"]["p99"]/1000, s["errors"]))' \
    "$work/$name.json" "$name"
}
notify_load() {
  "$bin/notify-load" --host 127.0.0.1 --token "$token" --user 1 --uns-id "$uns" \
    --duration "$seconds" --warmup "$warmup" --json --max-error-rate 0.01 "$@"
}
# run NAME notify-load-arguments...
run() { local name=$1; shift; scenario "$name" notify_load "$@"; }
# wrk_json PATH UNS_ID BODY: wrk with scripts/perf/wrk/post.lua, 256 connections on 2 threads; its
# summary printed with notify-load's JSON keys, so that the table reads both.
wrk_json() {
  WRK_PATH="$1" WRK_UNS_ID="$2" WRK_BODY="$3" WRK_TOKEN="$token" \
    python3 - "$http_port" "$seconds" "$warmup" <<'PY'
import json, os, re, resource, subprocess, sys
port, seconds, warmup = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
url = f"http://127.0.0.1:{port}"
lua = os.path.join("scripts", "perf", "wrk", "post.lua")
if warmup > 0:
    subprocess.run(["wrk", "-t2", "-c256", f"-d{warmup}s", "-s", lua, url], check=True, capture_output=True)
before = resource.getrusage(resource.RUSAGE_CHILDREN)
run = subprocess.run(["wrk", "-t2", "-c256", f"-d{seconds}s", "-s", lua, url], check=True, capture_output=True, text=True)
after = resource.getrusage(resource.RUSAGE_CHILDREN)
line = next(l for l in run.stdout.splitlines() if l.startswith("wrk-summary "))
v = {k: float(x) for k, x in re.findall(r"(\w+)=([0-9.]+)", line)}
errors = int(v["non2xx"] + v["socket_errors"])
statuses = {"HTTP 2xx": int(v["requests"]) - int(v["non2xx"])}
if v["non2xx"]: statuses["HTTP non-2xx"] = int(v["non2xx"])
if v["socket_errors"]: statuses["socket errors"] = int(v["socket_errors"])
json.dump({
    "throughput_per_second": v["requests"] / v["seconds"], "wall_seconds": v["seconds"], "errors": errors,
    "statuses": statuses,
    "latency_microseconds": {"p50": v["p50"], "p90": v["p90"], "p99": v["p99"], "p999": v["p999"], "max": v["max"]},
    "client_cpu_seconds": (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime),
}, sys.stdout)
sys.exit(1 if errors > 0.01 * v["requests"] else 0)
PY
}
# run_wrk NAME PATH UNS_ID BODY
run_wrk() { local name=$1; shift; scenario "$name" wrk_json "$@"; }
throughput() {
  python3 -c 'import json,sys; print(max(1, int(json.load(open(sys.argv[1]))["throughput_per_second"])))' "$work/$1.json"
}

rpc=(--target rpc --port "$rpc_port" --ca "$work/data/tls/ca.crt")
echo "loadtest: ${seconds} s per scenario after ${warmup} s warm-up; notifyd and notify-load share this machine's $(nproc) cores"
run rpc-health-closed-16x16 "${rpc[@]}" --mix health --connections 16 --in-flight 16
# The same with frames written straight on the connections: what NotifyClient itself costs.
run rpc-health-closed-16x16-raw "${rpc[@]}" --rpc-client raw --mix health --connections 16 --in-flight 16
run rpc-notify-user-closed-16x16 "${rpc[@]}" --mix notify-user --connections 16 --in-flight 16
# Issue 6's target shape: 64 connections x 16 calls in flight, through NotifyClient and as raw frames.
run rpc-notify-user-closed-64x16 "${rpc[@]}" --mix notify-user --connections 64 --in-flight 16
run rpc-notify-user-closed-64x16-raw "${rpc[@]}" --rpc-client raw --mix notify-user --connections 64 --in-flight 16
run rpc-send-closed-16x16 "${rpc[@]}" --mix send --connections 16 --in-flight 16
# The feed as a stream: 4 devices watch the recipient's feed live during the load. User 12's feed
# starts empty, so the watchers go live at once; the delivery line below the table reads it.
"$bin/notifyd" admin user add --id 12 --data-dir "$work/data" > /dev/null
run rpc-notify-user-closed-16x16-4-watchers "${rpc[@]}" --mix notify-user --connections 16 --in-flight 16 --user 12 --watchers 4
# The gateway's connection shape on the RPC path: 256 connections, one call each (HTTP/1.1 clients
# do not pipeline), so the ratios below can also be read without the RPC path's multiplexing.
run rpc-notify-user-closed-256x1 "${rpc[@]}" --mix notify-user --connections 256 --in-flight 1
run rpc-send-closed-256x1 "${rpc[@]}" --mix send --connections 256 --in-flight 1
if [ -f "$work/rpc-notify-user-closed-16x16.json" ]; then
  half=$(( $(throughput rpc-notify-user-closed-16x16) / 2 ))
  run "rpc-notify-user-open-${half}" "${rpc[@]}" --mix notify-user --connections 16 --rate "$half"
fi
# Issue 6's latency target: half of the 64 x 16 rate, offered in open loop, as raw frames.
if [ -f "$work/rpc-notify-user-closed-64x16-raw.json" ]; then
  half=$(( $(throughput rpc-notify-user-closed-64x16-raw) / 2 ))
  run "rpc-notify-user-open-${half}-raw" "${rpc[@]}" --rpc-client raw --mix notify-user --connections 16 --rate "$half"
fi
http=(--target http --port "$http_port")
run http-notify-user-closed-16x1 "${http[@]}" --mix notify-user --connections 16 --in-flight 1
run http-send-closed-16x1 "${http[@]}" --mix send --connections 16 --in-flight 1
# As many calls in flight as the RPC rows' 16 x 16: the gateway against the RPC path, like for like.
run http-notify-user-closed-256x1 "${http[@]}" --mix notify-user --connections 256 --in-flight 1
run http-send-closed-256x1 "${http[@]}" --mix send --connections 256 --in-flight 1
if [ -f "$work/http-notify-user-closed-16x1.json" ]; then
  half=$(( $(throughput http-notify-user-closed-16x1) / 2 ))
  run "http-notify-user-open-${half}" "${http[@]}" --mix notify-user --connections 16 --rate "$half"
fi
# The same documented bodies posted by wrk, a load generator that is not ours.
run_wrk wrk-notify-user-256 /api/v2/notification/notify/ "" \
  '{"recipients_type":"user","type":"load","title":"Load test","description":null,"user":1}'
run_wrk wrk-send-256 /me/notifications/ "$uns" \
  '{"payload":{"visualContent":{"title":"Load test","body":"A notification"}},"priority":"High","groupName":"load","displayTimeToLive":"60"}'

echo
python3 - "$work" "$clk_tck" "${scenarios[@]}" <<'EOF'
import json, sys
work, clk_tck, names = sys.argv[1], int(sys.argv[2]), sys.argv[3:]
print("| scenario | calls/s | p50 ms | p90 ms | p99 ms | p99.9 ms | max ms | errors | server CPU | client CPU |")
print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
for name in names:
    s = json.load(open(f"{work}/{name}.json"))
    lat = s["latency_microseconds"]
    ticks = int(open(f"{work}/{name}.server-ticks").read())
    wall = s["wall_seconds"]
    server = ticks / clk_tck / wall * 100 if wall else 0
    client = s["client_cpu_seconds"] / wall * 100 if wall else 0
    errors = ", ".join(f"{k} {v}" for k, v in sorted(s["statuses"].items()) if not (k == "OK" or k.startswith("HTTP 2"))) or "0"
    print(f"| {name} | {s['throughput_per_second']:.0f} | {lat['p50']/1000:.2f} | {lat['p90']/1000:.2f} | "
          f"{lat['p99']/1000:.2f} | {lat['p999']/1000:.2f} | {lat['max']/1000:.2f} | {errors} | {server:.0f} % | {client:.0f} % |")
EOF
python3 - "$work" "${scenarios[@]}" <<'EOF'
import json, sys
work, names = sys.argv[1], set(sys.argv[2:])
def rate(name): return json.load(open(f"{work}/{name}.json"))["throughput_per_second"]
for shape, rpcs in (("256 calls in flight each", ("rpc-notify-user-closed-16x16", "rpc-send-closed-16x16")),
                    ("256 connections x 1 call each", ("rpc-notify-user-closed-256x1", "rpc-send-closed-256x1"))):
    for rpc, gateways in zip(rpcs, (("http-notify-user-closed-256x1", "wrk-notify-user-256"),
                                    ("http-send-closed-256x1", "wrk-send-256"))):
        for gateway in gateways:
            if rpc in names and gateway in names:
                print(f"gateway / RPC, {shape}: {gateway} / {rpc} = {rate(gateway) / rate(rpc) * 100:.0f} %")
EOF
python3 - "$work" "${scenarios[@]}" <<'EOF'
import json, sys
work, names = sys.argv[1], sys.argv[2:]
for name in names:
    d = json.load(open(f"{work}/{name}.json")).get("delivery")
    if not d: continue
    l = d["latency_microseconds"]
    print(f"delivery, {name}: {d['entries']} entries to {d['watchers']} watchers, {d['gaps']} gaps; from creation to arrival "
          f"p50 {l['p50']/1000:.2f}  p99 {l['p99']/1000:.2f}  max {l['max']/1000:.2f} ms" + (f"; a watcher failed: {d['failure']}" if d.get("failure") else ""))
EOF
echo "(open-N: an open loop at N calls/s, half the closed loop's rate; CPU: percent of one core over each scenario's wall time, warm-up included)"
exit $status
