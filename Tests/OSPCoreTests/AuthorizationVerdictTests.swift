import NIOCore
import NIOPosix
import S3Signing
import Testing

@testable import OSPCore

/// Answers by key: "open" allow, "closed" deny, anything else a backend timeout.
private struct KeyedEngine: PolicyEngine {
    var name: String { "keyed" }

    func decide(_ request: AuthorizationRequest, on eventLoop: any EventLoop) -> EventLoopFuture<PolicyDecision> {
        switch request.key {
        case "open": return eventLoop.makeSucceededFuture(.allow(nil))
        case "closed": return eventLoop.makeSucceededFuture(.deny(reason: "closed by policy"))
        default: return eventLoop.makeFailedFuture(PolicyBackendError(kind: .timeout, detail: "http://policy.internal/ timed out"))
        }
    }
}

@Suite("Authorization verdicts carry the reason for the access log")
struct AuthorizationVerdictTests {
    let loop = MultiThreadedEventLoopGroup.singleton.next()

    func question(_ key: String) -> AuthorizationRequest {
        AuthorizationRequest(principal: "alice", action: "s3:GetObject", bucket: "b", key: key)
    }

    @Test("allow, the policy's deny reason, and a backend failure as unavailable with a fixed phrase")
    func verdicts() throws {
        let authorizer = Authorizer(engine: KeyedEngine())
        #expect(try authorizer.authorize([question("open")], on: loop).wait() == .allow)
        #expect(try authorizer.authorize([question("closed")], on: loop).wait() == .deny(reason: "closed by policy"))
        let unavailable = try authorizer.authorize([question("slow")], on: loop).wait()
        #expect(unavailable == .unavailable(reason: "policy backend timeout"))
        // The backend's detail (a URL here) stays out of the reason.
        if case .unavailable(let reason) = unavailable { #expect(!reason.contains("policy.internal")) }
    }

    @Test("a deny is final whatever the other answers: 403, not 503")
    func denyBeatsUnavailable() throws {
        let authorizer = Authorizer(engine: KeyedEngine())
        let verdict = try authorizer.authorize([question("slow"), question("closed"), question("open")], on: loop).wait()
        #expect(verdict == .deny(reason: "closed by policy"))
        #expect(verdict.refusal?.code == .accessDenied)
        #expect(AuthorizationVerdict.unavailable(reason: "x").refusal?.code == .serviceUnavailable)
        #expect(AuthorizationVerdict.allow.refusal == nil)
    }

    @Test("in-memory rules give their own reason synchronously")
    func rulesReason() {
        let authorizer = Authorizer(engine: RulesPolicy(grants: [
            Grant(principals: ["alice"], buckets: ["b"], prefix: "open", actions: ["read"], effect: .allow)
        ]))
        #expect(authorizer.authorizeNow([question("open")]) == .allow)
        #expect(authorizer.authorizeNow([question("closed")]) == .deny(reason: "no grant"))
    }
}
