#!/usr/bin/env python3
"""Measures the server's memory per idle TLS connection.

Opens N TLS connections (ALPN notify/1) to a notifyd, reads each one's
settings frame so the handshake is complete on both sides, holds them all
open, and compares the server's RSS (from /proc/PID/status) before and after.
Loopback only; it closes everything and exits by itself.

The connections never call, and there are more of them than notifyd's
defaults hold, so the server needs --max-connections above N and
--first-call-timeout 0 (or longer than the run). With --notifyd the script
starts the server itself with those flags (in a temporary data folder, no
gateway) and stops it at the end; with --pid it measures a server already
running, which must have been started with them: a connection the server
closes fails the run.

Usage: idle_connections.py --notifyd PATH [--connections 10000]
       idle_connections.py --pid PID --port PORT --ca CA [--connections 10000]
Prints one line of results, or JSON with --json.
"""
import argparse
import json
import os
import re
import resource
import select
import shutil
import signal
import socket
import ssl
import struct
import subprocess
import tempfile
import time


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError("no VmRSS")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--notifyd", help="start this notifyd with the flags the run needs")
    parser.add_argument("--pid", type=int)
    parser.add_argument("--port", type=int)
    parser.add_argument("--ca")
    parser.add_argument("--connections", type=int, default=10000)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    if not args.notifyd and not (args.pid and args.port and args.ca):
        parser.error("give --notifyd PATH, or --pid, --port and --ca of a running server")

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = args.connections + 100
    if soft < want:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(want, hard), hard))

    server = None
    if args.notifyd:
        server = start_notifyd(args.notifyd, args.connections)
        args.pid, args.port, args.ca = server["process"].pid, server["port"], server["ca"]
    try:
        measure(args)
    finally:
        if server:
            server["process"].send_signal(signal.SIGTERM)
            server["process"].wait(timeout=60)
            shutil.rmtree(server["directory"], ignore_errors=True)


def start_notifyd(path, connections):
    """Starts notifyd with room for every connection and no first-call timeout."""
    directory = tempfile.mkdtemp(prefix="idle-connections-")
    log_path = os.path.join(directory, "notifyd.log")
    log = open(log_path, "w")
    process = subprocess.Popen(
        [path, "serve", "--data-dir", os.path.join(directory, "data"), "--rpc-port", "0", "--no-gateway",
         "--max-connections", str(connections + 64), "--first-call-timeout", "0"],
        stdout=subprocess.DEVNULL, stderr=log)
    deadline = time.time() + 60
    while time.time() < deadline:
        with open(log_path) as text:
            lines = [line for line in text if "RPC server listening" in line]
        match = re.search(r"notify\.rpc\.address=\S*:(\d+)", lines[0]) if lines else None
        if match:
            return {"process": process, "port": int(match.group(1)), "directory": directory,
                    "ca": os.path.join(directory, "data", "tls", "ca.crt")}
        if process.poll() is not None:
            with open(log_path) as text:
                raise RuntimeError(f"notifyd exited {process.returncode}:\n{text.read()}")
        time.sleep(0.05)
    process.kill()
    raise RuntimeError("notifyd did not listen within 60 s")


def measure(args):
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
    closed = sum(1 for sock in held if closed_by_server(sock))
    if closed:
        raise RuntimeError(f"the server closed {closed} of the {args.connections} connections: run it with "
                           f"--max-connections above {args.connections} and --first-call-timeout 0, or use --notifyd")

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


def closed_by_server(sock):
    """True when the server sent something (a goaway) or closed: an idle connection gets neither."""
    readable, _, _ = select.select([sock], [], [], 0)
    return bool(readable)


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
