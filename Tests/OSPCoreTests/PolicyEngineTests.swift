import NIOCore
import NIOEmbedded
import Testing

@testable import OSPCore

/// The `rules` and `allow-all` backends behind the `PolicyEngine` seam.
@Suite("Policy engines")
struct PolicyEngineTests {
    @Test func rulesAnswerOnTheCallersLoopWithoutAHop() throws {
        let loop = EmbeddedEventLoop()
        let engine: any PolicyEngine = RulesPolicy(grants: [
            Grant(principals: ["alice"], buckets: ["data"], prefix: "team/", actions: ["read"], effect: .allow)
        ])
        #expect(engine.name == "rules")

        let allowed = engine.decide(AuthorizationRequest(principal: "alice", action: "s3:GetObject", bucket: "data", key: "team/a"), on: loop)
        let denied = engine.decide(AuthorizationRequest(principal: "alice", action: "s3:GetObject", bucket: "data", key: "x"), on: loop)
        // Already complete: no loop turn needed.
        #expect(allowed.eventLoop === loop)
        #expect(try allowed.wait() == .allow(nil))
        #expect(try denied.wait() == .deny(reason: "no grant"))
    }

    @Test func allowAllAllowsEverything() throws {
        let loop = EmbeddedEventLoop()
        let engine: any PolicyEngine = AllowAllPolicy()
        #expect(engine.name == "allow-all")
        #expect(try engine.decide(AuthorizationRequest(principal: "anyone", action: "s3:DeleteBucket", bucket: "b"), on: loop).wait() == .allow(nil))
    }
}
