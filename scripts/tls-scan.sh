#!/usr/bin/env bash
# The TLS verdict of docs/SECURITY.md, for both ports of a fresh notifyd on
# loopback (a temporary data folder, its development certificate).
#
# - The gateway, served over HTTPS: testssl.sh (Debian's package), every check.
# - The RPC port: testssl.sh cannot offer ALPN, and the RPC port refuses a
#   handshake without `notify/1`, so it is probed with `openssl s_client
#   -alpn notify/1`: each protocol version, each TLS 1.2 cipher and each
#   TLS 1.3 suite OpenSSL knows (client security level 0, so that every refusal
#   is the server's), and a handshake without ALPN.
# Both listeners are built from the same TLSContext (NotifyTLS), so testssl's
# findings on the gateway hold for the RPC port's ciphers and options too.
#
# Usage: scripts/tls-scan.sh [BIN_DIR]   (default: this checkout's debug build)
# Takes about 10 minutes, most of it testssl.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="/opt/swift/usr/bin:$PATH"

command -v testssl >/dev/null || {
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq testssl.sh openssl >/dev/null
}
if [ $# -ge 1 ]; then
  bin=$1
else
  swift build --product notifyd >&2
  bin=$(swift build --show-bin-path)
fi

work=$(mktemp -d)
pid=""
cleanup() {
  [ -n "$pid" ] && kill -TERM "$pid" 2>/dev/null && wait "$pid" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# A first run makes the development certificates; the second serves HTTPS with them.
rpc=$(free_port)
https=$(free_port)
"$bin/notifyd" serve --data-dir "$work/data" --rpc-port "$rpc" --no-gateway > "$work/first.log" 2>&1 &
pid=$!
for _ in $(seq 1 100); do [ -s "$work/data/tls/server.key" ] && break; sleep 0.1; done
kill -TERM "$pid"; wait "$pid" || true
"$bin/notifyd" serve --data-dir "$work/data" --rpc-port "$rpc" --http-port "$https" \
  --http-tls-cert "$work/data/tls/server.crt" --http-tls-key "$work/data/tls/server.key" > "$work/serve.log" 2>&1 &
pid=$!
for port in "$rpc" "$https"; do
  for _ in $(seq 1 100); do
    python3 -c "import socket; socket.create_connection(('127.0.0.1', $port), 1)" 2>/dev/null && break
    sleep 0.1
  done
done
ca="$work/data/tls/ca.crt"

echo "== RPC port 127.0.0.1:$rpc (openssl s_client -alpn notify/1)"
# probe ARGS...: "accepted PROTOCOL CIPHER" when the handshake completes, else "refused".
probe() {
  local out
  out=$(timeout 5 openssl s_client -connect "127.0.0.1:$rpc" -CAfile "$ca" "$@" < /dev/null 2>/dev/null | tr -d '\000' || true)
  if grep -aq "Verify return code: 0" <<< "$out" && grep -aq "^New, TLS" <<< "$out"; then
    echo "accepted $(sed -n 's/^New, \(TLSv[0-9.]*\), Cipher is \(.*\)$/\1 \2/p' <<< "$out" | head -1)"
  else
    echo refused
  fi
}
for version in -tls1 -tls1_1 -tls1_2 -tls1_3; do
  echo "  protocol ${version#-}: $(probe -alpn notify/1 "$version" -cipher 'ALL:@SECLEVEL=0')"
done
echo "  TLS 1.3 without ALPN: $(probe -tls1_3)"
echo "  TLS 1.2 without ALPN: $(probe -tls1_2)"
echo "  TLS 1.3 with ALPN h2 only: $(probe -tls1_3 -alpn h2)"
accepted=()
total=0
for cipher in $(openssl ciphers -tls1_2 'ALL:COMPLEMENTOFALL:@SECLEVEL=0' | tr ':' ' '); do
  case "$cipher" in TLS_*) continue ;; esac
  total=$((total + 1))
  result=$(probe -alpn notify/1 -tls1_2 -cipher "$cipher:@SECLEVEL=0")
  [ "$result" = refused ] || accepted+=("$cipher")
done
echo "  TLS 1.2 ciphers accepted: ${#accepted[@]} of $total tried: ${accepted[*]}"
for suite in TLS_AES_128_GCM_SHA256 TLS_AES_256_GCM_SHA384 TLS_CHACHA20_POLY1305_SHA256 \
  TLS_AES_128_CCM_SHA256 TLS_AES_128_CCM_8_SHA256; do
  echo "  TLS 1.3 $suite: $(probe -alpn notify/1 -tls1_3 -ciphersuites "$suite")"
done

echo "== gateway over HTTPS 127.0.0.1:$https (testssl.sh)"
testssl --quiet --color 0 --warnings off --ip one "127.0.0.1:$https" | tee "$work/testssl.txt" \
  | grep -E "^ (SSLv|TLS 1|Obsolete|Strong|PFS|Has server|Negotiated|Secure|Heartbleed|CCS|ROBOT|CRIME|BREACH|POODLE|TLS_FALLBACK|SWEET32|FREAK|DROWN|LOGJAM|BEAST|LUCKY13|RC4|Session)" || true
