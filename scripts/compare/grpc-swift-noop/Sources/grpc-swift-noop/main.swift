// A no-op unary gRPC method, served the way a Swift engineer would serve it
// without notifyd: grpc-swift-2 over its HTTP/2 NIO transport, TLS by NIOSSL.
//
// Usage: grpc-swift-noop PORT CERT.pem KEY.pem
// PORT 0 picks a free port; the chosen one is printed as
// "listening on 127.0.0.1:PORT" once the server accepts connections.
//
// The method is /noop.v1.Noop/Call. It reads the request as raw bytes (no
// protobuf code generation, so the comparison measures the transport, not a
// codec) and answers a fixed 2-byte message, the size of notifyd's health
// answer (HealthCheckResponse{status: SERVING} is 08 01).
import Foundation
import GRPCCore
import GRPCNIOTransportHTTP2Posix

/// Passes the message bytes through unchanged.
struct RawSerializer: MessageSerializer {
    func serialize<Bytes: GRPCContiguousBytes>(_ message: [UInt8]) throws -> Bytes {
        Bytes(message)
    }
}

/// Hands the handler the message bytes unchanged.
struct RawDeserializer: MessageDeserializer {
    func deserialize<Bytes: GRPCContiguousBytes>(_ serializedMessageBytes: Bytes) throws -> [UInt8] {
        serializedMessageBytes.withUnsafeBytes { Array($0) }
    }
}

let arguments = CommandLine.arguments
guard arguments.count == 4, let port = Int(arguments[1]) else {
    FileHandle.standardError.write(Data("usage: grpc-swift-noop PORT CERT.pem KEY.pem\n".utf8))
    exit(2)
}

let answer: [UInt8] = [0x08, 0x01]
var router = RPCRouter<HTTP2ServerTransport.Posix>()
router.registerHandler(
    forMethod: MethodDescriptor(fullyQualifiedService: "noop.v1.Noop", method: "Call"),
    deserializer: RawDeserializer(),
    serializer: RawSerializer()
) { request, _ in
    // A unary call: exactly one message in, one out.
    let single = try await ServerRequest(stream: request)
    _ = single.message
    return StreamingServerResponse(single: ServerResponse(message: answer))
}

let transport = HTTP2ServerTransport.Posix(
    address: .ipv4(host: "127.0.0.1", port: port),
    transportSecurity: .tls(
        certificateChain: [.file(path: arguments[2], format: .pem)],
        privateKey: .file(path: arguments[3], format: .pem)
    ),
    config: .defaults { config in
        // notifyd allows many calls per connection; don't let the peer's
        // default stream limit be what the comparison measures.
        config.http2.maxConcurrentStreams = 1024
    }
)
let server = GRPCServer(transport: transport, router: router)

try await withThrowingDiscardingTaskGroup { group in
    group.addTask { try await server.serve() }
    guard let bound = try await server.listeningAddress?.ipv4 else {
        FileHandle.standardError.write(Data("grpc-swift-noop: the server did not bind\n".utf8))
        exit(1)
    }
    print("listening on 127.0.0.1:\(bound.port)")
    fflush(nil)  // all streams: stdout itself is a global Swift 6 refuses to touch
}
