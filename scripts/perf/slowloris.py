#!/usr/bin/env python3
"""Slowloris against a running gateway, measured.

COUNT connections, from the given loopback source addresses in turn (each
127.0.0.x stands for another client), each send one byte of a request head
every INTERVAL seconds and never finish it. Once they are open, a normal
GET /healthz from 127.0.0.1 is timed. Prints how long it waited and what
the slow connections got back (408 at the head timeout, 503 past the
per-address limit). Loopback only; runs at most DURATION seconds.

Usage: slowloris.py HTTP_PORT COUNT INTERVAL DURATION SOURCES
  e.g. slowloris.py 8080 10100 5 30 127.0.0.2
Needs COUNT file descriptors (ulimit -n).
"""
import collections
import selectors
import socket
import sys
import threading
import time

port, count, interval, duration = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3]), float(sys.argv[4])
sources = sys.argv[5].split(",")
head = b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"a" * 10000
socks, opened, outcome = [], {}, {}
start = time.monotonic()
for i in range(count):
    s = socket.socket()
    s.bind((sources[i % len(sources)], 0))
    s.settimeout(2)
    try:
        s.connect(("127.0.0.1", port))
        s.send(head[:1])
    except OSError as e:
        outcome[i] = "connect:" + type(e).__name__
        s.close(); socks.append(None); continue
    s.setblocking(False)
    socks.append(s); opened[i] = time.monotonic()
print(f"opened {len(opened)} of {count} in {time.monotonic()-start:.1f} s", flush=True)
time.sleep(1)

def normal():
    t = time.monotonic()
    c = socket.create_connection(("127.0.0.1", port), timeout=120)
    c.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    data = b""
    while True:
        chunk = c.recv(4096)
        if not chunk: break
        data += chunk
    c.close()
    return time.monotonic() - t, data[:12].decode(errors="replace")

selector = selectors.DefaultSelector()
index = {}
for i, s in enumerate(socks):
    if s is not None:
        selector.register(s, selectors.EVENT_READ); index[s.fileno()] = i
result = {}
th = threading.Thread(target=lambda: result.update(normal=normal()))
th.start()
sent = collections.Counter()
position = 1
held = []
next_send = time.monotonic() + interval
while time.monotonic() - start < duration:
    if not index: break
    for key, _ in selector.select(0.2):
        s = key.fileobj; i = index.pop(s.fileno()); selector.unregister(s)
        try:
            data = s.recv(4096)
        except OSError as e:
            data = b""; outcome[i] = "reset"
        # An answer or a close: either way the gateway has let it go.
        if i not in outcome:
            outcome[i] = data[:12].decode(errors="replace") if data else "closed"
        held.append(time.monotonic() - opened[i])
        s.close(); socks[i] = None
    if time.monotonic() >= next_send:
        for i, s in enumerate(socks):
            if s is None: continue
            try: s.send(head[position:position+1])
            except OSError: pass
        position += 1; next_send += interval
th.join()
still = sum(1 for s in socks if s is not None)
for s in socks:
    if s is not None: s.close()
print("normal request:", "%.2f s" % result["normal"][0], result["normal"][1])
print("slow connections' outcomes:", dict(collections.Counter(outcome.values())), "still open at the end:", still)
if held: print("held: min %.1f s, max %.1f s" % (min(held), max(held)))
