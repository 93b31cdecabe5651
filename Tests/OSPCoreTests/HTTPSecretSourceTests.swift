import Foundation
import NIOCore
import NIOPosix
import S3Signing
import Synchronization
import Testing
import Yams

@testable import OSPCore

/// Client secrets from `integration/callouts/secret_server.py` through `HTTPSecretSource` and libcurl:
/// identities, unknown keys, every way the service can fail (always 503, never an identity), and
/// recovery once it answers again.
@Suite("HTTP secret source", .serialized, .enabled(if: CalloutTestServer.isAvailable, "needs python3"))
struct HTTPSecretSourceTests {
    static let data = """
        {"keys": {
          "AKIDALICE0000000": {"secret_key": "alice-secret-0000000000", "principal": "alice", "groups": ["readers", "ops"]},
          "AKIDBOB000000000": {"secret_key": "bob-secret-00000000000"},
          "AKID+odd/key=0 &": {"secret_key": "odd-secret-00000000000", "principal": "odd"}
        }}
        """

    @Test func aKnownKeyIsItsIdentityAndAnUnknownOneIsNil() async throws {
        try await withCalloutServer(data: Self.data) { (server, loop) async throws in
            let source = HTTPSecretSource(settings: server.settings("/secret"), client: server.client)

            let alice = try await source.identity(forAccessKey: "AKIDALICE0000000", on: loop).get()
            #expect(alice == ClientIdentity(accessKey: "AKIDALICE0000000", secretKey: "alice-secret-0000000000", principal: "alice", groups: ["readers", "ops"]))
            #expect(server.client.settings.verifyTLS)

            // Without principal and groups the key is its own principal, in no group.
            let bob = try await source.identity(forAccessKey: "AKIDBOB000000000", on: loop).get()
            #expect(bob == ClientIdentity(accessKey: "AKIDBOB000000000", secretKey: "bob-secret-00000000000", principal: "AKIDBOB000000000"))

            #expect(try await source.identity(forAccessKey: "AKIDNOBODY000000", on: loop).get() == nil)
            #expect(try await server.stats(on: loop).secretRequests == 3)
        }
    }

    @Test func theAccessKeyIsFormEncodedAndTheBearerTokenSent() async throws {
        try await withCalloutServer(data: Self.data) { (server, loop) async throws in
            let source = HTTPSecretSource(settings: server.settings("/secret"), client: server.client)
            let odd = try await source.identity(forAccessKey: "AKID+odd/key=0 &", on: loop).get()
            #expect(odd?.principal == "odd")
            let stats = try await server.stats(on: loop)
            #expect(stats.lastQuery == ["access_key": "AKID+odd/key=0 &"])
            #expect(stats.lastHadAuthorization)

            // A URL that already has a query keeps it.
            let withQuery = HTTPSecretSource(settings: server.settings("/secret?tenant=t1"), client: server.client)
            #expect(try await withQuery.identity(forAccessKey: "AKIDALICE0000000", on: loop).get()?.principal == "alice")
            #expect(try await server.stats(on: loop).lastQuery == ["tenant": "t1", "access_key": "AKIDALICE0000000"])
        }
    }

    @Test func aMissingOrWrongBearerTokenIsUnavailableNotUnknown() async throws {
        try await withCalloutServer(data: Self.data) { (server, loop) async throws in
            for token in [nil, "wrong-token"] as [String?] {
                let source = HTTPSecretSource(settings: server.settings("/secret", token: token), client: server.client)
                let refused = await s3Error { try await source.identity(forAccessKey: "AKIDALICE0000000", on: loop).get() }
                #expect(refused == HTTPSecretSource.unavailable)
            }
        }
    }

    @Test func everyFailureIsServiceUnavailableAndTheSourceRecovers() async throws {
        try await withCalloutServer(data: Self.data) { (server, loop) async throws in
            let source = HTTPSecretSource(settings: server.settings("/secret", timeoutMilliseconds: 400), client: server.client)
            let key = "AKIDALICE0000000"

            for mode in ["500", "garbage"] {
                try await server.setMode(mode, on: loop)
                let refused = await s3Error { try await source.identity(forAccessKey: key, on: loop).get() }
                #expect(refused == S3Error(.serviceUnavailable, "The secret store is unavailable."), "mode \(mode)")
                #expect(refused?.code.httpStatus == 503)
            }

            // The 400 ms timeout cuts the callout long before the server's 3 s answer; the bound
            // leaves room for a loaded machine (all suites run in parallel on two cores).
            try await server.setMode("slow", delayMilliseconds: 3000, on: loop)
            let started = NIODeadline.now()
            #expect(await s3Error { try await source.identity(forAccessKey: key, on: loop).get() } == HTTPSecretSource.unavailable)
            #expect(NIODeadline.now() - started < .milliseconds(2400))

            try await server.setMode("normal", on: loop)
            #expect(try await source.identity(forAccessKey: key, on: loop).get()?.principal == "alice")
        }
    }

