#!/usr/bin/env bash
# One notify-load run against a fresh notifyd (scripts/perf/fresh-server.sh), with
# the server optionally profiled: the command behind the "before -> after" figures
# of docs/PERFORMANCE.md. It prints the run's latency and the server's and the
# generator's CPU per call. Loopback only; it stops everything by itself.
#
# Usage: scripts/perf/profile.sh [notify-load options...]
#   PROFILE_TARGET   rpc (16 connections x 16 in flight) or http (the gateway,
#                    256 connections x 1) [rpc]
#   PROFILE_SECONDS  measured seconds, after a 1 s warm-up [12]
#   PROFILE_PERF     a file: `perf record -g` the server for PROFILE_SECONDS - 4 s into it
#   PROFILE_PERF_OF  server or generator: whom PROFILE_PERF records [server]
#   PROFILE_PERF_GRAPH  perf's call-graph option [-g]; "--call-graph dwarf" sees
#                    through libswiftCore and libc, which keep no frame pointers
#   PROFILE_STRACE   a strace -e list (madvise,fdatasync): count those calls for 2 s
#   PROFILE_THREADS  1: also print each server thread's CPU per call (the event
#                    loops, the store's append writer) over the whole run, and
#                    how long it waited runnable for a core (/proc/.../schedstat)
#   PROFILE_GENERATOR  a notify-load binary to run instead of this build's: a
#                    before/after of the generator against the same server
#   PROFILE_SERVER   a notifyd binary to serve with instead of this build's: a
#                    before/after of the server against the same generator
#   PROFILE_USERS    users 1 to N exist (with --users N: calls spread over them) [11]
#   PROFILE_GROW     seconds of closed-loop Notify (64 x 16, raw frames) before
#                    the measured run, not measured: the run then meets a
#                    database of millions of notifications, not an empty one
# The options given are added to notify-load's, after the defaults (--mix, --rate...);
# with --watchers N it also prints what the watchers of user 1's feed received.
set -euo pipefail
cd "$(dirname "$0")/../.."
export PATH="/opt/swift/usr/bin:$PATH"

target=${PROFILE_TARGET:-rpc}
seconds=${PROFILE_SECONDS:-12}

. scripts/perf/fresh-server.sh
fresh_server profile

case "$target" in
  rpc) load=(--target rpc --port "$rpc_port" --ca "$work/data/tls/ca.crt" --connections 16 --in-flight 16) ;;
  http) load=(--target http --port "$http_port" --connections 256 --in-flight 1) ;;
  *) echo "profile: PROFILE_TARGET is rpc or http" >&2; exit 2 ;;
esac
if [ "${PROFILE_GROW:-0}" -gt 0 ]; then
  "$bin/notify-load" --target rpc --port "$rpc_port" --ca "$work/data/tls/ca.crt" --rpc-client raw --connections 64 \
    --in-flight 16 --token "$token" --user 1 --mix notify-user --duration "$PROFILE_GROW" --warmup 0 --json \
    | python3 -c 'import json,sys; s=json.load(sys.stdin); print("grown by %d notifications in %.0f s" % (s["throughput_per_second"] * s["wall_seconds"], s["wall_seconds"]))'
fi
server_ticks() { awk '{ print $14 + $15 }' "/proc/$server_pid/stat"; }
# Each thread's ticks and nanoseconds spent runnable but waiting for a core,
# by thread id; the name is the thread's own or, for the store's writer (a
# Foundation thread, unnamed on Linux), its creator's. A thread that ends
# while it is read (a task pool's) is left out.
thread_ticks() {
  local task comm ticks waited
  for task in /proc/"$server_pid"/task/*; do
    comm=$(tr ' ' _ < "$task/comm" 2>/dev/null) && ticks=$(awk '{ print $14 + $15 }' "$task/stat" 2>/dev/null) \
      && waited=$(awk '{ print $2 }' "$task/schedstat" 2>/dev/null) \
      && [ -n "$comm" ] && [ -n "$ticks" ] && [ -n "$waited" ] || continue
    echo "${task##*/} $comm $ticks $waited"
  done
}
ticks_before=$(server_ticks)
thread_ticks > "$work/threads.before"
"${PROFILE_GENERATOR:-$bin/notify-load}" "${load[@]}" --token "$token" --user 1 --uns-id "$uns" --mix notify-user \
  --duration "$seconds" --warmup 1 --json "$@" > "$work/load.json" &
