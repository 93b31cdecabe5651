import Foundation
import Logging
import NIOCore
import NIOHTTP1
import NIOPosix
import S3Signing
import Testing

@testable import OSPCore

private let clientKey = ClientIdentity(accessKey: "OBSCLIENTKEY", secretKey: "obs-client-secret-9f8e7d", principal: "alice")
private let backendKeys = BackendCredentials(accessKey: "OBSBACKENDKEY", secretKey: "obs-backend-secret-1a2b3c")

/// A backend that answers every GET with `hello` and every PUT with an empty 200 after reading its body.
private final class HelloBackend: ChannelInboundHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart
    private var head: HTTPRequestHead?

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch Self.unwrapInboundIn(data) {
        case .head(let head): self.head = head
        case .body: break
        case .end:
            guard let head else { return }
            let body = head.method == .GET ? "hello" : ""
            let headers = HTTPHeaders([("content-length", String(body.utf8.count))])
            context.write(Self.wrapOutboundOut(.head(HTTPResponseHead(version: .http1_1, status: .ok, headers: headers))), promise: nil)
            if !body.isEmpty {
                context.write(Self.wrapOutboundOut(.body(.byteBuffer(ByteBuffer(string: body)))), promise: nil)
            }
            context.writeAndFlush(Self.wrapOutboundOut(.end(nil)), promise: nil)
        }
    }
}

@Suite("Observability end to end: /metrics, /healthz, /readyz and the access log")
struct ObservabilityEndToEndTests {
    /// A signed request for `key` in `obs-bucket`; `secret` decides whether the signature is right.
    func signed(_ method: HTTPMethod, _ key: String, body: [UInt8] = [], secret: String = clientKey.secretKey, port: Int) -> HTTPHeaders {
        var headers = HTTPHeaders([("host", "127.0.0.1:\(port)")])
        SigV4Signer(accessKey: clientKey.accessKey, secretKey: secret, region: "us-east-1", keyCache: SigningKeyCache())
            .signHeaders(
                method: method.rawValue, rawPath: "/obs-bucket/" + key, rawQuery: "", headers: &headers,
                payloadHash: "UNSIGNED-PAYLOAD", date: AmzDate.now())
        return headers
    }

