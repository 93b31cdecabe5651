import Foundation
import NIOConcurrencyHelpers
import NIOCore
import NIOHTTP1
import NIOPosix
import Testing

@testable import OSPCore

/// `CurlHTTPClient` against an in-process HTTP/1.1 server that records what it received: what goes
/// on the wire, which answers come back, and each refusal kind (timeout, transport, size cap,
/// invalid request), plus connection reuse through the per-thread easy handle.
@Suite("CurlHTTPClient", .serialized)
struct CurlHTTPClientTests {
    @Test func postSendsBodyAndHeadersAndReturnsStatusAndBody() async throws {
        try await withCalloutFixture { server, client, loop in
            let body = Array(#"{"input":{"a":1}}"#.utf8)
            let response = try await client.post(
                url: server.url("/echo"),
                body: body,
                headers: [("Content-Type", "application/json"), ("X-Trace", "abc")],
                timeout: .seconds(5),
                on: loop
            ).get()
            #expect(response.status == 200)
            #expect(response.body == body)
            let seen = try #require(server.log.requests.last)
            #expect(seen.method == "POST")
            #expect(seen.uri == "/echo")
            #expect(seen.body == body)
            #expect(seen.header("content-type") == "application/json")
            #expect(seen.header("x-trace") == "abc")
            #expect(seen.header("content-length") == "\(body.count)")
            // No `Expect: 100-continue` round trip.
            #expect(seen.header("expect") == nil)
        }
    }

    @Test func getAndFormPost() async throws {
        try await withCalloutFixture { server, client, loop in
            let got = try await client.get(url: server.url("/echo?x=1"), timeout: .seconds(5), on: loop).get()
            #expect(got.status == 200)
            #expect(server.log.requests.last?.method == "GET")
            #expect(server.log.requests.last?.uri == "/echo?x=1")

            let form = try await client.postForm(
                url: server.url("/echo"),
                fields: [("grant_type", "urn:ibm:params:oauth:grant-type:apikey"), ("apikey", "a b&c=d/é")],
                timeout: .seconds(5),
                on: loop
            ).get()
            #expect(String(decoding: form.body, as: UTF8.self)
                == "grant_type=urn%3Aibm%3Aparams%3Aoauth%3Agrant-type%3Aapikey&apikey=a%20b%26c%3Dd%2F%C3%A9")
            #expect(server.log.requests.last?.header("content-type") == "application/x-www-form-urlencoded")
        }
    }

    @Test func nonSuccessStatusesAreAnswersNotErrors() async throws {
        try await withCalloutFixture { server, client, loop in
            for status in [204, 401, 404, 500, 503] {
                let response = try await client.get(url: server.url("/status/\(status)"), timeout: .seconds(5), on: loop).get()
                #expect(response.status == status)
                #expect(response.isSuccess == (status < 300))
                if status >= 300 {
                    #expect(throws: CalloutError(.httpStatus, "HTTP status \(status)")) { try response.requireSuccess() }
                }
            }
        }
    }

    @Test func redirectsAreNotFollowed() async throws {
        try await withCalloutFixture { server, client, loop in
            let response = try await client.get(url: server.url("/redirect"), timeout: .seconds(5), on: loop).get()
            #expect(response.status == 302)
            #expect(server.log.requests.map(\.uri) == ["/redirect"])
        }
    }

    @Test func answersAreCappedInSize() async throws {
        let settings = CalloutSettings(maxResponseBytes: 4096)
        try await withCalloutFixture(settings: settings) { server, client, loop in
            let atLimit = try await client.get(url: server.url("/big/4096"), timeout: .seconds(5), on: loop).get()
            #expect(atLimit.body.count == 4096)
            let error = await calloutError { try await client.get(url: server.url("/big/4097"), timeout: .seconds(5), on: loop).get() }
            #expect(error?.kind == .responseTooLarge)
            let huge = await calloutError { try await client.get(url: server.url("/big/3000000"), timeout: .seconds(5), on: loop).get() }
            #expect(huge?.kind == .responseTooLarge)
        }
    }

    @Test func slowAnswersTimeOutOnTime() async throws {
        try await withCalloutFixture { server, client, loop in
            let started = NIODeadline.now()
            let error = await calloutError {
                try await client.post(
                    url: server.url("/slow/3000"),
                    body: [1, 2, 3],
                    headers: [("Authorization", "Bearer very-secret-token")],
                    timeout: .milliseconds(300),
                    on: loop
                ).get()
            }
            let elapsed = NIODeadline.now() - started
            #expect(error?.kind == .timeout)
            #expect(elapsed >= .milliseconds(250))
            #expect(elapsed < .milliseconds(2000))
            #expect(error.map { !"\($0)".contains("very-secret-token") } == true)
        }
    }

