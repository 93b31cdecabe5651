import NIOCore

/// How long looked-up client secrets are kept (`secrets.cache`).
public struct SecretCacheSettings: Sendable, Equatable {
    /// How long a known key's identity is reused. Also how long a revoked or rotated key keeps
    /// working at most: the price of not asking the store on every request.
    public var ttlSeconds: Int64
    /// How long "unknown key" is remembered: short, so a newly issued key works soon, but long
    /// enough that a client retrying with a wrong key does not hammer the store.
    public var negativeTTLSeconds: Int64
    public var capacity: Int

    public init(ttlSeconds: Int64 = 300, negativeTTLSeconds: Int64 = 10, capacity: Int = 100_000) {
        self.ttlSeconds = ttlSeconds
        self.negativeTTLSeconds = negativeTTLSeconds
        self.capacity = capacity
    }

    static let configKeys = ["ttl_seconds", "negative_ttl_seconds", "capacity"]

    /// Reads `secrets.cache`:
    /// ```yaml
    /// cache:
    ///   ttl_seconds: 300
    ///   negative_ttl_seconds: 10
    ///   capacity: 100000
    /// ```
    init(_ mapping: ConfigMapping) throws(ConfigError) {
        try mapping.requireKnownKeys(Self.configKeys)
        let defaults = SecretCacheSettings()
        self.init(
            ttlSeconds: try mapping.int64("ttl_seconds", in: 0...86_400) ?? defaults.ttlSeconds,
            negativeTTLSeconds: try mapping.int64("negative_ttl_seconds", in: 0...3_600) ?? defaults.negativeTTLSeconds,
            capacity: try mapping.int("capacity", in: 0...10_000_000) ?? defaults.capacity
        )
    }
}

/// Any `ClientSecretSource` behind a `ShardedTTLCache`, so a remote store (HTTP, Redis) is asked once
/// per key per TTL instead of once per request, and once — not once per request — when a busy key
/// expires (single-flight). Unknown keys are remembered for the shorter negative TTL; a store that
/// could not answer is never remembered, so osp asks again on the next request and recovers as soon
/// as the store is back. The cache's `description` never shows keys or secrets.
public struct CachedSecretSource: ClientSecretSource {
    public let source: any ClientSecretSource
    public let settings: SecretCacheSettings
    let cache: ShardedTTLCache<String, ClientIdentity?>

    public init(_ source: any ClientSecretSource, settings: SecretCacheSettings = SecretCacheSettings(), clock: CacheClock = .system) {
        self.source = source
        self.settings = settings
        self.cache = ShardedTTLCache(name: "client-secrets", capacity: settings.capacity, clock: clock)
    }

    public func identity(forAccessKey accessKey: String, on eventLoop: any EventLoop) -> EventLoopFuture<ClientIdentity?> {
        let positive = TimeAmount.seconds(settings.ttlSeconds)
        let negative = TimeAmount.seconds(settings.negativeTTLSeconds)
        return cache.value(
            forKey: accessKey,
            on: eventLoop,
            ttl: { $0 == nil ? negative : positive },
            load: { [source] in source.identity(forAccessKey: accessKey, on: eventLoop) }
        )
    }

    public func identityNow(forAccessKey accessKey: String) -> ClientIdentity?? {
        cache.cachedValue(forKey: accessKey)
    }

    /// Hit, miss and load counters, for metrics.
    public var statistics: CacheStatistics { cache.statistics }

    /// Forgets `accessKey`, e.g. after the store said it was revoked; the next request asks again.
    public func invalidate(accessKey: String) {
        cache.remove(accessKey)
    }
}
