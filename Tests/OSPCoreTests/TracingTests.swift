import Foundation
import InMemoryTracing
import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOHTTP1
import NIOPosix
import S3Signing
import Testing
import Tracing

@testable import OSPCore

private let clientKey = ClientIdentity(accessKey: "TRACECLIENTKEY", secretKey: "trace-client-secret-5e6f7a", principal: "alice")
private let backendKeys = BackendCredentials(accessKey: "TRACEBACKENDKEY", secretKey: "trace-backend-secret-8b9c0d")
private let opaToken = "trace-opa-bearer-token"

/// The client's own trace: osp's spans must continue it.
private let clientTraceID = "4bf92f3577b34da6a3ce929d0e0e4736"
private let clientSpanID = "00f067aa0ba902b7"
private let clientTraceparent = "00-\(clientTraceID)-\(clientSpanID)-01"

@Suite("Tracing: a span per request, a child per stage, W3C trace context in and out", .serialized)
struct TracingTests {
    func signed(_ method: HTTPMethod, _ key: String, secret: String = clientKey.secretKey, port: Int, traceparent: String? = clientTraceparent) -> HTTPHeaders {
        var headers = HTTPHeaders([("host", "127.0.0.1:\(port)")])
        if let traceparent { headers.add(name: "traceparent", value: traceparent) }
        SigV4Signer(accessKey: clientKey.accessKey, secretKey: secret, region: "us-east-1", keyCache: SigningKeyCache())
            .signHeaders(
                method: method.rawValue, rawPath: "/trace-bucket/" + key, rawQuery: "", headers: &headers,
                payloadHash: "UNSIGNED-PAYLOAD", date: AmzDate.now())
        return headers
    }

    @Test("GetObject through OPA: span tree, attributes without secrets, traceparent to OPA and to the backend")
    func requestSpans() async throws {
        let tracer = W3CTestTracer()
        try await withTracedGateway(tracer: tracer) { port, group, opa, backend in
            let get = try await OneShotHTTP.send(
                .GET, "/trace-bucket/private/report.csv", headers: signed(.GET, "private/report.csv", port: port), port: port, group: group)
            #expect(get.status == 200 && get.body == "hello")
            let spans = try await tracer.waitForFinished(count: 5)

            let root = try #require(spans.first { $0.operationName == "S3 GetObject" })
            #expect(root.kind == .server)
            // The client's trace continues: same trace id, its span is the parent.
            #expect(root.traceID == clientTraceID)
            #expect(root.parentSpanID == clientSpanID)
            #expect(root.attributes["http.request.method"]?.toSpanAttribute() == "GET")
            #expect(root.attributes["rpc.method"]?.toSpanAttribute() == "GetObject")
            #expect(root.attributes["osp.s3.action"]?.toSpanAttribute() == "s3:GetObject")
            #expect(root.attributes["aws.s3.bucket"]?.toSpanAttribute() == "trace-bucket")
            #expect(root.attributes["http.response.status_code"]?.toSpanAttribute() == 200)
            #expect(root.status == nil)

            let children = spans.filter { $0.parentSpanID == root.spanID }
            #expect(children.map(\.operationName) == ["authenticate", "authorize", "credentials", "upstream"])
            #expect(children.allSatisfy { $0.traceID == clientTraceID })

            let authorize = try #require(children.first { $0.operationName == "authorize" })
            #expect(authorize.attributes["osp.policy.backend"]?.toSpanAttribute() == "opa")
            #expect(authorize.attributes["osp.policy.answered_by"]?.toSpanAttribute() == "callout")
            #expect(authorize.attributes["osp.policy.decision"]?.toSpanAttribute() == "allow")
            #expect(children.first { $0.operationName == "credentials" }?.attributes["osp.credentials.kind"]?.toSpanAttribute() == "hmac")
            let upstream = try #require(children.first { $0.operationName == "upstream" })
            #expect(upstream.kind == .client)
            #expect(upstream.attributes["http.response.status_code"]?.toSpanAttribute() == 200)
            #expect(upstream.attributes["server.address"]?.toSpanAttribute() == "127.0.0.1")

            // OPA was called inside the authorize span; the backend inside the upstream span.
            let opaTraceparent = try #require(opa.headers.last?.first(name: "traceparent"))
            #expect(opaTraceparent == "00-\(clientTraceID)-\(authorize.spanID)-01")
            let backendTraceparent = try #require(backend.headers.last?.first(name: "traceparent"))
            #expect(backendTraceparent == "00-\(clientTraceID)-\(upstream.spanID)-01")

            // Nothing secret, and not the object key, in any span.
            let text = spans.map { "\($0.operationName) \($0.attributes)" }.joined(separator: "\n")
            for secret in [clientKey.secretKey, backendKeys.secretKey, backendKeys.accessKey, opaToken, "report.csv", "Signature", "AWS4-HMAC"] {
                #expect(!text.contains(secret), "span attributes contain \(secret)")
            }

            // The same question again: answered by the decision cache, no second callout.
            tracer.clear()
            let again = try await OneShotHTTP.send(
                .GET, "/trace-bucket/private/report.csv", headers: signed(.GET, "private/report.csv", port: port), port: port, group: group)
            #expect(again.status == 200)
            let second = try await tracer.waitForFinished(count: 5)
            #expect(second.first { $0.operationName == "authorize" }?.attributes["osp.policy.answered_by"]?.toSpanAttribute() == "cache")
            #expect(opa.headers.count == 1)
        }
    }

