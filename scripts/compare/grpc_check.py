"""Checks that a no-op gRPC peer answers correctly before it is measured.

Usage: python3 grpc_check.py PORT CA.pem REQUEST_BYTES

h2load counts HTTP statuses only: a gRPC error is still HTTP 200, with the
error in the trailers. So before a row is measured, a real gRPC client
(grpcio, verifying the server certificate against CA.pem) makes a few calls
of the measured shape and requires status OK and the fixed 2-byte answer.
"""

import sys

import grpc

METHOD = "/noop.v1.Noop/Call"
ANSWER = b"\x08\x01"


def main():
    port, ca_path, size = sys.argv[1], sys.argv[2], int(sys.argv[3])
    with open(ca_path, "rb") as f:
        credentials = grpc.ssl_channel_credentials(root_certificates=f.read())
    with grpc.secure_channel("127.0.0.1:" + port, credentials) as channel:
        call = channel.unary_unary(
            METHOD, request_serializer=lambda b: b, response_deserializer=lambda b: b
        )
        for _ in range(3):
            answer, rpc = call.with_call(b"x" * size, timeout=10)
            if rpc.code() != grpc.StatusCode.OK or answer != ANSWER:
                print("unexpected answer: %s %r" % (rpc.code(), answer), file=sys.stderr)
                return 1
        try:
            channel.unary_unary("/noop.v1.Noop/Missing")(b"", timeout=10)
        except grpc.RpcError as error:
            if error.code() != grpc.StatusCode.UNIMPLEMENTED:
                print("unknown method answered %s" % error.code(), file=sys.stderr)
                return 1
        else:
            print("an unknown method was answered OK", file=sys.stderr)
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
