import NIOCore
import NIOEmbedded
import NIOPosix
import S3Signing
import Synchronization
import Testing
import Yams

@testable import OSPCore

/// Backend credentials from `integration/callouts/secret_server.py` through `HTTPCredentialSource`:
/// shared answers cached per bucket, per-principal answers per (principal, bucket) — the first
/// requester's credentials never serve anyone else —, failures refused and never cached.
@Suite("HTTP credential source", .serialized, .enabled(if: CalloutTestServer.isAvailable, "needs python3"))
struct HTTPCredentialSourceTests {
    static let data = """
        {"credentials": {
          "shared-bucket": {"access_key": "SHAREDKEY000", "secret_key": "shared-backend-secret"},
          "short-bucket": {"access_key": "SHORTKEY0000", "secret_key": "short-backend-secret", "ttl": 5},
          "uncached-bucket": {"access_key": "UNCACHED0000", "secret_key": "uncached-backend-secret", "ttl": 0},
          "team-bucket": {"principals": {
            "alice": {"access_key": "ALICEBACKEND", "secret_key": "alice-backend-secret"},
            "bob": {"access_key": "BOBBACKEND00", "secret_key": "bob-backend-secret", "session_token": "bob-session"}
          }}
        }}
        """
    static let shared = BackendCredentials(accessKey: "SHAREDKEY000", secretKey: "shared-backend-secret")
    static let alice = BackendCredentials(accessKey: "ALICEBACKEND", secretKey: "alice-backend-secret")
    static let bob = BackendCredentials(accessKey: "BOBBACKEND00", secretKey: "bob-backend-secret", sessionToken: "bob-session")

    static func route(_ name: String, ttl: Int64? = nil) -> BucketRoute {
        BucketRoute(name: name, host: "127.0.0.1", port: 9000, ttlSeconds: ttl)
    }

    func source(_ server: CalloutTestServer, _ clock: CalloutTestClock = CalloutTestClock(), timeoutMilliseconds: Int = 1500) -> HTTPCredentialSource {
        HTTPCredentialSource(
            settings: server.settings("/credentials", timeoutMilliseconds: timeoutMilliseconds),
            cache: CredentialCacheSettings(ttlSeconds: 300, capacity: 1000),
            client: server.client,
            clock: clock.cacheClock
        )
    }

    @Test func aSharedAnswerIsFetchedOncePerBucketForEveryone() async throws {
        try await withCalloutServer(data: Self.data) { (server, loop) async throws in
            let source = source(server)
            for principal in ["alice", "bob", "carol", "alice"] {
                #expect(try await source.credentials(for: Self.route("shared-bucket"), principal: principal, on: loop).get() == Self.shared)
            }
            let stats = try await server.stats(on: loop)
            #expect(stats.credentialRequests == 1)
            #expect(stats.lastQuery == ["bucket": "shared-bucket", "principal": "alice"])
            #expect(stats.lastHadAuthorization)
        }
    }

