#!/usr/bin/env python3
"""A stand-in OpenTelemetry collector for measuring tracing's cost: it accepts
OTLP/HTTP exports (POST /v1/traces, protobuf or JSON), answers 200 at once and
counts requests and bytes; nothing is decoded or kept. Loopback only.

Usage: scripts/perf/otlp-sink.py PORT   (prints its counts on SIGTERM or Ctrl-C)
Then: NOTIFY_OTLP_ENDPOINT=http://127.0.0.1:PORT PROFILE_SERVER=... scripts/perf/profile.sh
"""
import http.server
import signal
import sys

counts = {"requests": 0, "bytes": 0}


class Sink(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_POST(self):
        length = int(self.headers.get("Content-Length", "0"))
        self.rfile.read(length)
        counts["requests"] += 1
        counts["bytes"] += length
        self.send_response(200)
        self.send_header("Content-Type", self.headers.get("Content-Type", "application/x-protobuf"))
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


def report(*_):
    print("otlp-sink: %d exports, %d bytes" % (counts["requests"], counts["bytes"]), flush=True)
    sys.exit(0)


signal.signal(signal.SIGTERM, report)
signal.signal(signal.SIGINT, report)
http.server.ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), Sink).serve_forever()
