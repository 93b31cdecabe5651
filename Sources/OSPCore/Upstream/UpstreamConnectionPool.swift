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
    private var tlsContext: NIOSSLContext?
    /// Bumped by `reconfigure`: connections made before (under other trust or timeouts) are not reused.
    private var settingsGeneration = 0
    private var idle: [BackendEndpoint: [UpstreamConnection]] = [:]

    init(eventLoop: any EventLoop, settings: UpstreamSettings, tlsContext: NIOSSLContext?) {
        self.eventLoop = eventLoop
        self.settings = settings
        self.tlsContext = tlsContext
    }

    /// Number of idle connections kept, for tests and metrics.
    var idleCount: Int { idle.values.reduce(0) { $0 + $1.count } }

    /// An idle connection to `endpoint` if one is alive, else a new one.
    func lease(
        _ endpoint: BackendEndpoint,
        fresh: Bool = false,
        _ completion: @escaping (Result<UpstreamConnection, UpstreamError>) -> Void
    ) {
        self.eventLoop.preconditionInEventLoop()
        if !fresh {
            while var list = self.idle[endpoint], let connection = list.popLast() {
                self.idle[endpoint] = list.isEmpty ? nil : list
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
        var list = self.idle[connection.endpoint] ?? []
        guard connection.channel.isActive, connection.settingsGeneration == self.settingsGeneration,
            list.count < self.settings.maxIdleConnectionsPerHost
        else {
            connection.channel.close(promise: nil)
            return
        }
        list.append(connection)
        self.idle[connection.endpoint] = list
    }

    /// New upstream settings (a config reload): idle connections made under the old ones close,
    /// leased ones close when they are given back, and new ones use the new settings.
    func reconfigure(settings: UpstreamSettings, tlsContext: NIOSSLContext?) {
        self.eventLoop.preconditionInEventLoop()
        self.settings = settings
        self.tlsContext = tlsContext
        self.settingsGeneration += 1
        self.closeIdle()
    }

    /// Closes every idle connection (shutdown).
    func closeIdle() {
        for connection in self.idle.values.joined() {
            connection.channel.close(promise: nil)
        }
        self.idle.removeAll()
    }

    private func connect(_ endpoint: BackendEndpoint, _ completion: @escaping (Result<UpstreamConnection, UpstreamError>) -> Void) {
        let tlsContext = endpoint.tls ? self.tlsContext : nil
        if endpoint.tls && tlsContext == nil {
            completion(.failure(.connectFailed("TLS is not configured")))
            return
        }
        let idleTimeout = TimeAmount.seconds(self.settings.readTimeoutSeconds)
        let settingsGeneration = self.settingsGeneration
        let serverHostname = endpoint.host.isIPAddress ? nil : endpoint.host
        let bootstrap = ClientBootstrap(group: self.eventLoop)
            .connectTimeout(.seconds(self.settings.connectTimeoutSeconds))
            .channelOption(.socketOption(.tcp_nodelay), value: 1)
            .channelOption(.writeBufferWaterMark, value: .init(low: 256 * 1024, high: 1024 * 1024))
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    let sync = channel.pipeline.syncOperations
                    if let tlsContext {
                        try sync.addHandler(NIOSSLClientHandler(context: tlsContext, serverHostname: serverHostname))
                    }
                    try sync.addHandler(HTTPRequestEncoder())
                    try sync.addHandler(
                        ByteToMessageHandler(
                            HTTPResponseDecoder(leftOverBytesStrategy: .dropBytes, informationalResponseStrategy: .forward)
                        )
                    )
                    try sync.addHandler(IdleStateHandler(allTimeout: idleTimeout))
                    try sync.addHandler(UpstreamConnectionHandler())
                }
            }
        bootstrap.connect(host: endpoint.host, port: endpoint.port).assumeIsolated().whenComplete { result in
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
            case .failure(let error):
                completion(.failure(.connectFailed(String(describing: error))))
            }
        }
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
