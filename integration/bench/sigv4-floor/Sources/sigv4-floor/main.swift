// sigv4-floor: how fast can a SigV4 gateway on SwiftNIO be, before it does anything but sign?
//
// nio-floor (integration/bench/nio-floor) plus the per-request work no S3 gateway can skip, done
// with osp's own S3Signing library: parse the client's SigV4 credentials (header or presigned
// query), verify the signature with the client key's secret, drop the credentials, and sign the
// request again with the backend's key. Nothing else: no routing, policy, credential sources,
// bucket table, metrics, logs, timeouts or backpressure. A benchmark reference measured by hand
// beside haproxy, nio-floor and osp (BENCHMARKS.md); NOT a proxy anyone should run.
//
// Every client connection gets one keep-alive backend connection on its event loop, as in
// nio-floor. A request whose signature does not verify is answered 403 and its connection closed.
//
// usage: sigv4-floor LISTEN_PORT BACKEND_PORT [THREADS]
//        sigv4-floor stages [ITERATIONS [STAGE]]
// The second form serves nothing: it times each stage of that work on one presigned GET like the
// benchmark's, in a loop on one thread (no I/O, so far steadier than request rates on a shared
// machine), and prints nanoseconds per call of 9 batches of ITERATIONS (default 20000): their minimum
// (other work on the machine only ever adds time), median and maximum;
// STAGE picks the stages whose names start with it (to profile one).
// Fixed keys (those of integration/bench/run.sh): client BENCHCLIENT / benchsecret, backend
// BACKENDAK / backendsecret, region us-east-1. Listens and connects on 127.0.0.1 only.
import Crypto
import NIOCore
import NIOHTTP1
import NIOPosix
import S3Signing

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

let clientAccessKey = "BENCHCLIENT"
let clientSecret = "benchsecret"
let keyCache = SigningKeyCache()
let verifier = RequestVerifier(keyCache: keyCache)
/// The client's credentials, hop-by-hop headers and what the backend signature sets anew.
let dropped = ["host", "authorization", "connection", "x-amz-date", "x-amz-content-sha256", "x-amz-security-token"]

/// A handler writing what its channel reads to `peer`, as nio-floor's: one flush per read batch;
/// `peer` closed when its own channel goes inactive, its own channel closed on any error.
protocol PeerForwarding: ChannelInboundHandler {
    var peer: Channel { get }
}

extension PeerForwarding {
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

/// Verifies the client's request, re-signs it for the backend and forwards it; forwards the body as is.
final class SigningForward: PeerForwarding {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart
    let peer: Channel
    private let backendHost: String
    private let signer: SigV4Signer

    init(to backend: Channel, backendPort: Int) {
        self.peer = backend
        self.backendHost = "127.0.0.1:\(backendPort)"
        self.signer = SigV4Signer(
            accessKey: "BACKENDAK", secretKey: "backendsecret", region: "us-east-1", keyCache: keyCache)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head):
            guard let forwarded = signedForBackend(head) else {
                var headers = HTTPHeaders()
                headers.add(name: "content-length", value: "0")
                headers.add(name: "connection", value: "close")
                context.write(wrapOutboundOut(.head(HTTPResponseHead(version: .http1_1, status: .forbidden, headers: headers))), promise: nil)
                context.writeAndFlush(wrapOutboundOut(.end(nil))).assumeIsolated().whenComplete { _ in context.close(promise: nil) }
                return
            }
            peer.write(HTTPClientRequestPart.head(forwarded), promise: nil)
        case .body(let body):
            peer.write(HTTPClientRequestPart.body(.byteBuffer(body)), promise: nil)
        case .end(let trailers):
            peer.write(HTTPClientRequestPart.end(trailers), promise: nil)
        }
    }

    /// The backend's head, or nil when the client's signature does not verify.
    private func signedForBackend(_ head: HTTPRequestHead) -> HTTPRequestHead? {
        let request = IncomingRequest(method: head.method.rawValue, target: head.uri, headers: head.headers)
        let now = AmzDate.now()
        guard let authentication = try? ClientAuthentication.parse(headers: head.headers, rawQuery: request.rawQuery),
            authentication.accessKey == clientAccessKey,
            (try? verifier.verify(authentication, request: request, secretKey: clientSecret, now: now)) != nil
        else { return nil }
        var headers = HTTPHeaders()
        headers.reserveCapacity(head.headers.count + 4)
        headers.add(name: "host", value: backendHost)
        for (name, value) in head.headers where !dropped.contains(where: { name.equalsLowercaseASCII($0) }) {
            headers.add(name: name, value: value)
        }
        let query = withoutPresignParameters(request.rawQuery)
        signer.signHeaders(
            method: head.method.rawValue, rawPath: request.rawPath, rawQuery: query, headers: &headers,
            payloadHash: "UNSIGNED-PAYLOAD", date: now)
        return HTTPRequestHead(
            version: .http1_1, method: head.method, uri: query.isEmpty ? request.rawPath : request.rawPath + "?" + query,
            headers: headers)
    }
}

