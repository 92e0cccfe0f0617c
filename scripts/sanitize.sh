#!/usr/bin/env bash
# Runs the Swift test suites under AddressSanitizer and ThreadSanitizer, each
# in its own scratch path (.build-asan, .build-tsan) so that the normal build
# stays as it is. Too slow for CI (a cold sanitized build of everything, then
# the suites); run it before a release and after changes to unsafe code, TLS
# or concurrency. docs/SECURITY.md has the last run's durations and findings.
#
# Usage: scripts/sanitize.sh [address|thread|all]   (default all)
#
# address: every suite, including the ones that start a child notifyd (built
#   with ASan too). LeakSanitizer is off: Swift's runtime caches, tasks alive
#   at exit and weak-reference side tables are reported as leaks; leaks are
#   measured by the abuse tests with the allocator's statistics instead.
# thread: the unit and in-process suites; the process suites (a TSan child
#   notifyd is too slow for their deadlines) and the abuse suites are skipped.
#   Two tests at a time, and TSan's report stops nothing: every race is
#   printed with both stacks (halt_on_error=0), and the run fails if any was.
#   TSan does not see Synchronization.Mutex on Linux (a futex): it reports
#   races inside Mutex.withLock that are none (scripts/tsan-mutex-check.swift
#   shows it on ten lines); judge each report's stacks before believing it.
# Logs: .build-asan/sanitize.log, .build-tsan/sanitize.log.
# On a shared machine run it niced: nice -n 15 scripts/sanitize.sh
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="/opt/swift/usr/bin:$PATH"
which=${1:-all}
width=${NOTIFY_TEST_WIDTH:-2}
status=0

run() {  # run SANITIZER SCRATCH [swift test arguments...]
  local sanitizer=$1 scratch=$2; shift 2
  local started log=$scratch/sanitize.log
  started=$(date +%s)
  echo "== $sanitizer: build (scratch path $scratch)"
  swift build --build-tests --sanitize="$sanitizer" --scratch-path "$scratch" 2>&1 \
    | grep -vE '^\[[0-9]+/[0-9]+\] |CMakeLists|unhandled|Cannot export local symbol' || true
  echo "== $sanitizer: build took $(( $(date +%s) - started )) s; swift test $*"
  started=$(date +%s)
  set +e
  SWT_EXPERIMENTAL_MAXIMUM_PARALLELIZATION_WIDTH=$width \
    swift test --skip-build --sanitize="$sanitizer" --scratch-path "$scratch" "$@" >"$log" 2>&1
  local rc=$?
  set -e
  local reports
  reports=$(grep -cE '^(==[0-9]+==)?(ERROR: AddressSanitizer|WARNING: ThreadSanitizer)' "$log" || true)
  echo "== $sanitizer: tests took $(( $(date +%s) - started )) s, exit $rc, $reports sanitizer report(s) (log $log)"
  grep -E '^(✘|✔) Test run|^Test Suite .All tests. (passed|failed)' "$log" | tail -3 || true
  grep -E '^(==[0-9]+==)?(ERROR: AddressSanitizer|WARNING: ThreadSanitizer)|^SUMMARY: (Address|Thread)Sanitizer' "$log" \
    | sort | uniq -c | head -20 || true
  if [ "$rc" != 0 ] || [ "$reports" != 0 ]; then status=1; fi
}

case "$which" in
  address|all)
    ASAN_OPTIONS="detect_leaks=0:${ASAN_OPTIONS:-}" run address .build-asan ;;&
  thread|all)
    TSAN_OPTIONS="halt_on_error=0:second_deadlock_stack=1:${TSAN_OPTIONS:-}" \
      run thread .build-tsan --skip 'ProcessTests|AbuseTests|LoadRunTests' ;;
  address) ;;
  *) sed -n 2,20p "$0"; exit 64 ;;
esac
exit "$status"
