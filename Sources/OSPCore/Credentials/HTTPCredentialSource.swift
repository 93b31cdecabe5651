import Foundation
import Logging
import NIOCore
import NIOPosix
import S3Signing

/// Backend credentials from an HTTP service (`credentials.backend: http`, the original's
/// `bucket_creds_fetcher`), asked through libcurl on a thread pool and cached by
/// `PrincipalAwareCredentialCache`.
///
/// The protocol:
///
///     GET {url}?bucket=<client bucket name>&principal=<principal>     (form-encoded)
///     Accept: application/json
///     Authorization: Bearer <token>            (when configured)
///
///     200 {"access_key": "…", "secret_key": "…", "session_token": "…"?, "ttl": 300?, "per_principal": true}
///     404                                       → 403 AccessDenied: the service has no credentials for this
///                                                 principal and bucket (not cached)
///     anything else, timeout, transport error   → 503 ServiceUnavailable (not cached)
///
/// `per_principal: false` says the answer holds for everyone using the bucket, so osp caches it once per
/// bucket; `true` — and, failing safe, a missing `per_principal` — caches it for that principal only.
/// `ttl` (seconds, 0 = do not cache) overrides the bucket's `ttl` and the cache default. Unknown fields
/// are ignored; a field of the wrong type, an empty key, or a negative `ttl` makes the answer garbage
/// (→ 503): a credential service that cannot answer never gets a request forwarded, and the next
/// request asks again.
public struct HTTPCredentialSource: BackendCredentialSource {
    public let settings: HTTPCalloutSettings
    private let client: CurlHTTPClient
    private let cache: PrincipalAwareCredentialCache
    private let logger: Logger

    public static let unavailable = S3Error(.serviceUnavailable, "The credential service is unavailable.")
    public static let noCredentials = S3Error(.accessDenied, "No backend credentials for this principal and bucket.")

    public init(
        settings: HTTPCalloutSettings,
        cache: CredentialCacheSettings = CredentialCacheSettings(),
        client: CurlHTTPClient,
        clock: CacheClock = .system,
        logger: Logger = HTTPSecretSource.silentLogger
    ) {
        self.settings = settings
        self.client = client
        self.cache = PrincipalAwareCredentialCache(settings: cache, clock: clock)
        self.logger = logger
    }

    /// A source with its own `CurlHTTPClient` on `threadPool` (which the caller starts and stops).
    public init(
        settings: HTTPCalloutSettings,
        cache: CredentialCacheSettings = CredentialCacheSettings(),
        threadPool: NIOThreadPool,
        logger: Logger = HTTPSecretSource.silentLogger
    ) {
        self.init(
            settings: settings,
            cache: cache,
            client: CurlHTTPClient(threadPool: threadPool, settings: settings.calloutSettings),
            logger: logger
        )
    }

    public func credentials(
        for bucket: BucketRoute,
        principal: String,
        on eventLoop: any EventLoop
    ) -> EventLoopFuture<BackendCredentials> {
        cache.credentials(
            bucket: bucket.name,
            principal: principal,
            bucketTTLSeconds: bucket.ttlSeconds,
            on: eventLoop,
            fetch: { [self] bucket, principal, eventLoop in self.fetch(bucket: bucket, principal: principal, on: eventLoop) }
        )
    }

    /// Cache statistics, for metrics.
    public var statistics: CacheStatistics { cache.statistics }

    /// One uncached callout.
    func fetch(bucket: String, principal: String, on eventLoop: any EventLoop) -> EventLoopFuture<FetchedBackendCredentials> {
        let logger = self.logger
        return client.get(
            url: settings.url(with: [("bucket", bucket), ("principal", principal)]),
            headers: settings.requestHeaders,
            timeout: settings.timeout,
            on: eventLoop
        )
        .flatMapErrorThrowing { error in
            logger.warning("credential callout failed", metadata: ["reason": "\(calloutFailureReason(error))", "bucket": "\(bucket)"])
            throw Self.unavailable
        }
        .flatMapThrowing { response in
            switch response.status {
            case 200..<300:
                do {
                    return try Self.answer(from: response.body)
                } catch {
                    logger.warning("credential callout failed", metadata: ["reason": "\(error)", "bucket": "\(bucket)"])
                    throw Self.unavailable
                }
            case 404:
                throw Self.noCredentials
            default:
                logger.warning("credential callout failed", metadata: ["reason": "HTTP status \(response.status)", "bucket": "\(bucket)"])
                throw Self.unavailable
            }
        }
    }

    /// Reads a 2xx answer.
    static func answer(from body: [UInt8]) throws(MalformedCalloutAnswer) -> FetchedBackendCredentials {
        let answer: CredentialAnswer
        do {
            answer = try JSONDecoder().decode(CredentialAnswer.self, from: Data(body))
        } catch {
            throw MalformedCalloutAnswer("the credential answer is not a JSON object of the expected shape")
        }
        guard !answer.accessKey.isEmpty, !answer.secretKey.isEmpty else {
            throw MalformedCalloutAnswer("the credential answer has an empty access_key or secret_key")
        }
        if let token = answer.sessionToken, token.isEmpty {
            throw MalformedCalloutAnswer("the credential answer has an empty session_token")
        }
        if let ttl = answer.ttl, ttl < 0 {
            throw MalformedCalloutAnswer("the credential answer has a negative ttl")
        }
        return FetchedBackendCredentials(
            credentials: BackendCredentials(accessKey: answer.accessKey, secretKey: answer.secretKey, sessionToken: answer.sessionToken),
            perPrincipal: answer.perPrincipal ?? true,
            ttlSeconds: answer.ttl
        )
    }
}

/// The JSON a credential service answers with; extra fields are ignored.
private struct CredentialAnswer: Decodable {
    var accessKey: String
    var secretKey: String
    var sessionToken: String?
    var ttl: Int64?
    var perPrincipal: Bool?

    enum CodingKeys: String, CodingKey {
        case accessKey = "access_key"
        case secretKey = "secret_key"
        case sessionToken = "session_token"
        case ttl
        case perPrincipal = "per_principal"
    }
}

extension HTTPCredentialSource: CacheHolding {
    var caches: [any CacheStatisticsSource] { self.cache.caches }
}
