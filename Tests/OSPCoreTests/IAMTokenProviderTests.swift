import Foundation
import NIOCore
import NIOPosix
import S3Signing
import Testing

@testable import OSPCore

/// Reading IAM's token answers: what osp accepts, what it refuses as garbage, and how long it keeps
/// a token. (The exchange itself, its caching and single-flight run against a local IAM server in
/// `IAMTokenExchangeTests`.)
@Suite("IBM IAM token answers")
struct IAMTokenAnswerTests {
    func answer(_ json: String) throws -> IAMBearerToken {
        try IAMTokenProvider.token(from: Array(json.utf8), now: 1_800_000_000)
    }

    @Test("IAM's documented answer gives the token and its lifetime from expires_in")
    func documented() throws {
        let token = try answer(
            #"{"access_token":"eyJraWQi.abc","refresh_token":"not_supported","token_type":"Bearer","expires_in":3600,"expiration":1800003600,"scope":"ibm openid"}"#
        )
        #expect(token == IAMBearerToken(value: "eyJraWQi.abc", lifetimeSeconds: 3600))
    }

    @Test("without expires_in, the lifetime runs until expiration")
    func expirationOnly() throws {
        #expect(try answer(#"{"access_token":"t","expiration":1800000120}"#).lifetimeSeconds == 120)
    }

    @Test(
        "garbage is refused, never used as a token",
        arguments: [
            "not json", "[]", #"{"token_type":"Bearer","expires_in":3600}"#, #"{"access_token":"","expires_in":3600}"#,
            #"{"access_token":"t"}"#, #"{"access_token":"t","expires_in":0}"#, #"{"access_token":"t","expiration":1799999999}"#,
            #"{"access_token":"t","token_type":"mac","expires_in":60}"#, #"{"access_token":"a b","expires_in":60}"#,
            #"{"access_token":"t\r\nX-Injected: 1","expires_in":60}"#, #"{"access_token":7,"expires_in":60}"#,
        ]
    )
    func garbage(json: String) {
        #expect(throws: MalformedCalloutAnswer.self) { try answer(json) }
    }

    @Test("a token is used for 80% of its lifetime, then exchanged anew")
    func cacheLifetime() {
        #expect(IAMTokenProvider.cacheLifetime(of: IAMBearerToken(value: "t", lifetimeSeconds: 3600)) == .seconds(2880))
        #expect(IAMTokenProvider.cacheLifetime(of: IAMBearerToken(value: "t", lifetimeSeconds: 5)) == .seconds(4))
    }

    @Test("IAM error codes are logged only when they look like codes")
    func errorCodes() {
        #expect(IAMTokenProvider.errorCode(in: Array(#"{"errorCode":"BXNIM0415E","errorMessage":"Provided API key could not be found."}"#.utf8)) == "BXNIM0415E")
        #expect(IAMTokenProvider.errorCode(in: Array(#"{"errorCode":"apikey=secret value"}"#.utf8)) == nil)
    }

    @Test("neither the api key nor the token appears in any description")
    func redaction() {
        let key = IBMIAMKey(apiKey: "very-secret-api-key", endpoint: "https://iam.example/")
        let token = IAMBearerToken(value: "very-secret-token", lifetimeSeconds: 60)
        var dumped = ""
        dump(key, to: &dumped)
        dump(token, to: &dumped)
        for text in ["\(key)", "\(token)", String(reflecting: key), String(reflecting: token), dumped] {
            #expect(!text.contains("very-secret"))
        }
        #expect(key.endpoint == "https://iam.example")
    }
}

/// `IAMTokenProvider` against `integration/callouts/iam_server.py`, a local IAM token endpoint that
/// counts exchanges: a token is exchanged once and reused, exchanged again once after 80% of its
/// lifetime, once for any number of concurrent requests, and failures refuse without being cached.
@Suite("IBM IAM token exchange", .serialized, .enabled(if: CalloutTestServer.isAvailable, "needs python3"))
struct IAMTokenExchangeTests {
    static let apiKey = "swift-test-api-key"