    @Test func perPrincipalAnswersAreKeyedByPrincipalAndBucket() async throws {
        try await withCalloutServer(data: Self.data) { (server, loop) async throws in
            let source = source(server)
            let team = Self.route("team-bucket")
            #expect(try await source.credentials(for: team, principal: "alice", on: loop).get() == Self.alice)
            // The first requester's answer must not serve the second.
            #expect(try await source.credentials(for: team, principal: "bob", on: loop).get() == Self.bob)
            #expect(try await server.stats(on: loop).lastQuery == ["bucket": "team-bucket", "principal": "bob"])
            for _ in 0..<3 {
                #expect(try await source.credentials(for: team, principal: "alice", on: loop).get() == Self.alice)
                #expect(try await source.credentials(for: team, principal: "bob", on: loop).get() == Self.bob)
            }
            #expect(try await server.stats(on: loop).credentialRequests == 2)

            // A principal the service has nothing for is refused, and asked again next time.
            for _ in 0..<2 {
                #expect(await s3Error { try await source.credentials(for: team, principal: "mallory", on: loop).get() }
                    == S3Error(.accessDenied, "No backend credentials for this principal and bucket."))
            }
            #expect(try await server.stats(on: loop).credentialRequests == 4)
        }
    }

    @Test func concurrentPrincipalsOnAColdPerPrincipalBucketEachGetTheirOwn() async throws {
        try await withCalloutServer(data: Self.data) { (server, loop) async throws in
            // Slow answers make the second principal join the first one's flight for the bucket.
            try await server.setMode("slow", delayMilliseconds: 300, on: loop)
            let source = source(server)
            let team = Self.route("team-bucket")
            let answers = try await withThrowingTaskGroup(of: (String, BackendCredentials).self) { group in
                for index in 0..<16 {
                    let principal = index.isMultiple(of: 2) ? "alice" : "bob"
                    group.addTask { (principal, try await source.credentials(for: team, principal: principal, on: loop).get()) }
                }
                return try await group.reduce(into: [(String, BackendCredentials)]()) { $0.append($1) }
            }
            #expect(answers.count == 16)
            for (principal, credentials) in answers {
                #expect(credentials == (principal == "alice" ? Self.alice : Self.bob), "\(principal)")
            }
            // One flight for the bucket, then at most one for the principal it was not fetched for.
            #expect(try await server.stats(on: loop).credentialRequests <= 3)
        }
    }

    @Test func concurrentPrincipalsOnAColdSharedBucketShareOneRequest() async throws {
        try await withCalloutServer(data: Self.data) { (server, loop) async throws in
            try await server.setMode("slow", delayMilliseconds: 300, on: loop)
            let source = source(server)
            let answers = try await withThrowingTaskGroup(of: BackendCredentials.self) { group in
                for index in 0..<16 {
                    group.addTask { try await source.credentials(for: Self.route("shared-bucket"), principal: "p\(index)", on: loop).get() }
                }
                return try await group.reduce(into: [BackendCredentials]()) { $0.append($1) }
            }
            #expect(answers == Array(repeating: Self.shared, count: 16))
            #expect(try await server.stats(on: loop).credentialRequests == 1)
        }
    }

    @Test func aBucketThatBecomesPerPrincipalIsNeverServedFromTheSharedAnswerAfterItsTTL() async throws {
        try await withCalloutServer(data: Self.data) { (server, loop) async throws in
            let clock = CalloutTestClock()
            let source = source(server, clock)
            let team = Self.route("team-bucket")
            #expect(try await source.credentials(for: team, principal: "alice", on: loop).get() == Self.alice)
            clock.advance(by: .seconds(301))
            // alice's answer expired; now bob asks first after the bucket's data changed to shared.
            try await server.setData(#"{"credentials": {"team-bucket": {"access_key": "NOWSHARED000", "secret_key": "now-shared"}}}"#, on: loop)
            let nowShared = BackendCredentials(accessKey: "NOWSHARED000", secretKey: "now-shared")
            #expect(try await source.credentials(for: team, principal: "bob", on: loop).get() == nowShared)
            #expect(try await source.credentials(for: team, principal: "alice", on: loop).get() == nowShared)
            #expect(try await server.stats(on: loop).credentialRequests == 2)
        }
    }

    @Test func theTTLComesFromTheAnswerThenTheBucketThenTheDefault() async throws {
        try await withCalloutServer(data: Self.data) { (server, loop) async throws in
            let clock = CalloutTestClock()
            let source = source(server, clock)
            func fetch(_ bucket: BucketRoute) async throws { _ = try await source.credentials(for: bucket, principal: "alice", on: loop).get() }
            func requests() async throws -> Int { try await server.stats(on: loop).credentialRequests }

            // ttl 0 in the answer: never cached.
            try await fetch(Self.route("uncached-bucket"))
            try await fetch(Self.route("uncached-bucket"))
            #expect(try await requests() == 2)

            // ttl 5 in the answer beats the bucket's 100.
            try await fetch(Self.route("short-bucket", ttl: 100))
            clock.advance(by: .seconds(4))
            try await fetch(Self.route("short-bucket", ttl: 100))
            #expect(try await requests() == 3)
            clock.advance(by: .seconds(2))
            try await fetch(Self.route("short-bucket", ttl: 100))
            #expect(try await requests() == 4)

            // No ttl in the answer: the bucket's 20 beats the default 300.
            try await fetch(Self.route("shared-bucket", ttl: 20))
            clock.advance(by: .seconds(19))
            try await fetch(Self.route("shared-bucket", ttl: 20))
            #expect(try await requests() == 5)
            clock.advance(by: .seconds(2))
            try await fetch(Self.route("shared-bucket", ttl: 20))
            #expect(try await requests() == 6)
        }
    }

    @Test func everyFailureIsServiceUnavailableNeverCachedAndTheSourceRecovers() async throws {
        try await withCalloutServer(data: Self.data) { (server, loop) async throws in
            let source = source(server, timeoutMilliseconds: 400)
            let team = Self.route("team-bucket")
            for mode in ["500", "garbage", "slow"] {
                try await server.setMode(mode, delayMilliseconds: 1000, on: loop)
                let started = NIODeadline.now()
                let refused = await s3Error { try await source.credentials(for: team, principal: "alice", on: loop).get() }
                #expect(refused == S3Error(.serviceUnavailable, "The credential service is unavailable."), "mode \(mode)")
                #expect(NIODeadline.now() - started < .milliseconds(1000))
            }
            let unauthorized = HTTPCredentialSource(settings: server.settings("/credentials", token: nil), client: server.client)
            try await server.setMode("normal", on: loop)
            #expect(await s3Error { try await unauthorized.credentials(for: team, principal: "alice", on: loop).get() } == HTTPCredentialSource.unavailable)

            #expect(try await source.credentials(for: team, principal: "alice", on: loop).get() == Self.alice)
            #expect(try await source.credentials(for: team, principal: "alice", on: loop).get() == Self.alice)
            #expect(try await server.stats(on: loop).credentialRequests == 5)

            server.stop()
            #expect(await s3Error { try await source.credentials(for: team, principal: "bob", on: loop).get() } == HTTPCredentialSource.unavailable)
            // What was cached before the service went away still answers.
            #expect(try await source.credentials(for: team, principal: "alice", on: loop).get() == Self.alice)
        }
    }

    @Test func answersOfTheWrongShapeAreGarbage() {
        func read(_ json: String) -> FetchedBackendCredentials? {
            try? HTTPCredentialSource.answer(from: Array(json.utf8))
        }
        #expect(read(#"{"access_key": "a", "secret_key": "s", "session_token": "t", "ttl": 30, "per_principal": false, "x": 1}"#)
            == FetchedBackendCredentials(credentials: BackendCredentials(accessKey: "a", secretKey: "s", sessionToken: "t"), perPrincipal: false, ttlSeconds: 30))
        // Without per_principal the answer is taken to depend on the principal: the safe reading.
        #expect(read(#"{"access_key": "a", "secret_key": "s"}"#)?.perPrincipal == true)
        for garbage in [
            "", "null", "[]", "<html>", "{}", #"{"access_key": "a"}"#, #"{"access_key": "", "secret_key": "s"}"#,
            #"{"access_key": "a", "secret_key": ""}"#, #"{"access_key": "a", "secret_key": "s", "session_token": ""}"#,
            #"{"access_key": "a", "secret_key": "s", "ttl": -1}"#, #"{"access_key": "a", "secret_key": "s", "ttl": "60"}"#,
            #"{"access_key": "a", "secret_key": "s", "ttl": 1.5}"#, #"{"access_key": "a", "secret_key": "s", "per_principal": "no"}"#,
            #"{"access_key": 1, "secret_key": "s"}"#,
        ] {
            #expect(read(garbage) == nil, "\(garbage)")
        }
    }

    @Test func cacheSettingsAreReadFromTheConfigFile() throws {
        func read(_ yaml: String) throws(ConfigError) -> CredentialCacheSettings {
            try CredentialCacheSettings(ConfigFixture.mapping(yaml, at: "credentials.cache"))
        }
        #expect(try read("ttl_seconds: 60\nmax_ttl_seconds: 600\ncapacity: 10") == CredentialCacheSettings(ttlSeconds: 60, maxTTLSeconds: 600, capacity: 10))
        #expect(try read("capacity: 5") == CredentialCacheSettings(capacity: 5))
        #expect(throws: ConfigError.self) { try read("negative_ttl_seconds: 5") }
        #expect(throws: ConfigError.self) { try read("ttl_seconds: -1") }
    }
}

