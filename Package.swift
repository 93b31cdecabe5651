// swift-tools-version:6.1
import PackageDescription

let package = Package(
    name: "osp",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "osp", targets: ["osp"]),
        .executable(name: "osp-fuzz", targets: ["osp-fuzz"]),
        .library(name: "OSPCore", targets: ["OSPCore"]),
        .library(name: "S3Signing", targets: ["S3Signing"]),
    ],
    // `OpenTelemetry` compiles swift-otel's OTLP/HTTP span exporter into `osp`. Off by default:
    // the default build stays lean and spans go to the no-op tracer unless a library user
    // bootstraps their own. Build with `swift build --traits OpenTelemetry`.
    traits: [
        .trait(name: "OpenTelemetry", description: "Export trace spans over OTLP/HTTP (swift-otel)"),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-nio-ssl.git", from: "2.37.6"),
        .package(url: "https://github.com/apple/swift-crypto.git", from: "3.12.3"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-metrics.git", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus.git", from: "2.4.1"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
        .package(url: "https://github.com/jpsim/Yams.git", from: "6.2.2"),
        .package(url: "https://github.com/apple/swift-distributed-tracing.git", from: "1.7.3"),
        // The OTLP exporter is only compiled with the `OpenTelemetry` trait (see `traits`);
        // of swift-otel's own traits only OTLP/HTTP is wanted, so gRPC is never built.
        .package(url: "https://github.com/swift-otel/swift-otel.git", from: "1.6.0", traits: ["OTLPHTTP"]),
    ],
    targets: [
        // libcurl and hiredis: the blocking C clients behind the policy, secret and
        // credential callouts. Their variadic entry points are wrapped in the shims.
        .systemLibrary(
            name: "CCurl",
            pkgConfig: "libcurl",
            providers: [.apt(["libcurl4-openssl-dev"])]
        ),
        // No pkgConfig: hiredis' .pc adds -D_FILE_OFFSET_BITS=64, which SwiftPM rejects.
        .systemLibrary(
            name: "CHiredis",
            providers: [.apt(["libhiredis-dev"])]
        ),
        .target(
            name: "S3Signing",
            dependencies: [
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
            ]
        ),
        .target(
            name: "OSPCore",
            dependencies: [
                "S3Signing",
                "CCurl",
                "CHiredis",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "NIOTLS", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Yams", package: "Yams"),
                .product(name: "Tracing", package: "swift-distributed-tracing"),
            ]
        ),
        .executableTarget(
            name: "osp",
            dependencies: [
                "OSPCore",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "Tracing", package: "swift-distributed-tracing"),
                .product(
                    name: "OTel", package: "swift-otel",
                    condition: .when(traits: ["OpenTelemetry"])
                ),
            ]
        ),
        // libFuzzer targets for the parsers (integration/fuzz/run.sh builds them with -DFUZZING and
        // the sanitizers); a normal build replays inputs through the same entry points.
        .executableTarget(
            name: "osp-fuzz",
            dependencies: [
                "OSPCore",
                "S3Signing",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
            ]
        ),
        .testTarget(
            name: "S3SigningTests",
            dependencies: ["S3Signing"],
            // The vectors are read through #filePath; the generator is run by hand.
            exclude: ["botocore_vectors.py", "Resources"]
        ),
        .testTarget(
            name: "OSPCoreTests",
            dependencies: [
                "OSPCore",
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "NIOEmbedded", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "Tracing", package: "swift-distributed-tracing"),
                .product(name: "InMemoryTracing", package: "swift-distributed-tracing"),
            ]
        ),
    ]
)
