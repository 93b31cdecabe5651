// swift-tools-version:6.1
// sigv4-floor: nio-floor plus the signature work every SigV4 gateway must do per request, done with
// osp's own S3Signing library (see Sources/sigv4-floor/main.swift). A benchmark reference measured
// by hand, not a product; the root package does not reference it. `Sources/S3Signing` is a link to
// the root package's sources, so this package builds whatever the checkout's S3Signing is.
import PackageDescription

let package = Package(
    name: "sigv4-floor",
    dependencies: [
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-crypto.git", from: "3.12.3"),
    ],
    targets: [
        .target(
            name: "S3Signing",
            dependencies: [
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
            ]
        ),
        .executableTarget(
            name: "sigv4-floor",
            dependencies: [
                "S3Signing",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
            ]
        ),
    ]
)