    @Test("a refused signature: the authenticate span fails with the S3 code, nothing after it runs")
    func refusedSpans() async throws {
        let tracer = W3CTestTracer()
        try await withTracedGateway(tracer: tracer) { port, group, opa, backend in
            let forged = signed(.GET, "private/a", secret: "not-the-secret", port: port, traceparent: nil)
            let bad = try await OneShotHTTP.send(.GET, "/trace-bucket/private/a", headers: forged, port: port, group: group)
            #expect(bad.status == 403)
            let spans = try await tracer.waitForFinished(count: 2)
            let root = try #require(spans.first { $0.operationName == "S3 GetObject" })
            // No traceparent from the client: a new trace.
            #expect(root.parentSpanID == nil)
            #expect(root.attributes["http.response.status_code"]?.toSpanAttribute() == 403)
            #expect(root.attributes["error.type"]?.toSpanAttribute() == "SignatureDoesNotMatch")
            let authenticate = try #require(spans.first { $0.operationName == "authenticate" })
            #expect(authenticate.parentSpanID == root.spanID)
            #expect(authenticate.status?.code == .error)
            #expect(authenticate.attributes["error.type"]?.toSpanAttribute() == "SignatureDoesNotMatch")
            #expect(spans.count == 2)
            #expect(opa.headers.isEmpty && backend.headers.isEmpty)
        }
    }

    @Test("without a tracer no span is made and the client's trace headers reach the backend as sent")
    func tracingOff() async throws {
        try await withTracedGateway(tracer: nil) { port, group, opa, backend in
            let get = try await OneShotHTTP.send(
                .GET, "/trace-bucket/private/a", headers: signed(.GET, "private/a", port: port), port: port, group: group)
            #expect(get.status == 200)
            #expect(opa.headers.last?.first(name: "traceparent") == nil)
            #expect(backend.headers.last?.first(name: "traceparent") == clientTraceparent)
        }
    }

    @Test("the IAM token exchange carries the trace headers it is given")
    func iamCalloutCarriesTraceparent() async throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let pool = NIOThreadPool(numberOfThreads: 1)
        pool.start()
        let iam = RecordingServer { _ in (200, #"{"access_token":"iam-token-value","token_type":"Bearer","expires_in":3600}"#) }
        do {
            let port = try await iam.start(group: group)
            let provider = IAMTokenProvider(client: CurlHTTPClient(threadPool: pool))
            let key = IBMIAMKey(apiKey: "iam-api-key-secret", endpoint: "http://127.0.0.1:\(port)")
            let trace = CalloutTraceHeaders(fields: [("traceparent", clientTraceparent)])
            let token = try await provider.token(for: key, trace: trace, on: group.next()).get()
            #expect(token.value == "iam-token-value")
            #expect(iam.headers.last?.first(name: "traceparent") == clientTraceparent)
        } catch {
            Issue.record(error)
        }
        try? await iam.stop()
        try await pool.shutdownGracefully()
        try await group.shutdownGracefully()
    }
}

@Suite("The tracing config section")
struct TracingConfigTests {
    let base = """
        server: {http_port: 8080}
        keystore: [{access_key: AK, secret_key: SK, principal: alice}]
        buckets: {bucket-one: {host: 127.0.0.1}}

        """

    @Test func absentMeansNoExporter() throws {
        #expect(try ConfigLoader.parse(yaml: base, environment: [:]).tracing == nil)
    }

