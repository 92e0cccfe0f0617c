#!/usr/bin/env bash
# Issue 28's figures, side by side in one run, on loopback:
#   1. durable Notify (recipients_type=user, spread over PG_PERF_USERS users) at 64 connections
#      x 16 calls in flight, closed loop: SQLite against PostgreSQL, alternating, PG_PERF_RUNS pairs,
#      with the CPU each side spent per call (the instance, PostgreSQL's backends, the generator);
#   2. the same in open loop at half and at a quarter of the closed-loop rate each store reached:
#      p99, and the CPU per call, which grows as calls come one at a time;
#   3. two instances on one PostgreSQL (32 x 16 each, at once) against one (64 x 16);
#   4. commit to arrival: 1,000 live Watch streams on instance A while Notify goes to
#      instance B at PG_PERF_RATE/s, against the same with the watchers on B itself.
# PostgreSQL is a throwaway server started by scripts/postgres.sh (initdb in a temporary
# folder, fsync on, synchronous_commit on, its other settings Debian's defaults), on the
# same disk as the SQLite file. Every instance of a run shares one data folder for its TLS
# files. It stops everything by itself; about 6 minutes with the defaults, after the build.
#
# Usage: scripts/perf/postgres.sh
#   PG_PERF_SECONDS  measured seconds per run, after a 3 s warm-up [8]
#   PG_PERF_RUNS     SQLite/PostgreSQL pairs [3]
#   PG_PERF_USERS    users the calls and watchers are spread over [1000]
#   PG_PERF_RATE     Notify calls per second while timing delivery [2000]
#   PG_PERF_OPEN_RATES  fixed open-loop rates (calls/s) also run on each store, e.g. "1000 4000" []
#   PG_PERF_BEFORE   a notifyd binary (an older build): each run's PostgreSQL rows are run with it
#                    too, beside this build's, as postgres-before-*: a before/after side by side []
set -euo pipefail
cd "$(dirname "$0")/../.."
export PATH="/opt/swift/usr/bin:$PATH"

if [ -z "${NOTIFY_TEST_POSTGRES:-}" ]; then
  exec scripts/postgres.sh "$0" "$@"
fi

seconds=${PG_PERF_SECONDS:-8}
runs=${PG_PERF_RUNS:-3}
users=${PG_PERF_USERS:-1000}
rate=${PG_PERF_RATE:-2000}

swift build -c release --product notifyd >&2
swift build -c release --product notify-load >&2
bin=$(swift build -c release --show-bin-path)
pg_bin=${PG_BIN:-$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)}

work=$(mktemp -d)
pids=()
stop_all() {
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do
    for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null || true
  done
  pids=()
}
trap 'stop_all; rm -rf "$work"' EXIT
trap 'exit 130' INT TERM

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# serve DATA STORE...: starts an instance (no gateway) and sets `port`.
serve() {
  local data=$1; shift
  port=$(free_port)
  "${serve_bin:-$bin/notifyd}" serve --data-dir "$data" --rpc-port "$port" --no-gateway --log-level warning \
    --rate-limit 0 --max-feed-entries 0 "$@" >> "$work/server.log" 2>&1 &
  pids+=($!)
  for _ in $(seq 1 150); do
    python3 -c "import socket; socket.create_connection(('127.0.0.1', $port), 1)" 2>/dev/null && return 0
    sleep 0.1
  done
  echo "postgres perf: nothing listens on $port; server log:" >&2
  cat "$work/server.log" >&2
  return 1
}

# bootstrap DATA STORE...: user 1 (an admin token, in `token`) and users 2..PG_PERF_USERS.
bootstrap() {
  local data=$1; shift
  token=$("${serve_bin:-$bin/notifyd}" admin token create --user 1 --role admin --create-user --data-dir "$data" "$@")
}

