#!/usr/bin/env bash
# notifyd next to the gRPC servers people would run instead, in one run on one
# machine: a no-op unary call over TLS, the same connections and calls in
# flight for every row, the rows one after another.
#
#   notifyd      /notify.v1.Health/Check (no token, no store), driven by
#                notify-load --target rpc --mix health=100
#   grpc-swift   grpc-swift-2 + grpc-swift-nio-transport (HTTP/2, NIOSSL),
#                scripts/compare/grpc-swift-noop
#   grpc-c++     C++ gRPC from Debian's libgrpc++-dev, callback generic
#                service, scripts/compare/noop_server.cc
#   grpcio       Python grpcio from PyPI, sync server on a thread pool,
#                scripts/compare/noop_server.py
#
# The gRPC peers serve /noop.v1.Noop/Call with raw bytes (no protobuf codegen)
# and answer the 2 bytes of notifyd's health answer; h2load posts gRPC frames
# to them. Every server uses the same certificate (ECDSA P-256, made here).
# Before a peer is measured, a grpcio client checks that it answers status OK
# with the expected bytes (h2load sees HTTP statuses only).
#
# Environment (defaults in brackets):
#   COMPARE_SECONDS      measured seconds per row [10]
#   COMPARE_WARMUP       warm-up seconds per row, not counted [2]
#   COMPARE_REQUESTS     when set: a fixed count of calls per row instead of a
#                        duration (no warm-up)
#   COMPARE_CONNECTIONS  connections [64]
#   COMPARE_IN_FLIGHT    calls in flight per connection [16]
#   COMPARE_CLIENT_THREADS  h2load threads [2, as many as notify-load's event loops]
#   COMPARE_REQUEST_BYTES   request message size for the peers [0: an empty
#                        HealthCheckRequest, what notifyd's row sends]
#   COMPARE_ROWS         which rows, in order ["notifyd grpc-swift grpc-c++ grpcio"]
#   COMPARE_PY_THREADS   grpcio's handler pool [64]
#   PROFILE_SERVER       a notifyd binary to serve notifyd's row with instead of this
#                        build's (as scripts/perf/profile.sh): a before/after of the server
#   COMPARE_RPC_CLIENT   notify-load's --rpc-client for notifyd's row [raw: frames
#                        written straight on the connections, as h2load writes
#                        gRPC frames with no gRPC library; "notify-client" for NotifyClient]
#
# Loopback only. The whole run takes about rows × (seconds + warm-up + 3) after
# the builds: under a minute with the defaults.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="/opt/swift/usr/bin:$PATH"

seconds="${COMPARE_SECONDS:-10}"
warmup="${COMPARE_WARMUP:-2}"
requests="${COMPARE_REQUESTS:-}"
connections="${COMPARE_CONNECTIONS:-64}"
in_flight="${COMPARE_IN_FLIGHT:-16}"
client_threads="${COMPARE_CLIENT_THREADS:-2}"
request_bytes="${COMPARE_REQUEST_BYTES:-0}"
rows="${COMPARE_ROWS:-notifyd grpc-swift grpc-c++ grpcio}"
py_threads="${COMPARE_PY_THREADS:-64}"
rpc_client="${COMPARE_RPC_CLIENT:-raw}"

for value in "$seconds" "$warmup" "$connections" "$in_flight" "$client_threads" "$request_bytes" "$py_threads" ${requests:+"$requests"}; do
  [[ "$value" =~ ^[0-9]+$ ]] || { echo "compare-grpc: '$value' is not a whole number" >&2; exit 2; }
done
[ "$seconds" -ge 1 ] && [ "$seconds" -le 120 ] || { echo "compare-grpc: COMPARE_SECONDS must be 1 to 120" >&2; exit 2; }
[ "$warmup" -le 30 ] || { echo "compare-grpc: COMPARE_WARMUP must be at most 30" >&2; exit 2; }
if [ -n "$requests" ]; then
  [ "$requests" -ge 1 ] && [ "$requests" -le 10000000 ] || { echo "compare-grpc: COMPARE_REQUESTS must be 1 to 10000000" >&2; exit 2; }
fi

# --- what the run needs ------------------------------------------------------

scripts/install-deps.sh --compare

wants() { [[ " $rows " == *" $1 "* ]]; }

build_dir=scripts/compare/.build-cc
mkdir -p "$build_dir"
if wants notifyd; then
  echo "building notifyd (release)"
  swift build -c release --product notifyd
  if grep -q '"notify-load"' Package.swift; then
    swift build -c release --product notify-load
  else
    echo "compare-grpc: notify-load is not in Package.swift yet: the notifyd row is skipped" >&2
    rows="${rows//notifyd/}"
  fi
  bin="$(swift build -c release --show-bin-path)"
