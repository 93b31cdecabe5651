import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import Testing

@testable import OSPCore

/// The `redis` policy backend against a real `redis-server`: grants stored per principal and per
/// group, evaluated by the same `RuleSet` as the config file (prefix grants with exceptions), one
/// MGET per burst thanks to the grants cache, and fail-closed errors of distinct kinds.
@Suite("RedisPolicy", .enabled(if: RedisTestServer.isAvailable, "redis-server is not installed"), .timeLimit(.minutes(1)))
struct RedisPolicyTests {
    static let teamGrants = #"[{"buckets": ["data"], "prefix": "team/", "actions": ["read", "list", "write"], "effect": "allow"}]"#
    static let aliceGrants = #"""
        [{"principals": ["*"], "buckets": ["data"], "prefix": "team/secret/", "actions": ["*"], "effect": "deny"},
         {"bucket": "alice-*", "actions": "s3:Get*", "effect": "Allow"}]
        """#

    func get(_ principal: String, _ groups: [String], _ bucket: String, _ key: String) -> AuthorizationRequest {
        AuthorizationRequest(principal: principal, groups: groups, action: "s3:GetObject", bucket: bucket, key: key)
    }

    @Test func grantsFromRedisWithAnExceptionAreEvaluatedLikeRules() async throws {
        let server = try RedisTestServer.start()
        defer { server.stop() }
        try server.cli(["SET", "osp:grants:group:team", Self.teamGrants])
        try server.cli(["SET", "osp:grants:alice", Self.aliceGrants])
        try await withRedisClient(RedisSettings(port: server.port)) { (client, loop) async throws in
            let policy = RedisPolicy(client: client)
            #expect(policy.name == "redis")
            func decide(_ request: AuthorizationRequest) async throws -> PolicyDecision {
                try await policy.decide(request, on: loop).get()
            }
            // alice, in team: the group's allow, her own exception.
            #expect(try await decide(get("alice", ["team"], "data", "team/a.csv")) == .allow(nil))
            #expect(try await decide(get("alice", ["team"], "data", "team/secret/x")) == .deny(reason: "denied by grant 0"))
            #expect(try await decide(get("alice", ["team"], "data", "other/b")) == .deny(reason: "no grant"))
            #expect(try await decide(get("alice", ["team"], "alice-home", "notes.txt")) == .allow(nil))
            let put = AuthorizationRequest(principal: "alice", groups: [], action: "s3:PutObject", bucket: "alice-home", key: "n")
            #expect(try await decide(put) == .deny(reason: "no grant"))
            // Listing under the granted prefix, not its parent.
            let list = AuthorizationRequest(principal: "alice", groups: ["team"], action: "s3:ListBucket", bucket: "data", conditions: ["prefix": "team/"])
            #expect(try await decide(list) == .allow(nil))
            var parent = list
            parent.conditions["prefix"] = ""
            #expect(try await decide(parent) == .deny(reason: "no grant"))
            // carol, also in team: alice's exception is alice's alone.
            #expect(try await decide(get("carol", ["team"], "data", "team/secret/x")) == .allow(nil))
            // bob, in no group and without grants: default deny.
            #expect(try await decide(get("bob", [], "data", "team/a.csv")) == .deny(reason: "no grant"))
        }
    }

    @Test func aBurstCostsOneMGETUntilTheGrantsExpire() async throws {
        let server = try RedisTestServer.start()
        defer { server.stop() }
        try server.cli(["SET", "osp:grants:group:team", Self.teamGrants])
        let now = NIOLockedValueBox(NIODeadline.uptimeNanoseconds(1_000_000_000))
        let clock = CacheClock(now: { now.withLockedValue { $0 } })
        try await withRedisClient(RedisSettings(port: server.port, grantsTTLSeconds: 5)) { (client, loop) async throws in
            let policy = RedisPolicy(client: client, clock: clock)
            let request = get("alice", ["team"], "data", "team/a")
            let decisions = try await withThrowingTaskGroup(of: PolicyDecision.self) { group in
                for _ in 0..<32 {
                    group.addTask { try await policy.decide(request, on: loop).get() }
                }
                return try await group.reduce(into: []) { $0.append($1) }
            }
            #expect(decisions.count == 32)
            #expect(decisions.allSatisfy { $0 == .allow(nil) })
            #expect(try server.mgetCalls() == 1)

            // Revoked in Redis: still cached until the TTL passes, then seen.
            try server.cli(["DEL", "osp:grants:group:team"])
            #expect(try await policy.decide(request, on: loop).get() == .allow(nil))
            #expect(try server.mgetCalls() == 1)
            now.withLockedValue { $0 = $0 + .seconds(6) }
            #expect(try await policy.decide(request, on: loop).get() == .deny(reason: "no grant"))
            #expect(try server.mgetCalls() == 2)
        }
    }

    @Test func garbageGrantsFailClosedAndAreNotCached() async throws {
        let server = try RedisTestServer.start()
        defer { server.stop() }
        let cases: [(String, String)] = [
            ("not json", "not a JSON list"),
            (#"{"buckets": ["data"]}"#, "not a JSON list"),
            (#"["grant"]"#, "not a JSON object"),
            (#"[{"buckets": ["data"], "actions": ["fly"], "effect": "allow"}]"#, "unknown action"),
            (#"[{"buckets": ["data"], "actions": ["read"], "effect": "allow", "efect": "deny"}]"#, "unknown grant key"),
            (#"[{"buckets": ["data"], "actions": ["read"]}]"#, "[0]"),
            (#"[{"principals": ["bob"], "buckets": ["data"], "actions": ["*"], "effect": "deny"}]"#, "names 'bob'"),
        ]
        try await withRedisClient(RedisSettings(port: server.port)) { (client, loop) async throws in
            let policy = RedisPolicy(client: client)
            for (json, expected) in cases {
                try server.cli(["SET", "osp:grants:alice", json])
                // A valid list would have been cached; errors never are (checked below).
                policy.invalidateCachedGrants()
                let error = await policyError { try await policy.decide(get("alice", [], "data", "k"), on: loop).get() }
                #expect(error?.kind == .malformedResult, "\(json)")
                #expect(error?.detail.contains("osp:grants:alice") == true, "\(json)")
                #expect(error?.detail.contains(expected) == true, "\(json): \(error?.detail ?? "")")
            }
            // The last case failed; failures are not cached, so fixed data is seen at once.
            try server.cli(["SET", "osp:grants:alice", #"[{"buckets": ["data"], "actions": ["read"], "effect": "allow"}]"#])
            #expect(try await policy.decide(get("alice", [], "data", "k"), on: loop).get() == .allow(nil))
            // MGET answers nil for a key of another type: such a key holds no grants (default deny).
            try server.cli(["HSET", "osp:grants:group:team", "a", "b"])
            #expect(try await policy.decide(get("bob", ["team"], "data", "k"), on: loop).get() == .deny(reason: "no grant"))
        }
    }

    @Test func aDownOrStalledRedisIsABackendErrorOfItsKind() async throws {
        let server = try RedisTestServer.start()
        defer { server.stop() }
        try await withRedisClient(RedisSettings(port: server.port, timeoutMilliseconds: 200)) { (client, loop) async throws in
            let policy = RedisPolicy(client: client)
            #expect(try await policy.decide(get("alice", [], "data", "k"), on: loop).get() == .deny(reason: "no grant"))
            try server.cli(["CLIENT", "PAUSE", "2000", "ALL"])
            let slow = await policyError { try await policy.decide(get("bob", [], "data", "k"), on: loop).get() }
            #expect(slow?.kind == .timeout)
            server.stop()
            let down = await policyError { try await policy.decide(get("carol", [], "data", "k"), on: loop).get() }
            #expect(down?.kind == .transport)
        }
    }
}

private func policyError<T>(_ operation: () async throws -> T) async -> PolicyBackendError? {
    do {
        _ = try await operation()
        Issue.record("expected a PolicyBackendError, got a value")
        return nil
    } catch let error as PolicyBackendError {
        return error
    } catch {
        Issue.record("expected a PolicyBackendError, got \(error)")
        return nil
    }
}

extension RedisTestServer {
    /// How many MGET commands the server has run (INFO commandstats).
    func mgetCalls() throws -> Int {
        let info = try cli(["INFO", "commandstats"])
        guard let line = info.split(whereSeparator: \.isNewline).first(where: { $0.hasPrefix("cmdstat_mget:") }) else { return 0 }
        guard let calls = line.split(separator: ",").first?.split(separator: "=").last, let count = Int(calls) else {
            throw RedisTestServerError(message: "unexpected commandstats line \(line)")
        }
        return count
    }
}
