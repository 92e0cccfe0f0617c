#!/usr/bin/env python3
"""Measures the server's memory per idle TLS connection.

Opens N TLS connections (ALPN notify/1) to a running notifyd, reads each
one's settings frame so the handshake is complete on both sides, holds them
all open, and compares the server's RSS (from /proc/PID/status) before and
after. Loopback only; it closes everything and exits by itself.

Usage: idle_connections.py --pid PID --port PORT --ca CA [--connections 10000]
Prints one line of results, or JSON with --json.
"""
import argparse
import json
import resource
import socket
import ssl
import struct
import time


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError("no VmRSS")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--pid", type=int, required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--ca", required=True)
    parser.add_argument("--connections", type=int, default=10000)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = args.connections + 100
    if soft < want:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(want, hard), hard))

    context = ssl.create_default_context(cafile=args.ca)
    context.set_alpn_protocols(["notify/1"])

    # Warm the server with a few connections so one-time allocations are not counted.
    warm = []
    for _ in range(16):
        warm.append(open_connection(context, args.port))
    time.sleep(0.5)
    before = rss_kib(args.pid)

    held = []
    started = time.time()
    for _ in range(args.connections):
        held.append(open_connection(context, args.port))
    opened = time.time() - started
    time.sleep(2)
    after = rss_kib(args.pid)

    per_connection = (after - before) * 1024 / args.connections
    result = {
        "connections": args.connections,
        "rss_before_kib": before,
        "rss_after_kib": after,
        "bytes_per_connection": round(per_connection),
        "seconds_to_open": round(opened, 2),
    }
    for sock in held + warm:
        sock.close()
    if args.json:
        print(json.dumps(result))
    else:
        print(f"{args.connections} idle TLS connections: RSS {before} KiB -> {after} KiB, "
              f"{per_connection / 1024:.1f} KiB per connection (opened in {opened:.1f} s)")


def open_connection(context, port):
    raw = socket.create_connection(("127.0.0.1", port), timeout=30)
    sock = context.wrap_socket(raw, server_hostname="localhost")
    header = read_exact(sock, 5)
    _, length = struct.unpack(">BI", header)
    read_exact(sock, length)  # the settings frame
    return sock


def read_exact(sock, count):
    data = b""
    while len(data) < count:
        chunk = sock.recv(count - len(data))
        if not chunk:
            raise EOFError("closed")
        data += chunk
    return data


if __name__ == "__main__":
    main()
