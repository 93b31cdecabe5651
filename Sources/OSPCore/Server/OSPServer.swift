import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOHTTP1
import NIOPosix
import NIOSSL
import ServiceLifecycle

/// The S3 listener: accepts client connections, gives each the HTTP/1.1 pipeline and an
/// `S3ProxyHandler`, and owns the per-loop backend connection pools. Next to it, when the config has
/// an `admin` section, the admin listener (`/healthz`, `/readyz`, `/metrics`). Runs as a `Service`:
/// graceful shutdown stops accepting and lets in-flight requests finish.
public final class OSPServer: Service, Sendable {
    private let gateway: Gateway
    private let group: MultiThreadedEventLoopGroup
    private let bound: NIOLockedValueBox<BoundState>

    private struct BoundState {
        var channel: (any Channel)?
        var pools: [NIOLoopBound<UpstreamConnectionPool>] = []
        var admin: AdminServer?
    }

    public init(gateway: Gateway, group: MultiThreadedEventLoopGroup) {
        self.gateway = gateway
        self.group = group
        self.bound = NIOLockedValueBox(BoundState())
    }

    /// The address the S3 listener is bound to, once `start()` returned.
    public var localAddress: SocketAddress? {
        self.bound.withLockedValue { $0.channel?.localAddress }
    }

    /// The address the admin listener is bound to; nil without an `admin` section.
    public var adminAddress: SocketAddress? {
        self.bound.withLockedValue { $0.admin?.localAddress }
    }

    /// Ready to serve: the S3 listener is up (and not closed by a shutdown).
    public var isReady: Bool {
        self.bound.withLockedValue { $0.channel?.isActive ?? false }
    }

