import NIOCore
import NIOPosix
import S3Signing
import Testing

@testable import OSPCore

/// The secret and credential sources against a real `redis-server` holding the documented schema
/// (docs/redis-schema.md): what each answers, and which refusal each failure becomes.
@Suite("Redis secret and credential sources", .enabled(if: RedisTestServer.isAvailable, "redis-server is not installed"), .timeLimit(.minutes(1)))
struct RedisSourcesTests {
    // MARK: Client secrets (hmac_fetcher)

    @Test func secretSourceAnswersIdentitiesUnderTheConfiguredPrefix() async throws {
        let server = try RedisTestServer.start()
        defer { server.stop() }
        try server.cli(["HSET", "gw1:key:AKIDALICE", "secret", "alice-secret", "principal", "alice", "groups", "team, admins,"])
        try server.cli(["HSET", "gw1:key:AKIDBOB", "secret", "bob-secret", "principal", "bob"])
        // The same access key under the default prefix belongs to someone else.
        try server.cli(["HSET", "osp:key:AKIDALICE", "secret", "other", "principal", "mallory"])

        try await withRedisClient(RedisSettings(port: server.port, keyPrefix: "gw1:")) { (client, loop) async throws in
            let source = RedisSecretSource(client: client)
            let alice = try await source.identity(forAccessKey: "AKIDALICE", on: loop).get()
            #expect(alice == ClientIdentity(accessKey: "AKIDALICE", secretKey: "alice-secret", principal: "alice", groups: ["team", "admins"]))
            let bob = try await source.identity(forAccessKey: "AKIDBOB", on: loop).get()
            #expect(bob == ClientIdentity(accessKey: "AKIDBOB", secretKey: "bob-secret", principal: "bob", groups: []))
            #expect(try await source.identity(forAccessKey: "AKIDNOBODY", on: loop).get() == nil)
        }
    }

    @Test func secretSourceRefusesWith503WhenTheStoreCannotAnswer() async throws {
        let server = try RedisTestServer.start()
        defer { server.stop() }
        try server.cli(["SET", "osp:key:AKIDSTRING", "not-a-hash"])
        try server.cli(["HSET", "osp:key:AKIDNOSECRET", "principal", "alice"])
        try server.cli(["HSET", "osp:key:AKIDNOPRINCIPAL", "secret", "s"])
        try await withRedisClient(RedisSettings(port: server.port)) { (client, loop) async throws in
            let source = RedisSecretSource(client: client)
            for key in ["AKIDSTRING", "AKIDNOSECRET", "AKIDNOPRINCIPAL"] {
                let error = await redisRefusal { try await source.identity(forAccessKey: key, on: loop).get() }
                #expect(error == S3Error(.serviceUnavailable, "The secret store is unavailable."), "\(key)")
            }
            server.stop()
            let down = await redisRefusal { try await source.identity(forAccessKey: "AKIDNOSECRET", on: loop).get() }
            #expect(down == S3Error(.serviceUnavailable, "The secret store is unavailable."))
        }
    }

    // MARK: Backend credentials (bucket_creds_fetcher)

    @Test func perPrincipalCredentialsWinOverPerBucketOnes() async throws {
        let server = try RedisTestServer.start()
        defer { server.stop() }
        try server.cli(["HSET", "osp:creds:data", "access_key", "BUCKETAK", "secret_key", "bucket-secret"])
        try server.cli([
            "HSET", "osp:creds:alice:data", "access_key", "ALICEAK", "secret_key", "alice-secret", "session_token", "tok",
        ])
        try server.cli(["HSET", "osp:creds:*", "access_key", "DEFAULTAK", "secret_key", "default-secret"])
        try await withRedisClient(RedisSettings(port: server.port)) { (client, loop) async throws in
            let source = RedisCredentialSource(client: client)
            let data = BucketRoute(name: "data", host: "127.0.0.1", port: 9000)
            let alice = try await source.credentials(for: data, principal: "alice", on: loop).get()
            #expect(alice == BackendCredentials(accessKey: "ALICEAK", secretKey: "alice-secret", sessionToken: "tok"))
            let bob = try await source.credentials(for: data, principal: "bob", on: loop).get()
            #expect(bob == BackendCredentials(accessKey: "BUCKETAK", secretKey: "bucket-secret"))
            // The default route's credentials live under the route's name, `*`.
            let fallback = BucketRoute(name: "*", host: "127.0.0.1", port: 9000)
            #expect(try await source.credentials(for: fallback, principal: "bob", on: loop).get().accessKey == "DEFAULTAK")
        }
    }

