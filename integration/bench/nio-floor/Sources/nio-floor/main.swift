// nio-floor: the floor any reverse proxy built on SwiftNIO's HTTP/1 codec pays per request.
// A benchmark reference, NOT a product: integration/bench/run.sh runs it as the `nio-floor` path of
// the 1 KiB GET rounds, beside haproxy and osp, so a reader can tell how much of osp's cost is osp's
// own per-request work (SigV4 verification, re-signing, routing, policy) and how much NIO takes anyway.
//
// Mode `http`: every client connection gets one keep-alive backend connection, opened on the same
// event loop before the client is read. Client side: HTTPRequestDecoder + HTTPResponseEncoder;
// backend side: HTTPRequestEncoder + HTTPResponseDecoder. Request parts are re-encoded to the backend
// as they are, response parts to the client, one flush per read batch. No authentication, routing,
// signing, header rewriting or backpressure: enough for the small GETs it measures, not a real proxy.
// Mode `tcp`: the same pairing relaying bytes, no HTTP codec at all (the event loop and socket floor).
// When either connection of a pair closes or fails, both close.
//
// usage: nio-floor http|tcp LISTEN_PORT BACKEND_PORT [THREADS]
// Listens and connects on 127.0.0.1 only; THREADS (event loops) defaults to 2; LISTEN_PORT 0 picks a
// free port. Prints `READY <port>` on stdout once it listens.
import NIOCore
import NIOHTTP1
import NIOPosix

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Writes everything its channel reads to `peer`, converted by `convert`, and flushes once per read
/// batch. Closes `peer` when its own channel goes inactive, and its own channel on any error (whose
/// inactivity then closes `peer`).
final class Forward<In, Out: Sendable>: ChannelInboundHandler {
    typealias InboundIn = In
    private let peer: Channel
    private let convert: (In) -> Out

    init(to peer: Channel, _ convert: @escaping (In) -> Out) {
        self.peer = peer
        self.convert = convert
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        peer.write(convert(unwrapInboundIn(data)), promise: nil)
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        peer.flush()
        context.fireChannelReadComplete()
    }

    func channelInactive(context: ChannelHandlerContext) {
        peer.close(promise: nil)
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        context.close(promise: nil)
    }
}

func toBackend(_ part: HTTPServerRequestPart) -> HTTPClientRequestPart {
    switch part {
    case .head(let head): .head(head)
    case .body(let body): .body(.byteBuffer(body))
    case .end(let trailers): .end(trailers)
    }
}

func toClient(_ part: HTTPClientResponsePart) -> HTTPServerResponsePart {
    switch part {
    case .head(let head): .head(head)
    case .body(let body): .body(.byteBuffer(body))
    case .end(let trailers): .end(trailers)
    }
}

/// Connects the backend for a freshly accepted client on the client's event loop, then wires both
/// pipelines. ServerBootstrap registers (and so starts reading) the client only once this future
/// completes, so nothing has to be buffered; if it fails, the client connection is closed.
func pair(client: Channel, http: Bool, backendPort: Int) -> EventLoopFuture<Void> {
    ClientBootstrap(group: client.eventLoop)
        .channelOption(.socketOption(.tcp_nodelay), value: 1)
        .channelInitializer { backend in
            backend.eventLoop.makeCompletedFuture {
                let ops = backend.pipeline.syncOperations
                if http {
                    try ops.addHandlers(HTTPRequestEncoder(), ByteToMessageHandler(HTTPResponseDecoder()))
                    try ops.addHandler(Forward(to: client, toClient))
                } else {
                    try ops.addHandler(Forward<ByteBuffer, ByteBuffer>(to: client) { $0 })
                }
            }
        }
        .connect(host: "127.0.0.1", port: backendPort)
        .flatMapThrowing { backend in
            let ops = client.pipeline.syncOperations
            if http {
                try ops.addHandlers(HTTPResponseEncoder(), ByteToMessageHandler(HTTPRequestDecoder()))
                try ops.addHandler(Forward(to: backend, toBackend))
            } else {
                try ops.addHandler(Forward<ByteBuffer, ByteBuffer>(to: backend) { $0 })
            }
        }
}

/// The usage message on stderr, then exit 2 (through write(2): the C `stderr` global is not
/// concurrency-safe in Swift 6).
func usage() -> Never {
    var message = """
        usage: nio-floor http|tcp LISTEN_PORT BACKEND_PORT [THREADS]
          a bare SwiftNIO reverse proxy from 127.0.0.1:LISTEN_PORT to 127.0.0.1:BACKEND_PORT, a benchmark
          reference only; THREADS event loops (default 2); LISTEN_PORT 0 picks a free port

        """
    message.withUTF8 { _ = write(2, $0.baseAddress, $0.count) }
    exit(2)
}

let args = Array(CommandLine.arguments.dropFirst())
guard (3...4).contains(args.count), args[0] == "http" || args[0] == "tcp",
      let listenPort = Int(args[1]), (0...65535).contains(listenPort),
      let backendPort = Int(args[2]), (1...65535).contains(backendPort),
      let threads = args.count == 4 ? Int(args[3]) : 2, threads >= 1
else { usage() }
let http = args[0] == "http"

let group = MultiThreadedEventLoopGroup(numberOfThreads: threads)
let server = try ServerBootstrap(group: group)
    .serverChannelOption(.backlog, value: 1024)
    .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
    .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
    .childChannelInitializer { client in pair(client: client, http: http, backendPort: backendPort) }
    .bind(host: "127.0.0.1", port: listenPort)
    .wait()
print("READY \(server.localAddress?.port ?? listenPort)")
fflush(nil)
try server.closeFuture.wait()
