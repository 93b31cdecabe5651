import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOHTTP1
import NIOPosix
import NIOSSL
import ServiceLifecycle

/// The S3 listeners: plain HTTP and/or HTTPS (`https_port`, NIOSSL, optionally mutual TLS). Each
/// accepts client connections, gives each the HTTP/1.1 pipeline and an `S3ProxyHandler`; both share
/// the per-loop backend connection pools. Next to them, when the config has an `admin` section, the
/// admin listener (`/healthz`, `/readyz`, `/metrics`). Runs as a `Service`: graceful shutdown stops
/// accepting and lets in-flight requests finish.
public final class OSPServer: Service, Sendable {
    private let gateway: Gateway
    private let group: MultiThreadedEventLoopGroup
    private let bound: NIOLockedValueBox<BoundState>

    private struct BoundState {
        /// The plain-HTTP listener (nil with `http_port: off`).
        var channel: (any Channel)?
        /// The HTTPS listener.
        var tlsChannel: (any Channel)?
        var pools: [NIOLoopBound<UpstreamConnectionPool>] = []
        var admin: AdminServer?
        /// The HTTPS listener's certificate, replaced by `reloadCertificates()`.
        var tlsContext: ServerTLSContext?

        var listeners: [any Channel] { [channel, tlsChannel].compactMap { $0 } }
    }

    public init(gateway: Gateway, group: MultiThreadedEventLoopGroup) {
        self.gateway = gateway
        self.group = group
        self.bound = NIOLockedValueBox(BoundState())
    }

    /// The address the plain-HTTP listener is bound to, once `start()` returned; nil without one.
    public var localAddress: SocketAddress? {
        self.bound.withLockedValue { $0.channel?.localAddress }
    }

    /// The address the HTTPS listener is bound to, once `start()` returned; nil without one.
    public var tlsLocalAddress: SocketAddress? {
        self.bound.withLockedValue { $0.tlsChannel?.localAddress }
    }

    /// The address the admin listener is bound to; nil without an `admin` section.
    public var adminAddress: SocketAddress? {
        self.bound.withLockedValue { $0.admin?.localAddress }
    }

    /// Ready to serve: every configured S3 listener is up (and not closed by a shutdown).
    public var isReady: Bool {
        self.bound.withLockedValue { state in
            !state.listeners.isEmpty && state.listeners.allSatisfy { $0.isActive }
        }
    }

    /// Binds the S3 listeners, then the admin listener. Separate from `run()` so embedders and
    /// tests know the ports first. Returns the plain-HTTP address, or the HTTPS one when there is
    /// no plain listener.
    @discardableResult
    public func start() async throws -> SocketAddress? {
        let settings = self.gateway.config.server
        let upstream = self.gateway.config.upstream
        let tlsContext = try Self.makeUpstreamTLSContext(self.gateway.config)
        // The HTTPS certificate files are read before anything listens, so a bad file fails start-up.
        let serverTLS = try settings.tls.map { (tls) throws(ConfigError) in try ServerTLSContext(settings: tls) }
        self.bound.withLockedValue { $0.tlsContext = serverTLS }

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
        self.bound.withLockedValue { $0.pools = Array(pools.values) }
        let pipeline = S3ConnectionPipeline(gateway: self.gateway, poolsByLoop: pools)

        do {
            if let port = settings.httpPort {
                let channel = try await self.bind(port: port) { channel in
                    try pipeline.configure(channel, transport: .plain)
                }
                self.bound.withLockedValue { $0.channel = channel }
                self.logListening("osp listening", channel)
            }
            if let port = settings.httpsPort, let server = serverTLS {
                let transport = ClientTransport.tls(server.settings)
                let principalFrom = server.settings.clientCertificates?.principalFrom
                let channel = try await self.bind(port: port) { channel in
                    // The context current at accept: a reload changes new connections only.
                    try channel.pipeline.syncOperations.addHandler(NIOSSLServerHandler(context: server.context))
                    if let principalFrom, transport.principalFrom != nil {
                        try channel.pipeline.syncOperations.addHandler(ClientCertificateReader(source: principalFrom))
                    }
                    try pipeline.configure(channel, transport: transport)
                }
                self.bound.withLockedValue { $0.tlsChannel = channel }
                self.logListening("osp listening (https)", channel, certificate: server)
            }
        } catch {
            // Do not leave one listener serving when the other could not bind.
            await self.stop()
            throw error
        }
        self.logBackends()
        try await self.startAdmin()
        return self.bound.withLockedValue { ($0.channel ?? $0.tlsChannel)?.localAddress }
    }

