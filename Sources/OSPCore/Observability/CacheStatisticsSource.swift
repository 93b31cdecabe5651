/// A cache whose numbers `/metrics` reports, by name (`decisions`, `client-secrets`, …).
protocol CacheStatisticsSource: Sendable {
    var name: String { get }
    var statistics: CacheStatistics { get }
}

extension ShardedTTLCache: CacheStatisticsSource {}

/// A stage of the pipeline that keeps caches of its own (a cached secret source, the decision
/// cache, a credential source): the gateway asks each stage for them instead of every cache
/// registering itself somewhere global, so two gateways in one process never mix their numbers.
protocol CacheHolding {
    var caches: [any CacheStatisticsSource] { get }
}

/// The caches of `value`, if it keeps any.
func caches(of value: Any?) -> [any CacheStatisticsSource] {
    (value as? any CacheHolding)?.caches ?? []
}

extension CachedSecretSource: CacheHolding {
    var caches: [any CacheStatisticsSource] { [self.cache] }
}

extension KeystoreFirst: CacheHolding {
    var caches: [any CacheStatisticsSource] { OSPCore.caches(of: self.then) }
}

extension PrincipalAwareCredentialCache: CacheHolding {
    var caches: [any CacheStatisticsSource] { [self.cache] }
}

extension Authorizer: CacheHolding {
    var caches: [any CacheStatisticsSource] {
        (self.decisions?.caches ?? []) + OSPCore.caches(of: self.engine)
    }
}