    @Test func unreachableServiceIsATransportError() async throws {
        let port = try await closedPort()
        try await withCalloutFixture { _, client, loop in
            let error = await calloutError {
                try await client.post(
                    url: "http://127.0.0.1:\(port)/v1/data",
                    body: [],
                    headers: [("Authorization", "Bearer very-secret-token")],
                    timeout: .seconds(2),
                    on: loop
                ).get()
            }
            #expect(error?.kind == .transport)
            #expect(error.map { !"\($0)".contains("very-secret-token") } == true)
        }
    }

    @Test func tlsToAPlainHTTPServerFails() async throws {
        try await withCalloutFixture { server, client, loop in
            let error = await calloutError {
                try await client.get(url: "https://127.0.0.1:\(server.port)/echo", timeout: .seconds(2), on: loop).get()
            }
            #expect(error?.kind == .transport)
        }
    }

    @Test func requestsThatCouldSplitHeadersAreRefusedBeforeSending() async throws {
        try await withCalloutFixture { server, client, loop in
            let injected = await calloutError {
                try await client.post(
                    url: server.url("/echo"),
                    body: [],
                    headers: [("Authorization", "Bearer secret\r\nX-Evil: 1")],
                    timeout: .seconds(2),
                    on: loop
                ).get()
            }
            #expect(injected?.kind == .invalidRequest)
            #expect(injected.map { !"\($0)".contains("secret") } == true)
            let badName = await calloutError {
                try await client.get(url: server.url("/echo"), headers: [("Bad Name", "x")], timeout: .seconds(2), on: loop).get()
            }
            #expect(badName?.kind == .invalidRequest)
            let scheme = await calloutError {
                try await client.get(url: "file:///etc/passwd", timeout: .seconds(2), on: loop).get()
            }
            #expect(scheme?.kind == .invalidRequest)
            #expect(server.log.requests.isEmpty)
        }
    }

    @Test func oneThreadReusesOneHandleAndOneConnection() async throws {
        try await withCalloutFixture(poolThreads: 1) { server, client, loop in
            var reused: [Bool] = []
            for index in 0..<5 {
                let response = try await client.post(url: server.url("/echo"), body: [UInt8(index)], timeout: .seconds(5), on: loop).get()
                #expect(response.body == [UInt8(index)])
                reused.append(response.reusedConnection)
            }
            #expect(reused == [false, true, true, true, true])
            #expect(server.log.connections == 1)
            #expect(client.easyHandleCount == 1)
        }
    }

    @Test func concurrentCallsUseAtMostOneHandlePerThread() async throws {
        try await withCalloutFixture(poolThreads: 2) { server, client, loop in
            let responses = try await withThrowingTaskGroup(of: CalloutResponse.self) { group in
                for index in 0..<24 {
                    group.addTask {
                        try await client.post(url: server.url("/echo"), body: Array("call \(index)".utf8), timeout: .seconds(5), on: loop).get()
                    }
                }
                return try await group.reduce(into: [CalloutResponse]()) { $0.append($1) }
            }
            #expect(responses.count == 24)
            #expect(Set(responses.map { String(decoding: $0.body, as: UTF8.self) }) == Set((0..<24).map { "call \($0)" }))
            #expect(client.easyHandleCount <= 2)
            #expect(server.log.connections <= 2)
        }
    }

    @Test func aConfiguredProxyIsUsed() async throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let proxy = try await RecordingHTTPServer.start(group: group)
        // The recording server plays the proxy: it sees the absolute target URL.
        try await withCalloutFixture(settings: CalloutSettings(proxy: UpstreamProxySettings(http: ProxyURL(host: "127.0.0.1", port: proxy.port)))) { _, client, loop in
            let response = try await client.get(url: "http://policy.invalid/echo", timeout: .seconds(5), on: loop).get()
            #expect(response.status == 200)
        }
        #expect(proxy.log.requests.map(\.uri) == ["http://policy.invalid/echo"])
        try await proxy.channel.close()
        try await group.shutdownGracefully()
    }

    @Test func aStoppedThreadPoolIsATransportError() async throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let pool = NIOThreadPool(numberOfThreads: 1)
        pool.start()
        try await pool.shutdownGracefully()
        let client = CurlHTTPClient(threadPool: pool)
        let error = await calloutError {
            try await client.get(url: "http://127.0.0.1:1/", timeout: .seconds(1), on: group.next()).get()
        }
        #expect(error?.kind == .transport)
        try await group.shutdownGracefully()
    }
}

// MARK: - Fixture

/// Runs `body` with a started recording server, a started thread pool and a client on it; always
/// tears all three down.
private func withCalloutFixture(
    settings: CalloutSettings = CalloutSettings(),
    poolThreads: Int = 2,
    _ body: (RecordingHTTPServer, CurlHTTPClient, any EventLoop) async throws -> Void
) async throws {
    let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
    let pool = NIOThreadPool(numberOfThreads: poolThreads)
    pool.start()
    var server: RecordingHTTPServer?
    do {
        server = try await RecordingHTTPServer.start(group: group)
        let client = CurlHTTPClient(threadPool: pool, settings: settings)
        try await body(server!, client, group.next())
    } catch {
        try? await server?.channel.close()
        try? await pool.shutdownGracefully()
        try? await group.shutdownGracefully()
        throw error
    }
    try await server?.channel.close()
    try await pool.shutdownGracefully()
    try await group.shutdownGracefully()
}