    /// The local IAM server, a callout client and an event loop; all stopped whatever happens.
    func withIAM(_ body: (IAMTestServer, any EventLoop) async throws -> Void) async throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 2)
        let pool = NIOThreadPool(numberOfThreads: 4)
        pool.start()
        let client = CurlHTTPClient(threadPool: pool)
        do {
            let process = try ReadyServerProcess.startPython(
                [ReadyServerProcess.path("integration/callouts/iam_server.py"), "--port", "0", "--api-key", Self.apiKey],
                name: "iam_server.py"
            )
            let server = IAMTestServer(process: process, client: client)
            do {
                try await body(server, group.next())
            } catch {
                process.stop()
                throw error
            }
            process.stop()
        } catch {
            try? await pool.shutdownGracefully()
            try? await group.shutdownGracefully()
            throw error
        }
        try await pool.shutdownGracefully()
        try await group.shutdownGracefully()
    }

    func provider(_ server: IAMTestServer, clock: CalloutTestClock, apiKey: String = apiKey) -> (IAMTokenProvider, IBMIAMKey) {
        (
            IAMTokenProvider(client: server.client, timeout: .milliseconds(1500), clock: clock.cacheClock),
            IBMIAMKey(apiKey: apiKey, endpoint: server.url)
        )
    }

    @Test func aTokenIsExchangedOnceAndReusedUntilFourFifthsOfItsLifetime() async throws {
        try await withIAM { server, loop in
            let clock = CalloutTestClock()
            let (provider, key) = provider(server, clock: clock)
            #expect(provider.cachedToken(for: key) == nil)  // never starts an exchange itself
            let first = try await provider.token(for: key, on: loop).get()
            #expect(first.lifetimeSeconds == 3600)
            #expect(provider.cachedToken(for: key) == first)  // the hot path's synchronous answer
            #expect(try await server.introspect(first.value, on: loop))
            for _ in 0..<20 {
                #expect(try await provider.token(for: key, on: loop).get() == first)
            }
            clock.advance(by: .seconds(2879))
            #expect(try await provider.token(for: key, on: loop).get() == first)
            #expect(try await server.stats(on: loop).exchanges == 1)

            clock.advance(by: .seconds(2))  // past 80% of 3600 s: one refresh, then the new token is reused
            #expect(provider.cachedToken(for: key) == nil)
            let second = try await provider.token(for: key, on: loop).get()
            #expect(second != first)
            #expect(try await provider.token(for: key, on: loop).get() == second)
            #expect(try await server.stats(on: loop).exchanges == 2)
        }
    }

    @Test func concurrentRequestsDuringAnExchangeShareIt() async throws {
        try await withIAM { server, loop in
            try await server.configure(#"{"delay_ms": 500}"#, on: loop)
            let (provider, key) = provider(server, clock: CalloutTestClock())
            let futures = (0..<100).map { _ in provider.token(for: key, on: loop) }
            let tokens = try await EventLoopFuture.whenAllSucceed(futures, on: loop).get()
            #expect(Set(tokens.map(\.value)).count == 1)
            let stats = try await server.stats(on: loop)
            #expect(stats.attempts == 1)
            #expect(stats.exchanges == 1)
        }
    }

    @Test func failuresRefuseAsUnavailableAreNotCachedAndRecover() async throws {
        try await withIAM { server, loop in
            let clock = CalloutTestClock()
            // An unknown api key: IAM answers 400, osp refuses with 503 and asks again next time.
            let (unknown, unknownKey) = provider(server, clock: clock, apiKey: "not-a-known-key")
            for _ in 0..<2 {
                await #expect(throws: S3Error.self) { try await unknown.token(for: unknownKey, on: loop).get() }
            }
            #expect(try await server.stats(on: loop).attempts == 2)

            // IAM failing, then slow past the timeout, then healthy again.
            let (provider, key) = provider(server, clock: clock)
            try await server.configure(#"{"fail_status": 500}"#, on: loop)
            do {
                _ = try await provider.token(for: key, on: loop).get()
                Issue.record("a failed exchange must refuse")
            } catch let error as S3Error {
                #expect(error.code == .serviceUnavailable)
            }
            try await server.configure(#"{"fail_status": null, "delay_ms": 3000}"#, on: loop)
            await #expect(throws: S3Error.self) { try await provider.token(for: key, on: loop).get() }
            try await server.configure(#"{"delay_ms": 0}"#, on: loop)
            let token = try await provider.token(for: key, on: loop).get()
            #expect(try await server.introspect(token.value, on: loop))
        }
    }
}

/// Test hooks of `iam_server.py`.
struct IAMTestServer: Sendable {
    let process: ReadyServerProcess
    let client: CurlHTTPClient
    var url: String { "http://127.0.0.1:\(process.port)" }

    struct Stats: Decodable {
        var exchanges: Int
        var attempts: Int
    }

    func stats(on loop: any EventLoop) async throws -> Stats {
        let response = try await client.get(url: url + "/__iam/stats", timeout: .seconds(5), on: loop).get()
        return try JSONDecoder().decode(Stats.self, from: Data(response.body))
    }

    func configure(_ json: String, on loop: any EventLoop) async throws {
        let response = try await client.post(
            url: url + "/__iam/config", body: Array(json.utf8), headers: [("Content-Type", "application/json")],
            timeout: .seconds(5), on: loop
        ).get()
        #expect(response.status == 200)
    }

    /// Whether IAM considers `token` current.
    func introspect(_ token: String, on loop: any EventLoop) async throws -> Bool {
        struct Answer: Decodable { var active: Bool }
        let body = try JSONEncoder().encode(["token": token])
        let response = try await client.post(
            url: url + "/__iam/introspect", body: Array(body), headers: [("Content-Type", "application/json")],
            timeout: .seconds(5), on: loop
        ).get()
        return try JSONDecoder().decode(Answer.self, from: Data(response.body)).active
    }
}
