import Logging
import NIOCore
import NIOPosix
import NIOHTTP1
import S3Signing

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
    let keyCache: SigningKeyCache
    let logger: Logger
    /// When osp started: the creation date it reports for configured buckets in ListBuckets.
    let startTime: AmzDate

    public init(
        config: OSPConfig,
        secrets: (any ClientSecretSource)? = nil,
        credentials: (any BackendCredentialSource)? = nil,
        policy: (any PolicyEngine)? = nil,
        logger: Logger
    ) {
        let keyCache = SigningKeyCache()
        self.config = config
        self.router = S3RequestRouter(virtualHostDomains: config.server.virtualHostDomains)
        self.keyCache = keyCache
        self.authenticator = Authenticator(
            secrets: secrets ?? StaticKeystore(config.keystore),
            verifier: RequestVerifier(
                keyCache: keyCache,
                maxClockSkewSeconds: config.server.maxClockSkewSeconds
            ),
            skipSignatureValidation: config.server.skipSignatureValidation
        )
        self.credentials = credentials ?? StaticBackendCredentials()
        let callouts = NIOThreadPool(numberOfThreads: Self.calloutThreads)
        callouts.start()
        self.callouts = callouts
        self.authorizer = Authorizer(
            engine: policy ?? Self.policyEngine(config.authorization, callouts: callouts),
            headerAllowList: config.authorization?.requestHeaders ?? [],
            cache: config.authorization?.cache ?? DecisionCacheSettings()
        )
        self.logger = logger
        self.startTime = AmzDate.now()
    }

    /// The policy engine the config names; without an `authorization` section, every
    /// authenticated client may do anything (osp logs that loudly at start-up).
    static func policyEngine(_ settings: AuthorizationSettings?, callouts: NIOThreadPool) -> any PolicyEngine {
        switch settings?.backend {
        case .rules?: return RulesPolicy(grants: settings!.rules.grants)
        case .opa?:
            guard let opa = settings?.opa else { return DenyAllPolicy(reason: "opa backend without settings") }
            return OPAPolicy(settings: opa, threadPool: callouts)
        case .allowAll?, nil: return AllowAllPolicy()
        case .redis?: return DenyAllPolicy(reason: "backend not available")
        }
    }

    /// Callouts are rare (answers are cached) and each holds a thread only for its timeout.
    static let calloutThreads = 4

    /// Stops the callout threads (after the server stopped).
    public func shutdown() async {
        try? await self.callouts.shutdownGracefully()
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