sqlite_users() {
  sqlite3 "$1/notify.sqlite" <<SQL
.timeout 30000
WITH RECURSIVE n(i) AS (SELECT 2 UNION ALL SELECT i + 1 FROM n WHERE i < $users)
INSERT OR IGNORE INTO users (id) SELECT i FROM n;
SQL
}

postgres_users() {
  "$pg_bin/psql" -q "${NOTIFY_TEST_POSTGRES%%\?*}" -v ON_ERROR_STOP=1 \
    -c "INSERT INTO $1.users (id) SELECT generate_series(2, $users) ON CONFLICT DO NOTHING"
}

# load NAME PORT ARGS...: one notify-load run, its JSON summary kept in $work/NAME.json.
load() {
  local name=$1 port=$2; shift 2
  "$bin/notify-load" --target rpc --port "$port" --ca "$data/tls/ca.crt" --token "$token" \
    --user 1 --users "$users" --mix notify-user --duration "$seconds" --warmup 3 --timeout 30 --json "$@" \
    > "$work/$name.json"
}

summary() {
  python3 - "$@" <<'PY'
import json, sys
for path in sys.argv[1:]:
    s = json.load(open(path))
    l = s["latency_microseconds"]
    line = "%-28s %9.0f calls/s  p50 %6.2f  p99 %6.2f ms  errors %d" % (
        path.rsplit("/", 1)[1][:-5], s["throughput_per_second"], l["p50"] / 1000, l["p99"] / 1000, s["errors"])
    d = s.get("delivery")
    if d:
        dl = d["latency_microseconds"]
        line += "  | %d entries to %d watchers, %d gaps, commit to arrival p50 %.2f p99 %.2f ms" % (
            d["entries"], d["watchers"], d["gaps"], dl["p50"] / 1000, dl["p99"] / 1000)
    print(line)
PY
}

# ticks PATTERN: CPU ticks (user + system) of the processes whose command line matches.
ticks() {
  local total=0 pid
  for pid in $(pgrep -f "$1"); do
    total=$(( total + $(awk '{print $14 + $15}' "/proc/$pid/stat" 2>/dev/null || echo 0) ))
  done
  echo "$total"
}

# split NAME SERVER_PID LOAD_ARGS...: runs the load NAME against SERVER_PID's port and prints the
# CPU each side spent per call (the instance, PostgreSQL's backends, the load generator) and the
# share of the machine's time its hypervisor took (steal).
split() {
  local name=$1 server=$2; shift 2
  local s0 p0 s1 p1 m0 m1
  s0=$(awk '{print $14 + $15}' "/proc/$server/stat"); p0=$(ticks 'postgres: '); m0=$(head -1 /proc/stat)
  load "$name" "$port" "$@"
  s1=$(awk '{print $14 + $15}' "/proc/$server/stat"); p1=$(ticks 'postgres: '); m1=$(head -1 /proc/stat)
  python3 - "$work/$name.json" $((s1 - s0)) $((p1 - p0)) "$(getconf CLK_TCK)" "$m0" "$m1" <<'PY'
import json, sys
s = json.load(open(sys.argv[1])); server, pg, hz = int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
before, after = ([int(x) for x in m.split()[1:]] for m in sys.argv[5:7])
delta = [b - a for a, b in zip(before, after)]
calls = s["throughput_per_second"] * s["wall_seconds"]
print("%-28s CPU per call (whole run, warm-up included): notifyd %.0f us, PostgreSQL %.0f us, notify-load %.0f us; steal %.0f %%" % (
    sys.argv[1].rsplit("/", 1)[1][:-5], server * 1e6 / hz / calls, pg * 1e6 / hz / calls, s["client_cpu_seconds"] * 1e6 / calls,
    100.0 * delta[7] / max(1, sum(delta[:8]))))
PY
}

rate_of() { python3 -c 'import json,sys; print(int(json.load(open(sys.argv[1]))["throughput_per_second"]))' "$1"; }

