"""A no-op unary gRPC method on Python grpcio, for scripts/compare-grpc.sh.

Usage: python3 noop_server.py PORT CERT.pem KEY.pem [THREADS]
PORT 0 picks a free port; the chosen one is printed as
"listening on 127.0.0.1:PORT" once the server accepts connections.

The method is /noop.v1.Noop/Call, registered through a generic handler with
identity (de)serializers: raw bytes in, a fixed 2-byte answer out, the size of
notifyd's health answer (HealthCheckResponse{status: SERVING} is 08 01).

THREADS (default 64) sizes the handler pool. A no-op handler holds a worker
for microseconds and the interpreter lock serializes handlers anyway, so more
workers than that only add contention; the calls in flight beyond the pool
wait in grpcio's queue, which is what a real grpcio service does under load.
"""

import sys
import threading
from concurrent import futures

import grpc

ANSWER = b"\x08\x01"


def call(request, context):
    return ANSWER


def main():
    if len(sys.argv) not in (4, 5):
        print("usage: noop_server.py PORT CERT.pem KEY.pem [THREADS]", file=sys.stderr)
        return 2
    port, cert_path, key_path = sys.argv[1], sys.argv[2], sys.argv[3]
    threads = int(sys.argv[4]) if len(sys.argv) == 5 else 64
    with open(cert_path, "rb") as f:
        cert = f.read()
    with open(key_path, "rb") as f:
        key = f.read()

    identity = lambda data: data  # noqa: E731 - raw bytes, no protobuf codegen
    handler = grpc.method_handlers_generic_handler(
        "noop.v1.Noop",
        {
            "Call": grpc.unary_unary_rpc_method_handler(
                call, request_deserializer=identity, response_serializer=identity
            )
        },
    )
    server = grpc.server(
        futures.ThreadPoolExecutor(max_workers=threads),
        handlers=[handler],
        options=[("grpc.max_concurrent_streams", 1024)],
    )
    bound = server.add_secure_port(
        "127.0.0.1:" + port, grpc.ssl_server_credentials([(key, cert)])
    )
    if bound == 0:
        print("noop_server.py: could not listen on 127.0.0.1:" + port, file=sys.stderr)
        return 1
    server.start()
    print("listening on 127.0.0.1:%d" % bound, flush=True)
    stop = threading.Event()
    try:
        stop.wait()
    except KeyboardInterrupt:
        pass
    server.stop(0)
    return 0


if __name__ == "__main__":
    sys.exit(main())