fi
if wants grpc-swift; then
  echo "building grpc-swift-noop (release)"
  swift build -c release --package-path scripts/compare/grpc-swift-noop \
    --scratch-path scripts/compare/.build-grpc-swift
  swift_bin="$(swift build -c release --package-path scripts/compare/grpc-swift-noop \
    --scratch-path scripts/compare/.build-grpc-swift --show-bin-path)"
fi
if wants grpc-c++; then
  if [ ! -x "$build_dir/noop_server" ] || [ scripts/compare/noop_server.cc -nt "$build_dir/noop_server" ]; then
    echo "building noop_server (g++ -O2)"
    # shellcheck disable=SC2046 # pkg-config prints several words on purpose
    g++ -O2 -std=c++17 scripts/compare/noop_server.cc -o "$build_dir/noop_server" $(pkg-config --cflags --libs grpc++)
  fi
fi

# --- scratch space, certificates, cleanup ---------------------------------------

work="$(mktemp -d)"
server_pid=""
stop_server() {
  if [ -n "$server_pid" ]; then
    kill -TERM "$server_pid" 2>/dev/null || true
    for _ in $(seq 1 50); do kill -0 "$server_pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
    server_pid=""
  fi
}
cleanup() {
  stop_server
  rm -rf "$work"
}
trap cleanup EXIT

# One CA and one server certificate for every row, so that the TLS work per
# connection is the same: ECDSA P-256, names localhost and 127.0.0.1.
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
  -subj "/CN=compare-grpc test CA" -keyout "$work/ca.key" -out "$work/ca.crt" 2>/dev/null
openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=localhost" \
  -keyout "$work/server.key" -out "$work/server.csr" 2>/dev/null
printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n' > "$work/ext.cnf"
openssl x509 -req -in "$work/server.csr" -CA "$work/ca.crt" -CAkey "$work/ca.key" -CAcreateserial \
  -days 2 -extfile "$work/ext.cnf" -out "$work/server.crt" 2>/dev/null
cert="$work/server.crt"
key="$work/server.key"
ca="$work/ca.crt"

# The request h2load posts: one gRPC length-prefixed message (flag 0, 4-byte
# big-endian length, the bytes).
python3 - "$work/frame" "$request_bytes" <<'EOF'
import struct, sys
size = int(sys.argv[2])
with open(sys.argv[1], "wb") as f:
    f.write(b"\x00" + struct.pack(">I", size) + b"x" * size)
EOF

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# CPU seconds (user + system, all threads) the process has used so far.
cpu_seconds() {
  awk -v hz="$(getconf CLK_TCK)" '{ sub(/^.*\) /, ""); print ($12 + $13) / hz }' "/proc/$1/stat"
}

# Starts a peer that prints "listening on 127.0.0.1:PORT"; sets server_pid
# and port.
start_peer() {
  local log="$1"; shift
  "$@" > "$log" 2>&1 &
  server_pid=$!
  port=""
  for _ in $(seq 1 150); do
    port="$(sed -n 's/^listening on 127\.0\.0\.1:\([0-9]*\)$/\1/p' "$log")"
    [ -n "$port" ] && return 0
    kill -0 "$server_pid" 2>/dev/null || break
    sleep 0.1
  done
  echo "compare-grpc: the server did not start: $*" >&2
  cat "$log" >&2
  return 1
}

results="$work/results.tsv"
: > "$results"

