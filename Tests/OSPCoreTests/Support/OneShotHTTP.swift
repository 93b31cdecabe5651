import NIOCore
import NIOHTTP1
import NIOPosix

/// One HTTP/1.1 request on a fresh connection, its whole response, and the connection closed:
/// enough of a client for tests that talk to osp's listeners over real sockets.
enum OneShotHTTP {
    struct Response: Sendable {
        var status: Int
        var headers: HTTPHeaders
        var body: String
    }

    static func send(
        _ method: HTTPMethod,
        _ uri: String,
        headers: HTTPHeaders = [:],
        body: [UInt8] = [],
        port: Int,
        group: any EventLoopGroup
    ) async throws -> Response {
        let loop = group.next()
        let promise = loop.makePromise(of: Response.self)
        let channel = try await ClientBootstrap(group: loop)
            .connectTimeout(.seconds(5))
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHTTPClientHandlers()
                    try channel.pipeline.syncOperations.addHandler(Collector(promise: promise))
                }
            }
            .connect(host: "127.0.0.1", port: port).get()
        var headers = headers
        if !headers.contains(name: "host") { headers.add(name: "host", value: "127.0.0.1:\(port)") }
        if !body.isEmpty || method == .PUT { headers.replaceOrAdd(name: "content-length", value: String(body.count)) }
        headers.replaceOrAdd(name: "connection", value: "close")
        channel.write(HTTPClientRequestPart.head(HTTPRequestHead(version: .http1_1, method: method, uri: uri, headers: headers)), promise: nil)
        if !body.isEmpty {
            channel.write(HTTPClientRequestPart.body(.byteBuffer(ByteBuffer(bytes: body))), promise: nil)
        }
        try await channel.writeAndFlush(HTTPClientRequestPart.end(nil)).get()
        let timeout = loop.scheduleTask(in: .seconds(10)) { promise.fail(ChannelError.connectTimeout(.seconds(10))) }
        defer { timeout.cancel() }
        let response = try await promise.futureResult.get()
        try? await channel.close()
        return response
    }

    private final class Collector: ChannelInboundHandler {
        typealias InboundIn = HTTPClientResponsePart
        let promise: EventLoopPromise<Response>
        private var response = Response(status: 0, headers: [:], body: "")

        init(promise: EventLoopPromise<Response>) { self.promise = promise }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            switch Self.unwrapInboundIn(data) {
            case .head(let head):
                response.status = Int(head.status.code)
                response.headers = head.headers
            case .body(let buffer):
                response.body += String(buffer: buffer)
            case .end:
                promise.succeed(response)
            }
        }

        func channelInactive(context: ChannelHandlerContext) {
            promise.fail(ChannelError.eof)
        }

        func errorCaught(context: ChannelHandlerContext, error: any Error) { promise.fail(error) }
    }
}
