import Foundation
import Synchronization
import NIOCore
import NIOPosix
import Testing

@testable import OSPCore

/// `OPAPolicy` through `CurlHTTPClient` against `integration/policy/opa_server.py`, which evaluates
/// `integration/policy/osp.rego` with OPA's own Go evaluator: real decisions, then each way the
/// service can fail, then recovery once it is back.
@Suite(
    "OPA policy end to end",
    .serialized,
    .enabled(if: OPATestServer.isAvailable, "needs python3 with opa_bindings: pip install --ignore-requires-python opa-golib-python-bindings")
)
struct OPAPolicyEndToEndTests {
    static let token = "e2e-bearer-token"

    static func object(_ key: String, action: String = "s3:GetObject", principal: String = "alice") -> AuthorizationRequest {
        AuthorizationRequest(
            principal: principal,
            action: action,
            bucket: "proxy-bucket01",
            key: key,
            request: RequestContext(method: "GET", path: "/proxy-bucket01/\(key)", headers: ["User-Agent": "e2e-test", "Authorization": "AWS4-HMAC-SHA256 client-signature"], sourceIP: "127.0.0.1")
        )
    }

    func settings(_ server: OPATestServer, path: String = "/v1/data/osp/allow", token: String? = token, timeoutMilliseconds: Int = 1500) -> OPASettings {
        OPASettings(url: "http://127.0.0.1:\(server.port)\(path)", bearerToken: token, timeoutMilliseconds: timeoutMilliseconds, headers: ["user-agent"])
    }

    @Test func realRegoDecisions() async throws {
        try await withOPAServer { server, client, loop in
            let policy = OPAPolicy(settings: settings(server), client: client)
            #expect(policy.name == "opa")
            _ = try await client.post(url: server.url("/__reset"), body: [], timeout: .seconds(5), on: loop).get()

            #expect(try await policy.decide(Self.object("team/report.csv"), on: loop).get() == .allow(nil))
            #expect(try await policy.decide(Self.object("team/new.bin", action: "s3:PutObject"), on: loop).get() == .allow(nil))
            #expect(try await policy.decide(Self.object("other/report.csv"), on: loop).get() == .deny(reason: "policy"))
            #expect(try await policy.decide(Self.object("team/report.csv", principal: "mallory"), on: loop).get() == .deny(reason: "policy"))
            // The exception inside the granted prefix.
            #expect(try await policy.decide(Self.object("team/secret/plans.txt"), on: loop).get() == .deny(reason: "policy"))
            #expect(try await policy.decide(Self.object("team/secret/plans.txt", action: "s3:PutObject"), on: loop).get() == .deny(reason: "policy"))
            // The scoped answer for reads under team/public/.
            #expect(try await policy.decide(Self.object("team/public/index.html"), on: loop).get()
                == .allow(DecisionScope(prefix: "team/public/", ttlSeconds: 60)))
            // Listings decide on the prefix condition.
            let listing = AuthorizationRequest(principal: "alice", action: "s3:ListBucket", bucket: "proxy-bucket01", conditions: ["prefix": "team/"])
            #expect(try await policy.decide(listing, on: loop).get() == .allow(nil))
            var secretListing = listing
            secretListing.conditions["prefix"] = "team/secret/"
            #expect(try await policy.decide(secretListing, on: loop).get() == .deny(reason: "policy"))
            // Group grants.
            let reader = AuthorizationRequest(principal: "bob", groups: ["readers"], action: "s3:GetObject", bucket: "proxy-bucket01", key: "shared/a")
            #expect(try await policy.decide(reader, on: loop).get() == .allow(nil))

            // One callout per decision, counted by the server.
            #expect(try await server.requestCount(client, loop) == 10)
        }
    }

    @Test func sendsTheInputDocumentAndTheBearerToken() async throws {
        try await withOPAServer { server, client, loop in
            let policy = OPAPolicy(settings: settings(server), client: client)
            _ = try await policy.decide(Self.object("team/a b+c.txt"), on: loop).get()
            let last = try await client.get(url: server.url("/__last_input"), timeout: .seconds(5), on: loop).get()
            let document = try #require(try JSONSerialization.jsonObject(with: Data(last.body)) as? [String: Any])
            let input = try #require(document["input"] as? [String: Any])
            #expect(input["account"] as? String == "alice")
            #expect(input["object"] as? String == "team/a b+c.txt")
            let request = try #require(input["request"] as? [String: Any])
            #expect(request["headers"] as? [String: String] == ["user-agent": "e2e-test"])
            #expect(request["source_ip"] as? String == "127.0.0.1")

            // Without the token (or with a wrong one) the server answers 401: an httpStatus error.
            for token in [nil, "wrong-token"] as [String?] {
                let refused = await backendError { try await OPAPolicy(settings: settings(server, token: token), client: client).decide(Self.object("team/a"), on: loop).get() }
                #expect(refused?.kind == .httpStatus)
                #expect(refused?.detail.contains("401") == true)
            }
        }
    }

    @Test func eachFailureIsADistinctBackendError() async throws {
        try await withOPAServer { server, client, loop in
            let policy = OPAPolicy(settings: settings(server, timeoutMilliseconds: 400), client: client)
            let request = Self.object("team/report.csv")

            try await server.setMode("500", client, loop)
            #expect(await backendError { try await policy.decide(request, on: loop).get() }?.kind == .httpStatus)

            try await server.setMode("garbage", client, loop)
            #expect(await backendError { try await policy.decide(request, on: loop).get() }?.kind == .malformedResult)

            // An undefined document: OPA answers {} without "result".
            try await server.setMode("normal", client, loop)
            let undefined = OPAPolicy(settings: settings(server, path: "/v1/data/osp/no_such_rule"), client: client)
            #expect(await backendError { try await undefined.decide(request, on: loop).get() }?.kind == .malformedResult)

            try await server.setMode("normal", delayMilliseconds: 1500, client, loop)
            // Timed where the answer completes (on the loop), not where this test thread next runs:
            // the bound is on osp's hard timeout, not on the test scheduler.
            let started = NIODeadline.now()
            let answered = Mutex<NIODeadline?>(nil)
            let decision = policy.decide(request, on: loop)
            decision.whenComplete { _ in answered.withLock { $0 = .now() } }
            let slow = await backendError { try await decision.get() }
            #expect(slow?.kind == .timeout)
            let elapsed = try #require(answered.withLock { $0 }) - started
            #expect(elapsed < .milliseconds(1200))

            try await server.setMode("normal", client, loop)
            #expect(try await policy.decide(request, on: loop).get() == .allow(nil))
        }
    }

    @Test func aKilledServerIsATransportErrorAndARestartedOneAnswersAgain() async throws {
        try await withOPAServer { server, client, loop in
            let policy = OPAPolicy(settings: settings(server), client: client)
            let request = Self.object("team/report.csv")
            #expect(try await policy.decide(request, on: loop).get() == .allow(nil))

            server.stop()
            let down = await backendError { try await policy.decide(request, on: loop).get() }
            #expect(down?.kind == .transport)
            #expect(down.map { !$0.detail.contains(Self.token) } == true)

            let restarted = try OPATestServer.start(port: server.port, token: Self.token)
            defer { restarted.stop() }
            #expect(try await policy.decide(request, on: loop).get() == .allow(nil))
        }
    }
}