# Measures one peer with h2load; appends a line to the results.
measure_h2load() {
  local name="$1" out="$work/$1.h2load" cpu_start cpu_end h2pid
  python3 scripts/compare/grpc_check.py "$port" "$ca" "$request_bytes" \
    || { echo "compare-grpc: $name did not answer a gRPC call correctly" >&2; return 1; }
  local args=(-c "$connections" -m "$in_flight" -t "$client_threads"
    -H 'content-type: application/grpc' -H 'te: trailers' -d "$work/frame")
  if [ -n "$requests" ]; then
    args+=(-n "$requests")
  else
    args+=(-D "$seconds" --warm-up-time "$warmup")
  fi
  # h2load runs under a small parent that reports its CPU and wall time, as
  # notify-load reports its own: a generator near 100% of its cores is the
  # limit, not the server.
  python3 -c '
import resource, subprocess, sys, time
start = time.monotonic()
code = subprocess.call(sys.argv[1:])
wall = time.monotonic() - start
usage = resource.getrusage(resource.RUSAGE_CHILDREN)
print("client-cpu %f wall %f" % (usage.ru_utime + usage.ru_stime, wall))
sys.exit(code)' h2load "${args[@]}" "https://127.0.0.1:$port/noop.v1.Noop/Call" > "$out" 2>&1 &
  h2pid=$!
  # Server CPU is counted over the measured part only (after the warm-up).
  [ -z "$requests" ] && sleep "$warmup"
  cpu_start="$(cpu_seconds "$server_pid")"
  wait "$h2pid" || { echo "compare-grpc: h2load failed for $name" >&2; cat "$out" >&2; return 1; }
  cpu_end="$(cpu_seconds "$server_pid")"
  python3 - "$name" "$out" "$cpu_start" "$cpu_end" "$request_bytes" >> "$results" <<'EOF'
import re, sys
name, path, cpu0, cpu1, size = sys.argv[1], sys.argv[2], float(sys.argv[3]), float(sys.argv[4]), int(sys.argv[5])
text = open(path).read()
def find(pattern):
    m = re.search(pattern, text, re.M)
    if not m:
        sys.exit("compare-grpc: no '%s' in h2load's output for %s:\n%s" % (pattern, name, text))
    return m.groups()
def ms(value):
    number, unit = re.match(r"([\d.]+)(us|ms|s)", value).groups()
    return float(number) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]
rps, = find(r"^finished in [^,]+, ([\d.]+) req/s")
done, ok, failed, errored, timeout = find(r"^requests: \d+ total, \d+ started, (\d+) done, (\d+) succeeded, (\d+) failed, (\d+) errored, (\d+) timeout")
status2xx, = find(r"^status codes: (\d+) 2xx")
data, = find(r"^traffic: .*\((\d+)\) data")
maxv, mean = find(r"^time for request:\s+\S+\s+(\S+)\s+(\S+)")
# h2load can report a few more 2xx statuses than done calls (2 in a grpc-swift
# row of 9.4 k calls/s): that surplus is not a failure.
bad = int(failed) + int(errored) + int(timeout) + max(0, int(done) - int(status2xx))
# Every OK answer carries a 7-byte DATA frame (prefix + 08 01); a gRPC error
# is trailers only. Fewer DATA bytes than that means some calls failed.
if int(data) < 7 * int(status2xx):
    bad = max(bad, int(status2xx) - int(data) // 7)
client_cpu, wall = map(float, find(r"^client-cpu ([\d.]+) wall ([\d.]+)$"))
calls = int(done)
cpu_us = (cpu1 - cpu0) / calls * 1e6 if calls else float("nan")
print("\t".join([name, "h2load", "%.0f" % float(rps), "%.2f" % ms(mean), "-", "-",
                 "%.2f" % ms(maxv), "%.1f" % cpu_us, "%.0f%%" % (100 * client_cpu / wall if wall else 0),
                 str(calls), str(bad)]))
EOF
}

# Measures notifyd with notify-load; appends a line to the results.
measure_notifyd() {
  local out="$work/notifyd.json" cpu_start cpu_end lpid
  local args=(--target rpc --rpc-client "$rpc_client" --mix health=100 --host 127.0.0.1 --port "$port" --ca "$ca"
    --connections "$connections" --in-flight "$in_flight" --json)
  if [ -n "$requests" ]; then
    args+=(--count "$requests" --warmup 0)
  else
    args+=(--duration "$seconds" --warmup "$warmup")
  fi
  "$bin/notify-load" "${args[@]}" > "$out" 2> "$work/notify-load.err" &
  lpid=$!
  [ -z "$requests" ] && sleep "$warmup"
  cpu_start="$(cpu_seconds "$server_pid")"
  wait "$lpid" || { echo "compare-grpc: notify-load failed" >&2; cat "$work/notify-load.err" "$out" >&2; return 1; }
  cpu_end="$(cpu_seconds "$server_pid")"
  python3 - "$out" "$cpu_start" "$cpu_end" >> "$results" <<'EOF'
import json, sys
path, cpu0, cpu1 = sys.argv[1], float(sys.argv[2]), float(sys.argv[3])
text = open(path).read()
try:
    report = json.loads(text)
    calls, errors = int(report["requests"]), int(report["errors"])
    rate = float(report["throughput_per_second"])
    latency = report["latency_microseconds"]
    client_cpu, wall = float(report["client_cpu_seconds"]), float(report["wall_seconds"])
except (ValueError, KeyError, TypeError) as error:
    sys.exit("compare-grpc: notify-load's JSON lacks %s:\n%s" % (error, text))
ms = lambda us: "%.2f" % (float(us) / 1000)
cpu_us = (cpu1 - cpu0) / calls * 1e6 if calls else float("nan")
print("\t".join(["notifyd", "notify-load", "%.0f" % rate, ms(latency["mean"]), ms(latency["p50"]),
                 ms(latency["p99"]), ms(latency["max"]), "%.1f" % cpu_us,
                 "%.0f%%" % (100 * client_cpu / wall if wall else 0), str(calls), str(errors)]))
EOF
}

