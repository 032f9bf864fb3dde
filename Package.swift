// swift-tools-version: 6.1
import PackageDescription

let strict: [SwiftSetting] = [
    .swiftLanguageMode(.v6),
    // The strict upcoming features Hummingbird builds with: explicit `any`, imports that say what they bring in.
    .enableUpcomingFeature("ExistentialAny"),
    .enableUpcomingFeature("MemberImportVisibility"),
    .enableUpcomingFeature("InternalImportsByDefault"),
]

let package = Package(
    name: "Mend",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "mend", targets: ["mend"])
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-crypto", from: "3.12.3"),
        .package(url: "https://github.com/jpsim/Yams", from: "6.2.2"),
        .package(url: "https://github.com/vapor/postgres-nio", from: "1.33.2"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/modelcontextprotocol/swift-sdk", from: "0.12.1"),
        .package(url: "https://github.com/swift-server/async-http-client", from: "1.37.0"),
        // Already resolved through async-http-client; named for the products Mend imports itself
        // (NIOCore, NIOConcurrencyHelpers' lock box, the server's HTTP/1 pipeline).
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
        // `mend serve`'s /metrics: the swift-metrics API, exported in Prometheus text by swift-prometheus.
        .package(url: "https://github.com/apple/swift-metrics", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
        // Already resolved through postgres-nio; named for the TLS configuration of PostgreSQL connections.
        .package(url: "https://github.com/apple/swift-nio-ssl", from: "2.37.6"),
        // `mend consume`: graceful shutdown on SIGTERM/SIGINT (finish the batch in flight), then a bounded exit.
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
        // `mend serve`'s HTTP layer: timeouts, a connection cap, streamed bodies and graceful shutdown (D8, D13).
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1"),
        .package(url: "https://github.com/apple/swift-http-types", from: "1.8.0"),
        .package(url: "https://github.com/apple/swift-nio-extras", from: "1.35.2"),
    ],
    targets: [
        .systemLibrary(name: "CSQLite", pkgConfig: "sqlite3", providers: [.apt(["libsqlite3-dev"])]),
        // Debian's libpg-query-dev ships no .pc file, so the modulemap links it directly.
        .systemLibrary(name: "CPgQuery", providers: [.apt(["libpg-query-dev"])]),
        // The NATS C client (JetStream pull consumers); Debian's libnats-dev ships a .pc file but the link is plain.
        .systemLibrary(name: "CNats", providers: [.apt(["libnats-dev"])]),
        // The Kafka C client (consumer groups, offsets, rebalances); Debian's librdkafka-dev (2.0.2).
        .systemLibrary(name: "CRdKafka", pkgConfig: "rdkafka", providers: [.apt(["librdkafka-dev"])]),
        .target(name: "MendCore", swiftSettings: strict),
        .target(name: "MendGuard", dependencies: ["MendCore", "CPgQuery"], swiftSettings: strict),
        .target(
            name: "MendStore",
            dependencies: [
                "MendCore", "CSQLite",
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                // TLS to PostgreSQL; NIOPosix for the connect errors a failed connection explains.
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ],
            swiftSettings: strict),
        .target(
            name: "MendPipeline",
            dependencies: [
                "MendCore", "MendStore", "MendGuard",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Yams", package: "Yams"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                // Notify/: notifications POSTed to webhooks, off the hot path.
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
            ],
            swiftSettings: strict),
        // `mend consume`: a record source on NATS JetStream. Its own target, so MendPipeline never links libnats.
        .target(
            name: "MendNATS",
            dependencies: [
                "CNats", "MendCore", "MendStore", "MendPipeline",
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
            ],
            swiftSettings: strict),
        // `mend consume kafka://…`: a record source on a Kafka consumer group. Its own target, so
        // MendPipeline never links librdkafka.
        .target(
            name: "MendKafka",
            dependencies: [
                "CRdKafka", "MendCore", "MendStore", "MendPipeline",
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
            ],
            swiftSettings: strict),
        // The agent's plan wire format (schema, strict decoder, conversion names), shared by MendMCP and MendAgent.
        .target(
            name: "MendPlanFormat", dependencies: ["MendCore", .product(name: "MCP", package: "swift-sdk")], swiftSettings: strict),
        .target(
            name: "MendMCP",
            dependencies: [
                "MendCore", "MendPlanFormat", "MendStore", "MendPipeline",
                .product(name: "MCP", package: "swift-sdk"),
            ],
            swiftSettings: strict),
        .target(
            name: "MendAgent",
            dependencies: [
                "MendCore", "MendPlanFormat",
                .product(name: "MCP", package: "swift-sdk"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
            ],
            swiftSettings: strict),
        .target(
            name: "MendServer",
            dependencies: [
                "MendCore", "MendStore", "MendPipeline", "MendMCP",
                .product(name: "MCP", package: "swift-sdk"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdCore", package: "hummingbird"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "NIOHTTPTypes", package: "swift-nio-extras"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "CoreMetrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
            ],
            swiftSettings: strict),
        .executableTarget(
            name: "mend",
            dependencies: [
                "MendCore", "MendStore", "MendPipeline", "MendGuard", "MendMCP", "MendAgent", "MendServer", "MendNATS", "MendKafka",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "MCP", package: "swift-sdk"),
                .product(name: "NIOCore", package: "swift-nio"),
            ],
            swiftSettings: strict),
        // What the test targets share (paths, backends, keep-alive), instead of four copies.
        .target(
            name: "MendTestSupport", dependencies: ["MendCore", "MendStore", "MendPipeline"], path: "Tests/MendTestSupport",
            swiftSettings: strict),
        .testTarget(
            name: "MendGuardTests", dependencies: ["MendGuard", "MendCore"], resources: [.copy("Resources")],
            swiftSettings: strict),
        .testTarget(
            name: "MendMCPTests",
            dependencies: [
                "MendTestSupport", "MendMCP", "MendPlanFormat", "MendPipeline", "MendStore", "MendCore",
                .product(name: "MCP", package: "swift-sdk"),
            ],
            swiftSettings: strict),
        .testTarget(
            name: "MendAgentTests",
            dependencies: [
                "MendTestSupport",
                "MendAgent", "MendPlanFormat", "MendMCP", "MendPipeline", "MendStore", "MendCore",
                .product(name: "MCP", package: "swift-sdk"),
                .product(name: "NIOCore", package: "swift-nio"), .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
            ],
            swiftSettings: strict),
        .testTarget(
            name: "MendServerTests",
            dependencies: [
                "MendTestSupport",
                "MendServer", "MendPipeline", "MendStore", "MendCore",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                // The notification tests' loopback receiver.
                .product(name: "NIOPosix", package: "swift-nio"),
            ],
            swiftSettings: strict),
        .testTarget(name: "MendCoreTests", dependencies: ["MendCore"], swiftSettings: strict),
        .testTarget(
            name: "MendNATSTests", dependencies: ["MendTestSupport", "MendNATS", "MendCore", "MendStore", "MendPipeline"],
            swiftSettings: strict),
        .testTarget(
            name: "MendKafkaTests", dependencies: ["MendTestSupport", "MendKafka", "MendCore", "MendStore", "MendPipeline"],
            swiftSettings: strict),
        .testTarget(
            name: "MendPipelineTests", dependencies: ["MendTestSupport", "MendCore", "MendStore", "MendPipeline"],
            swiftSettings: strict),
    ]
)
