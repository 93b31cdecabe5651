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
/// accepting, closes idle keep-alive connections at once, lets requests in flight finish within
/// `server.shutdown_grace_seconds`, then closes what is left. `reload(config:)` swaps the gateway
/// for new requests while requests in flight finish on the old one.
public final class OSPServer: Service, Sendable {
    private let group: MultiThreadedEventLoopGroup
    private let bound: NIOLockedValueBox<BoundState>
    private let connections = ClientConnections()
    /// Builds the gateway of a reloaded config (the embedder's sources and observers go with it).
    private let makeGateway: @Sendable (OSPConfig) -> Gateway

    private struct BoundState {
        /// The plain-HTTP listener (nil with `http_port: off`).
        var channel: (any Channel)?
        /// The HTTPS listener.
        var tlsChannel: (any Channel)?
        var pools: [NIOLoopBound<UpstreamConnectionPool>] = []
        /// Per event loop, the generation its new requests start with.
        var currentGateways: [NIOLoopBound<CurrentGateway>] = []
        /// The generation `reload` last published; what each loop's `CurrentGateway` converges to.
        var generation: GatewayGeneration
        /// The TLS context the backend pools were given (none while no bucket uses TLS).
        var upstreamTLS: UpstreamTLSContexts?
        var admin: AdminServer?
        /// The HTTPS listener's certificate, replaced by `reloadCertificates()`.
        var tlsContext: ServerTLSContext?

        var listeners: [any Channel] { [channel, tlsChannel].compactMap { $0 } }
    }

    /// - Parameters:
    ///   - gateway: serves from the start; its owner shuts it down after the server stopped.
    ///   - makeGateway: builds the gateway for a config `reload(config:)` applies; by default a
    ///     `Gateway` from the config alone, with this gateway's logger.
    public init(
        gateway: Gateway,
        group: MultiThreadedEventLoopGroup,
        makeGateway: (@Sendable (OSPConfig) -> Gateway)? = nil
    ) {
        self.group = group
        self.bound = NIOLockedValueBox(BoundState(generation: GatewayGeneration(gateway, number: 1, ownsCallouts: false)))
        let logger = gateway.logger
        self.makeGateway = makeGateway ?? { Gateway(config: $0, logger: logger) }
    }

    /// The gateway new requests are served with: the one given at init, or the last reload's.
    public var gateway: Gateway {
        self.bound.withLockedValue { $0.generation.gateway }
    }

    /// True from the moment a shutdown starts: the listeners are closing or closed and open
    /// connections are draining, so a readiness probe should answer 503 and a load balancer
    /// send new clients elsewhere.
    public var isDraining: Bool {
        self.connections.isDraining
    }

