import NIOConcurrencyHelpers
import NIOCore
import NIOHTTP1
import NIOPosix
import OSPCore
import S3Signing
import Testing

// MARK: - The README's library example, verbatim (keep the two in step)

/// Serves `lib-bucket` from the backend at 127.0.0.1:`backendPort`: keys come from a keystore and a
/// fetcher, the validator only lets `public/` through, and each principal gets its own backend key.
func makeExampleServer(backendPort: Int) -> ProxyServer {
    let config = ProxyServerConfig(
        cosMap: [
            "lib-bucket": BucketRoute(name: "lib-bucket", host: "127.0.0.1", port: backendPort, region: "us-east-1")
        ],
        validator: { token, bucket, request in
            bucket == "lib-bucket" && (request.key ?? "").hasPrefix("public/")
        },
        bucketCredsFetcher: { token, bucket in
            BackendCredentials(accessKey: "BACKEND-\(token)", secretKey: "backend-secret-\(token)")
        },
        hmacFetcher: { accessKey in
            accessKey == "FETCHEDKEY" ? "fetched-secret" : nil
        },
        hmacKeystore: ["LOCALKEY": "local-secret"],
        httpPort: 0,
        threads: 1
    )
    return ProxyServer(config)
}

// MARK: - The test that runs it

/// A backend that verifies osp's SigV4 signature for the credentials `bucketCredsFetcher` hands out
/// and answers with the access key it saw.
private final class VerifyingBackend: ChannelInboundHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart
    private var head: HTTPRequestHead?

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch Self.unwrapInboundIn(data) {
        case .head(let head): self.head = head
        case .body: break
        case .end:
            guard let head else { return }
            let request = IncomingRequest(method: head.method.rawValue, target: head.uri, headers: head.headers)
            var status = HTTPResponseStatus.forbidden
            var body = "bad signature"
            if let auth = try? ClientAuthentication.parse(headers: head.headers, rawQuery: request.rawQuery),
                let accessKey = auth.accessKey, accessKey.hasPrefix("BACKEND-"),
                let verified = try? RequestVerifier(keyCache: SigningKeyCache()).verify(
                    auth, request: request, secretKey: "backend-secret-" + accessKey.dropFirst("BACKEND-".count),
                    now: AmzDate.now())
            {
                status = .ok
                body = verified.accessKey
            }
            let headers = HTTPHeaders([("content-length", String(body.utf8.count))])
            context.write(Self.wrapOutboundOut(.head(HTTPResponseHead(version: .http1_1, status: status, headers: headers))), promise: nil)
            context.write(Self.wrapOutboundOut(.body(.byteBuffer(ByteBuffer(string: body)))), promise: nil)
            context.writeAndFlush(Self.wrapOutboundOut(.end(nil)), promise: nil)
        }
    }
}

/// Collects one response.
private final class ResponseCollector: ChannelInboundHandler {
    typealias InboundIn = HTTPClientResponsePart
    let promise: EventLoopPromise<(Int, String)>
    private var status = 0
    private var body = ""

    init(promise: EventLoopPromise<(Int, String)>) { self.promise = promise }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch Self.unwrapInboundIn(data) {
        case .head(let head): status = Int(head.status.code)
        case .body(let buffer): body += String(buffer: buffer)
        case .end: promise.succeed((status, body))
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) { promise.fail(error) }
}

@Suite("Library API (ProxyServerConfig with closures)")
struct LibraryExampleTests {
    /// Sends a GET for `key` signed with the client key (`accessKey`, `secret`) to osp at `port`.
    func get(_ key: String, port: Int, accessKey: String, secret: String, group: any EventLoopGroup) async throws -> (Int, String) {
        var headers = HTTPHeaders([("host", "127.0.0.1:\(port)")])
        let path = "/lib-bucket/" + SigV4Canonical.uriEncode(key, encodeSlash: false)
        SigV4Signer(accessKey: accessKey, secretKey: secret, region: "us-east-1", keyCache: SigningKeyCache())
            .signHeaders(method: "GET", rawPath: path, rawQuery: "", headers: &headers,
                         payloadHash: "UNSIGNED-PAYLOAD", date: AmzDate.now())
        let loop = group.next()
        let promise = loop.makePromise(of: (Int, String).self)
        let channel = try await ClientBootstrap(group: loop)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHTTPClientHandlers()
                    try channel.pipeline.syncOperations.addHandler(ResponseCollector(promise: promise))
                }
            }
            .connect(host: "127.0.0.1", port: port).get()
        channel.write(HTTPClientRequestPart.head(HTTPRequestHead(version: .http1_1, method: .GET, uri: path, headers: headers)), promise: nil)
        try await channel.writeAndFlush(HTTPClientRequestPart.end(nil)).get()
        let response = try await promise.futureResult.get()
        try await channel.close()
        return response
    }

    @Test("the README example serves, refuses and maps each principal onto its own backend key")
    func readmeExample() async throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let backend = try await ServerBootstrap(group: group)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.configureHTTPServerPipeline()
                    try channel.pipeline.syncOperations.addHandler(VerifyingBackend())
                }
            }
            .bind(host: "127.0.0.1", port: 0).get()
        let server = makeExampleServer(backendPort: backend.localAddress!.port!)
        do {
            let port = try await server.start()!.port!
            // A keystore key and a fetched key each reach the backend under their own backend identity.
            let local = try await get("public/a.txt", port: port, accessKey: "LOCALKEY", secret: "local-secret", group: group)
            #expect(local.0 == 200 && local.1 == "BACKEND-LOCALKEY")
            let fetched = try await get("public/b.txt", port: port, accessKey: "FETCHEDKEY", secret: "fetched-secret", group: group)
            #expect(fetched.0 == 200 && fetched.1 == "BACKEND-FETCHEDKEY")
            // The validator says no outside public/; unknown keys and wrong secrets never get that far.
            let denied = try await get("private/c.txt", port: port, accessKey: "LOCALKEY", secret: "local-secret", group: group)
            #expect(denied.0 == 403 && denied.1.contains("<Code>AccessDenied</Code>"))
            let unknown = try await get("public/a.txt", port: port, accessKey: "NOBODY", secret: "x", group: group)
            #expect(unknown.0 == 403 && unknown.1.contains("<Code>InvalidAccessKeyId</Code>"))
            let wrong = try await get("public/a.txt", port: port, accessKey: "FETCHEDKEY", secret: "guess", group: group)
            #expect(wrong.0 == 403 && wrong.1.contains("<Code>SignatureDoesNotMatch</Code>"))
        } catch {
            Issue.record(error)
        }
        try await server.shutdown()
        try await backend.close()
        try await group.shutdownGracefully()
    }
}
