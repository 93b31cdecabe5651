import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOHTTP1
import NIOPosix
import S3Signing
import Testing

@testable import OSPCore

// MARK: - What a reload applies

@Suite("Config reload: what applies and what waits for a restart")
struct ConfigReloadTests {
    private func config(_ yaml: String) throws -> OSPConfig {
        try ConfigLoader.parse(yaml: yaml + "\nkeystore: [{access_key: AK, secret_key: SK, principal: alice}]\n", environment: [:])
    }

    @Test("buckets, keystore and server limits apply; the listener's address, port and threads keep running values")
    func listenerSettingsStay() throws {
        let running = try config("server: {bind: 127.0.0.1, http_port: 6190, threads: 2}\nbuckets: {bucket-one: {host: h}}")
        let loaded = try config("""
            server: {bind: 0.0.0.0, http_port: 7000, threads: 4, idle_timeout_seconds: 5, shutdown_grace_seconds: 9}
            admin: {port: 9090}
            logging: {level: debug}
            buckets: {bucket-one: {host: h}, bucket-two: {host: h}}
            """)
        let reload = ConfigReload(running: running, loaded: loaded)
        #expect(reload.needsRestart == ["server.bind", "server.http_port", "server.threads", "admin", "logging"])
        #expect(reload.config.logging == running.logging)
        #expect(reload.config.server.bind == "127.0.0.1")
        #expect(reload.config.server.httpPort == 6190)
        #expect(reload.config.server.threads == 2)
        #expect(reload.config.admin == nil)
        #expect(reload.config.server.idleTimeoutSeconds == 5)
        #expect(reload.config.server.shutdownGraceSeconds == 9)
        #expect(reload.config.buckets == loaded.buckets)
        #expect(reload.upstreamChanged == false)
    }

    @Test("the same listener: nothing waits; an upstream change is reported for the pools")
    func nothingWaits() throws {
        let running = try config("buckets: {bucket-one: {host: h}}")
        let loaded = try config("upstream: {connect_timeout_seconds: 1}\nbuckets: {bucket-one: {host: h}}")
        let reload = ConfigReload(running: running, loaded: loaded)
        #expect(reload.needsRestart.isEmpty)
        #expect(reload.config == loaded)
        #expect(reload.upstreamChanged)
    }
}

// MARK: - A running server

/// Backend responses held until the test lets them go, so "in flight" does not depend on timing.
private final class HeldResponses: Sendable {
    private let held = NIOLockedValueBox<[NIOLoopBound<() -> Void>]>([])

    var count: Int { self.held.withLockedValue { $0.count } }

    func hold(_ respond: NIOLoopBound<() -> Void>) {
        self.held.withLockedValue { $0.append(respond) }
    }

    func release() {
        for respond in self.held.withLockedValue({ held in defer { held.removeAll() }; return held }) {
            respond.eventLoop.execute { respond.value() }
        }
    }

    /// Waits (bounded) until `count` responses are held: the requests reached the backend.
    func waitFor(_ count: Int) async throws {
        for _ in 0..<200 where self.count < count {
            try await Task.sleep(for: .milliseconds(25))
        }
        #expect(self.count == count, "requests did not reach the backend")
    }
}

/// A backend that answers every request with 200 and its path (`bigSize` bytes for a path with
/// `/big`); a path ending in `hold` is answered when the test releases it.
private final class PacedBackend: ChannelInboundHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart
    private let held: HeldResponses
    private var uri = ""
    /// The size of the body a path with `/big` gets.
    static let bigSize = 4 << 20

    init(held: HeldResponses) {
        self.held = held
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch Self.unwrapInboundIn(data) {
        case .head(let head): self.uri = head.uri
        case .body: break
        case .end:
            let uri = self.uri
            let body = uri.contains("/big") ? ByteBuffer(repeating: UInt8(ascii: "x"), count: PacedBackend.bigSize) : ByteBuffer(string: uri)
            let respond = {
                let headers = HTTPHeaders([("content-length", String(body.readableBytes))])
                context.write(Self.wrapOutboundOut(.head(HTTPResponseHead(version: .http1_1, status: .ok, headers: headers))), promise: nil)
                context.write(Self.wrapOutboundOut(.body(.byteBuffer(body))), promise: nil)
                context.writeAndFlush(Self.wrapOutboundOut(.end(nil)), promise: nil)
            }
            if uri.hasSuffix("hold") {
                self.held.hold(NIOLoopBound(respond, eventLoop: context.eventLoop))
            } else {
                respond()
            }
        }
    }
}