/// The caching scheme on its own, with a fetch the test controls: which key each answer is filed
/// under, and that a per-principal answer never reaches another principal.
@Suite("Principal-aware credential cache")
struct HTTPCredentialCacheSchemeTests {
    final class Fetches: Sendable {
        let log = Mutex<[String]>([])
        let perPrincipal: Bool
        init(perPrincipal: Bool) { self.perPrincipal = perPrincipal }

        var fetch: PrincipalAwareCredentialCache.Fetch {
            { bucket, principal, loop in
                self.log.withLock { $0.append("\(principal)@\(bucket)") }
                let key = self.perPrincipal ? "\(principal)-\(bucket)" : "shared-\(bucket)"
                return loop.makeSucceededFuture(
                    FetchedBackendCredentials(credentials: BackendCredentials(accessKey: key, secretKey: "s"), perPrincipal: self.perPrincipal)
                )
            }
        }
    }

    @Test func perPrincipalAnswersNeverCrossPrincipals() async throws {
        let loop = EmbeddedEventLoop()
        let cache = PrincipalAwareCredentialCache()
        let fetches = Fetches(perPrincipal: true)
        for principal in ["a", "b", "a", "c", "b"] {
            let credentials = try await cache.credentials(bucket: "x", principal: principal, on: loop, fetch: fetches.fetch).get()
            #expect(credentials.accessKey == "\(principal)-x")
        }
        #expect(fetches.log.withLock { $0 } == ["a@x", "b@x", "c@x"])
        #expect(cache.cache.value(forKey: .bucket("x")).map { if case .dependsOnPrincipal = $0 { true } else { false } } == true)
    }

    @Test func sharedAnswersAreFiledUnderTheBucket() async throws {
        let loop = EmbeddedEventLoop()
        let cache = PrincipalAwareCredentialCache()
        let fetches = Fetches(perPrincipal: false)
        for principal in ["a", "b", "c"] {
            #expect(try await cache.credentials(bucket: "x", principal: principal, on: loop, fetch: fetches.fetch).get().accessKey == "shared-x")
        }
        #expect(try await cache.credentials(bucket: "y", principal: "a", on: loop, fetch: fetches.fetch).get().accessKey == "shared-y")
        #expect(fetches.log.withLock { $0 } == ["a@x", "a@y"])
        #expect(cache.cache.value(forKey: .principal("a", bucket: "x")) == nil)
    }
}
