// swift-tools-version:6.1
// nio-floor: a bare SwiftNIO HTTP/1 reverse proxy, the reference path `nio-floor` of
// integration/bench/run.sh (see Sources/nio-floor/main.swift). A package of its own: the root
// package does not reference it, and nothing but the benchmark builds it.
import PackageDescription

let package = Package(
    name: "nio-floor",
    dependencies: [
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
    ],
    targets: [
        .executableTarget(
            name: "nio-floor",
            dependencies: [
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
            ]
        ),
    ]
)