    /// The default route serves buckets under their own names: keys kept for such a bucket win, and
    /// every other bucket falls back to the `*` keys. A listed bucket never falls back to `*`.
    @Test func bucketsOfTheDefaultRouteFallBackToItsCredentials() async throws {
        let server = try RedisTestServer.start()
        defer { server.stop() }
        try server.cli(["HSET", "osp:creds:*", "access_key", "DEFAULTAK", "secret_key", "default-secret"])
        try server.cli(["HSET", "osp:creds:alice:*", "access_key", "ALICEDEFAULT", "secret_key", "alice-default-secret"])
        try server.cli(["HSET", "osp:creds:own-keys", "access_key", "OWNAK", "secret_key", "own-secret"])
        var map = BucketMap()
        map.routes["listed"] = BucketRoute(name: "listed", host: "127.0.0.1", port: 9000)
        map.defaultRoute = BucketRoute(name: "*", host: "127.0.0.1", port: 9000)
        try await withRedisClient(RedisSettings(port: server.port)) { (client, loop) async throws in
            let source = RedisCredentialSource(client: client)
            func accessKey(_ bucket: String, _ principal: String) async throws -> String {
                try await source.credentials(for: map.route(for: bucket)!, principal: principal, on: loop).get().accessKey
            }
            #expect(try await accessKey("any-bucket", "bob") == "DEFAULTAK")
            #expect(try await accessKey("any-bucket", "alice") == "ALICEDEFAULT")
            #expect(try await accessKey("own-keys", "alice") == "OWNAK")
            await #expect(throws: S3Error(.accessDenied, "No backend credentials for this bucket.")) {
                try await accessKey("listed", "bob")
            }
        }
    }

    @Test func missingCredentialsAreAccessDeniedAndBrokenOnes503() async throws {
        let server = try RedisTestServer.start()
        defer { server.stop() }
        try server.cli(["HSET", "osp:creds:half", "access_key", "ONLYAK"])
        try server.cli(["SET", "osp:creds:string", "x"])
        try await withRedisClient(RedisSettings(port: server.port)) { (client, loop) async throws in
            let source = RedisCredentialSource(client: client)
            let none = await redisRefusal {
                try await source.credentials(for: BucketRoute(name: "nothing", host: "h"), principal: "alice", on: loop).get()
            }
            #expect(none == S3Error(.accessDenied, "No backend credentials for this bucket."))
            for bucket in ["half", "string"] {
                let error = await redisRefusal {
                    try await source.credentials(for: BucketRoute(name: bucket, host: "h"), principal: "alice", on: loop).get()
                }
                #expect(error?.code == .serviceUnavailable, "\(bucket)")
            }
            server.stop()
            let down = await redisRefusal {
                try await source.credentials(for: BucketRoute(name: "nothing", host: "h"), principal: "alice", on: loop).get()
            }
            #expect(down?.code == .serviceUnavailable)
        }
    }

    @Test func credentialsNeverAppearInText() {
        let credentials = BackendCredentials(accessKey: "ALICEACCESSKEY", secretKey: "alice-secret", sessionToken: "tok")
        #expect(!"\(credentials)".contains("alice-secret"))
        let settings = RedisSettings(password: "redis-password")
        #expect(!"\(settings)".contains("redis-password"))
        var dumped = ""
        dump(settings, to: &dumped)
        #expect(!dumped.contains("redis-password"))
    }
}

private func redisRefusal<T>(_ operation: () async throws -> T) async -> S3Error? {
    do {
        _ = try await operation()
        Issue.record("expected an S3Error, got a value")
        return nil
    } catch let error as S3Error {
        return error
    } catch {
        Issue.record("expected an S3Error, got \(error)")
        return nil
    }
}
