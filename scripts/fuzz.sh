#!/usr/bin/env bash
# Builds notify-fuzz with libFuzzer and AddressSanitizer (scratch path
# .build-fuzz, apart from the normal build) and runs fuzz targets, bounded in
# time or in inputs. New inputs go to .build-fuzz/corpus/TARGET (not to the
# committed fuzz/corpus); a crash is saved as .build-fuzz/artifacts/TARGET/crash-*
# and fails the run: copy it to fuzz/regressions/TARGET/ so that the tests
# replay it (fuzz/README.md).
#
# Usage: scripts/fuzz.sh [--release] TARGET|all [--seconds N | --runs N] [libFuzzer flag...]
#        scripts/fuzz.sh [--release] --build-only
# --release builds with optimization (a longer build, several times more inputs
# a second): for the long runs.
# Prints each target's execution count (libFuzzer's number_of_executed_units).
# NOTIFY_FUZZ_SCRATCH moves the scratch path (default .build-fuzz).
# On a shared machine run it niced: nice -n 15 scripts/fuzz.sh frame --runs 10000000
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="/opt/swift/usr/bin:$PATH"
scratch=${NOTIFY_FUZZ_SCRATCH:-.build-fuzz}
configuration=debug
if [ "${1:-}" = "--release" ]; then configuration=release; shift; fi

build() {
  # lld: gold fails on this link. -enable-testing: the gateway target reads
  # the gateway's internal BodyReading.
  swift build -c "$configuration" --product notify-fuzz --scratch-path "$scratch" --sanitize=address \
    -Xswiftc -sanitize=fuzzer -Xswiftc -DFUZZING -Xswiftc -enable-testing -Xswiftc -use-ld=lld 2>&1 \
    | grep -vE '^\[[0-9]+/[0-9]+\] |CMakeLists|unhandled|Cannot export local symbol' || true
  [ -x "$scratch/$configuration/notify-fuzz" ] || { echo "fuzz: the build failed"; exit 1; }
}

[ $# -ge 1 ] || { sed -n 2,13p "$0"; exit 64; }
if [ "$1" = "--build-only" ]; then build; exit 0; fi
target=$1; shift
bound=(-max_total_time=10)
case "${1:-}" in
  --seconds) bound=(-max_total_time="$2"); shift 2 ;;
  --runs) bound=(-runs="$2"); shift 2 ;;
esac

build
bin="$scratch/$configuration/notify-fuzz"
if [ "$target" = all ]; then
  targets=$(.build/debug/notify-fuzz list 2>/dev/null | cut -f1 || true)
  [ -n "$targets" ] || targets="frame envelope metadata request gateway-json rfc3339"
else
  targets=$target
fi

status=0
for t in $targets; do
  work="$scratch/corpus/$t"
  artifacts="$scratch/artifacts/$t"
  mkdir -p "$work" "$artifacts" "fuzz/regressions/$t"
  log="$scratch/fuzz-$t-$configuration.log"
  started=$(date +%s)
  # LeakSanitizer is off: the Swift runtime keeps metadata caches for the
  # life of the process, which it reports as leaks; ASan still catches
  # overflows and use-after-free. -timeout: an input slower than 10 s is a hang.
  set +e
  NOTIFY_FUZZ_TARGET=$t ASAN_OPTIONS="detect_leaks=0:${ASAN_OPTIONS:-}" "$bin" "${bound[@]}" -timeout=10 -rss_limit_mb=2048 \
    -print_final_stats=1 -artifact_prefix="$artifacts/" "$@" \
    "$work" "fuzz/corpus/$t" "fuzz/regressions/$t" >"$log" 2>&1
  rc=$?
  set -e
  runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  echo "fuzz $t: ${runs:-?} inputs in $(( $(date +%s) - started )) s, exit $rc (log $log)"
  if [ "$rc" != 0 ]; then
    grep -E 'ERROR|Fatal error|fuzz invariant|SUMMARY|Test unit written|deadly signal' "$log" | head -20 || true
    status=1
  fi
done
exit "$status"