    @Test func aStoppedServiceIsUnavailableAndARestartedOneAnswers() async throws {
        try await withCalloutServer(data: Self.data) { (server, loop) async throws in
            let source = HTTPSecretSource(settings: server.settings("/secret"), client: server.client)
            server.stop()
            #expect(await s3Error { try await source.identity(forAccessKey: "AKIDALICE0000000", on: loop).get() } == HTTPSecretSource.unavailable)

            let restarted = try CalloutTestServer.start(port: server.port, client: server.client)
            defer { restarted.stop() }
            try await restarted.setData(Self.data, on: loop)
            #expect(try await source.identity(forAccessKey: "AKIDALICE0000000", on: loop).get()?.principal == "alice")
        }
    }

    @Test func answersOfTheWrongShapeAreGarbage() throws {
        func read(_ json: String) -> ClientIdentity? {
            try? HTTPSecretSource.identity(from: Array(json.utf8), accessKey: "AKIDALICE0000000")
        }
        #expect(read(#"{"secret_key": "s", "principal": "p", "groups": ["g"], "extra": {"ignored": true}}"#)
            == ClientIdentity(accessKey: "AKIDALICE0000000", secretKey: "s", principal: "p", groups: ["g"]))
        #expect(read(#"{"secret_key": "s", "access_key": "AKIDALICE0000000"}"#)?.secretKey == "s")
        for garbage in [
            "", "null", "[]", "\"s\"", "<html>", #"{}"#, #"{"secret_key": ""}"#, #"{"secret_key": 42}"#,
            #"{"secret_key": "s", "principal": ""}"#, #"{"secret_key": "s", "principal": 7}"#,
            #"{"secret_key": "s", "groups": "readers"}"#, #"{"secret_key": "s", "access_key": "AKIDOTHER"}"#,
        ] {
            #expect(read(garbage) == nil, "\(garbage)")
        }
    }

    @Test func settingsAreReadFromTheConfigFileAndTheTokenIsNeverShown() throws {
        func read(_ yaml: String, environment: [String: String] = [:]) throws(ConfigError) -> HTTPCalloutSettings {
            try HTTPCalloutSettings(ConfigFixture.mapping(yaml, at: "secrets.http", environment: environment))
        }
        let settings = try read(
            """
            url: https://keys.internal/v1/secret
            bearer_token: ${KEYS_TOKEN}
            timeout_ms: 750
            verify: false
            ca_file: /etc/osp/keys-ca.pem
            """,
            environment: ["KEYS_TOKEN": "very-secret-token"]
        )
        #expect(settings == HTTPCalloutSettings(
            url: "https://keys.internal/v1/secret", bearerToken: "very-secret-token", timeoutMilliseconds: 750, verifyTLS: false, caFile: "/etc/osp/keys-ca.pem"
        ))
        #expect(settings.calloutSettings.verifyTLS == false)
        #expect(settings.calloutSettings.connectTimeout == .milliseconds(750))
        #expect(!"\(settings)".contains("very-secret-token"))
        #expect(!String(reflecting: settings).contains("very-secret-token"))

        #expect(try read("url: http://127.0.0.1:1/s") == HTTPCalloutSettings(url: "http://127.0.0.1:1/s"))
        #expect(HTTPCalloutSettings.configKeys == ["url", "bearer_token", "timeout_ms", "verify", "ca_file"])

        func error(_ yaml: String) -> ConfigError? {
            ConfigFixture.error { () throws(ConfigError) in try read(yaml) }
        }
        #expect(error("timeout_ms: 5")?.path == "secrets.http.url")
        #expect(error("url: ftp://x/")?.path == "secrets.http.url")
        #expect(error("url: http://x/a#b")?.path == "secrets.http.url")
        #expect(error("url: http://x/\ntimeout_ms: 0")?.path == "secrets.http.timeout_ms")
        #expect(error("url: http://x/\nverfy: false")?.path == "secrets.http.verfy")
        let badToken = error("url: http://x/\nbearer_token: \"tok\\nen-secret\"")
        #expect(badToken?.path == "secrets.http.bearer_token")
        #expect(badToken.map { !$0.description.contains("en-secret") } == true)
    }

    @Test func queryParametersAreAppendedToAnyURL() {
        #expect(HTTPCalloutSettings(url: "http://h/s").url(with: [("access_key", "a b+c")]) == "http://h/s?access_key=a%20b%2Bc")
        #expect(HTTPCalloutSettings(url: "http://h/s?x=1").url(with: [("k", "v")]) == "http://h/s?x=1&k=v")
        #expect(HTTPCalloutSettings(url: "http://h/s?").url(with: [("k", "v")]) == "http://h/s?k=v")
        #expect(HTTPCalloutSettings(url: "http://h/s").url(with: [("bucket", "b"), ("principal", "ä")]) == "http://h/s?bucket=b&principal=%C3%A4")
    }
}

// MARK: - Fixture (shared with the HTTPCredential* tests)