    @Test func otlpEndpointNeedsTheOpenTelemetryBuild() throws {
        let yaml = base + "tracing: {otlp_endpoint: \"http://127.0.0.1:4318\", service_name: gw, sample_ratio: 0.25}\n"
        if TracingSettings.exporterCompiledIn {
            let tracing = try #require(try ConfigLoader.parse(yaml: yaml, environment: [:]).tracing)
            #expect(tracing == TracingSettings(otlpEndpoint: "http://127.0.0.1:4318", serviceName: "gw", sampleRatio: 0.25))
            #expect(tracing.tracesURL == "http://127.0.0.1:4318/v1/traces")
        } else {
            let error = #expect(throws: ConfigError.self) { try ConfigLoader.parse(yaml: yaml, environment: [:]) }
            #expect(error?.path == "tracing.otlp_endpoint")
            #expect(error?.message.contains("built without OpenTelemetry") == true)
        }
    }

    @Test func badValuesAreRefusedWhereTheyAre() throws {
        let cases: [(String, String)] = [
            ("tracing: {otlp_endpoint: \"127.0.0.1:4318\"}", "tracing.otlp_endpoint"),
            ("tracing: {otlp_endpoint: \"http://127.0.0.1:4318\", sample_ratio: 1.5}", TracingSettings.exporterCompiledIn ? "tracing.sample_ratio" : "tracing.otlp_endpoint"),
            ("tracing: {otlp_endpoint: \"http://127.0.0.1:4318\", sampler: always}", "tracing.sampler"),
            ("tracing: {service_name: osp}", "tracing.otlp_endpoint"),
        ]
        for (section, path) in cases {
            let error = #expect(throws: ConfigError.self) { try ConfigLoader.parse(yaml: base + section + "\n", environment: [:]) }
            #expect(error?.path == path, "\(section)")
        }
    }

    @Test("a reload that changes the tracing section keeps the running exporter and says it needs a restart")
    func reloadKeepsTheExporter() {
        let running = OSPConfig(buckets: BucketMap(), tracing: TracingSettings(otlpEndpoint: "http://127.0.0.1:4318"))
        var loaded = running
        loaded.tracing?.sampleRatio = 0.5
        let reload = ConfigReload(running: running, loaded: loaded)
        #expect(reload.needsRestart == ["tracing"])
        #expect(reload.config.tracing == running.tracing)
        #expect(ConfigReload(running: running, loaded: running).needsRestart.isEmpty)
    }

    @Test func tracesURL() {
        #expect(TracingSettings(otlpEndpoint: "http://c:4318/").tracesURL == "http://c:4318/v1/traces")
        #expect(TracingSettings(otlpEndpoint: "https://c/custom/traces").tracesURL == "https://c/custom/traces")
    }
}

// MARK: - Fixture

/// osp with an OPA-style policy service and a backend, both recording the headers they get, and
/// the given tracer; everything is stopped however `body` ends.
private func withTracedGateway(
    tracer: (any Tracer)?,
    _ body: (_ port: Int, _ group: any EventLoopGroup, _ opa: RecordingServer, _ backend: RecordingServer) async throws -> Void
) async throws {
    let group = MultiThreadedEventLoopGroup(numberOfThreads: 2)
    let opa = RecordingServer { _ in (200, #"{"result": true}"#) }
    let backend = RecordingServer { head in (200, head.method == .GET ? "hello" : "") }
    var server: OSPServer?
    var gateway: Gateway?
    do {
        let opaPort = try await opa.start(group: group)
        let backendPort = try await backend.start(group: group)
        let config = OSPConfig(
            server: ServerSettings(httpPort: 0, threads: 1),
            buckets: BucketMap(routes: [
                "trace-bucket": BucketRoute(name: "trace-bucket", host: "127.0.0.1", port: backendPort, credentials: backendKeys)
            ]),
            keystore: [clientKey],
            authorization: AuthorizationSettings(
                backend: .opa,
                opa: OPASettings(url: "http://127.0.0.1:\(opaPort)/v1/data/osp/allow", bearerToken: opaToken)
            )
        )
        gateway = Gateway(config: config, logger: Logger(label: "test"), tracer: tracer)
        server = OSPServer(gateway: gateway!, group: group)
        let port = try await server!.start()!.port!
        try await body(port, group, opa, backend)
    } catch {
        Issue.record(error)
    }
    await server?.stop()
    await gateway?.shutdown()
    try? await opa.stop()
    try? await backend.stop()
    try await group.shutdownGracefully()
}

/// A keep-alive HTTP/1.1 server on 127.0.0.1 that answers every request with `answer(head)` and
/// remembers each request's headers.
private final class RecordingServer: Sendable {
    private let seen = NIOLockedValueBox<[HTTPHeaders]>([])
    private let channel = NIOLockedValueBox<(any Channel)?>(nil)
    let answer: @Sendable (HTTPRequestHead) -> (Int, String)

    init(answer: @escaping @Sendable (HTTPRequestHead) -> (Int, String)) {
        self.answer = answer
    }

    var headers: [HTTPHeaders] { seen.withLockedValue { $0 } }

    func start(group: any EventLoopGroup) async throws -> Int {
        let channel = try await ServerBootstrap(group: group)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.configureHTTPServerPipeline()
                    try channel.pipeline.syncOperations.addHandler(RecordingHandler(server: self))
                }
            }
            .bind(host: "127.0.0.1", port: 0).get()
        self.channel.withLockedValue { $0 = channel }
        return channel.localAddress!.port!
    }

    func stop() async throws {
        try await self.channel.withLockedValue { $0 }?.close()
    }

    fileprivate func record(_ head: HTTPRequestHead) {
        seen.withLockedValue { $0.append(head.headers) }
    }
}

private final class RecordingHandler: ChannelInboundHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart
    let server: RecordingServer
    var head: HTTPRequestHead?

