import NIOCore
import S3Signing

/// How long fetched backend credentials are kept (`credentials.cache`).
public struct CredentialCacheSettings: Sendable, Equatable {
    /// Used when neither the answer (`ttl`) nor the bucket (`buckets.<name>.ttl`) says how long.
    public var ttlSeconds: Int64
    /// No answer is kept longer than this, whatever it asks for.
    public var maxTTLSeconds: Int64
    public var capacity: Int

    public init(ttlSeconds: Int64 = 300, maxTTLSeconds: Int64 = 86_400, capacity: Int = 100_000) {
        self.ttlSeconds = ttlSeconds
        self.maxTTLSeconds = maxTTLSeconds
        self.capacity = capacity
    }

    static let configKeys = ["ttl_seconds", "max_ttl_seconds", "capacity"]

    /// Reads `credentials.cache`:
    /// ```yaml
    /// cache:
    ///   ttl_seconds: 300
    ///   max_ttl_seconds: 86400
    ///   capacity: 100000
    /// ```
    init(_ mapping: ConfigMapping) throws(ConfigError) {
        try mapping.requireKnownKeys(Self.configKeys)
        let defaults = CredentialCacheSettings()
        self.init(
            ttlSeconds: try mapping.int64("ttl_seconds", in: 0...86_400) ?? defaults.ttlSeconds,
            maxTTLSeconds: try mapping.int64("max_ttl_seconds", in: 0...604_800) ?? defaults.maxTTLSeconds,
            capacity: try mapping.int("capacity", in: 0...10_000_000) ?? defaults.capacity
        )
    }
}

/// Caches a remote credential service's answers (the `bucket_creds_fetcher`) by bucket when they hold
/// for everyone, and by (principal, bucket) when they depend on the principal — without knowing in
/// advance which kind a bucket is.
///
/// The scheme, in one `ShardedTTLCache`:
///
/// - `.bucket(b)` holds either the shared credentials of `b`, or the marker `dependsOnPrincipal`
///   (never credentials that were chosen for one principal).
/// - `.principal(p, b)` holds the credentials chosen for `p` on `b`.
///
/// A lookup for (p, b) reads `.bucket(b)` first: shared credentials answer at once; the marker sends
/// it on to `.principal(p, b)`. On a miss of `.bucket(b)` osp fetches for (b, p) — single-flight per
/// bucket, so a cold shared bucket costs one callout however many principals arrive at once — and
/// files the answer: a shared one under `.bucket(b)`, a per-principal one under `.principal(p, b)`
/// with the marker under `.bucket(b)`. A caller who joined that flight for another principal `q`
/// never takes p's per-principal answer: it goes on to its own `.principal(q, b)` lookup (again
/// single-flight). Failed fetches are never cached, so the next request asks again.
///
/// TTL: the answer's own, else the bucket's `ttl`, else `settings.ttlSeconds`, capped at
/// `maxTTLSeconds`; 0 caches nothing.
public final class PrincipalAwareCredentialCache: Sendable {
    enum Key: Hashable, Sendable {
        case bucket(String)
        case principal(String, bucket: String)
    }

    enum Entry: Sendable {
        /// Stored: credentials valid for whoever reached this key.
        case credentials(BackendCredentials)
        /// Stored under `.bucket`: ask `.principal(p, b)`.
        case dependsOnPrincipal
        /// A flight's result, handed to its waiters and never stored: `principal` is whom it was fetched for.
        case fetched(FetchedBackendCredentials, principal: String)
    }

    /// Fetches the answer for (bucket, principal) on the given loop.
    public typealias Fetch = @Sendable (_ bucket: String, _ principal: String, _ eventLoop: any EventLoop) -> EventLoopFuture<FetchedBackendCredentials>

    public let settings: CredentialCacheSettings
    let cache: ShardedTTLCache<Key, Entry>

    public init(settings: CredentialCacheSettings = CredentialCacheSettings(), clock: CacheClock = .system) {
        self.settings = settings
        self.cache = ShardedTTLCache(name: "backend-credentials", capacity: settings.capacity, clock: clock)
    }

    /// The credentials for `principal` on `bucket`, cached or fetched with `fetch`.
    /// - Parameter bucketTTLSeconds: the bucket's configured `ttl`, used when an answer names none.
    public func credentials(
        bucket: String,
        principal: String,
        bucketTTLSeconds: Int64? = nil,
        on eventLoop: any EventLoop,
        fetch: @escaping Fetch
    ) -> EventLoopFuture<BackendCredentials> {
        cache.value(
            forKey: .bucket(bucket),
            on: eventLoop,
            ttl: { _ in nil },  // `file` stores what may be stored, under the right key.
            load: { [self] in
                fetch(bucket, principal, eventLoop).map { answer in
                    self.file(answer, bucket: bucket, principal: principal, bucketTTLSeconds: bucketTTLSeconds)
                    return .fetched(answer, principal: principal)
                }
            }
        )
        .flatMap { [self] entry in
            switch entry {
            case .credentials(let credentials):
                return eventLoop.makeSucceededFuture(credentials)
            case .fetched(let answer, let fetchedFor) where !answer.perPrincipal || fetchedFor == principal:
                return eventLoop.makeSucceededFuture(answer.credentials)
            case .fetched, .dependsOnPrincipal:
                return self.principalCredentials(
                    bucket: bucket, principal: principal, bucketTTLSeconds: bucketTTLSeconds, on: eventLoop, fetch: fetch
                )
            }
        }
    }

    private func principalCredentials(
        bucket: String,
        principal: String,
        bucketTTLSeconds: Int64?,
        on eventLoop: any EventLoop,
        fetch: @escaping Fetch
    ) -> EventLoopFuture<BackendCredentials> {
        cache.value(
            forKey: .principal(principal, bucket: bucket),
            on: eventLoop,
            ttl: { _ in nil },
            load: { [self] in
                fetch(bucket, principal, eventLoop).map { answer in
                    self.file(answer, bucket: bucket, principal: principal, bucketTTLSeconds: bucketTTLSeconds)
                    return .fetched(answer, principal: principal)
                }
            }
        )
        .flatMapThrowing { entry in
            switch entry {
            case .credentials(let credentials):
                return credentials
            case .fetched(let answer, _):
                // Fetched for exactly this (principal, bucket): valid whether shared or not.
                return answer.credentials
            case .dependsOnPrincipal:
                // Only ever stored under `.bucket`; reaching it here is a bug, and refusing is safe.
                throw S3Error(.internalError, "We encountered an internal error. Please try again.")
            }
        }
    }

    /// Stores `answer`, fetched for (`principal`, `bucket`), where it may answer later lookups.
    private func file(_ answer: FetchedBackendCredentials, bucket: String, principal: String, bucketTTLSeconds: Int64?) {
        let seconds = min(answer.ttlSeconds ?? bucketTTLSeconds ?? settings.ttlSeconds, settings.maxTTLSeconds)
        guard seconds > 0 else { return }
        let ttl = TimeAmount.seconds(seconds)
        if answer.perPrincipal {
            cache.set(.credentials(answer.credentials), forKey: .principal(principal, bucket: bucket), ttl: ttl)
            cache.set(.dependsOnPrincipal, forKey: .bucket(bucket), ttl: ttl)
        } else {
            cache.set(.credentials(answer.credentials), forKey: .bucket(bucket), ttl: ttl)
        }
    }

    /// Hit, miss and load counters, for metrics.
    public var statistics: CacheStatistics { cache.statistics }
}
