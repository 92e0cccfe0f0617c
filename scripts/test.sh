#!/usr/bin/env bash
# Installs what is missing and runs every test: the architecture check
# (docs/ARCHITECTURE.md against Package.swift), the Swift test suites (unit,
# integration over real TLS on loopback, real SQLite files, a real PostgreSQL
# server started by scripts/postgres.sh), then the
# interop test (a Python client made from proto/ alone) against a real
# notifyd, then schemathesis against the REST gateway. Exits non-zero when anything fails.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="/opt/swift/usr/bin:$PATH"

# Each stage's wall time: a line as each stage ends, and a summary at the end
# (also when a stage fails), so that CI's time can be read stage by stage.
stage_names=()
stage_seconds=()
stage_name=""
stage_start=$SECONDS
run_start=$SECONDS
end_stage() {
  [ -n "$stage_name" ] || return 0
  local took=$(( SECONDS - stage_start ))
  stage_names+=("$stage_name")
  stage_seconds+=("$took")
  echo "-- stage '$stage_name': ${took} s"
  stage_name=""
}
# stage NAME: ends the stage running, starts NAME and prints its header.
stage() {
  end_stage
  stage_name=$1
  stage_start=$SECONDS
  echo "== $1"
}
stage_summary() {
  local status=$?
  end_stage
  echo "== stage times (wall)"
  local i
  for i in "${!stage_names[@]}"; do
    printf '  %-48s %5d s\n' "${stage_names[$i]}" "${stage_seconds[$i]}"
  done
  printf '  %-48s %5d s\n' "total" "$(( SECONDS - run_start ))"
  return "$status"
}
trap stage_summary EXIT

stage "install (scripts/install-deps.sh --test)"
scripts/install-deps.sh --test

stage "architecture (docs/ARCHITECTURE.md's module table and graph against Package.swift)"
scripts/check-architecture.py

stage "build"
swift build --build-tests

stage "swift test"
# At most 4 tests at once (NOTIFY_TEST_WIDTH): unbounded, every test starts at
# once on 2 cores, and TLS handshakes and timed waits ran past their
# deadlines whenever the machine was slow. One at a time took 73.5 s here.
# scripts/postgres.sh runs them beside a throwaway PostgreSQL server and exports
# NOTIFY_TEST_POSTGRES, so the store conformance suite runs on PostgreSQL too
# (under CI=true, a missing server fails those tests rather than skip them).
# The connection-churn suite reads the whole process's heap, which the other
# suites (the PostgreSQL store's connection pools above all) grow while it
# measures: it runs afterwards, in a test process of its own.
SWT_EXPERIMENTAL_MAXIMUM_PARALLELIZATION_WIDTH="${NOTIFY_TEST_WIDTH:-4}" \
  scripts/postgres.sh swift test --skip-build --skip ListenerChurnAbuseTests 2>&1 | tee /tmp/notify-swift-test.log
status=${PIPESTATUS[0]}
[ "$status" = 0 ] || { echo "swift test failed ($status)"; exit "$status"; }
swift test --skip-build --filter ListenerChurnAbuseTests 2>&1 | tee -a /tmp/notify-swift-test.log
status=${PIPESTATUS[0]}
[ "$status" = 0 ] || { echo "swift test (connection churn) failed ($status)"; exit "$status"; }

stage "fuzz corpora and crash regressions, replayed"
"$(swift build --show-bin-path)/notify-fuzz" replay fuzz > /tmp/notify-fuzz-replay.log 2>&1 \
  || { tail -30 /tmp/notify-fuzz-replay.log; echo "fuzz replay failed"; exit 1; }
grep 'inputs replayed' /tmp/notify-fuzz-replay.log

stage "fuzz (each target ${NOTIFY_FUZZ_SECONDS:-10} s under libFuzzer and ASan; its own build in .build-fuzz)"
# The sanitized build adds about 4 minutes to a cold run (docs/SECURITY.md);
# NOTIFY_FUZZ_SECONDS=0 skips this step.
if [ "${NOTIFY_FUZZ_SECONDS:-10}" != 0 ]; then
  scripts/fuzz.sh all --seconds "${NOTIFY_FUZZ_SECONDS:-10}"
fi

stage "interop"
scripts/interop/run.sh "$(swift build --show-bin-path)"
stage "graph sdk (msgraph-beta-sdk lists, gets, patches and deletes through the gateway over HTTPS)"; scripts/graph-sdk/run.sh "$(swift build --show-bin-path)"

stage "gateway (schemathesis against docs/openapi.yaml, bounded)"
timeout 900 scripts/gateway-check.sh "$(swift build --show-bin-path)" 50