// MARK: - Fixture

private func withOPAServer(_ body: (OPATestServer, CurlHTTPClient, any EventLoop) async throws -> Void) async throws {
    let server = try OPATestServer.start(token: OPAPolicyEndToEndTests.token)
    defer { server.stop() }
    let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
    let pool = NIOThreadPool(numberOfThreads: 2)
    pool.start()
    let client = CurlHTTPClient(threadPool: pool)
    do {
        try await body(server, client, group.next())
    } catch {
        try? await pool.shutdownGracefully()
        try? await group.shutdownGracefully()
        throw error
    }
    try await pool.shutdownGracefully()
    try await group.shutdownGracefully()
}

private func backendError<T>(_ operation: () async throws -> T) async -> PolicyBackendError? {
    do {
        _ = try await operation()
        return nil
    } catch let error as PolicyBackendError {
        return error
    } catch {
        return nil
    }
}

/// `integration/policy/opa_server.py` as a child process: started with a bounded wait for its
/// `READY <port>` line, stopped with SIGTERM and then SIGKILL (children started from Swift
/// concurrency threads may ignore SIGTERM), and always stopped by the test that started it.
final class OPATestServer: Sendable {
    static let script = ReadyServerProcess.path("integration/policy/opa_server.py")
    static let policy = ReadyServerProcess.path("integration/policy/osp.rego")

    /// Whether python3 and the Rego bindings are installed (checked once).
    static let isAvailable = ReadyServerProcess.pythonSucceeds("import opa_bindings")

    private let server: ReadyServerProcess
    var port: Int { server.port }

    private init(_ server: ReadyServerProcess) {
        self.server = server
    }

    func url(_ path: String) -> String { "http://127.0.0.1:\(port)\(path)" }

    static func start(port: Int = 0, token: String?, timeout: Duration = .seconds(30)) throws -> OPATestServer {
        var arguments = [script, "--port", "\(port)", "--policy", policy]
        if let token {
            arguments += ["--token", token]
        }
        return OPATestServer(try ReadyServerProcess.startPython(arguments, name: "opa_server.py", timeout: timeout))
    }

    /// SIGTERM, then SIGKILL; idempotent.
    func stop() {
        server.stop()
    }

    func requestCount(_ client: CurlHTTPClient, _ loop: any EventLoop) async throws -> Int {
        let response = try await client.get(url: url("/__stats"), timeout: .seconds(5), on: loop).get()
        let stats = try JSONSerialization.jsonObject(with: Data(response.body)) as? [String: Any]
        return try #require(stats?["requests"] as? Int)
    }

    func setMode(_ mode: String, delayMilliseconds: Int = 0, _ client: CurlHTTPClient, _ loop: any EventLoop) async throws {
        let body = Array(#"{"mode": "\#(mode)", "delay_ms": \#(delayMilliseconds)}"#.utf8)
        let response = try await client.post(url: url("/__mode"), body: body, timeout: .seconds(5), on: loop).get()
        #expect(response.status == 200)
    }
}
