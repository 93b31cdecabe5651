import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOHTTP1
import NIOPosix

/// What `/metrics` serves: the registry's text, after the values that are read rather than counted
/// (cache statistics, idle backend connections) have been brought up to date.
struct MetricsExposition: Sendable {
    let metrics: OSPMetrics
    /// Reads the scrape-time values; completes on the given loop.
    let refresh: @Sendable (any EventLoop) -> EventLoopFuture<Void>

    func render(on eventLoop: any EventLoop) -> EventLoopFuture<[UInt8]> {
        let registry = self.metrics.registry
        return self.refresh(eventLoop).map { registry.emitToBuffer() }
    }
}

/// The admin listener: `/healthz`, `/readyz` and `/metrics` on their own port, so an operator's probe
/// or scraper can never be mistaken for a bucket (or reach one), and the S3 port exposes nothing but S3.
///
/// A deliberately small HTTP/1.1 server on the gateway's event loops: GET and HEAD only, no body
/// read, every other path 404.
final class AdminServer: Sendable {
    private let settings: AdminSettings
    private let group: any EventLoopGroup
    private let routes: AdminRoutes
    private let channel = NIOLockedValueBox<(any Channel)?>(nil)

    init(settings: AdminSettings, group: any EventLoopGroup, routes: AdminRoutes) {
        self.settings = settings
        self.group = group
        self.routes = routes
    }

    var localAddress: SocketAddress? {
        self.channel.withLockedValue { $0?.localAddress }
    }

    @discardableResult
    func start() async throws -> SocketAddress? {
        let routes = self.routes
        let channel = try await ServerBootstrap(group: self.group)
            .serverChannelOption(.backlog, value: 64)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    let sync = channel.pipeline.syncOperations
                    try sync.configureHTTPServerPipeline(withErrorHandling: true)
                    try sync.addHandler(IdleStateHandler(readTimeout: .seconds(30)))
                    try sync.addHandler(AdminHTTPHandler(routes: routes))
                }
            }
            .bind(host: self.settings.bind, port: self.settings.port)
            .get()
        self.channel.withLockedValue { $0 = channel }
        return channel.localAddress
    }

    func stop() async {
        let channel = self.channel.withLockedValue { $0 }
        try? await channel?.close()
    }
}

/// What the admin paths answer, as closures over the server's state.
struct AdminRoutes: Sendable {
    /// Ready to serve S3: the config is loaded (it is, or nothing would run) and the S3 listener is up.
    let isReady: @Sendable () -> Bool
    let exposition: MetricsExposition

    enum Path: Equatable {
        case healthz, readyz, metrics, unknown
    }

    static func path(of uri: String) -> Path {
        let path = uri.split(separator: "?", maxSplits: 1, omittingEmptySubsequences: false).first ?? ""
        switch path {
        case "/healthz": return .healthz
        case "/readyz": return .readyz
        case "/metrics": return .metrics
        default: return .unknown
        }
    }
}

/// Answers one admin request per head; bodies are ignored.
final class AdminHTTPHandler: ChannelInboundHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    private let routes: AdminRoutes
    private var head: HTTPRequestHead?

    init(routes: AdminRoutes) {
        self.routes = routes
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch Self.unwrapInboundIn(data) {
        case .head(let head):
            self.head = head
        case .body:
            break
        case .end:
            guard let head = self.head else { return }
            self.head = nil
            self.respond(to: head, context: context)
        }
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if event is IdleStateHandler.IdleStateEvent {
            context.close(promise: nil)
            return
        }
        context.fireUserInboundEventTriggered(event)
    }

    private func respond(to head: HTTPRequestHead, context: ChannelHandlerContext) {
        guard head.method == .GET || head.method == .HEAD else {
            self.send(.methodNotAllowed, "method not allowed\n", extraHeaders: [("allow", "GET, HEAD")], head: head, context: context)
            return
        }
        switch AdminRoutes.path(of: head.uri) {
        case .healthz:
            self.send(.ok, "ok\n", head: head, context: context)
        case .readyz:
            if self.routes.isReady() {
                self.send(.ok, "ready\n", head: head, context: context)
            } else {
                self.send(.serviceUnavailable, "not ready\n", head: head, context: context)
            }
        case .metrics:
            self.routes.exposition.render(on: context.eventLoop).assumeIsolated().whenComplete { result in
                switch result {
                case .success(let text):
                    self.send(.ok, text, contentType: "text/plain; version=0.0.4; charset=utf-8", head: head, context: context)
                case .failure:
                    self.send(.internalServerError, "metrics unavailable\n", head: head, context: context)
                }
            }
        case .unknown:
            self.send(.notFound, "not found\n", head: head, context: context)
        }
    }

    private func send(
        _ status: HTTPResponseStatus,
        _ body: String,
        extraHeaders: [(String, String)] = [],
        head: HTTPRequestHead,
        context: ChannelHandlerContext
    ) {
        self.send(status, Array(body.utf8), contentType: "text/plain; charset=utf-8", extraHeaders: extraHeaders, head: head, context: context)
    }

    private func send(
        _ status: HTTPResponseStatus,
        _ body: [UInt8],
        contentType: String,
        extraHeaders: [(String, String)] = [],
        head: HTTPRequestHead,
        context: ChannelHandlerContext
    ) {
        var headers = HTTPHeaders()
        headers.add(name: "content-type", value: contentType)
        headers.add(name: "content-length", value: String(body.count))
        headers.add(name: "cache-control", value: "no-store")
        for (name, value) in extraHeaders { headers.add(name: name, value: value) }
        if !head.isKeepAlive { headers.add(name: "connection", value: "close") }
        context.write(Self.wrapOutboundOut(.head(HTTPResponseHead(version: head.version, status: status, headers: headers))), promise: nil)
        if head.method != .HEAD {
            context.write(Self.wrapOutboundOut(.body(.byteBuffer(context.channel.allocator.buffer(bytes: body)))), promise: nil)
        }
        let keepAlive = head.isKeepAlive
        context.writeAndFlush(Self.wrapOutboundOut(.end(nil))).assumeIsolated().whenComplete { _ in
            if !keepAlive { context.close(promise: nil) }
        }
    }
}