/// `integration/callouts/secret_server.py` as a child process: started with a bounded wait for its
/// `READY <port>` line, stopped with SIGTERM and then SIGKILL (children started from Swift
/// concurrency threads may ignore SIGTERM), and always stopped by the test that started it.
final class CalloutTestServer: Sendable {
    static let script = ReadyServerProcess.path("integration/callouts/secret_server.py")
    static let token = "callout-test-bearer-token"

    /// Whether python3 runs (checked once); the server needs nothing but its standard library.
    static let isAvailable = ReadyServerProcess.pythonSucceeds("import http.server")

    let client: CurlHTTPClient
    private let server: ReadyServerProcess
    var port: Int { server.port }

    private init(_ server: ReadyServerProcess, client: CurlHTTPClient) {
        self.server = server
        self.client = client
    }

    func url(_ path: String) -> String { "http://127.0.0.1:\(port)\(path)" }

    func settings(_ path: String, token: String? = CalloutTestServer.token, timeoutMilliseconds: Int = 1500) -> HTTPCalloutSettings {
        HTTPCalloutSettings(url: url(path), bearerToken: token, timeoutMilliseconds: timeoutMilliseconds)
    }

    static func start(port: Int = 0, client: CurlHTTPClient, timeout: Duration = .seconds(30)) throws -> CalloutTestServer {
        let server = try ReadyServerProcess.startPython(
            [script, "--port", "\(port)", "--token", token], name: "secret_server.py", timeout: timeout
        )
        return CalloutTestServer(server, client: client)
    }

    /// SIGTERM, then SIGKILL; idempotent.
    func stop() {
        server.stop()
    }

    // MARK: Test hooks

    struct Stats: Sendable {
        var requests: Int
        var secretRequests: Int
        var credentialRequests: Int
        /// The last callout's query parameters.
        var lastQuery: [String: String]
        var lastHadAuthorization: Bool
    }

    func stats(on loop: any EventLoop) async throws -> Stats {
        let response = try await client.get(url: url("/__stats"), timeout: .seconds(5), on: loop).get()
        let document = try #require(try JSONSerialization.jsonObject(with: Data(response.body)) as? [String: Any])
        let last = document["last"] as? [String: Any]
        return Stats(
            requests: try #require(document["requests"] as? Int),
            secretRequests: try #require(document["secret_requests"] as? Int),
            credentialRequests: try #require(document["credential_requests"] as? Int),
            lastQuery: last?["query"] as? [String: String] ?? [:],
            lastHadAuthorization: last?["authorization"] as? Bool ?? false
        )
    }

    func setMode(_ mode: String, delayMilliseconds: Int = 3000, on loop: any EventLoop) async throws {
        try await post("/__mode", #"{"mode": "\#(mode)", "delay_ms": \#(delayMilliseconds)}"#, on: loop)
    }

    /// Replaces the server's keys and credentials (see the script's docstring for the shape).
    func setData(_ json: String, on loop: any EventLoop) async throws {
        try await post("/__data", json, on: loop)
    }

    func reset(on loop: any EventLoop) async throws {
        try await post("/__reset", "{}", on: loop)
    }

    private func post(_ path: String, _ json: String, on loop: any EventLoop) async throws {
        let response = try await client.post(
            url: url(path), body: Array(json.utf8), headers: [("Content-Type", "application/json")], timeout: .seconds(5), on: loop
        ).get()
        #expect(response.status == 200, "\(path) answered \(response.status)")
    }
}

/// Runs `body` with a started callout server, a callout client on its own thread pool and an event
/// loop; stops all three whatever happens.
func withCalloutServer(
    data: String,
    _ body: (CalloutTestServer, any EventLoop) async throws -> Void
) async throws {
    let group = MultiThreadedEventLoopGroup(numberOfThreads: 2)
    let pool = NIOThreadPool(numberOfThreads: 4)
    pool.start()
    let client = CurlHTTPClient(threadPool: pool)
    let server: CalloutTestServer
    do {
        server = try CalloutTestServer.start(client: client)
    } catch {
        try? await pool.shutdownGracefully()
        try? await group.shutdownGracefully()
        throw error
    }
    do {
        try await server.setData(data, on: group.next())
        try await body(server, group.next())
    } catch {
        server.stop()
        try? await pool.shutdownGracefully()
        try? await group.shutdownGracefully()
        throw error
    }
    server.stop()
    try await pool.shutdownGracefully()
    try await group.shutdownGracefully()
}

/// The S3 error a future failed with, or nil if it succeeded or failed otherwise.
func s3Error<T>(_ operation: () async throws -> T) async -> S3Error? {
    do {
        _ = try await operation()
        return nil
    } catch let error as S3Error {
        return error
    } catch {
        return nil
    }
}

/// A cache clock tests move by hand.
final class CalloutTestClock: Sendable {
    private let current = Mutex(NIODeadline.uptimeNanoseconds(1_000_000_000))

    var cacheClock: CacheClock {
        CacheClock(now: { self.current.withLock { $0 } })
    }

    func advance(by amount: TimeAmount) {
        current.withLock { $0 = $0 + amount }
    }
}