    /// Binds the S3 listener, then the admin listener. Separate from `run()` so embedders and
    /// tests know the ports first.
    @discardableResult
    public func start() async throws -> SocketAddress? {
        let settings = self.gateway.config.server
        let upstream = self.gateway.config.upstream
        let tlsContext = try Self.makeUpstreamTLSContext(self.gateway.config)

        var pools: [ObjectIdentifier: NIOLoopBound<UpstreamConnectionPool>] = [:]
        for loop in self.group.makeIterator() {
            let pool = try await loop.submit {
                NIOLoopBound(
                    UpstreamConnectionPool(eventLoop: loop, settings: upstream, tlsContext: tlsContext),
                    eventLoop: loop
                )
            }.get()
            pools[ObjectIdentifier(loop)] = pool
        }
        let poolsByLoop = pools

        var limits = NIOHTTPDecoderLimitConfiguration()
        limits.maxHeaderListSize = settings.maxHeaderBytes
        limits.maxHeaderFieldSize = settings.maxHeaderBytes
        limits.maxHeaderFieldCount = settings.maxHeaderCount
        let decoderLimits = limits
        let idleTimeout = TimeAmount.seconds(settings.idleTimeoutSeconds)
        let gateway = self.gateway

        let channel = try await ServerBootstrap(group: self.group)
            .serverChannelOption(.backlog, value: 1024)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
            .childChannelOption(.writeBufferWaterMark, value: .init(low: 256 * 1024, high: 1024 * 1024))
            .childChannelOption(.maxMessagesPerRead, value: 16)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    guard let pool = poolsByLoop[ObjectIdentifier(channel.eventLoop)]?.value else {
                        throw ChannelError.ioOnClosedChannel
                    }
                    let sync = channel.pipeline.syncOperations
                    try sync.addHandler(HTTPResponseEncoder())
                    try sync.addHandler(
                        ByteToMessageHandler(HTTPRequestDecoder(leftOverBytesStrategy: .dropBytes, limitConfiguration: decoderLimits))
                    )
                    try sync.addHandler(HTTPServerPipelineHandler())
                    try sync.addHandler(S3ProtocolErrorHandler())
                    try sync.addHandler(IdleStateHandler(readTimeout: idleTimeout))
                    try sync.addHandler(S3ProxyHandler(gateway: gateway, pool: pool))
                }
            }
            .bind(host: settings.bind, port: settings.httpPort)
            .get()

        self.bound.withLockedValue {
            $0.channel = channel
            $0.pools = Array(pools.values)
        }
        self.gateway.logger.info(
            "osp listening",
            metadata: ["address": "\(channel.localAddress.map { "\($0)" } ?? "?")", "buckets": "\(gateway.config.buckets.routes.count)"]
        )
        self.logBackends()
        try await self.startAdmin()
        return channel.localAddress
    }

    private func startAdmin() async throws {
        guard let settings = self.gateway.config.admin else {
            self.gateway.logger.info("no admin listener: the config has no 'admin' section (no /metrics, /healthz, /readyz)")
            return
        }
        let gateway = self.gateway
        let pools = self.bound.withLockedValue { $0.pools }
        let exposition = MetricsExposition(metrics: gateway.metrics) { eventLoop in
            gateway.metrics.observeCaches(gateway.caches)
            let idle = pools.map { pool in pool.eventLoop.submit { pool.value.idleCount } }
            return EventLoopFuture.whenAllSucceed(idle, on: eventLoop).map { counts in
                gateway.metrics.upstreamIdleConnections(counts.reduce(0, +))
            }
        }
        let admin = AdminServer(
            settings: settings,
            group: self.group,
            routes: AdminRoutes(isReady: { [weak self] in self?.isReady ?? false }, exposition: exposition)
        )
        do {
            try await admin.start()
        } catch {
            // The S3 listener is up already: do not leave it serving without the admin port asked for.
            await self.stop()
            throw error
        }
        self.bound.withLockedValue { $0.admin = admin }
        self.gateway.logger.info(
            "admin listening (/healthz, /readyz, /metrics)",
            metadata: ["address": "\(admin.localAddress.map { "\($0)" } ?? "?")"]
        )
    }

    /// One readable line per bucket route: where each bucket's requests go. Never a key.
    private func logBackends() {
        let buckets = self.gateway.config.buckets
        var routes = buckets.routes.sorted { $0.key < $1.key }.map { $0.value }
        if let defaultRoute = buckets.defaultRoute { routes.append(defaultRoute) }
        for route in routes.prefix(Self.loggedRoutes) {
            self.gateway.logger.info(
                "bucket route",
                metadata: [
                    "bucket": "\(route.name)",
                    "backend": "\(route.tls ? "https" : "http")://\(route.host):\(route.port)",
                    "region": "\(route.region)",
                    "addressing": "\(route.addressingStyle)",
                ]
            )
        }
        if routes.count > Self.loggedRoutes {
            self.gateway.logger.info("bucket routes not listed", metadata: ["count": "\(routes.count - Self.loggedRoutes)"])
        }
    }

    /// A config with thousands of buckets should not flood the start-up log.
    private static let loggedRoutes = 50

    /// Serves until graceful shutdown, then stops accepting and closes idle backend connections.
    public func run() async throws {
        if self.bound.withLockedValue({ $0.channel }) == nil {
            try await self.start()
        }
        guard let channel = self.bound.withLockedValue({ $0.channel }) else { return }
        try await withGracefulShutdownHandler {
            try await channel.closeFuture.get()
        } onGracefulShutdown: {
            channel.close(promise: nil)
        }
        await self.bound.withLockedValue({ $0.admin })?.stop()
        await self.closeIdleBackendConnections()
    }

    /// Stops accepting new connections, on both listeners.
    public func stop() async {
        let (channel, admin) = self.bound.withLockedValue { ($0.channel, $0.admin) }
        try? await channel?.close()
        await admin?.stop()
    }

    private func closeIdleBackendConnections() async {
        let pools = self.bound.withLockedValue { $0.pools }
        for pool in pools {
            try? await pool.eventLoop.submit { pool.value.closeIdle() }.get()
        }
    }

    /// One TLS client context for every TLS backend: verification on unless the config says
    /// otherwise, with the configured CA bundle added to the system roots.
    static func makeUpstreamTLSContext(_ config: OSPConfig) throws -> NIOSSLContext? {
        let needsTLS = config.buckets.routes.values.contains { $0.tls } || (config.buckets.defaultRoute?.tls ?? false)
        guard needsTLS else { return nil }
        var tls = TLSConfiguration.makeClientConfiguration()
        tls.certificateVerification = config.upstream.verify ? .fullVerification : .none
        if let caFile = config.upstream.caFile {
            tls.trustRoots = .file(caFile)
        }
        return try NIOSSLContext(configuration: tls)
    }
}