/// `rawQuery` without its `X-Amz-*` parameters (the presigned credentials), the rest byte for byte.
func withoutPresignParameters(_ rawQuery: String) -> String {
    if rawQuery.isEmpty { return "" }
    var kept: [UInt8] = []
    rawQuery.withContiguousUTF8 { bytes in
        RawQueryParameter.forEach(in: bytes) { parameter in
            let name = bytes[parameter.name]
            if name.count >= 6, name.prefix(6).elementsEqual("X-Amz-".utf8) { return }
            if !kept.isEmpty { kept.append(UInt8(ascii: "&")) }
            kept.append(contentsOf: bytes[parameter.whole])
        }
    }
    return String(decoding: kept, as: UTF8.self)
}

/// Writes the backend's response parts to the client, flushing once per read batch.
final class ResponseForward: PeerForwarding {
    typealias InboundIn = HTTPClientResponsePart
    let peer: Channel

    init(to client: Channel) { self.peer = client }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head): peer.write(HTTPServerResponsePart.head(head), promise: nil)
        case .body(let body): peer.write(HTTPServerResponsePart.body(.byteBuffer(body)), promise: nil)
        case .end(let trailers): peer.write(HTTPServerResponsePart.end(trailers), promise: nil)
        }
    }
}

func pair(client: Channel, backendPort: Int) -> EventLoopFuture<Void> {
    ClientBootstrap(group: client.eventLoop)
        .channelOption(.socketOption(.tcp_nodelay), value: 1)
        .channelInitializer { backend in
            backend.eventLoop.makeCompletedFuture {
                let ops = backend.pipeline.syncOperations
                try ops.addHandlers(HTTPRequestEncoder(), ByteToMessageHandler(HTTPResponseDecoder()))
                try ops.addHandler(ResponseForward(to: client))
            }
        }
        .connect(host: "127.0.0.1", port: backendPort)
        .flatMapThrowing { backend in
            let ops = client.pipeline.syncOperations
            try ops.addHandlers(HTTPResponseEncoder(), ByteToMessageHandler(HTTPRequestDecoder()))
            try ops.addHandler(SigningForward(to: backend, backendPort: backendPort))
        }
}

