import Logging
import NIOCore
import NIOPosix

/// osp embedded in a Swift program: builds the gateway from a `ProxyServerConfig`, serves on its
/// own event loops, and stops cleanly.
///
///     let server = ProxyServer(ProxyServerConfig(cosMap: [...], validator: { token, bucket, _ in ... }))
///     let address = try await server.start()
///     ...
///     try await server.shutdown()
public final class ProxyServer: Sendable {
    public let gateway: Gateway
    private let group: MultiThreadedEventLoopGroup
    private let server: OSPServer

    public init(_ config: ProxyServerConfig, logger: Logger = Logger(label: "osp")) {
        self.gateway = Gateway(
            config: config.config,
            secrets: config.secretSource,
            credentials: config.credentialSource,
            policy: config.policy,
            logger: logger
        )
        self.group = MultiThreadedEventLoopGroup(numberOfThreads: config.threads)
        self.server = OSPServer(gateway: self.gateway, group: self.group)
    }

    /// Binds the S3 listener and returns its address (port 0 in the config picks a free port).
    @discardableResult
    public func start() async throws -> SocketAddress? {
        try await self.server.start()
    }

    /// Stops accepting, then releases the event loops and callout threads.
    public func shutdown() async throws {
        await self.server.stop()
        await self.gateway.shutdown()
        try await self.group.shutdownGracefully()
    }
}