echo "postgres perf: $users users, 64 x 16 closed loop, ${seconds}s per run; load $(cut -d' ' -f1-3 /proc/loadavg)"
"$pg_bin/psql" -qAt "${NOTIFY_TEST_POSTGRES%%\?*}" -c "SELECT 'PostgreSQL ' || current_setting('server_version') || ': fsync ' || current_setting('fsync') || ', synchronous_commit ' || current_setting('synchronous_commit') || ', shared_buffers ' || current_setting('shared_buffers') || ', wal_level ' || current_setting('wal_level')"

# rows NAME: run $run's rows on one store, as NAME-*: SQLite for "sqlite", else PostgreSQL in a
# schema of its own.
rows() {
  local name=$1 schema=${1//-/_}_$run args=()
  data="$work/$name-$run"
  if [ "$name" != sqlite ]; then args=(--store "${NOTIFY_TEST_POSTGRES}?schema=$schema"); fi
  serve "$data" "${args[@]}"
  bootstrap "$data" "${args[@]}"
  if [ "$name" = sqlite ]; then sqlite_users "$data"; else postgres_users "$schema"; fi
  split "$name-closed-$run" "${pids[-1]}" --connections 64 --in-flight 16
  half=$(( $(rate_of "$work/$name-closed-$run.json") / 2 ))
  split "$name-open-$run" "${pids[-1]}" --connections 64 --rate "$half"
  split "$name-open-quarter-$run" "${pids[-1]}" --connections 64 --rate $(( half / 2 ))
  for r in ${PG_PERF_OPEN_RATES:-}; do split "$name-open-at-$r-$run" "${pids[-1]}" --connections 64 --rate "$r"; done
  stop_all
}

for run in $(seq 1 "$runs"); do
  rows sqlite
  # With PG_PERF_BEFORE, the older build first in odd runs and second in even ones: the later
  # of two runs meets a database that has grown (and may checkpoint).
  if [ -n "${PG_PERF_BEFORE:-}" ] && [ $((run % 2)) = 1 ]; then serve_bin=$PG_PERF_BEFORE rows postgres-before; fi
  rows postgres
  if [ -n "${PG_PERF_BEFORE:-}" ] && [ $((run % 2)) = 0 ]; then serve_bin=$PG_PERF_BEFORE rows postgres-before; fi
  summary "$work"/sqlite-*-"$run".json "$work"/postgres-*-"$run".json
done

# two_instances SCHEMA: two instances on one PostgreSQL schema, sharing a data folder (the
# same development CA); sets `data`, and `a` and `b` to their ports.
two_instances() {
  data="$work/pg-$1"
  local store="${NOTIFY_TEST_POSTGRES}?schema=$1"
  serve "$data" --store "$store"
  a=$port
  bootstrap "$data" --store "$store"
  postgres_users "$1"
  serve "$data" --store "$store"
  b=$port
}

two_instances perf_two
load one-instance "$a" --connections 64 --in-flight 16
load two-instances-a "$a" --connections 32 --in-flight 16 &
first=$!
load two-instances-b "$b" --connections 32 --in-flight 16
wait "$first"
summary "$work/one-instance.json" "$work/two-instances-a.json" "$work/two-instances-b.json"
python3 - "$work" <<'PY'
import json, sys
w = sys.argv[1]
one = json.load(open(w + "/one-instance.json"))["throughput_per_second"]
two = sum(json.load(open("%s/two-instances-%s.json" % (w, x)))["throughput_per_second"] for x in "ab")
print("two instances / one: %.2f (both instances and the load generator share this machine's cores)" % (two / one))
PY

# Commit to arrival: the watchers on A, the calls on B; then both on B. Two instances on a
# schema of their own: the watchers read their feeds from the start, and a backlog left by the
# runs above would still be read while the calls are timed.
stop_all
two_instances perf_deliver
load across-instances "$b" --connections 16 --rate "$rate" --watchers "$users" --watch-port "$a"
load same-instance "$b" --connections 16 --rate "$rate" --watchers "$users"
summary "$work/across-instances.json" "$work/same-instance.json"
