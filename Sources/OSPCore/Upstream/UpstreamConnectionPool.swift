import NIOCore
import NIOHTTP1
import NIOPosix
import NIOSSL

/// A leased backend connection: the channel and the handler that routes its responses.
final class UpstreamConnection {
    let channel: any Channel
    let handler: UpstreamConnectionHandler
    let endpoint: BackendEndpoint
    /// The pool settings it was made under: after a reload changed them, it is not kept.
    let settingsGeneration: Int
    /// Whether this connection already served a request: a reused connection may have been
    /// closed by the backend while idle, so a request that fails on it before any byte of
    /// response may be retried on a fresh one.
    private(set) var servedRequests = 0

    init(channel: any Channel, handler: UpstreamConnectionHandler, endpoint: BackendEndpoint, settingsGeneration: Int = 0) {
        self.channel = channel
        self.handler = handler
        self.endpoint = endpoint
        self.settingsGeneration = settingsGeneration
    }

    var isReused: Bool { servedRequests > 0 }

    func markUsed() { servedRequests += 1 }

    /// Closes the connection without telling the lessee: it is the lessee that gave up on it.
    func discard() {
        self.handler.delegate = nil
        self.channel.close(promise: nil)
    }
}

/// Keep-alive connections to backends, one pool per event loop: a client connection only ever
/// uses the pool of its own loop, so its backend connection lives on the same thread and bytes
/// move between the two without a hop. Not thread-safe by design: owned by its loop.
final class UpstreamConnectionPool {
    private let eventLoop: any EventLoop
    private var settings: UpstreamSettings
    private var tls: UpstreamTLSContexts
    /// Bumped by `reconfigure`: connections made before (under other trust or timeouts) are not reused.
    private var settingsGeneration = 0
    /// Idle connections per endpoint: `idleLists[idleIndex[endpoint]]`. Endpoints come from the
    /// config, so the lists stay (empty or not) until a reload; the dictionary is only read on the
    /// hot path, as mutating an array inside it goes through an accessor that allocates.
    private var idleIndex: [BackendEndpoint: Int] = [:]
    private var idleLists: [[UpstreamConnection]] = []

    init(eventLoop: any EventLoop, settings: UpstreamSettings, tls: UpstreamTLSContexts) {
        self.eventLoop = eventLoop
        self.settings = settings
        self.tls = tls
    }

    /// Number of idle connections kept, for tests and metrics.
    var idleCount: Int { idleLists.reduce(0) { $0 + $1.count } }

    /// An idle connection to `endpoint` if one is alive, else a new one.
    func lease(
        _ endpoint: BackendEndpoint,
        fresh: Bool = false,
        _ completion: @escaping (Result<UpstreamConnection, UpstreamError>) -> Void
    ) {
        self.eventLoop.preconditionInEventLoop()
        if !fresh {
            // Popped in place: the list keeps its storage for the next release.
            while let index = self.idleIndex[endpoint], let connection = self.idleLists[index].popLast() {
                if connection.channel.isActive {
                    completion(.success(connection))
                    return
                }
            }
        }
        self.connect(endpoint, completion)
    }

    /// Returns a connection whose last exchange completed cleanly; it is kept if there is room.
    func release(_ connection: UpstreamConnection) {
        self.eventLoop.preconditionInEventLoop()
        connection.handler.delegate = nil
        connection.handler.resumeReads()
        let index = self.idleIndex[connection.endpoint]
        guard connection.channel.isActive, connection.settingsGeneration == self.settingsGeneration,
            (index.map { self.idleLists[$0].count } ?? 0) < self.settings.maxIdleConnectionsPerHost
        else {
            connection.channel.close(promise: nil)
            return
        }
        if let index {
            self.idleLists[index].append(connection)
        } else {
            self.idleIndex[connection.endpoint] = self.idleLists.count
            self.idleLists.append([connection])
        }
    }

    /// New upstream settings (a config reload): idle connections made under the old ones close,
    /// leased ones close when they are given back, and new ones use the new settings.
    func reconfigure(settings: UpstreamSettings, tls: UpstreamTLSContexts) {
        self.eventLoop.preconditionInEventLoop()
        self.settings = settings
        self.tls = tls
        self.settingsGeneration += 1
        self.closeIdle()
    }

    /// Closes every idle connection (shutdown).
    func closeIdle() {
        for connection in self.idleLists.joined() {
            connection.channel.close(promise: nil)
        }
        self.idleIndex.removeAll()
        self.idleLists.removeAll()
    }

