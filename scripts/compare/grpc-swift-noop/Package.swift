// swift-tools-version:6.1
// A no-op unary gRPC server on grpc-swift-2 and its HTTP/2 NIO transport over
// TLS (NIOSSL): the peer a Swift engineer would pick instead of notifyd, for
// scripts/compare-grpc.sh. A package of its own so that the service's package
// does not depend on gRPC.
import PackageDescription

let package = Package(
    name: "grpc-swift-noop",
    platforms: [.macOS(.v15)],
    dependencies: [
        .package(url: "https://github.com/grpc/grpc-swift-2.git", from: "2.4.3"),
        .package(url: "https://github.com/grpc/grpc-swift-nio-transport.git", from: "2.9.2"),
    ],
    targets: [
        .executableTarget(
            name: "grpc-swift-noop",
            dependencies: [
                .product(name: "GRPCCore", package: "grpc-swift-2"),
                .product(name: "GRPCNIOTransportHTTP2Posix", package: "grpc-swift-nio-transport"),
            ],
            swiftSettings: [.enableUpcomingFeature("ExistentialAny")]
        )
    ]
)