    init(server: RecordingServer) {
        self.server = server
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch Self.unwrapInboundIn(data) {
        case .head(let head):
            self.head = head
            self.server.record(head)
        case .body:
            break
        case .end:
            guard let head else { return }
            let (status, body) = self.server.answer(head)
            let headers = HTTPHeaders([("content-length", String(body.utf8.count)), ("content-type", "application/json")])
            context.write(
                Self.wrapOutboundOut(.head(HTTPResponseHead(version: .http1_1, status: .init(statusCode: status), headers: headers))),
                promise: nil)
            if !body.isEmpty {
                context.write(Self.wrapOutboundOut(.body(.byteBuffer(ByteBuffer(string: body)))), promise: nil)
            }
            context.writeAndFlush(Self.wrapOutboundOut(.end(nil)), promise: nil)
        }
    }
}

/// An in-memory tracer that propagates W3C trace context (`traceparent`), as an OpenTelemetry
/// tracer does: the spans are swift-distributed-tracing's `InMemorySpan`s with W3C-shaped ids.
private struct W3CTestTracer: Tracer {
    typealias Span = InMemorySpan
    let inner: InMemoryTracer

    init() {
        let counter = NIOLockedValueBox(0)
        let next: @Sendable (Int) -> String = { digits in
            let value = counter.withLockedValue { $0 += 1; return $0 }
            let hex = String(value, radix: 16)
            return String(repeating: "0", count: digits - hex.count) + hex
        }
        self.inner = InMemoryTracer(idGenerator: .init(nextTraceID: { next(32) }, nextSpanID: { next(16) }))
    }

    func startSpan<Instant: TracerInstant>(
        _ operationName: String,
        context: @autoclosure () -> ServiceContext,
        ofKind kind: SpanKind,
        at instant: @autoclosure () -> Instant,
        function: String,
        file fileID: String,
        line: UInt
    ) -> InMemorySpan {
        inner.startSpan(operationName, context: context(), ofKind: kind, at: instant(), function: function, file: fileID, line: line)
    }

    func forceFlush() {}

    func extract<Carrier, Extract: Extractor>(_ carrier: Carrier, into context: inout ServiceContext, using extractor: Extract)
    where Carrier == Extract.Carrier {
        guard let value = extractor.extract(key: "traceparent", from: carrier) else { return }
        let parts = value.split(separator: "-")
        guard parts.count == 4, parts[0] == "00", parts[1].count == 32, parts[2].count == 16 else { return }
        context.inMemorySpanContext = InMemorySpanContext(traceID: String(parts[1]), spanID: String(parts[2]), parentSpanID: nil)
    }

    func inject<Carrier, Inject: Injector>(_ context: ServiceContext, into carrier: inout Carrier, using injector: Inject)
    where Carrier == Inject.Carrier {
        guard let span = context.inMemorySpanContext else { return }
        injector.inject("00-\(span.traceID)-\(span.spanID)-01", forKey: "traceparent", into: &carrier)
    }

    func clear() { inner.clearAll() }

    /// The finished spans once there are `count` of them (bounded wait: a span ends as its request
    /// is recorded, just after the response is written).
    func waitForFinished(count: Int) async throws -> [FinishedInMemorySpan] {
        for _ in 0..<100 where inner.finishedSpans.count < count {
            try await Task.sleep(for: .milliseconds(20))
        }
        return inner.finishedSpans
    }
}