/// The `CalloutError` `operation` failed with, or `nil` if it succeeded (or failed otherwise).
private func calloutError<T>(_ operation: () async throws -> T) async -> CalloutError? {
    do {
        _ = try await operation()
        return nil
    } catch let error as CalloutError {
        return error
    } catch {
        return nil
    }
}

/// A loopback port with nothing listening on it (bound by us, then closed).
private func closedPort() async throws -> Int {
    let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
    let channel = try await ServerBootstrap(group: group).bind(host: "127.0.0.1", port: 0).get()
    let port = channel.localAddress!.port!
    try await channel.close()
    try await group.shutdownGracefully()
    return port
}

private struct RecordedRequest: Sendable {
    var method: String
    var uri: String
    var headers: [(String, String)]
    var body: [UInt8]

    func header(_ name: String) -> String? {
        headers.first { $0.0.lowercased() == name }?.1
    }
}

private final class RecordingLog: Sendable {
    private let state = NIOLockedValueBox((requests: [RecordedRequest](), connections: 0))
    var requests: [RecordedRequest] { state.withLockedValue { $0.requests } }
    var connections: Int { state.withLockedValue { $0.connections } }
    func record(_ request: RecordedRequest) { state.withLockedValue { $0.requests.append(request) } }
    func connectionAccepted() { state.withLockedValue { $0.connections += 1 } }
}

/// An HTTP/1.1 keep-alive server on 127.0.0.1: `/echo` answers the request body, `/status/N` status
/// N, `/redirect` a 302, `/big/N` N bytes, `/slow/MS` the body after MS milliseconds.
private struct RecordingHTTPServer: Sendable {
    let channel: any Channel
    let log: RecordingLog
    var port: Int { channel.localAddress!.port! }

    func url(_ path: String) -> String { "http://127.0.0.1:\(port)\(path)" }

    static func start(group: any EventLoopGroup) async throws -> RecordingHTTPServer {
        let log = RecordingLog()
        let channel = try await ServerBootstrap(group: group)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                log.connectionAccepted()
                return channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.configureHTTPServerPipeline()
                    try channel.pipeline.syncOperations.addHandler(RecordingHTTPHandler(log: log))
                }
            }
            .bind(host: "127.0.0.1", port: 0)
            .get()
        return RecordingHTTPServer(channel: channel, log: log)
    }
}

private final class RecordingHTTPHandler: ChannelInboundHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    let log: RecordingLog
    var head: HTTPRequestHead?
    var body: [UInt8] = []

    init(log: RecordingLog) {
        self.log = log
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head):
            self.head = head
            body = []
        case .body(var buffer):
            body += buffer.readBytes(length: buffer.readableBytes) ?? []
        case .end:
            respond(context: context)
        }
    }

    private func respond(context: ChannelHandlerContext) {
        guard let head else { return }
        log.record(RecordedRequest(method: head.method.rawValue, uri: head.uri, headers: head.headers.map { ($0.name, $0.value) }, body: body))
        var status = HTTPResponseStatus.ok
        var responseBody = body
        var headers = HTTPHeaders()
        var delay: TimeAmount?
        let path = head.uri.split(separator: "?", maxSplits: 1).first.map(String.init) ?? head.uri
        if path.hasPrefix("/status/"), let code = Int(path.dropFirst("/status/".count)) {
            status = HTTPResponseStatus(statusCode: code)
            responseBody = code == 204 ? [] : Array("status \(code)".utf8)
        } else if path == "/redirect" {
            status = .found
            headers.add(name: "Location", value: "/echo")
            responseBody = []
        } else if path.hasPrefix("/big/"), let count = Int(path.dropFirst("/big/".count)) {
            responseBody = [UInt8](repeating: UInt8(ascii: "a"), count: count)
        } else if path.hasPrefix("/slow/"), let milliseconds = Int64(path.dropFirst("/slow/".count)) {
            delay = .milliseconds(milliseconds)
        }
        if status != .noContent {
            headers.add(name: "Content-Length", value: "\(responseBody.count)")
        }
        let responseHead = HTTPResponseHead(version: head.version, status: status, headers: headers)
        let bound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        let write = {
            let (handler, context) = bound.value
            guard context.channel.isActive else { return }
            context.write(handler.wrapOutboundOut(.head(responseHead)), promise: nil)
            if !responseBody.isEmpty {
                context.write(handler.wrapOutboundOut(.body(.byteBuffer(ByteBuffer(bytes: responseBody)))), promise: nil)
            }
            context.writeAndFlush(handler.wrapOutboundOut(.end(nil)), promise: nil)
        }
        if let delay {
            context.eventLoop.assumeIsolated().scheduleTask(in: delay) { write() }
        } else {
            write()
        }
    }
}