    @Test("counters move by exactly the traffic sent, the access log has one JSON line per request, and no secret shows")
    func endToEnd() async throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let backend = try await ServerBootstrap(group: group)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.configureHTTPServerPipeline()
                    try channel.pipeline.syncOperations.addHandler(HelloBackend())
                }
            }
            .bind(host: "127.0.0.1", port: 0).get()
        let config = OSPConfig(
            server: ServerSettings(httpPort: 0, threads: 1),
            admin: AdminSettings(port: 0),
            buckets: BucketMap(routes: [
                "obs-bucket": BucketRoute(name: "obs-bucket", host: "127.0.0.1", port: backend.localAddress!.port!, credentials: backendKeys)
            ]),
            keystore: [clientKey],
            authorization: AuthorizationSettings(
                backend: .rules,
                rules: RulesSettings(grants: [
                    Grant(principals: ["alice"], buckets: ["obs-bucket"], prefix: "public/", actions: ["read", "write"], effect: .allow)
                ])
            )
        )
        let accessLog = CapturedLines()
        let gateway = Gateway(config: config, logger: Logger(label: "test"), metrics: OSPMetrics(), accessLog: AccessLog(logger: accessLog.logger))
        let server = OSPServer(gateway: gateway, group: group)
        #expect(!server.isReady)
        do {
            let port = try await server.start()!.port!
            let admin = try #require(server.adminAddress?.port)
            #expect(server.isReady)

            #expect(try await OneShotHTTP.send(.GET, "/healthz", port: admin, group: group).status == 200)
            #expect(try await OneShotHTTP.send(.GET, "/readyz", port: admin, group: group).status == 200)
            #expect(try await OneShotHTTP.send(.GET, "/obs-bucket/public/a", port: admin, group: group).status == 404)
            #expect(try await OneShotHTTP.send(.POST, "/metrics", port: admin, group: group).status == 405)

            let before = try await OneShotHTTP.send(.GET, "/metrics", port: admin, group: group)
            #expect(before.status == 200)
            #expect(before.headers.first(name: "content-type")?.hasPrefix("text/plain") == true)

            // Known traffic: 3 allowed GETs, one PUT of 11 bytes, one bad signature, one denied GET.
            var sentAuthorizations: [String] = []
            for _ in 0..<3 {
                let headers = signed(.GET, "public/a", port: port)
                sentAuthorizations += headers["authorization"]
                let get = try await OneShotHTTP.send(.GET, "/obs-bucket/public/a", headers: headers, port: port, group: group)
                #expect(get.status == 200 && get.body == "hello")
            }
            let body = Array("eleven byte".utf8)
            let put = try await OneShotHTTP.send(
                .PUT, "/obs-bucket/public/b", headers: signed(.PUT, "public/b", port: port), body: body, port: port, group: group)
            #expect(put.status == 200)
            let forged = signed(.GET, "public/a", secret: "not-the-secret", port: port)
            let bad = try await OneShotHTTP.send(.GET, "/obs-bucket/public/a", headers: forged, port: port, group: group)
            #expect(bad.status == 403 && bad.body.contains("SignatureDoesNotMatch"))
            let denied = try await OneShotHTTP.send(.GET, "/obs-bucket/private/c", headers: signed(.GET, "private/c", port: port), port: port, group: group)
            #expect(denied.status == 403 && denied.body.contains("AccessDenied"))

            // Connections are counted until the server side has seen them close: wait (bounded) for zero.
            var after = try await OneShotHTTP.send(.GET, "/metrics", port: admin, group: group)
            for _ in 0..<50 where metricValue(after.body, "osp_open_connections") != 0 {
                try await Task.sleep(for: .milliseconds(20))
                after = try await OneShotHTTP.send(.GET, "/metrics", port: admin, group: group)
            }
            func delta(_ series: String) -> Double {
                (metricValue(after.body, series) ?? 0) - (metricValue(before.body, series) ?? 0)
            }
            #expect(delta(#"osp_requests_total{method="GET",action="s3:GetObject",status_class="2xx"}"#) == 3)
            #expect(delta(#"osp_requests_total{method="PUT",action="s3:PutObject",status_class="2xx"}"#) == 1)
            #expect(delta(#"osp_requests_total{method="GET",action="s3:GetObject",status_class="4xx"}"#) == 2)
            #expect(delta(#"osp_request_duration_seconds_count{method="GET"}"#) == 5)
            #expect(delta(#"osp_auth_failures_total{reason="SignatureDoesNotMatch"}"#) == 1)
            #expect(delta(#"osp_policy_decisions_total{backend="rules",result="allow"}"#) == 4)
            #expect(delta(#"osp_policy_decisions_total{backend="rules",result="deny"}"#) == 1)
            #expect(delta("osp_received_bytes_total") == 11)
            #expect(metricValue(after.body, "osp_open_connections") == 0)
            #expect(metricValue(after.body, "osp_upstream_idle_connections") == 1)

            // The access log: one parseable line per S3 request, agreeing with the counters.
            let lines = accessLog.lines
            #expect(lines.count == 6)
            let records = try lines.map { line in
                try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
            }
            #expect(Double(records.reduce(0) { $0 + ($1["bytes_out"] as? Int ?? 0) }) == delta("osp_sent_bytes_total"))
            #expect(records.map { $0["status"] as? Int } == [200, 200, 200, 200, 403, 403])
            #expect(records[0]["principal"] as? String == "alice")
            #expect(records[0]["decision"] as? String == "allow")
            #expect(records[0]["upstream_status"] as? Int == 200)
            #expect(records[0]["bytes_out"] as? Int == 5)
            #expect(records[3]["action"] as? String == "s3:PutObject")
            #expect(records[3]["bytes_in"] as? Int == 11)
            #expect(records[3]["key"] as? String == "public/b")
            #expect(records[4]["decision"] as? String == "none")
            #expect(records[4]["error_code"] as? String == "SignatureDoesNotMatch")
            #expect(records[4]["principal"] is NSNull)
            #expect(records[5]["decision"] as? String == "deny")
            #expect(records[5]["reason"] as? String == "no grant")
            #expect(records[5]["error_code"] as? String == "AccessDenied")
            #expect(records[5]["upstream_status"] is NSNull)
            #expect(Set(records.compactMap { $0["request_id"] as? String }).count == 6)

            // Nothing secret in either place: no secret key, no Authorization header, no signature.
            #expect(sentAuthorizations.count == 3)
            let signatures = sentAuthorizations.map { String($0.split(separator: "Signature=").last!) }
            for text in [after.body, lines.joined(separator: "\n")] {
                for secret in [clientKey.secretKey, backendKeys.secretKey, backendKeys.accessKey, clientKey.accessKey, "AWS4-HMAC-SHA256"]
                    + sentAuthorizations + signatures
                {
                    #expect(!text.contains(secret), "\(secret) leaked")
                }
            }
        } catch {
            Issue.record(error)
        }
        await server.stop()
        #expect(!server.isReady)
        await gateway.shutdown()
        try await backend.close()
        try await group.shutdownGracefully()
    }
}
