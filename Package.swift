// swift-tools-version:6.1
// notify: a notification service. One module per layer; dependencies point
// one way (docs/ARCHITECTURE.md draws them).
import PackageDescription

let swiftSettings: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny"),
    .enableUpcomingFeature("InternalImportsByDefault"),
    .enableUpcomingFeature("MemberImportVisibility"),
]

let nioCore = Target.Dependency.product(name: "NIOCore", package: "swift-nio")
let nioPosix = Target.Dependency.product(name: "NIOPosix", package: "swift-nio")
let logging = Target.Dependency.product(name: "Logging", package: "swift-log")
let lifecycle = Target.Dependency.product(name: "ServiceLifecycle", package: "swift-service-lifecycle")
let argumentParser = Target.Dependency.product(name: "ArgumentParser", package: "swift-argument-parser")
let coreMetrics = Target.Dependency.product(name: "CoreMetrics", package: "swift-metrics")
let atomics = Target.Dependency.product(name: "Atomics", package: "swift-atomics")

let package = Package(
    name: "notify",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "notifyd", targets: ["notifyd"]),
        .executable(name: "notifyctl", targets: ["notifyctl"]),
        .library(name: "NotifyClient", targets: ["NotifyClient"]),
        .executable(name: "notify-bench", targets: ["NotifyBench"]),
        .executable(name: "notify-load", targets: ["NotifyLoad"]),
        .executable(name: "notify-fuzz", targets: ["NotifyFuzz"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
        .package(url: "https://github.com/groue/GRDB.swift.git", from: "7.10.0"),
        .package(url: "https://github.com/adam-fowler/compress-nio.git", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-nio-extras.git", from: "1.35.2"),
        .package(url: "https://github.com/swift-server/async-http-client.git", from: "1.37.0"),
        .package(url: "https://github.com/HdrHistogram/hdrhistogram-swift.git", from: "0.2.0"),
        // notifyd's settings: flags, then NOTIFY_* variables, then defaults. No traits: no file formats.
        .package(url: "https://github.com/apple/swift-configuration.git", from: "1.4.0", traits: []),
        // The PostgreSQL store's client (it brings swift-nio-ssl for the database link's TLS).
        .package(url: "https://github.com/vapor/postgres-nio.git", from: "1.33.2"),
        // Metrics (the API each layer records through) and their Prometheus exposition at /metrics.
        .package(url: "https://github.com/apple/swift-metrics.git", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus.git", from: "2.4.1"),
        .package(url: "https://github.com/apple/swift-atomics.git", from: "1.3.0"),
        // Tracing: the API the layers call, and its OTLP exporter for notifyd only. OTLP/HTTP alone:
        // the default traits also build the gRPC exporter and its whole gRPC stack.
        .package(url: "https://github.com/apple/swift-distributed-tracing.git", from: "1.7.3"),
        .package(url: "https://github.com/swift-otel/swift-otel.git", from: "1.6.0", traits: ["OTLPHTTP"]),
    ],
    targets: [
        // System libraries, linked from the distribution so operators get its updates.
        .systemLibrary(
            name: "COpenSSL",
            pkgConfig: "openssl",
            providers: [.apt(["libssl-dev"])]
        ),
        .systemLibrary(
            name: "CProtobufC",
            pkgConfig: "libprotobuf-c",
            providers: [.apt(["libprotobuf-c-dev"])]
        ),
        // protoc-c output for proto/, committed; scripts/generate-proto.sh rewrites it.
        .target(name: "CNotifyProto", dependencies: ["CProtobufC"]),
        // glibc's mallopt, which Swift's Glibc module does not export (notifyd's MallocTuning).
        .target(name: "CMallocTuning"),

        // Layers.
        // The vocabulary every layer shares (StatusCode, Reason, RPCError, Metadata, MethodDescriptor,
        // CallerMemo) and the in-process transport's protocol. No C; NIOCore for one type only:
        // InProcessEndpoint takes the caller's EventLoop, where a unary answer is built and delivered
        // (the gateway's staged path costs no task and no extra hop that way).
        .target(
            name: "NotifyCore",
            dependencies: [nioCore],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "NotifyCrypto",
            dependencies: ["COpenSSL"],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "NotifyTLS",
            dependencies: ["COpenSSL", nioCore, logging],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "NotifyWire",
            dependencies: ["NotifyCore", "CNotifyProto", nioCore],
            swiftSettings: swiftSettings
        ),
        // The one JSON reader and writer: the gateway, notifyctl and the store use it.
        .target(name: "NotifyJSON", swiftSettings: swiftSettings),
        .target(
            name: "NotifyDomain",
            dependencies: ["NotifyJSON"],
            swiftSettings: swiftSettings
        ),
        // The RPC messages as plain values and the methods that carry them: no C, no NIO.
        .target(
            name: "NotifyMessages",
            dependencies: ["NotifyCore", "NotifyDomain"],
            swiftSettings: swiftSettings
        ),
        // The messages' protobuf encoding, through the committed protoc-c output.
        .target(
            name: "NotifyProtobuf",
            dependencies: ["CNotifyProto", "NotifyMessages", "NotifyDomain", nioCore],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "NotifyStorage",
            dependencies: ["NotifyDomain", lifecycle, coreMetrics],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "NotifyStorageSQLite",
            dependencies: [
                "NotifyStorage", "NotifyDomain", "NotifyJSON", "NotifyCrypto", .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "GRDBSQLite", package: "GRDB.swift"), logging, lifecycle,
            ],
            swiftSettings: swiftSettings
        ),
        // The PostgreSQL store, on postgres-nio: for several instances sharing one database.
        .target(
            name: "NotifyStoragePostgres",
            dependencies: [
                "NotifyStorage", "NotifyDomain", "NotifyJSON", .product(name: "PostgresNIO", package: "postgres-nio"),
                logging, lifecycle, nioCore,
            ],
            swiftSettings: swiftSettings
        ),
        // Tracing's vocabulary: the optional tracer, spans, W3C Trace Context in RPC metadata. The
        // tracing API only; the exporter is notifyd's.
        .target(
            name: "NotifyTracing",
            dependencies: ["NotifyCore", .product(name: "Tracing", package: "swift-distributed-tracing")],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "NotifyServer",
            dependencies: [
                "NotifyCore", "NotifyWire", "NotifyTLS", "NotifyMessages", "NotifyProtobuf", "NotifyDomain", "NotifyStorage", "NotifyCrypto",
                nioCore, nioPosix, logging, lifecycle,
                coreMetrics, atomics,
                "NotifyTracing",
            ],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "NotifyClient",
            dependencies: [
                "NotifyCore", "NotifyWire", "NotifyTLS", "NotifyMessages", "NotifyProtobuf", "NotifyDomain", nioCore, nioPosix,
                logging,
            ],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "NotifyGateway",
            dependencies: [
                // No wire, no codecs, no crypto: calls go through NotifyClient.
                "NotifyClient", "NotifyCore", "NotifyTLS", "NotifyMessages", "NotifyDomain", "NotifyJSON",
                .product(name: "CompressNIO", package: "compress-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOExtras", package: "swift-nio-extras"),
                nioCore, nioPosix, logging, lifecycle, coreMetrics,
                "NotifyTracing", .product(name: "Tracing", package: "swift-distributed-tracing"),
            ],
            // The OpenAPI document's one source (docs/openapi.yaml links to it), compiled into the binary.
            resources: [.embedInCode("openapi.yaml")],
            swiftSettings: swiftSettings
        ),
        // The operators' listener: Prometheus metrics at /metrics and readiness at /readyz, on a port of its own.
        .target(
            name: "NotifyMetricsServer",
            dependencies: [
                "NotifyCore", .product(name: "Prometheus", package: "swift-prometheus"), .product(name: "NIOHTTP1", package: "swift-nio"),
                nioCore, nioPosix, logging, lifecycle,
            ],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "NotifyTesting",
            dependencies: [
                "NotifyTLS", "NotifyServer", "NotifyStorageSQLite", "NotifyStorage", "NotifyClient", "NotifyCore", "NotifyWire",
                "NotifyDomain", "CMallocTuning",
                nioCore, nioPosix, logging, lifecycle, .product(name: "GRDB", package: "GRDB.swift"),
            ],
            swiftSettings: swiftSettings
        ),

        // Thin executables.
        .executableTarget(
            name: "notifyd",
            dependencies: [
                "NotifyServer", "NotifyStorageSQLite", "NotifyStoragePostgres", "NotifyStorage", "NotifyDomain", "NotifyTLS",
                "NotifyGateway", "NotifyClient", "CMallocTuning", argumentParser, logging, lifecycle, nioCore, nioPosix,
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
                .product(name: "Configuration", package: "swift-configuration"),
                "NotifyMetricsServer", .product(name: "Prometheus", package: "swift-prometheus"),
                "NotifyTracing", .product(name: "OTel", package: "swift-otel"),
            ],
            swiftSettings: swiftSettings
        ),
        .executableTarget(
            name: "notifyctl",
            dependencies: ["NotifyClient", "NotifyCore", "NotifyDomain", "NotifyJSON", "NotifyProtobuf", argumentParser, logging],
            swiftSettings: swiftSettings
        ),

        .executableTarget(
            name: "NotifyBench",
            dependencies: [
                "NotifyCore", "NotifyWire", "NotifyMessages", "NotifyProtobuf", "NotifyDomain", "NotifyJSON", "NotifyStorage", "NotifyStorageSQLite", "NotifyStoragePostgres",
                "NotifyTLS", nioCore, logging, .product(name: "NIOEmbedded", package: "swift-nio"),
                .product(name: "GRDB", package: "GRDB.swift"), .product(name: "GRDBSQLite", package: "GRDB.swift"),
            ],
            swiftSettings: swiftSettings
        ),
        .executableTarget(
            name: "NotifyLoad",
            dependencies: [
                "NotifyClient", "NotifyCore", "NotifyMessages", "NotifyProtobuf", "NotifyDomain", "NotifyWire", "NotifyTLS", "NotifyJSON",
                nioCore, nioPosix, .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "Histogram", package: "hdrhistogram-swift"), argumentParser,
            ],
            swiftSettings: swiftSettings
        ),
        // libFuzzer targets (fuzz/README.md). Built normally it replays the committed corpora and
        // crash regressions (scripts/test.sh); scripts/fuzz.sh builds it with -sanitize=fuzzer
        // -DFUZZING into .build-fuzz, where main runs libFuzzer's LLVMFuzzerRunDriver (CLibFuzzer).
        .target(name: "CLibFuzzer"),
        .executableTarget(
            name: "NotifyFuzz",
            dependencies: ["CLibFuzzer", "NotifyCore", "NotifyWire", "NotifyMessages", "NotifyProtobuf", "NotifyDomain", "NotifyJSON", "NotifyGateway", "NotifyServer", nioCore],
            swiftSettings: swiftSettings
        ),

        // Tests.
        .testTarget(name: "NotifyCoreTests", dependencies: ["NotifyCore"], swiftSettings: swiftSettings),
        .testTarget(
            name: "NotifyTLSTests",
            dependencies: ["NotifyTLS", "NotifyCrypto", "NotifyTesting", nioCore, nioPosix, .product(name: "NIOEmbedded", package: "swift-nio")],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "NotifyWireTests",
            dependencies: ["NotifyCore", "NotifyWire", "NotifyMessages", "NotifyProtobuf", "NotifyDomain", nioCore, .product(name: "NIOTestUtils", package: "swift-nio")],
            swiftSettings: swiftSettings
        ),
        .testTarget(name: "NotifyJSONTests", dependencies: ["NotifyJSON"], swiftSettings: swiftSettings),
        .testTarget(name: "NotifyDomainTests", dependencies: ["NotifyDomain", "NotifyJSON"], swiftSettings: swiftSettings),
        // notifyd's settings against --help and docs/OPERATIONS.md.
        .testTarget(
            name: "NotifydTests",
            dependencies: [
                "notifyd", "NotifyServer", "NotifyGateway", "NotifyClient", "NotifyDomain", "NotifyStorageSQLite", "NotifyTLS",
                "NotifyStoragePostgres", "NotifyStorage", "NotifyTesting", "NotifyCore", "NotifyMessages", argumentParser,
                logging, nioCore, nioPosix, .product(name: "Configuration", package: "swift-configuration"),
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "NotifyClientTests",
            dependencies: [
                "NotifyClient", "NotifyCore", "NotifyWire", "NotifyTLS", "NotifyTesting", nioCore, nioPosix,
                .product(name: "NIOEmbedded", package: "swift-nio"),
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "NotifyServerTests",
            dependencies: [
                "NotifyServer", "NotifyCore", "NotifyMessages", "NotifyProtobuf", "NotifyWire", "NotifyTLS", "NotifyCrypto", nioCore, logging,
                .product(name: "NIOEmbedded", package: "swift-nio"), .product(name: "MetricsTestKit", package: "swift-metrics"),
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "NotifyStorageTests",
            dependencies: [
                "NotifyStorage", "NotifyStorageSQLite", "NotifyStoragePostgres", "NotifyDomain", "NotifyJSON", logging, lifecycle,
                .product(name: "ServiceLifecycleTestKit", package: "swift-service-lifecycle"),
                .product(name: "GRDB", package: "GRDB.swift"), .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "MetricsTestKit", package: "swift-metrics"),
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "NotifyGatewayTests",
            dependencies: [
                "NotifyGateway", "NotifyTesting", "NotifyMessages", "NotifyServer", "NotifyClient", "NotifyCore", "NotifyWire", "NotifyDomain", "NotifyJSON",
                "NotifyTLS",
                "NotifyStorageSQLite",
                "NotifyMetricsServer",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "CompressNIO", package: "compress-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"), .product(name: "NIOEmbedded", package: "swift-nio"),
                nioCore, nioPosix, logging, lifecycle,
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "NotifyEndToEndTests",
            dependencies: [
                "NotifyTesting", "NotifyServer", "NotifyClient", "NotifyCore", "NotifyWire", "NotifyMessages", "NotifyProtobuf", "NotifyDomain",
                "NotifyTLS", "NotifyStorageSQLite", "NotifyStorage", "NotifyJSON", nioCore, nioPosix, logging, .product(name: "GRDB", package: "GRDB.swift"),
                "NotifyStoragePostgres", lifecycle,
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "NotifyLoadTests",
            dependencies: [
                "NotifyLoad", "NotifyTesting", "NotifyDomain", "NotifyStorageSQLite", "NotifyClient", "NotifyMessages",
                "NotifyServer", nioCore, nioPosix, argumentParser,
                .product(name: "NIOHTTP1", package: "swift-nio"), .product(name: "Histogram", package: "hdrhistogram-swift"),
            ],
            swiftSettings: swiftSettings
        ),
    ]
)