    private func bind(
        port: Int,
        _ configure: @escaping @Sendable (any Channel) throws -> Void
    ) async throws -> any Channel {
        try await ServerBootstrap(group: self.group)
            .serverChannelOption(.backlog, value: 1024)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
            .childChannelOption(.writeBufferWaterMark, value: .init(low: 256 * 1024, high: 1024 * 1024))
            .childChannelOption(.maxMessagesPerRead, value: 16)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture { try configure(channel) }
            }
            .bind(host: self.gateway.config.server.bind, port: port)
            .get()
    }

    private func logListening(_ message: Logger.Message, _ channel: any Channel, certificate: ServerTLSContext? = nil) {
        var metadata: Logger.Metadata = [
            "address": "\(channel.localAddress.map { "\($0)" } ?? "?")",
            "buckets": "\(self.gateway.config.buckets.routes.count)",
        ]
        if let certificate {
            metadata["certificate"] = "\(certificate.certificate)"
            let clients = certificate.settings.clientCertificates
            metadata["client_auth"] = "\(clients?.mode.rawValue ?? "none")"
            if let clients { metadata["principal_from"] = "\(clients.principalFrom.rawValue)" }
        }
        self.gateway.logger.info(message, metadata: metadata)
    }

    /// Re-reads the HTTPS listener's certificate, key and client CA files (on SIGHUP): connections
    /// accepted from now on are served the new certificate, open ones keep theirs. A file that does
    /// not load leaves the current certificate in place and throws. Without HTTPS, does nothing.
    @discardableResult
    public func reloadCertificates() throws -> ServedCertificate? {
        guard let tlsContext = self.bound.withLockedValue({ $0.tlsContext }) else { return nil }
        return try tlsContext.reload()
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
        if self.bound.withLockedValue({ $0.listeners.isEmpty }) {
            try await self.start()
        }
        let listeners = self.bound.withLockedValue { $0.listeners }
        guard !listeners.isEmpty else { return }
        try await withGracefulShutdownHandler {
            // Serving ends when any listener closes; the others are closed with it.
            try await withThrowingTaskGroup(of: Void.self) { group in
                for listener in listeners {
                    group.addTask { try await listener.closeFuture.get() }
                }
                _ = try await group.next()
                for listener in listeners { listener.close(promise: nil) }
                try await group.waitForAll()
            }
        } onGracefulShutdown: {
            for listener in listeners { listener.close(promise: nil) }
        }
        await self.bound.withLockedValue({ $0.admin })?.stop()
        await self.closeIdleBackendConnections()
    }

    /// Stops accepting new connections, on every listener.
    public func stop() async {
        let (listeners, admin) = self.bound.withLockedValue { ($0.listeners, $0.admin) }
        for listener in listeners {
            try? await listener.close()
        }
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

/// The HTTP/1.1 pipeline every S3 client connection gets, behind TLS or not: decoder limits, request
/// pipelining, protocol errors as S3 XML, the idle timeout, and the proxy handler on the connection's
/// event loop's backend pool.
struct S3ConnectionPipeline: Sendable {
    let gateway: Gateway
    let poolsByLoop: [ObjectIdentifier: NIOLoopBound<UpstreamConnectionPool>]
    let decoderLimits: NIOHTTPDecoderLimitConfiguration
    let idleTimeout: TimeAmount

    init(gateway: Gateway, poolsByLoop: [ObjectIdentifier: NIOLoopBound<UpstreamConnectionPool>]) {
        let settings = gateway.config.server
        var limits = NIOHTTPDecoderLimitConfiguration()
        limits.maxHeaderListSize = settings.maxHeaderBytes
        limits.maxHeaderFieldSize = settings.maxHeaderBytes
        limits.maxHeaderFieldCount = settings.maxHeaderCount
        self.gateway = gateway
        self.poolsByLoop = poolsByLoop
        self.decoderLimits = limits
        self.idleTimeout = .seconds(settings.idleTimeoutSeconds)
    }

    /// Adds the handlers behind whatever the listener put first (TLS). On the channel's event loop.
    func configure(_ channel: any Channel, transport: ClientTransport) throws {
        guard let pool = self.poolsByLoop[ObjectIdentifier(channel.eventLoop)]?.value else {
            throw ChannelError.ioOnClosedChannel
        }
        let sync = channel.pipeline.syncOperations
        try sync.addHandler(HTTPResponseEncoder())
        try sync.addHandler(
            ByteToMessageHandler(HTTPRequestDecoder(leftOverBytesStrategy: .dropBytes, limitConfiguration: self.decoderLimits))
        )
        try sync.addHandler(HTTPServerPipelineHandler())
        try sync.addHandler(S3ProtocolErrorHandler())
        try sync.addHandler(IdleStateHandler(readTimeout: self.idleTimeout))
        try sync.addHandler(S3ProxyHandler(gateway: self.gateway, pool: pool, transport: transport))
    }
}