    private func connect(_ endpoint: BackendEndpoint, _ completion: @escaping (Result<UpstreamConnection, UpstreamError>) -> Void) {
        let tlsContext = endpoint.tls ? self.tls.context(for: endpoint) : nil
        if endpoint.tls && tlsContext == nil {
            completion(.failure(.connectFailed("TLS is not configured")))
            return
        }
        let proxy = self.settings.proxy.proxy(forHost: endpoint.host, tls: endpoint.tls)
        let settingsGeneration = self.settingsGeneration
        let exchange = ExchangeHandlers(
            tlsContext: tlsContext,
            serverHostname: endpoint.host.isIPAddress ? nil : endpoint.host,
            idleTimeout: .seconds(self.settings.readTimeoutSeconds),
            // A plain backend behind a proxy: absolute-form requests on the proxy connection.
            forwardProxyAuthorization: endpoint.tls ? nil : proxy.map { $0.proxyAuthorization }
        )
        // A TLS backend behind a proxy: a CONNECT tunnel first, the exchange handlers once it is open.
        let tunnel = endpoint.tls ? proxy : nil
        let connectTimeout = TimeAmount.seconds(self.settings.connectTimeoutSeconds)
        let bootstrap = ClientBootstrap(group: self.eventLoop)
            .connectTimeout(connectTimeout)
            .channelOption(.socketOption(.tcp_nodelay), value: 1)
            .channelOption(.writeBufferWaterMark, value: .init(low: 256 * 1024, high: 1024 * 1024))
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    let sync = channel.pipeline.syncOperations
                    if let tunnel {
                        try sync.addHandler(HTTPRequestEncoder())
                        try sync.addHandler(ByteToMessageHandler(HTTPResponseDecoder(leftOverBytesStrategy: .forwardBytes)))
                        try sync.addHandler(
                            ProxyTunnelHandler(
                                host: endpoint.host,
                                port: endpoint.port,
                                proxyAuthorization: tunnel.proxyAuthorization,
                                timeout: connectTimeout,
                                eventLoop: channel.eventLoop
                            )
                        )
                    } else {
                        try exchange.add(to: sync)
                    }
                }
            }
        let connected = bootstrap.connect(host: proxy?.host ?? endpoint.host, port: proxy?.port ?? endpoint.port)
        connected.assumeIsolated().flatMap { channel -> EventLoopFuture<any Channel> in
            guard tunnel != nil else { return channel.eventLoop.makeSucceededFuture(channel) }
            return Self.openTunnel(on: channel, then: exchange)
        }.whenComplete { result in
            switch result {
            case .success(let channel):
                do {
                    let handler = try channel.pipeline.syncOperations.handler(type: UpstreamConnectionHandler.self)
                    completion(
                        .success(
                            UpstreamConnection(channel: channel, handler: handler, endpoint: endpoint, settingsGeneration: settingsGeneration)
                        )
                    )
                } catch {
                    channel.close(promise: nil)
                    completion(.failure(.connectFailed("pipeline")))
                }
            case .failure(let error as ProxyTunnelError):
                completion(.failure(.connectFailed("through proxy \(proxy.map { "\($0)" } ?? "?"): \(error)")))
            case .failure(let error):
                let via = proxy.map { " (proxy \($0))" } ?? ""
                completion(.failure(.connectFailed(String(describing: error) + via)))
            }
        }
    }

    /// Waits for the proxy to open the tunnel, then swaps the CONNECT handlers for TLS and the
    /// exchange handlers; a failure closes the connection.
    private static func openTunnel(on channel: any Channel, then exchange: ExchangeHandlers) -> EventLoopFuture<any Channel> {
        let sync = channel.pipeline.syncOperations
        let tunnel: ProxyTunnelHandler
        do {
            tunnel = try sync.handler(type: ProxyTunnelHandler.self)
        } catch {
            channel.close(promise: nil)
            return channel.eventLoop.makeFailedFuture(error)
        }
        return tunnel.established.assumeIsolated().flatMap { (_) -> EventLoopFuture<Void> in
            do {
                let encoder = try sync.handler(type: HTTPRequestEncoder.self)
                let decoder = try sync.handler(type: ByteToMessageHandler<HTTPResponseDecoder>.self)
                return EventLoopFuture.andAllSucceed(
                    [sync.removeHandler(tunnel), sync.removeHandler(decoder), sync.removeHandler(encoder)],
                    on: channel.eventLoop
                )
            } catch {
                return channel.eventLoop.makeFailedFuture(error)
            }
        }.flatMapThrowing { (_) -> any Channel in
            try exchange.add(to: sync)
            return channel
        }.nonisolated().flatMapErrorThrowing { error in
            channel.close(promise: nil)
            throw error
        }
    }
}

/// The handlers of a backend connection that carries S3 exchanges: TLS when the backend speaks it,
/// the HTTP/1.1 codec, the read timeout, absolute-form requests behind a forward proxy, and the
/// handler that routes responses to the lessee.
private struct ExchangeHandlers {
    let tlsContext: NIOSSLContext?
    let serverHostname: String?
    let idleTimeout: TimeAmount
    /// Set (the inner value possibly nil: a proxy without credentials) for a plain backend behind a proxy.
    let forwardProxyAuthorization: String??

    func add(to sync: ChannelPipeline.SynchronousOperations) throws {
        if let tlsContext {
            try sync.addHandler(NIOSSLClientHandler(context: tlsContext, serverHostname: serverHostname))
        }
        try sync.addHandler(HTTPRequestEncoder())
        try sync.addHandler(
            ByteToMessageHandler(
                HTTPResponseDecoder(leftOverBytesStrategy: .dropBytes, informationalResponseStrategy: .forward)
            )
        )
        try sync.addHandler(UpstreamStallTimer(timeout: idleTimeout))
        if case .some(let authorization) = forwardProxyAuthorization {
            try sync.addHandler(ForwardProxyRequestHandler(proxyAuthorization: authorization))
        }
        try sync.addHandler(UpstreamConnectionHandler())
    }
}

extension String {
    /// A literal IPv4 or IPv6 address (no SNI is sent for those).
    var isIPAddress: Bool {
        if self.contains(":") { return true }
        let parts = self.split(separator: ".", omittingEmptySubsequences: false)
        return parts.count == 4 && parts.allSatisfy { part in
            !part.isEmpty && part.count <= 3 && part.allSatisfy(\.isASCIIDigit)
        }
    }
}

extension Character {
    var isASCIIDigit: Bool { self >= "0" && self <= "9" }
}
