#!/usr/bin/env bash
# Installs what is missing, builds, and runs the service on its embedded
# defaults: SQLite in ./data, development TLS generated into ./data/tls.
# Extra arguments go to `notifyd serve` (see `notifyd serve --help`).
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="/opt/swift/usr/bin:$PATH"
scripts/install-deps.sh
swift build -c release --product notifyd
swift build -c release --product notifyctl
exec "$(swift build -c release --show-bin-path)/notifyd" serve "$@"