private struct TestResponse: Sendable {
    var status: Int
    var headers: HTTPHeaders
    var body: String
    var bodyBytes = 0
}

/// Answers the requests of one client connection in order.
private final class ResponseQueue: ChannelInboundHandler {
    typealias InboundIn = HTTPClientResponsePart
    var waiting: [EventLoopPromise<TestResponse>] = []
    private var response = TestResponse(status: 0, headers: [:], body: "")

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch Self.unwrapInboundIn(data) {
        case .head(let head): self.response = TestResponse(status: Int(head.status.code), headers: head.headers, body: "")
        case .body(let buffer):
            self.response.bodyBytes += buffer.readableBytes
            if self.response.body.utf8.count < 1024 { self.response.body += String(buffer: buffer) }
        case .end: if !self.waiting.isEmpty { self.waiting.removeFirst().succeed(self.response) }
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        for promise in self.waiting { promise.fail(ChannelError.eof) }
        self.waiting.removeAll()
        context.fireChannelInactive()
    }
}

/// One keep-alive client connection to osp, sending SigV4-signed GETs.
private struct ClientConnection {
    let channel: any Channel

    /// `slowReader`: reads only when `readSome()` is called, through a small socket buffer.
    static func open(port: Int, group: any EventLoopGroup, slowReader: Bool = false) async throws -> ClientConnection {
        var bootstrap = ClientBootstrap(group: group)
        if slowReader {
            bootstrap = bootstrap.channelOption(.autoRead, value: false).channelOption(.socketOption(.so_rcvbuf), value: 8192)
        }
        let channel = try await bootstrap
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHTTPClientHandlers()
                    try channel.pipeline.syncOperations.addHandler(ResponseQueue())
                }
            }
            .connect(host: "127.0.0.1", port: port).get()
        return ClientConnection(channel: channel)
    }

    /// Sends the request and returns at once; the future completes with the response.
    func send(_ path: String, accessKey: String = "AK", secret: String = "SK", close: Bool = false) -> EventLoopFuture<TestResponse> {
        var headers = HTTPHeaders([("host", "127.0.0.1")])
        if close { headers.add(name: "connection", value: "close") }
        _ = SigV4Signer(accessKey: accessKey, secretKey: secret, region: "us-east-1", keyCache: SigningKeyCache())
            .signHeaders(method: "GET", rawPath: path, rawQuery: "", headers: &headers, payloadHash: "UNSIGNED-PAYLOAD", date: AmzDate.now())
        let channel = self.channel
        let head = HTTPRequestHead(version: .http1_1, method: .GET, uri: path, headers: headers)
        return channel.eventLoop.flatSubmit {
            let promise = channel.eventLoop.makePromise(of: TestResponse.self)
            do {
                try channel.pipeline.syncOperations.handler(type: ResponseQueue.self).waiting.append(promise)
            } catch {
                promise.fail(error)
            }
            channel.write(HTTPClientRequestPart.head(head), promise: nil)
            channel.writeAndFlush(HTTPClientRequestPart.end(nil), promise: nil)
            return promise.futureResult
        }
    }

    func get(_ path: String, accessKey: String = "AK", secret: String = "SK") async throws -> TestResponse {
        try await self.send(path, accessKey: accessKey, secret: secret).get()
    }
}

