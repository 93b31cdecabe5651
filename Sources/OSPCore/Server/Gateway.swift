import Logging
import NIOCore
import NIOPosix
import NIOHTTP1
import S3Signing
import Tracing

/// Everything a client connection needs to serve requests, shared by all connections:
/// immutable configuration and thread-safe services. One value per loaded config.
public struct Gateway: Sendable {
    public let config: OSPConfig
    let router: S3RequestRouter
    let authenticator: Authenticator
    let authorizer: Authorizer
    /// Where blocking callouts (libcurl) run, so event loops never wait on them.
    let callouts: NIOThreadPool
    let credentials: any BackendCredentialSource
    /// Credentials or, for IBM IAM buckets, bearer tokens.
    let backendAuthorization: BackendAuthorizationSource
    let keyCache: SigningKeyCache
    let logger: Logger
    /// When osp started: the creation date it reports for configured buckets in ListBuckets.
    let startTime: AmzDate
    /// Every series `/metrics` shows for this gateway.
    public let metrics: OSPMetrics
    /// One JSON line per finished request (off unless given).
    let accessLog: AccessLog
    /// The configured policy backend's verdict counters, made once.
    let decisions: DecisionCounters
    /// Where request spans go; nil (no span is built) when tracing is off.
    let tracer: (any Tracer)?

    /// - Parameters:
    ///   - metrics: where the gateway's series live; each gateway gets a private registry unless
    ///     given one (the executable passes the registry it bootstrapped swift-metrics with).
    ///   - accessLog: where one JSON line per request goes; off by default for embedders.
    ///   - tracer: where each request's spans go; by default the tracer bootstrapped with
    ///     `InstrumentationSystem` before the gateway is made (none: tracing off, at no cost).
    public init(
        config: OSPConfig,
        secrets: (any ClientSecretSource)? = nil,
        credentials: (any BackendCredentialSource)? = nil,
        policy: (any PolicyEngine)? = nil,
        logger: Logger,
        metrics: OSPMetrics = OSPMetrics(),
        accessLog: AccessLog = .off,
        tracer: (any Tracer)? = Gateway.bootstrappedTracer
    ) {
        let keyCache = SigningKeyCache()
        let callouts = NIOThreadPool(numberOfThreads: Self.calloutThreads)
        callouts.start()
        self.callouts = callouts
        let redis = config.redis.map { RedisClient(settings: $0, threadPool: callouts, metrics: metrics.callouts(backend: "redis")) }
        self.config = config
        self.router = S3RequestRouter(virtualHostDomains: config.server.virtualHostDomains, dotSegmentKeys: config.server.dotSegmentKeys)
        self.keyCache = keyCache
        self.authenticator = Authenticator(
            secrets: secrets ?? Self.secretSource(config, redis: redis, callouts: callouts, logger: logger, metrics: metrics),
            verifier: RequestVerifier(
                keyCache: keyCache,
                maxClockSkewSeconds: config.server.maxClockSkewSeconds
            ),
            skipSignatureValidation: config.server.skipSignatureValidation
        )
        let credentials = credentials
            ?? Self.credentialSource(config.credentials, redis: redis, callouts: callouts, logger: logger, metrics: metrics)
        self.credentials = credentials
        self.backendAuthorization = BackendAuthorizationSource(
            credentials: credentials,
            // IAM is reached with the trust settings of the backends it authenticates to.
            iamTokens: IAMTokenProvider(
                client: CurlHTTPClient(
                    threadPool: callouts,
                    settings: CalloutSettings(verifyTLS: config.upstream.verify, caFile: config.upstream.caFile, proxy: config.upstream.proxy),
                    metrics: metrics.callouts(backend: "iam")
                ),
                logger: logger
            )
        )
        self.authorizer = Authorizer(
            engine: policy ?? Self.policyEngine(config.authorization, redis: redis, callouts: callouts, metrics: metrics),
            headerAllowList: config.authorization?.requestHeaders ?? [],
            cache: config.authorization?.cache ?? DecisionCacheSettings()
        )
        self.logger = logger
        self.startTime = AmzDate.now()
        self.metrics = metrics
        self.accessLog = accessLog
        self.decisions = metrics.decisionCounters(backend: self.authorizer.engine.name)
        self.tracer = tracer
    }

    /// Every cache behind this gateway's stages, for `/metrics`.
    var caches: [any CacheStatisticsSource] {
        OSPCore.caches(of: self.authenticator.secrets) + OSPCore.caches(of: self.credentials)
            + self.backendAuthorization.iamTokens.caches + self.authorizer.caches
    }