/// `sigv4-floor stages`: nanoseconds per call of each stage of the signature work, on the request
/// wrk sends for the benchmark's presigned 1 KiB GET.
func measureStages(iterations: Int, only: String?) -> Never {
    let host = "127.0.0.1:18300"
    let date = AmzDate.now()
    let presigner = SigV4Signer(
        accessKey: clientAccessKey, secretKey: clientSecret, region: "us-east-1", keyCache: SigningKeyCache())
    let query = presigner.presignedQuery(
        method: "GET", rawPath: "/bench/obj-1k", rawQuery: "", host: host, date: date, expires: 3600)
    var headers = HTTPHeaders()
    headers.add(name: "Host", value: host)
    let request = IncomingRequest(method: "GET", rawPath: "/bench/obj-1k", rawQuery: query, headers: headers)
    let authentication = try! ClientAuthentication.parse(headers: headers, rawQuery: query)
    let signer = SigV4Signer(accessKey: "BACKENDAK", secretKey: "backendsecret", region: "us-east-1", keyCache: keyCache)
    var backendHeaders = HTTPHeaders()
    backendHeaders.add(name: "host", value: host)

    var sink = 0
    func stage(_ name: String, _ body: () -> Int) {
        if let only, !name.hasPrefix(only) { return }
        let clock = ContinuousClock()
        var batches: [Double] = []
        for _ in 0..<9 {
            let start = clock.now
            for _ in 0..<iterations { sink &+= body() }
            let elapsed = clock.now - start
            let (seconds, attoseconds) = elapsed.components
            batches.append((Double(seconds) * 1e9 + Double(attoseconds) / 1e9) / Double(iterations))
        }
        batches.sort()
        print("\(name)\tmin \(Int(batches[0].rounded())) ns\tmedian \(Int(batches[4].rounded())) ns\tmax \(Int(batches[8].rounded())) ns")
    }
    stage("parse") {
        guard let parsed = try? ClientAuthentication.parse(headers: headers, rawQuery: query) else { fatalError("parse failed") }
        return parsed.accessKey?.utf8.count ?? 0
    }
    stage("verify") {
        guard let verified = try? verifier.verify(authentication, request: request, secretKey: clientSecret, now: date) else {
            fatalError("verify failed")
        }
        return verified.accessKey.utf8.count
    }
    stage("strip") { withoutPresignParameters(query).utf8.count }
    stage("sign") {
        var signed = backendHeaders
        return signer.signHeaders(
            method: "GET", rawPath: "/bench/obj-1k", rawQuery: "", headers: &signed, payloadHash: "UNSIGNED-PAYLOAD",
            date: date
        ).utf8.count
    }
    // The cryptography alone, through swift-crypto as S3Signing calls it: the SHA-256 of a
    // canonical request's size, and an HMAC-SHA256 of a string to sign's size from a keyed copy.
    let canonicalSized = [UInt8](repeating: UInt8(ascii: "a"), count: 600)
    stage("sha256 600 B") {
        canonicalSized.withUnsafeBytes { SHA256.hash(data: $0) }.withUnsafeBytes { Int($0[0]) }
    }
    let keyed = HMAC<SHA256>(key: SymmetricKey(size: .bits256))
    let stringToSignSized = [UInt8](repeating: UInt8(ascii: "a"), count: 150)
    stage("hmac 150 B") {
        var hmac = keyed
        stringToSignSized.withUnsafeBytes { hmac.update(data: $0) }
        return hmac.finalize().withUnsafeBytes { Int($0[0]) }
    }
    print("(checksum \(sink))")
    exit(0)
}

func usage() -> Never {
    var message = """
        usage: sigv4-floor LISTEN_PORT BACKEND_PORT [THREADS]
               sigv4-floor stages [ITERATIONS [STAGE]]
          nio-floor plus SigV4 verification and re-signing (S3Signing), from 127.0.0.1:LISTEN_PORT to
          127.0.0.1:BACKEND_PORT; a benchmark reference only. `stages` times each part of that work.

        """
    message.withUTF8 { _ = write(2, $0.baseAddress, $0.count) }
    exit(2)
}

let args = Array(CommandLine.arguments.dropFirst())
if args.first == "stages" {
    guard args.count <= 3, let iterations = args.count >= 2 ? Int(args[1]) : 20_000, iterations > 0 else { usage() }
    measureStages(iterations: iterations, only: args.count == 3 ? args[2] : nil)
}
guard (2...3).contains(args.count),
      let listenPort = Int(args[0]), (0...65535).contains(listenPort),
      let backendPort = Int(args[1]), (1...65535).contains(backendPort),
      let threads = args.count == 3 ? Int(args[2]) : 2, threads >= 1
else { usage() }

let group = MultiThreadedEventLoopGroup(numberOfThreads: threads)
let server = try ServerBootstrap(group: group)
    .serverChannelOption(.backlog, value: 1024)
    .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
    .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
    .childChannelInitializer { client in pair(client: client, backendPort: backendPort) }
    .bind(host: "127.0.0.1", port: listenPort)
    .wait()
print("READY \(server.localAddress?.port ?? listenPort)")
fflush(nil)
try server.closeFuture.wait()