    /// Client connections open now (idle keep-alive ones included), on every listener.
    public var openConnections: Int {
        self.connections.count
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

    /// Ready to serve: every configured S3 listener is up and no shutdown has started (`/readyz`
    /// is 503 while the server drains, so load balancers stop sending clients before it is gone).
    public var isReady: Bool {
        !self.connections.isDraining
            && self.bound.withLockedValue { state in
                !state.listeners.isEmpty && state.listeners.allSatisfy { $0.isActive }
            }
    }

    /// Binds the S3 listeners, then the admin listener. Separate from `run()` so embedders and
    /// tests know the ports first. Returns the plain-HTTP address, or the HTTPS one when there is
    /// no plain listener.
    @discardableResult
    public func start() async throws -> SocketAddress? {
        let generation = self.bound.withLockedValue { $0.generation }
        let settings = generation.gateway.config.server
        let upstream = generation.gateway.config.upstream
        let upstreamTLS = try UpstreamTLSContexts(config: generation.gateway.config, logger: generation.gateway.logger)
        // The HTTPS certificate files are read before anything listens, so a bad file fails start-up.
        let serverTLS = try settings.tls.map { (tls) throws(ConfigError) in try ServerTLSContext(settings: tls) }
        self.bound.withLockedValue { $0.tlsContext = serverTLS }

        var pools: [ObjectIdentifier: NIOLoopBound<UpstreamConnectionPool>] = [:]
        var currentGateways: [ObjectIdentifier: NIOLoopBound<CurrentGateway>] = [:]
        for loop in self.group.makeIterator() {
            let (pool, current) = try await loop.submit {
                (
                    NIOLoopBound(UpstreamConnectionPool(eventLoop: loop, settings: upstream, tls: upstreamTLS), eventLoop: loop),
                    NIOLoopBound(CurrentGateway(generation), eventLoop: loop)
                )
            }.get()
            pools[ObjectIdentifier(loop)] = pool
            currentGateways[ObjectIdentifier(loop)] = current
        }
        self.bound.withLockedValue {
            $0.pools = Array(pools.values)
            $0.currentGateways = Array(currentGateways.values)
            $0.upstreamTLS = upstreamTLS
        }
        let pipeline = S3ConnectionPipeline(poolsByLoop: pools, gatewaysByLoop: currentGateways, connections: self.connections)

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
            // A client that shuts down its sending side after a request still gets the answer
            // (S3ProxyHandler closes once it is written).
            .childChannelOption(.allowRemoteHalfClosure, value: true)
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
        let exposition = MetricsExposition(metrics: gateway.metrics) { [weak self] eventLoop in
            // The caches of the gateway serving now: a reload brings new ones (the metrics object stays).
            gateway.metrics.observeCaches(self?.gateway.caches ?? gateway.caches)
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
        let proxy = self.gateway.config.upstream.proxy
        for route in routes.prefix(Self.loggedRoutes) {
            var metadata: Logger.Metadata = [
                "bucket": "\(route.name)",
                "backend": "\(route.tls ? "https" : "http")://\(route.host):\(route.port)",
                "region": "\(route.region)",
                "addressing": "\(route.addressingStyle)",
            ]
            // Credentials are redacted by ProxyURL's description.
            if let via = proxy.proxy(forHost: route.host, tls: route.tls) { metadata["proxy"] = "\(via)" }
            self.gateway.logger.info("bucket route", metadata: metadata)
        }
        if routes.count > Self.loggedRoutes {
            self.gateway.logger.info("bucket routes not listed", metadata: ["count": "\(routes.count - Self.loggedRoutes)"])
        }
    }

    /// A config with thousands of buckets should not flood the start-up log.
    private static let loggedRoutes = 50

    /// Serves until graceful shutdown (or `stop()`), then drains the client connections: idle
    /// keep-alive ones close at once, ones with a request in flight close after its response
    /// (sent with `Connection: close`), and whatever is still open after
    /// `server.shutdown_grace_seconds` is closed. Returns when every client connection is closed.
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
            _ = self.connections.startDraining()
            for listener in listeners { listener.close(promise: nil) }
        }
        await self.drainConnections()
        // The admin listener outlives the drain, so /readyz can say 503 while it lasts.
        await self.bound.withLockedValue({ $0.admin })?.stop()
        await self.closeIdleBackendConnections()
    }

    /// Stops accepting new connections, on every listener; `run()` then drains the open ones.
    public func stop() async {
        _ = self.connections.startDraining()
        let (listeners, admin) = self.bound.withLockedValue { ($0.listeners, $0.admin) }
        for listener in listeners {
            try? await listener.close()
        }
        await admin?.stop()
    }

    private func drainConnections() async {
        let open = self.connections.startDraining()
        let gateway = self.gateway
        let grace = gateway.config.server.shutdownGraceSeconds
        gateway.logger.info("shutting down: listeners closed, draining client connections", metadata: [
            "connections": "\(open.count)", "grace_seconds": "\(grace)",
        ])
        guard !open.isEmpty else { return }
        let outcome = try? await ClientConnections.drain(open, grace: .seconds(grace), on: self.group.any()).get()
        if let outcome, outcome.closedAtDeadline > 0 {
            gateway.logger.warning(
                "shutdown grace period over: closed connections with requests still in flight",
                metadata: ["connections": "\(outcome.closedAtDeadline)", "grace_seconds": "\(grace)"]
            )
        } else {
            gateway.logger.info("client connections drained", metadata: ["connections": "\(open.count)"])
        }
    }

    // MARK: - Reload

