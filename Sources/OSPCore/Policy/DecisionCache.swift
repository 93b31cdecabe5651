import NIOCore
import Synchronization

/// How long policy answers are kept (`authorization.cache`).
public struct DecisionCacheSettings: Sendable, Equatable {
    public var allowTTLSeconds: Int64 = 60
    /// Denies are kept shorter, so a grant added at the backend takes effect soon.
    public var denyTTLSeconds: Int64 = 5
    public var capacity: Int = 100_000

    public init(allowTTLSeconds: Int64 = 60, denyTTLSeconds: Int64 = 5, capacity: Int = 100_000) {
        self.allowTTLSeconds = allowTTLSeconds
        self.denyTTLSeconds = denyTTLSeconds
        self.capacity = capacity
    }
}

/// Cached policy answers. A decision is cached under the whole question it answered — principal,
/// groups, action, bucket, key and conditions — except the clock (`CurrentTime`, which would make
/// every question new; time-based policies act at TTL granularity). An allow that carries a
/// `scope` is also kept for its prefix, so one callout answers for every key under it (same
/// principal, groups, action, bucket and conditions). Backend errors are never cached.
///
/// Warm hits are the policy path's hot path, so a question is flattened and hashed once
/// (`DecisionKey`: the shard and the shard's table share that hash), scopes are only looked at once
/// some answer carried one, and a hit completes without chaining futures.
final class DecisionCache: Sendable {
    private let settings: DecisionCacheSettings
    private let exact: ShardedTTLCache<DecisionKey, PolicyDecision>
    /// Scoped allows, under the question without its object key (`DecisionKey(acrossKeys:)`).
    private let scopes: ShardedTTLCache<DecisionKey, [ScopedAllow]>
    /// Whether any answer so far carried a scope (until then no question needs a scope lookup).
    private let anyScopes = Atomic<Bool>(false)
    private let clock: CacheClock

    struct ScopedAllow: Sendable {
        var prefix: String
        var expires: NIODeadline
    }

    /// At most this many prefixes are remembered per scope key.
    private static let scopesPerKey = 64

    init(_ settings: DecisionCacheSettings, clock: CacheClock = .system) {
        self.settings = settings
        self.clock = clock
        self.exact = ShardedTTLCache(name: "decisions", capacity: settings.capacity, clock: clock)
        self.scopes = ShardedTTLCache(name: "decision-scopes", capacity: max(1, settings.capacity / 8), clock: clock)
    }

    func decision(
        for question: AuthorizationRequest,
        on eventLoop: any EventLoop,
        ask: @escaping @Sendable () -> EventLoopFuture<PolicyDecision>
    ) -> EventLoopFuture<PolicyDecision> {
        if self.scopedAllow(objectKey: question.key, { DecisionKey(question, acrossKeys: true) }) != nil {
            return eventLoop.makeSucceededFuture(.allow(nil))
        }
        let settings = self.settings
        return self.exact.value(
            forKey: DecisionKey(question),
            on: eventLoop,
            ttl: { decision in
                switch decision {
                case .allow(let scope): return .seconds(scope?.ttlSeconds ?? settings.allowTTLSeconds)
                case .deny: return .seconds(settings.denyTTLSeconds)
                }
            },
            load: {
                ask().map { decision in
                    if case .allow(let scope?) = decision, let objectKey = question.key, objectKey.hasPrefix(scope.prefix) {
                        self.remember(scope, for: DecisionKey(question, acrossKeys: true))
                    }
                    return decision
                }
            }
        )
    }

    /// The cached answer for `question`, if there is one: never asks the engine, never waits for a
    /// lookup in flight.
    func cachedDecision(for question: AuthorizationRequest) -> PolicyDecision? {
        self.cachedDecision(DecisionKey(question), objectKey: question.key) { DecisionKey(question, acrossKeys: true) }?.decision
    }

    /// The same for a question given by its keys (the hot path writes them without building the
    /// question), with the time the answer holds until; `acrossKeys` is only written when some
    /// answer carried a scope.
    func cachedDecision(
        _ key: DecisionKey, objectKey: String?, acrossKeys: () -> DecisionKey
    ) -> (decision: PolicyDecision, freshUntil: NIODeadline)? {
        if let freshUntil = self.scopedAllow(objectKey: objectKey, acrossKeys) { return (.allow(nil), freshUntil) }
        return self.exact.cachedEntry(forKey: key).map { ($0.value, $0.deadline) }
    }

    /// The time on the clock answers expire by.
    func now() -> NIODeadline { self.clock.now() }

    /// When an unexpired scoped allow covering the object key expires; nil when none does.
    private func scopedAllow(objectKey: String?, _ acrossKeys: () -> DecisionKey) -> NIODeadline? {
        guard let objectKey, self.anyScopes.load(ordering: .relaxed),
            let scoped = self.scopes.value(forKey: acrossKeys())
        else { return nil }
        let now = self.clock.now()
        return scoped.first { $0.expires > now && objectKey.hasPrefix($0.prefix) }?.expires
    }

    private func remember(_ scope: DecisionScope, for key: DecisionKey) {
        let ttl = scope.ttlSeconds ?? self.settings.allowTTLSeconds
        guard ttl > 0 else { return }
        let now = self.clock.now()
        var list = (self.scopes.value(forKey: key) ?? []).filter { $0.expires > now && $0.prefix != scope.prefix }
        list.append(ScopedAllow(prefix: scope.prefix, expires: now + .seconds(ttl)))
        if list.count > Self.scopesPerKey { list.removeFirst(list.count - Self.scopesPerKey) }
        let longest = list.map(\.expires).max() ?? now
        self.scopes.set(list, forKey: key, ttl: longest - now)
        self.anyScopes.store(true, ordering: .relaxed)
    }
}

extension DecisionCache: CacheHolding {
    var caches: [any CacheStatisticsSource] { [self.exact, self.scopes] }
}
