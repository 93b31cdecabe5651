import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import S3Signing
import Testing

@testable import OSPCore

/// A remote-style engine that counts how often it is asked and answers after a short delay.
final class CountingEngine: PolicyEngine, Sendable {
    let name = "counting"
    private let calls = NIOLockedValueBox(0)
    let answer: @Sendable (AuthorizationRequest) -> Result<PolicyDecision, PolicyBackendError>

    init(answer: @escaping @Sendable (AuthorizationRequest) -> Result<PolicyDecision, PolicyBackendError>) {
        self.answer = answer
    }

    var callCount: Int { calls.withLockedValue { $0 } }

    func decide(_ request: AuthorizationRequest, on eventLoop: any EventLoop) -> EventLoopFuture<PolicyDecision> {
        calls.withLockedValue { $0 += 1 }
        let result = answer(request)
        return eventLoop.scheduleTask(in: .milliseconds(20)) { () }.futureResult.flatMapResult { _ in result }
    }
}

final class ManualDecisionClock: Sendable {
    private let time = NIOLockedValueBox(NIODeadline.uptimeNanoseconds(1_000_000_000))
    var clock: CacheClock { CacheClock { self.time.withLockedValue { $0 } } }
    func advance(_ amount: TimeAmount) { time.withLockedValue { $0 = $0 + amount } }
}

@Suite("Decision cache")
struct DecisionCacheTests {
    let group = MultiThreadedEventLoopGroup(numberOfThreads: 2)

    func question(_ key: String?, action: String = "s3:GetObject", time: String = "t1") -> AuthorizationRequest {
        AuthorizationRequest(
            principal: "alice", groups: ["g"], action: action, bucket: "b", key: key,
            conditions: ["CurrentTime": time, "SourceIp": "127.0.0.1"]
        )
    }

    func ask(_ cache: DecisionCache, _ engine: CountingEngine, _ q: AuthorizationRequest) throws -> PolicyDecision {
        let loop = group.next()
        return try cache.decision(for: q, on: loop) { engine.decide(q, on: loop) }.wait()
    }

    @Test("N requests for one question in one TTL cause one callout, whatever the clock says")
    func oneCalloutPerQuestion() throws {
        let engine = CountingEngine { _ in .success(.allow(nil)) }
        let cache = DecisionCache(DecisionCacheSettings())
        for i in 0..<50 {
            #expect(try ask(cache, engine, question("k", time: "t\(i)")) == .allow(nil))
        }
        #expect(engine.callCount == 1)
    }

    @Test("a decision for one key or action never answers for another")
    func keyAndActionInTheCacheKey() throws {
        let engine = CountingEngine { q in .success(q.key == "open" && q.action == "s3:GetObject" ? .allow(nil) : .deny(reason: "no")) }
        let cache = DecisionCache(DecisionCacheSettings())
        #expect(try ask(cache, engine, question("open")) == .allow(nil))
        #expect(try ask(cache, engine, question("closed")) == .deny(reason: "no"))
        #expect(try ask(cache, engine, question("open", action: "s3:DeleteObject")) == .deny(reason: "no"))
        #expect(try ask(cache, engine, question("open")) == .allow(nil))
        #expect(engine.callCount == 3)
    }

    @Test("a scope answer serves every key under its prefix with one callout")
    func scopeAnswers() throws {
        let engine = CountingEngine { q in
            q.key!.hasPrefix("team/public/")
                ? .success(.allow(DecisionScope(prefix: "team/public/", ttlSeconds: 60))) : .success(.deny(reason: "no"))
        }
        let cache = DecisionCache(DecisionCacheSettings())
        let scoped = PolicyDecision.allow(DecisionScope(prefix: "team/public/", ttlSeconds: 60))
        #expect(try ask(cache, engine, question("team/public/file0")) == scoped)
        for i in 1..<20 {
            #expect(try ask(cache, engine, question("team/public/file\(i)")) == .allow(nil))
        }
        #expect(engine.callCount == 1)
        #expect(try ask(cache, engine, question("team/private/x")) == .deny(reason: "no"))
        // The scope was for GetObject: another action under the same prefix asks again.
        #expect(try ask(cache, engine, question("team/public/y", action: "s3:PutObject")) == scoped)
        #expect(engine.callCount == 3)
    }

    @Test("100 concurrent misses for one question cause one callout")
    func singleFlight() throws {
        let engine = CountingEngine { _ in .success(.allow(nil)) }
        let cache = DecisionCache(DecisionCacheSettings())
        let q = question("hot")
        let futures = (0..<100).map { _ -> EventLoopFuture<PolicyDecision> in
            let loop = group.next()
            return loop.flatSubmit { cache.decision(for: q, on: loop) { engine.decide(q, on: loop) } }
        }
        for future in futures { #expect(try future.wait() == .allow(nil)) }
        #expect(engine.callCount == 1)
    }

    @Test("a backend that could not answer is not cached: the next request asks again")
    func errorsAreNotCached() throws {
        let engine = CountingEngine { _ in .failure(PolicyBackendError(kind: .timeout, detail: "slow")) }
        let cache = DecisionCache(DecisionCacheSettings())
        #expect(throws: PolicyBackendError.self) { try ask(cache, engine, question("k")) }
        #expect(throws: PolicyBackendError.self) { try ask(cache, engine, question("k")) }
        #expect(engine.callCount == 2)
    }

    @Test("denies are kept for the shorter deny TTL")
    func denyTTL() throws {
        let clock = ManualDecisionClock()
        let engine = CountingEngine { _ in .success(.deny(reason: "no")) }
        let cache = DecisionCache(DecisionCacheSettings(allowTTLSeconds: 60, denyTTLSeconds: 5), clock: clock.clock)
        _ = try ask(cache, engine, question("k"))
        clock.advance(.seconds(4))
        _ = try ask(cache, engine, question("k"))
        #expect(engine.callCount == 1)
        clock.advance(.seconds(2))
        _ = try ask(cache, engine, question("k"))
        #expect(engine.callCount == 2)
    }

    @Test("in-memory engines are asked directly, remote ones through the cache")
    func onlyRemoteEnginesAreCached() {
        #expect(Authorizer(engine: RulesPolicy(grants: [])).decisions == nil)
        #expect(Authorizer(engine: AllowAllPolicy()).decisions == nil)
        #expect(Authorizer(engine: CountingEngine { _ in .success(.allow(nil)) }).decisions != nil)
    }

    @Test("with a warm cache a remote engine's verdict comes at once, allow or deny; a miss still goes to the engine")
    func warmCacheAnswersSynchronously() throws {
        let engine = CountingEngine { q in .success(q.key == "open" ? .allow(nil) : .deny(reason: "no")) }
        let authorizer = Authorizer(engine: engine)
        let open = question("open"), closed = question("closed")
        #expect(authorizer.authorizeNow([open]) == nil, "nothing cached yet: the engine must be asked")
        let loop = group.next()
        #expect(try authorizer.authorize([open], on: loop).wait() == .allow)
        #expect(try authorizer.authorize([closed], on: loop).wait() == .deny(reason: "no"))
        #expect(engine.callCount == 2)

        #expect(authorizer.authorizeNow([open]) == .allow)
        #expect(authorizer.authorizeNow([closed]) == .deny(reason: "no"))
        #expect(authorizer.authorizeNow([open, closed]) == .deny(reason: "no"), "one deny refuses")
        #expect(authorizer.authorizeNow([open, question("unknown")]) == nil)
        #expect(engine.callCount == 2)
    }
}