/// Whether `future` completes within `seconds` (polled, so a test never hangs on it).
private func completes<T: Sendable>(_ future: EventLoopFuture<T>, within seconds: Int64) async -> Bool {
    let done = NIOLockedValueBox(false)
    future.whenComplete { _ in done.withLockedValue { $0 = true } }
    for _ in 0..<(seconds * 20) {
        if done.withLockedValue({ $0 }) { return true }
        try? await Task.sleep(for: .milliseconds(50))
    }
    return done.withLockedValue { $0 }
}

/// Reads `response` a little at a time until it completes (bounded).
private func readSlowly(_ client: ClientConnection, until response: EventLoopFuture<TestResponse>) async throws -> TestResponse {
    let done = NIOLockedValueBox(false)
    response.whenComplete { _ in done.withLockedValue { $0 = true } }
    for _ in 0..<20_000 where !done.withLockedValue({ $0 }) {
        client.channel.read()
        try await Task.sleep(for: .microseconds(250))
    }
    return try await response.get()
}

@Suite("Server lifecycle: draining on shutdown, reloading the config")
struct ServerLifecycleTests {
    /// osp on a free port in front of a `PacedBackend`, with `bucket-one`, key AK and the given grace period.
    private func withServer(
        grace: Int64 = 30,
        _ body: (OSPServer, _ port: Int, _ backendPort: Int, _ group: MultiThreadedEventLoopGroup, HeldResponses) async throws -> Void
    ) async throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 2)
        let held = HeldResponses()
        let backend = try await ServerBootstrap(group: group)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.configureHTTPServerPipeline()
                    try channel.pipeline.syncOperations.addHandler(PacedBackend(held: held))
                }
            }
            .bind(host: "127.0.0.1", port: 0).get()
        let backendPort = backend.localAddress!.port!
        var config = try Self.config(backendPort: backendPort, grace: grace)
        config.server.httpPort = 0
        let gateway = Gateway(config: config, logger: Logger(label: "osp-test"))
        let server = OSPServer(gateway: gateway, group: group)
        do {
            let port = try await server.start()!.port!
            try await body(server, port, backendPort, group, held)
        } catch {
            Issue.record(error)
        }
        held.release()
        await server.stop()
        await gateway.shutdown()
        try await backend.close()
        try await group.shutdownGracefully()
    }

    static func config(backendPort: Int, grace: Int64 = 30, second: Bool = false) throws -> OSPConfig {
        let bucket = "{host: 127.0.0.1, port: \(backendPort), access_key: BAK, secret_key: BSK}"
        return try ConfigLoader.parse(
            yaml: """
                server: {threads: 2, shutdown_grace_seconds: \(grace)}
                buckets:
                  bucket-one: \(bucket)
                \(second ? "  bucket-two: \(bucket)" : "")
                keystore:
                  - {access_key: AK, secret_key: SK, principal: alice}
                \(second ? "  - {access_key: BK, secret_key: BSK2, principal: bob}" : "")
                """,
            environment: [:]
        )
    }

    @Test("a reload serves the next request on an open connection with the new config; a request in flight finishes on the old")
    func reloadOnOpenConnection() async throws {
        try await withServer { server, port, backendPort, group, held in
            let client = try await ClientConnection.open(port: port, group: group)
            #expect(try await client.get("/bucket-one/a").status == 200)
            #expect(try await client.get("/bucket-two/a").status == 404)
            #expect(try await client.get("/bucket-one/a", accessKey: "BK", secret: "BSK2").status == 403)

            // In flight across the reload: started under the old config, answered normally.
            let other = try await ClientConnection.open(port: port, group: group)
            let inFlight = other.send("/bucket-one/hold")
            try await held.waitFor(1)

            var next = try Self.config(backendPort: backendPort, second: true)
            next.server.httpPort = 6190
            let reload = try await server.reload(config: next)
            #expect(reload.needsRestart == ["server.http_port"])
            #expect(server.gateway.config.server.httpPort == 0)
            #expect(server.gateway.config.buckets.routes.keys.sorted() == ["bucket-one", "bucket-two"])

            held.release()
            let answer = try await inFlight.get()
            #expect(answer.status == 200 && answer.body == "/bucket-one/hold")
            // The same connections, now on the new config.
            #expect(try await client.get("/bucket-two/a").status == 200)
            #expect(try await client.get("/bucket-one/a", accessKey: "BK", secret: "BSK2").status == 200)
            #expect(try await other.get("/bucket-two/b").body == "/bucket-two/b")
            #expect(client.channel.isActive && other.channel.isActive)
            try await client.channel.close()
            try await other.channel.close()
        }
    }

    @Test("shutdown closes idle connections at once and answers the request in flight with Connection: close")
    func drainIdleAndInFlight() async throws {
        try await withServer { server, port, _, group, held in
            let idle = try await ClientConnection.open(port: port, group: group)
            #expect(try await idle.get("/bucket-one/a").status == 200)
            let busy = try await ClientConnection.open(port: port, group: group)
            #expect(try await busy.get("/bucket-one/a").status == 200)
            #expect(server.openConnections == 2)

            let running = Task { try await server.run() }
            let inFlight = busy.send("/bucket-one/hold")
            try await held.waitFor(1)
            #expect(!server.isDraining)
            await server.stop()
            #expect(server.isDraining)

            #expect(await completes(idle.channel.closeFuture, within: 2), "idle connection still open")
            #expect(busy.channel.isActive, "connection with a request in flight closed early")
            held.release()
            let response = try await inFlight.get()
            #expect(response.status == 200 && response.body == "/bucket-one/hold")
            #expect(response.headers["connection"] == ["close"])
            #expect(await completes(busy.channel.closeFuture, within: 2))
            try await running.value
            #expect(server.openConnections == 0)
        }
    }

    @Test("a response that ends its connection is sent whole, however much of it backpressure still holds", arguments: [false, true])
    func closingResponseIsSentWhole(drainingFirst: Bool) async throws {
        try await withServer { server, port, _, group, held in
            let client = try await ClientConnection.open(port: port, group: group, slowReader: true)
            let running = Task { try await server.run() }
            // Closing because the client asked (Connection: close), or because the server drains.
            let response = client.send(drainingFirst ? "/bucket-one/big-hold" : "/bucket-one/big", close: !drainingFirst)
            if drainingFirst {
                try await held.waitFor(1)
                await server.stop()
                held.release()
            }
            let answer = try await readSlowly(client, until: response)
            #expect(answer.status == 200)
            #expect(answer.bodyBytes == PacedBackend.bigSize)
            #expect(await completes(client.channel.closeFuture, within: 2))
            await server.stop()
            try await running.value
        }
    }

    @Test("after the grace period, connections with requests still in flight are closed")
    func graceRunsOut() async throws {
        try await withServer(grace: 1) { server, port, _, group, held in
            let stuck = try await ClientConnection.open(port: port, group: group)
            let never = stuck.send("/bucket-one/hold")  // released only after the test
            try await held.waitFor(1)
            let running = Task { try await server.run() }
            // Timed where the connection closes (on its event loop), not where this task resumes:
            // a busy test run can keep a task waiting well past the grace period.
            let start = NIODeadline.now()
            await server.stop()
            let closedAt = stuck.channel.closeFuture.map { NIODeadline.now() }
            #expect(await completes(closedAt, within: 10), "connection still open 10 s into a 1 s grace period")
            let elapsed = try await closedAt.get() - start
            #expect(elapsed >= .milliseconds(900) && elapsed < .seconds(5), "closed after \(elapsed)")
            try await running.value
            await #expect(throws: (any Error).self) { try await never.get() }
        }
    }
}
