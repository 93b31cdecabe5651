import NIOCore
import NIOPosix
import S3Signing
import Testing
import Yams

@testable import OSPCore

/// `CachedSecretSource` in front of the HTTP secret source: the store is asked once per key per TTL,
/// once for many concurrent requests, shorter for unknown keys, and never remembers a failure.
@Suite("HTTP secret caching", .serialized, .enabled(if: CalloutTestServer.isAvailable, "needs python3"))
struct HTTPSecretCachingTests {
    static let data = HTTPSecretSourceTests.data
    static let alice = "AKIDALICE0000000"

    func cached(_ server: CalloutTestServer, _ clock: CalloutTestClock, timeoutMilliseconds: Int = 1500) -> CachedSecretSource {
        CachedSecretSource(
            HTTPSecretSource(settings: server.settings("/secret", timeoutMilliseconds: timeoutMilliseconds), client: server.client),
            settings: SecretCacheSettings(ttlSeconds: 300, negativeTTLSeconds: 10, capacity: 1000),
            clock: clock.cacheClock
        )
    }

    @Test func manyLookupsOfOneKeyAreOneRequest() async throws {
        try await withCalloutServer(data: Self.data) { (server, loop) async throws in
            let source = cached(server, CalloutTestClock())
            for _ in 0..<20 {
                #expect(try await source.identity(forAccessKey: Self.alice, on: loop).get()?.principal == "alice")
            }
            #expect(try await server.stats(on: loop).secretRequests == 1)
            #expect(source.statistics.hits == 19)
        }
    }

    @Test func concurrentMissesShareOneRequest() async throws {
        try await withCalloutServer(data: Self.data) { (server, loop) async throws in
            // Slow answers keep the first request in flight while the others arrive.
            try await server.setMode("slow", delayMilliseconds: 300, on: loop)
            let source = cached(server, CalloutTestClock())
            let principals = try await withThrowingTaskGroup(of: String?.self) { group in
                for _ in 0..<32 {
                    group.addTask { try await source.identity(forAccessKey: Self.alice, on: loop).get()?.principal }
                }
                return try await group.reduce(into: [String?]()) { $0.append($1) }
            }
            #expect(principals == Array(repeating: "alice", count: 32))
            #expect(try await server.stats(on: loop).secretRequests == 1)
        }
    }

    @Test func unknownKeysAreRememberedShorterThanKnownOnes() async throws {
        try await withCalloutServer(data: Self.data) { (server, loop) async throws in
            let clock = CalloutTestClock()
            let source = cached(server, clock)
            #expect(try await source.identity(forAccessKey: Self.alice, on: loop).get() != nil)
            #expect(try await source.identity(forAccessKey: "AKIDNOBODY000000", on: loop).get() == nil)
            #expect(try await source.identity(forAccessKey: "AKIDNOBODY000000", on: loop).get() == nil)
            #expect(try await server.stats(on: loop).secretRequests == 2)

            clock.advance(by: .seconds(11))
            #expect(try await source.identity(forAccessKey: "AKIDNOBODY000000", on: loop).get() == nil)
            #expect(try await source.identity(forAccessKey: Self.alice, on: loop).get() != nil)
            #expect(try await server.stats(on: loop).secretRequests == 3)

            // A key issued meanwhile works once its negative entry has run out.
            try await server.setData(#"{"keys": {"AKIDNOBODY000000": {"secret_key": "new-secret-000000"}}}"#, on: loop)
            #expect(try await source.identity(forAccessKey: "AKIDNOBODY000000", on: loop).get() == nil)
            clock.advance(by: .seconds(11))
            #expect(try await source.identity(forAccessKey: "AKIDNOBODY000000", on: loop).get()?.secretKey == "new-secret-000000")

            // And a known key is asked again after its own, longer TTL.
            clock.advance(by: .seconds(290))
            #expect(try await source.identity(forAccessKey: Self.alice, on: loop).get() == nil)
            #expect(try await server.stats(on: loop).secretRequests == 5)
        }
    }

    @Test func failuresAreNeverCachedAndTheSourceRecovers() async throws {
        try await withCalloutServer(data: Self.data) { (server, loop) async throws in
            let source = cached(server, CalloutTestClock(), timeoutMilliseconds: 400)
            for mode in ["500", "garbage", "slow"] {
                try await server.setMode(mode, delayMilliseconds: 1000, on: loop)
                for _ in 0..<2 {
                    #expect(await s3Error { try await source.identity(forAccessKey: Self.alice, on: loop).get() } == HTTPSecretSource.unavailable)
                }
            }
            #expect(try await server.stats(on: loop).secretRequests == 6)
            #expect(source.statistics.loadFailures == 6)

            try await server.setMode("normal", on: loop)
            #expect(try await source.identity(forAccessKey: Self.alice, on: loop).get()?.principal == "alice")
            #expect(try await source.identity(forAccessKey: Self.alice, on: loop).get()?.principal == "alice")
            #expect(try await server.stats(on: loop).secretRequests == 7)
        }
    }

    @Test func theCacheNeverShowsSecrets() async throws {
        try await withCalloutServer(data: Self.data) { (server, loop) async throws in
            let source = cached(server, CalloutTestClock())
            let identity = try #require(try await source.identity(forAccessKey: Self.alice, on: loop).get())
            for text in ["\(source.cache)", "\(identity)", String(reflecting: identity), "\(source.statistics)"] {
                #expect(!text.contains("alice-secret"))
            }
        }
    }

    @Test func cacheSettingsAreReadFromTheConfigFile() throws {
        func read(_ yaml: String) throws(ConfigError) -> SecretCacheSettings {
            try SecretCacheSettings(ConfigFixture.mapping(yaml, at: "secrets.cache"))
        }
        #expect(try read("ttl_seconds: 60\nnegative_ttl_seconds: 2\ncapacity: 10") == SecretCacheSettings(ttlSeconds: 60, negativeTTLSeconds: 2, capacity: 10))
        #expect(try read("capacity: 5") == SecretCacheSettings(ttlSeconds: 300, negativeTTLSeconds: 10, capacity: 5))
        #expect(throws: ConfigError.self) { try read("ttl: 5") }
        #expect(throws: ConfigError.self) { try read("ttl_seconds: -1") }
    }
}
