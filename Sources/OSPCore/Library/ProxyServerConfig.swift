import NIOCore
import S3Signing

/// The Swift form of the original product's `ProxyServerConfig`, for embedding osp in a Swift
/// program: the same knobs (`cos_map`, ports, `threads`, `verify`, `hmac_keystore`,
/// `skip_signature_validation`) and the same three callables, as async closures.
///
/// - `validator(token, bucket, request)`: may this request go through? `token` is the principal
///   (the access key itself for keys from `hmacKeystore` / `hmacFetcher`). Answers are cached
///   like any remote policy's; a throw refuses the request with 503.
/// - `bucketCredsFetcher(token, bucket)`: the backend credentials for this principal and bucket;
///   called for every request (cache inside the closure if it is slow), so one principal's answer
///   never serves another.
/// - `hmacFetcher(accessKey)`: the secret of a client key, or nil if unknown; consulted after
///   `hmacKeystore`.
public struct ProxyServerConfig: Sendable {
    public typealias Validator = @Sendable (_ token: String, _ bucket: String, _ request: AuthorizationRequest) async throws -> Bool
    public typealias BucketCredsFetcher = @Sendable (_ token: String, _ bucket: String) async throws -> BackendCredentials
    public typealias HMACFetcher = @Sendable (_ accessKey: String) async throws -> String?

    /// Bucket name clients use → where it lives; the key `"*"` is the default route.
    public var cosMap: [String: BucketRoute]
    public var validator: Validator?
    public var bucketCredsFetcher: BucketCredsFetcher?
    public var hmacFetcher: HMACFetcher?
    /// Access key → secret of the keys osp issues to clients.
    public var hmacKeystore: [String: String]
    public var bind: String
    public var httpPort: Int
    public var threads: Int
    /// TLS certificate verification towards backends.
    public var verify: Bool
    public var skipSignatureValidation: Bool
    public var virtualHostDomains: [String]

    public init(
        cosMap: [String: BucketRoute],
        validator: Validator? = nil,
        bucketCredsFetcher: BucketCredsFetcher? = nil,
        hmacFetcher: HMACFetcher? = nil,
        hmacKeystore: [String: String] = [:],
        bind: String = "127.0.0.1",
        httpPort: Int = 6190,
        threads: Int = ServerSettings.defaultThreads,
        verify: Bool = true,
        skipSignatureValidation: Bool = false,
        virtualHostDomains: [String] = []
    ) {
        self.cosMap = cosMap
        self.validator = validator
        self.bucketCredsFetcher = bucketCredsFetcher
        self.hmacFetcher = hmacFetcher
        self.hmacKeystore = hmacKeystore
        self.bind = bind
        self.httpPort = httpPort
        self.threads = threads
        self.verify = verify
        self.skipSignatureValidation = skipSignatureValidation
        self.virtualHostDomains = virtualHostDomains
    }

    /// The same configuration as a config file would give.
    public var config: OSPConfig {
        var buckets = BucketMap()
        for (name, route) in cosMap {
            var route = route
            route.name = name
            if name == "*" { buckets.defaultRoute = route } else { buckets.routes[name] = route }
        }
        return OSPConfig(
            server: ServerSettings(
                bind: bind, httpPort: httpPort, threads: threads, virtualHostDomains: virtualHostDomains,
                skipSignatureValidation: skipSignatureValidation
            ),
            upstream: UpstreamSettings(verify: verify),
            buckets: buckets,
            keystore: hmacKeystore.sorted { $0.key < $1.key }.map {
                ClientIdentity(accessKey: $0.key, secretKey: $0.value, principal: $0.key)
            },
            authorization: nil  // the validator, if any, is passed to the gateway as its policy
        )
    }

    /// The closures as the pipeline's seams (nil where the config file's sources apply).
    var secretSource: (any ClientSecretSource)? {
        guard let hmacFetcher else { return nil }
        return KeystoreFirst(keystore: StaticKeystore(config.keystore), then: HMACFetcherSecretSource(fetch: hmacFetcher))
    }

    var credentialSource: (any BackendCredentialSource)? {
        bucketCredsFetcher.map { FetchingCredentialSource(fetch: $0) }
    }

    var policy: (any PolicyEngine)? {
        validator.map { ValidatorPolicy(validate: $0) }
    }
}

/// `validator` as a policy engine.
struct ValidatorPolicy: PolicyEngine {
    let validate: ProxyServerConfig.Validator
    var name: String { "validator" }

    func decide(_ request: AuthorizationRequest, on eventLoop: any EventLoop) -> EventLoopFuture<PolicyDecision> {
        let validate = self.validate
        return eventLoop.makeFutureWithTask {
            do {
                return try await validate(request.principal, request.bucket ?? "", request) ? .allow(nil) : .deny(reason: "validator")
            } catch {
                throw PolicyBackendError(kind: .transport, detail: "validator threw \(type(of: error))")
            }
        }
    }
}

/// `hmacFetcher` as a secret source (consulted after `hmacKeystore`).
struct HMACFetcherSecretSource: ClientSecretSource {
    let fetch: ProxyServerConfig.HMACFetcher

    func identity(forAccessKey accessKey: String, on eventLoop: any EventLoop) -> EventLoopFuture<ClientIdentity?> {
        let fetch = self.fetch
        return eventLoop.makeFutureWithTask {
            let secret: String?
            do {
                secret = try await fetch(accessKey)
            } catch {
                throw S3Error(.serviceUnavailable, "The secret store is unavailable.")
            }
            return secret.map { ClientIdentity(accessKey: accessKey, secretKey: $0, principal: accessKey) }
        }
    }
}

/// `bucketCredsFetcher`, asked for each (principal, bucket).
struct FetchingCredentialSource: BackendCredentialSource {
    let fetch: ProxyServerConfig.BucketCredsFetcher

    func credentials(for bucket: BucketRoute, principal: String, on eventLoop: any EventLoop) -> EventLoopFuture<BackendCredentials> {
        let fetch = self.fetch
        let name = bucket.name
        return eventLoop.makeFutureWithTask {
            do {
                return try await fetch(principal, name)
            } catch {
                throw S3Error(.serviceUnavailable, "The credential service is unavailable.")
            }
        }
    }
}