    /// Serves `config` from the next request on, on every connection; requests in flight finish
    /// with the config they started with, whose gateway (and its callout threads) is released
    /// when the last of them is done. Settings that belong to the running listeners keep their
    /// values (see `ConfigReload.needsRestart`, each also logged as a warning). The HTTPS
    /// certificate files are re-read by `reloadCertificates()`, not here.
    ///
    /// Returns once every event loop serves the new config. Throws, changing nothing, when
    /// the new config cannot be served (its backend TLS settings do not load).
    @discardableResult
    public func reload(config loaded: OSPConfig) async throws -> ConfigReload {
        let (previous, runningTrust) = self.bound.withLockedValue { ($0.generation, $0.upstreamTLS?.trust) }
        let reload = ConfigReload(running: previous.gateway.config, loaded: loaded)
        // Built first: if it fails, nothing has changed.
        // A bucket's own ca_file is part of the trust too: adding one needs its context.
        let reconfiguresPools = reload.upstreamChanged || UpstreamTLSContexts.Trust(reload.config) != runningTrust
        let upstreamTLS = reconfiguresPools ? try UpstreamTLSContexts(config: reload.config, logger: previous.gateway.logger) : nil
        let generation = GatewayGeneration(self.makeGateway(reload.config), number: previous.number + 1, ownsCallouts: true)

        let (currentGateways, pools) = self.bound.withLockedValue { state in
            state.generation = generation
            if let upstreamTLS { state.upstreamTLS = upstreamTLS }
            return (state.currentGateways, state.pools)
        }
        let logger = generation.gateway.logger
        for key in reload.needsRestart {
            logger.warning("config reload: this setting needs a restart; the running value stays", metadata: ["key": "\(key)"])
        }
        if let upstreamTLS {
            let settings = reload.config.upstream
            await Self.onEveryLoop(pools) { $0.reconfigure(settings: settings, tls: upstreamTLS) }
        }
        // Each loop takes the latest published generation, so overlapping reloads converge.
        await Self.onEveryLoop(currentGateways) { current in
            current.generation = self.bound.withLockedValue { $0.generation }
        }
        logger.info(
            "config reloaded",
            metadata: [
                "generation": "\(generation.number)",
                "buckets": "\(reload.config.buckets.routes.count)",
                "keys": "\(reload.config.keystore.count)",
                "needs_restart": "\(reload.needsRestart.joined(separator: ","))",
            ]
        )
        return reload
    }

    private static func onEveryLoop<Value>(_ values: [NIOLoopBound<Value>], _ body: @escaping @Sendable (Value) -> Void) async {
        for value in values {
            try? await value.eventLoop.submit { body(value.value) }.get()
        }
    }

    private func closeIdleBackendConnections() async {
        let pools = self.bound.withLockedValue { $0.pools }
        for pool in pools {
            try? await pool.eventLoop.submit { pool.value.closeIdle() }.get()
        }
    }
}

/// The HTTP/1.1 pipeline every S3 client connection gets, behind TLS or not: decoder limits, the
/// idle timeout, and the proxy handler (which also queues pipelined requests and answers protocol
/// errors as S3 XML) on the connection's event loop's backend pool. Limits come from the config current when the connection opens (a
/// reload may have changed them); a connection accepted once a shutdown started is refused.
struct S3ConnectionPipeline: Sendable {
    let poolsByLoop: [ObjectIdentifier: NIOLoopBound<UpstreamConnectionPool>]
    let gatewaysByLoop: [ObjectIdentifier: NIOLoopBound<CurrentGateway>]
    let connections: ClientConnections

    /// Adds the handlers behind whatever the listener put first (TLS). On the channel's event loop.
    func configure(_ channel: any Channel, transport: ClientTransport) throws {
        guard let pool = self.poolsByLoop[ObjectIdentifier(channel.eventLoop)]?.value,
            let current = self.gatewaysByLoop[ObjectIdentifier(channel.eventLoop)]?.value
        else {
            throw ChannelError.ioOnClosedChannel
        }
        // Accepted as the listeners closed for a shutdown: refused (closed) like the ones after it.
        guard self.connections.admit(channel) else { throw ChannelError.ioOnClosedChannel }
        let settings = current.generation.gateway.config.server
        var limits = NIOHTTPDecoderLimitConfiguration()
        limits.maxHeaderListSize = settings.maxHeaderBytes
        limits.maxHeaderFieldSize = settings.maxHeaderBytes
        limits.maxHeaderFieldCount = settings.maxHeaderCount
        let sync = channel.pipeline.syncOperations
        try sync.addHandler(HTTPResponseEncoder())
        try sync.addHandler(
            ByteToMessageHandler(HTTPRequestDecoder(leftOverBytesStrategy: .dropBytes, limitConfiguration: limits))
        )
        try sync.addHandler(IdleStateHandler(readTimeout: .seconds(settings.idleTimeoutSeconds)))
        try sync.addHandler(S3ProxyHandler(current: current, pool: pool, transport: transport))
    }
}
