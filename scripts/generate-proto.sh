#!/usr/bin/env bash
# Regenerates Sources/CNotifyProto from proto/ with protoc-c.
#
# The generated C is committed so that a build needs only libprotobuf-c, not
# the compiler; Tests/NotifyWireTests checks that it is not stale by running
# this script with --check.
set -euo pipefail
cd "$(dirname "$0")/.."

out=Sources/CNotifyProto
check=0
[ "${1:-}" = "--check" ] && check=1

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
protoc-c --proto_path=proto --c_out="$tmp" proto/notify/v1/*.proto

# SwiftPM wants public headers under include/; the generated .c files include
# "notify/v1/x.pb-c.h", which resolves there.
mkdir -p "$tmp/layout/include/notify/v1" "$tmp/layout/notify/v1"
for f in "$tmp"/notify/v1/*.pb-c.h; do cp "$f" "$tmp/layout/include/notify/v1/"; done
for f in "$tmp"/notify/v1/*.pb-c.c; do cp "$f" "$tmp/layout/notify/v1/"; done

if [ $check = 1 ]; then
  if diff -r "$tmp/layout/include/notify" "$out/include/notify" >/dev/null \
     && diff -r "$tmp/layout/notify" "$out/notify" >/dev/null; then
    echo "generated code is up to date"
    exit 0
  fi
  echo "generated code in $out is stale: run scripts/generate-proto.sh" >&2
  diff -r "$tmp/layout/notify" "$out/notify" >&2 || true
  exit 1
fi

rm -rf "$out/notify" "$out/include/notify"
mkdir -p "$out"
cp -r "$tmp/layout/notify" "$out/"
cp -r "$tmp/layout/include" "$out/"
echo "regenerated $out"
