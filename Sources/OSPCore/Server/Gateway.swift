import Logging
import NIOCore
import NIOHTTP1
import S3Signing

/// Everything a client connection needs to serve requests, shared by all connections:
/// immutable configuration and thread-safe services. One value per loaded config.
public struct Gateway: Sendable {
    public let config: OSPConfig
    let router: S3RequestRouter
    let authenticator: Authenticator
    let credentials: any BackendCredentialSource
    let keyCache: SigningKeyCache
    let logger: Logger
    /// When osp started: the creation date it reports for configured buckets in ListBuckets.
    let startTime: AmzDate

    public init(
        config: OSPConfig,
        secrets: (any ClientSecretSource)? = nil,
        credentials: (any BackendCredentialSource)? = nil,
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
        self.logger = logger
        self.startTime = AmzDate.now()
    }
}