# --- the rows, one after another -----------------------------------------------

if [ -n "$requests" ]; then
  shape="$requests calls per row"
else
  shape="${seconds}s per row after ${warmup}s warm-up"
fi
echo "compare-grpc: $connections connections × $in_flight calls in flight, TLS, loopback, $shape"

for row in $rows; do
  echo "--- $row"
  case "$row" in
    notifyd)
      port="$(free_port)"
      "${PROFILE_SERVER:-$bin/notifyd}" serve --data-dir "$work/notifyd-data" --rpc-port "$port" --no-gateway \
        --tls-cert "$cert" --tls-key "$key" --log-level warning \
        --rate-limit 0 --max-feed-entries 0 > "$work/notifyd.log" 2>&1 &
      server_pid=$!
      for _ in $(seq 1 150); do
        python3 -c "import socket; socket.create_connection(('127.0.0.1', $port), 1)" 2>/dev/null && break
        kill -0 "$server_pid" 2>/dev/null || { cat "$work/notifyd.log" >&2; exit 1; }
        sleep 0.1
      done
      measure_notifyd
      ;;
    grpc-swift)
      start_peer "$work/grpc-swift.log" "$swift_bin/grpc-swift-noop" 0 "$cert" "$key"
      measure_h2load grpc-swift
      ;;
    grpc-c++)
      start_peer "$work/grpc-cc.log" "$build_dir/noop_server" 0 "$cert" "$key"
      measure_h2load grpc-c++
      ;;
    grpcio)
      start_peer "$work/grpcio.log" python3 scripts/compare/noop_server.py 0 "$cert" "$key" "$py_threads"
      measure_h2load grpcio
      ;;
    *)
      echo "compare-grpc: unknown row '$row' (known: notifyd grpc-swift grpc-c++ grpcio)" >&2
      exit 2
      ;;
  esac
  stop_server
  tail -n 1 "$results" | cut -f1,3 | sed 's/\t/: /; s/$/ calls\/s/'
done

# --- the table ----------------------------------------------------------------------

echo
python3 - "$results" <<'EOF'
import sys
rows = [line.rstrip("\n").split("\t") for line in open(sys.argv[1]) if line.strip()]
head = ["server", "load", "calls/s", "mean ms", "p50 ms", "p99 ms", "max ms", "server CPU µs/call",
        "load CPU", "calls", "errors"]
table = [head] + rows
widths = [max(len(r[i]) for r in table) for i in range(len(head))]
line = lambda r: "| " + " | ".join(c.rjust(w) if i >= 2 else c.ljust(w) for i, (c, w) in enumerate(zip(r, widths))) + " |"
print(line(head))
print("|" + "|".join("-" * (w + 1) + ":" if i >= 2 else "-" * (w + 2) for i, w in enumerate(widths)) + "|")
for r in rows:
    print(line(r))
print()
print("calls/s: answered calls per measured second. mean/max: h2load's 'time for request'; p50/p99")
print("  come from notify-load only (h2load reports none). server CPU: the server's user + system CPU")
print("  over the measured part, per call; it depends least on which load generator drove the row.")
print("load CPU: the generator's CPU over its wall time, warm-up included; 100% is one core.")
notifyd = next((r for r in rows if r[0] == "notifyd"), None)
if notifyd:
    print()
    for r in rows:
        if r is notifyd:
            continue
        rate = float(notifyd[2]) / float(r[2]) if float(r[2]) else float("nan")
        cpu = float(r[7]) / float(notifyd[7]) if float(notifyd[7]) else float("nan")
        print("notifyd / %-10s calls/s %.2f×   server CPU per call: %s uses %.2f× notifyd's" % (r[0], rate, r[0], cpu))
if any(int(r[10]) for r in rows):
    print("\nsome calls failed: see the errors column", file=sys.stderr)
    sys.exit(1)
EOF