    /// The policy engine the config names; without an `authorization` section, every
    /// authenticated client may do anything (osp logs that loudly at start-up).
    static func policyEngine(
        _ settings: AuthorizationSettings?,
        redis: RedisClient? = nil,
        callouts: NIOThreadPool,
        metrics: OSPMetrics? = nil
    ) -> any PolicyEngine {
        switch settings?.backend {
        case .rules?: return RulesPolicy(grants: settings!.rules.grants)
        case .opa?:
            guard let opa = settings?.opa else { return DenyAllPolicy(reason: "opa backend without settings") }
            let client = CurlHTTPClient(threadPool: callouts, settings: opa.calloutSettings, metrics: metrics?.callouts(backend: "opa"))
            return OPAPolicy(settings: opa, client: client)
        case .redis?:
            guard let redis else { return DenyAllPolicy(reason: "redis backend without a redis section") }
            return RedisPolicy(client: redis)
        case .allowAll?, nil: return AllowAllPolicy()
        }
    }

    /// The keystore first, then (cached) the configured secret backend.
    static func secretSource(
        _ config: OSPConfig,
        redis: RedisClient?,
        callouts: NIOThreadPool,
        logger: Logger,
        metrics: OSPMetrics
    ) -> any ClientSecretSource {
        let keystore = StaticKeystore(config.keystore)
        let remote: (any ClientSecretSource)?
        switch config.secrets.backend {
        case .static: remote = nil
        case .redis: remote = redis.map { RedisSecretSource(client: $0) }
        case .http:
            remote = config.secrets.http.map { http in
                let client = CurlHTTPClient(threadPool: callouts, settings: http.calloutSettings, metrics: metrics.callouts(backend: "http-secrets"))
                return HTTPSecretSource(settings: http, client: client, logger: logger)
            }
        }
        guard let remote else { return keystore }
        return KeystoreFirst(keystore: keystore, then: CachedSecretSource(remote, settings: config.secrets.cache))
    }

    static func credentialSource(
        _ settings: CredentialsSettings,
        redis: RedisClient?,
        callouts: NIOThreadPool,
        logger: Logger,
        metrics: OSPMetrics
    ) -> any BackendCredentialSource {
        switch settings.backend {
        case .static:
            return settings.principals.isEmpty ? StaticBackendCredentials() : PrincipalBucketCredentials(settings.principals)
        case .redis:
            guard let redis else { return StaticBackendCredentials() }
            return RedisCredentialSource(client: redis)
        case .http:
            guard let http = settings.http else { return StaticBackendCredentials() }
            let client = CurlHTTPClient(threadPool: callouts, settings: http.calloutSettings, metrics: metrics.callouts(backend: "http-credentials"))
            return HTTPCredentialSource(settings: http, cache: settings.cache, client: client, logger: logger)
        }
    }

    /// Callouts are rare (answers are cached) and each holds a thread only for its timeout.
    static let calloutThreads = 4

    /// Stops the callout threads (after the server stopped).
    public func shutdown() async {
        try? await self.callouts.shutdownGracefully()
    }
}

/// The config keystore, then another source for keys it does not know.
struct KeystoreFirst: ClientSecretSource {
    let keystore: StaticKeystore
    let then: any ClientSecretSource

    func identity(forAccessKey accessKey: String, on eventLoop: any EventLoop) -> EventLoopFuture<ClientIdentity?> {
        let then = self.then
        return self.keystore.identity(forAccessKey: accessKey, on: eventLoop).flatMap { known in
            known.map { eventLoop.makeSucceededFuture($0) } ?? then.identity(forAccessKey: accessKey, on: eventLoop)
        }
    }

    func identityNow(forAccessKey accessKey: String) -> ClientIdentity?? {
        if case .some(.some(let known)) = self.keystore.identityNow(forAccessKey: accessKey) { return .some(known) }
        return self.then.identityNow(forAccessKey: accessKey)
    }
}

/// Refuses everything: what osp falls back to when the configured backend cannot be built.
struct DenyAllPolicy: PolicyEngine {
    let reason: String
    var name: String { "deny-all" }

    func decide(_ request: AuthorizationRequest, on eventLoop: any EventLoop) -> EventLoopFuture<PolicyDecision> {
        eventLoop.makeSucceededFuture(.deny(reason: reason))
    }
}