load_pid=$!
sleep 2
if [ -n "${PROFILE_PERF:-}" ]; then
  case "${PROFILE_PERF_OF:-server}" in
    server) perf_pid=$server_pid ;;
    generator) perf_pid=$load_pid ;;
    *) echo "profile: PROFILE_PERF_OF is server or generator" >&2; exit 2 ;;
  esac
  perf record -F 999 ${PROFILE_PERF_GRAPH:--g} -p "$perf_pid" -o "$PROFILE_PERF" -- sleep $(( seconds > 5 ? seconds - 4 : 1 )) > /dev/null 2>&1
fi
if [ -n "${PROFILE_STRACE:-}" ]; then
  timeout 2 strace -f -c -p "$server_pid" -e trace="$PROFILE_STRACE" 2>&1 | tail -n +2 || true
fi
wait "$load_pid"
ticks=$(( $(server_ticks) - ticks_before ))
thread_ticks > "$work/threads.after"
# Server and generator CPU per call over the whole run (warm-up included): the
# figures that show where a change went when the 2 shared cores are saturated.
python3 - "$work/load.json" "$ticks" "$(getconf CLK_TCK)" <<'PY'
import json, sys
s = json.load(open(sys.argv[1]))
l = s["latency_microseconds"]
server = int(sys.argv[2]) / int(sys.argv[3])
print("%.0f calls/s  p50 %.2f  p90 %.2f  p99 %.2f  p99.9 %.2f  max %.2f ms  errors %d  %s" % (
    s["throughput_per_second"], l["p50"] / 1000, l["p90"] / 1000, l["p99"] / 1000, l["p999"] / 1000,
    l["max"] / 1000, s["errors"], s["statuses"]))
wall = s["wall_seconds"] or 1
rate = s["throughput_per_second"] or 1
print("server %.2f cores, %.1f us/call; generator %.2f cores, %.1f us/call (warm-up included)" % (
    server / wall, server / wall / rate * 1e6, s["client_cpu_seconds"] / wall, s["client_cpu_seconds"] / wall / rate * 1e6))
d = s.get("delivery")
if d:
    dl = d["latency_microseconds"]
    print("delivery to %d watchers: %d entries, %d gaps; p50 %.2f  p99 %.2f  max %.2f ms%s" % (
        d["watchers"], d["entries"], d["gaps"], dl["p50"] / 1000, dl["p99"] / 1000, dl["max"] / 1000,
        "; a watcher failed: " + d["failure"] if d.get("failure") else ""))
PY
if [ "${PROFILE_THREADS:-}" = 1 ]; then
  python3 - "$work/load.json" "$work/threads.before" "$work/threads.after" "$(getconf CLK_TCK)" <<'PY'
import json, sys
s = json.load(open(sys.argv[1]))
calls = s["throughput_per_second"] * (s["wall_seconds"] or 1) or 1
wall = s["wall_seconds"] or 1
def read(path):
    return {tid: (name, int(ticks), int(waited)) for tid, name, ticks, waited in (line.split() for line in open(path))}
before, after = read(sys.argv[2]), read(sys.argv[3])
for tid, (name, ticks, waited) in sorted(after.items(), key=lambda item: -item[1][1]):
    _, ticks_before, waited_before = before.get(tid, (name, 0, 0))
    seconds = (ticks - ticks_before) / int(sys.argv[4])
    if seconds / wall >= 0.01:
        print("  thread %-8s %-18s %.2f cores, %.1f us/call; waited for a core %.2f s per s" % (
            tid, name, seconds / wall, seconds / calls * 1e6, (waited - waited_before) / 1e9 / wall))
PY
fi
