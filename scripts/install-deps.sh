#!/usr/bin/env bash
# Installs what notify needs on Debian 12 and is not there yet: the C
# libraries it links (OpenSSL, protobuf-c, SQLite) and the code generators.
# Swift itself must be on PATH (the Swift 6 toolchain); Swift packages are
# fetched by `swift build`.
#
# Usage: scripts/install-deps.sh [--test | --load | --compare]
#   --test     also PostgreSQL's server (scripts/postgres.sh starts a throwaway
#              one for the PostgreSQL store's tests) and the Python packages of
#              the interop test and gateway check
#   --load     also wrk, scripts/loadtest.sh's cross-check of the gateway
#   --compare  also what scripts/compare-grpc.sh builds and measures the peers
#              with: h2load, C++ gRPC, a C++ compiler, Python grpcio
set -euo pipefail

mode=${1:-}
packages=(pkg-config openssl libssl-dev libprotobuf-c-dev protobuf-c-compiler protobuf-compiler libsqlite3-dev)
case "$mode" in
  "") ;;
  # postgresql: the PostgreSQL store's tests run against a real server (scripts/postgres.sh).
  --test) packages+=(postgresql) ;;
  --load) packages+=(wrk) ;;
  --compare) packages+=(nghttp2-client libgrpc++-dev protobuf-compiler-grpc g++) ;;
  *) echo "install-deps: unknown option $mode (--test, --load or --compare)" >&2; exit 2 ;;
esac
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  sudo=""
  [ "$(id -u)" = 0 ] || sudo="sudo"
  echo "installing: ${missing[*]}"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
fi

if [ "$mode" = "--compare" ]; then
  python3 -c 'import grpc' 2>/dev/null \
    || python3 -m pip install --quiet --disable-pip-version-check grpcio
fi

if [ "$mode" = "--test" ]; then
  python3 -c 'import google.protobuf' 2>/dev/null \
    || python3 -m pip install --quiet --disable-pip-version-check 'protobuf>=4.21,<6'
  # schemathesis drives scripts/gateway-check.sh (the REST gateway against docs/openapi.yaml).
  python3 -c 'import schemathesis' 2>/dev/null \
    || python3 -m pip install --quiet --disable-pip-version-check 'schemathesis>=4,<5'
fi

if ! command -v swift >/dev/null; then
  if [ -x /opt/swift/usr/bin/swift ]; then
    echo "swift is at /opt/swift/usr/bin: add it to PATH" >&2
  else
    echo "swift is not installed: install the Swift 6 toolchain from swift.org" >&2
  fi
  exit 1
fi
