import Foundation
import Logging
import NIOCore
import NIOPosix
import S3Signing

/// An IBM Cloud api key and the IAM service that exchanges it for bearer tokens: a bucket's `api_key`
/// and `iam_endpoint`. IBM COS buckets configured this way are sent `Authorization: Bearer <token>`
/// instead of a SigV4 signature. Every textual form redacts the key.
public struct IBMIAMKey: Sendable, Hashable {
    public var apiKey: String
    /// Scheme, host and optional port (and path prefix) of the IAM service, without a trailing `/`.
    public var endpoint: String

    /// IBM Cloud's public IAM service.
    public static let defaultEndpoint = "https://iam.cloud.ibm.com"

    public init(apiKey: String, endpoint: String = IBMIAMKey.defaultEndpoint) {
        self.apiKey = apiKey
        var endpoint = endpoint
        while endpoint.hasSuffix("/") { endpoint.removeLast() }
        self.endpoint = endpoint
    }

    /// `POST` here to exchange the key.
    public var tokenURL: String { endpoint + "/identity/token" }
}

extension IBMIAMKey: CustomStringConvertible, CustomDebugStringConvertible, CustomReflectable {
    public var description: String { "IBMIAMKey(apiKey: \(Redacted.marker), endpoint: \(endpoint))" }
    public var debugDescription: String { description }
    public var customMirror: Mirror {
        Mirror(self, children: ["apiKey": Redacted.marker, "endpoint": endpoint], displayStyle: .struct)
    }
}

/// A bearer token IAM issued, and how long IAM said it lives. Redacted in every textual form.
public struct IAMBearerToken: Sendable, Equatable {
    public var value: String
    public var lifetimeSeconds: Int64

    public init(value: String, lifetimeSeconds: Int64) {
        self.value = value
        self.lifetimeSeconds = lifetimeSeconds
    }
}

extension IAMBearerToken: CustomStringConvertible, CustomDebugStringConvertible, CustomReflectable {
    public var description: String { "IAMBearerToken(\(Redacted.marker), lifetime: \(lifetimeSeconds)s)" }
    public var debugDescription: String { description }
    public var customMirror: Mirror {
        Mirror(self, children: ["value": Redacted.marker, "lifetimeSeconds": lifetimeSeconds], displayStyle: .struct)
    }
}

/// Exchanges IBM Cloud api keys for IAM bearer tokens and keeps them (one `ShardedTTLCache`, keyed by
/// api key and endpoint) until shortly before they expire.
///
///     POST {iam_endpoint}/identity/token
///     Content-Type: application/x-www-form-urlencoded
///     grant_type=urn:ibm:params:oauth:grant-type:apikey&apikey=<api key>
///
///     200 {"access_token": "…", "token_type": "Bearer", "expires_in": 3600, "expiration": <unix time>, …}
///
/// A token is used for the first 80% of its lifetime — the point at which IBM's own SDKs refresh —,
/// so no request leaves with a token about to expire in flight. After that the next request starts
/// one exchange and every request arriving meanwhile (on any event loop) waits for that same
/// exchange: the cache's single-flight. An exchange that fails (IAM down, slow past the timeout,
/// a non-2xx answer, garbage) refuses the requests waiting for it with 503 and is not cached, so the
/// next request tries again: osp recovers when IAM does.
public final class IAMTokenProvider: Sendable {
    public static let unavailable = S3Error(.serviceUnavailable, "The IBM IAM token service is unavailable.")
    static let grantType = "urn:ibm:params:oauth:grant-type:apikey"

    private let client: CurlHTTPClient
    private let cache: ShardedTTLCache<IBMIAMKey, IAMBearerToken>
    private let timeout: TimeAmount
    private let logger: Logger
    /// Unix seconds now, for answers that give only `expiration`.
    private let wallClock: @Sendable () -> Int64

    public init(
        client: CurlHTTPClient,
        timeout: TimeAmount = .seconds(10),
        capacity: Int = 1_000,
        clock: CacheClock = .system,
        wallClock: @escaping @Sendable () -> Int64 = { Int64(Date().timeIntervalSince1970) },
        logger: Logger = HTTPSecretSource.silentLogger
    ) {
        self.client = client
        self.cache = ShardedTTLCache(name: "iam-tokens", capacity: capacity, clock: clock)
        self.timeout = timeout
        self.wallClock = wallClock
        self.logger = logger
    }

    /// The current token for `key`: cached, or exchanged once for everyone who needs it now.
    ///
    /// `trace` goes with the exchange when this call starts one (a request joining an exchange in
    /// flight, or served from the cache, causes no call of its own).
    public func token(for key: IBMIAMKey, trace: CalloutTraceHeaders = .none, on eventLoop: any EventLoop) -> EventLoopFuture<IAMBearerToken> {
        cache.value(
            forKey: key,
            on: eventLoop,
            ttl: { Self.cacheLifetime(of: $0) },
            load: { [self] in self.exchange(key, trace: trace, on: eventLoop) }
        )
    }

    /// The cached token for `key`, if there is one (no exchange is started).
    public func cachedToken(for key: IBMIAMKey) -> IAMBearerToken? {
        cache.cachedValue(forKey: key)
    }

    /// Hits, misses, loads and joins, for metrics.
    public var statistics: CacheStatistics { cache.statistics }

    /// How long a token is used: 80% of its lifetime; nil (not cached) when that rounds to nothing.
    static func cacheLifetime(of token: IAMBearerToken) -> TimeAmount? {
        let milliseconds = token.lifetimeSeconds * 800
        return milliseconds > 0 ? .milliseconds(milliseconds) : nil
    }

    /// One uncached exchange.
    func exchange(_ key: IBMIAMKey, trace: CalloutTraceHeaders = .none, on eventLoop: any EventLoop) -> EventLoopFuture<IAMBearerToken> {
        let logger = self.logger
        let wallClock = self.wallClock
        let endpoint = key.endpoint
        return client.postForm(
            url: key.tokenURL,
            fields: [("grant_type", Self.grantType), ("apikey", key.apiKey)],
            headers: [("Accept", "application/json")] + trace.fields,
            timeout: timeout,
            on: eventLoop
        )
        .flatMapErrorThrowing { error in
            logger.warning("IAM token exchange failed", metadata: ["reason": "\(calloutFailureReason(error))", "iam_endpoint": "\(endpoint)"])
            throw Self.unavailable
        }
        .flatMapThrowing { response in
            guard (200..<300).contains(response.status) else {
                // IAM's error codes (e.g. BXNIM0415E: unknown api key) name the problem without the key.
                logger.warning(
                    "IAM token exchange failed",
                    metadata: [
                        "reason": "HTTP status \(response.status)", "iam_error": "\(Self.errorCode(in: response.body) ?? "-")",
                        "iam_endpoint": "\(endpoint)",
                    ]
                )
                throw Self.unavailable
            }
            do {
                return try Self.token(from: response.body, now: wallClock())
            } catch {
                logger.warning("IAM token exchange failed", metadata: ["reason": "\(error)", "iam_endpoint": "\(endpoint)"])
                throw Self.unavailable
            }
        }
    }

    /// Reads a 2xx answer: a non-empty `access_token`, a `token_type` of Bearer when given, and a
    /// lifetime from `expires_in` or, failing that, `expiration` (absolute unix time).
    static func token(from body: [UInt8], now: Int64) throws(MalformedCalloutAnswer) -> IAMBearerToken {
        let answer: TokenAnswer
        do {
            answer = try JSONDecoder().decode(TokenAnswer.self, from: Data(body))
        } catch {
            throw MalformedCalloutAnswer("the IAM answer is not a JSON object of the expected shape")
        }
        guard !answer.accessToken.isEmpty, answer.accessToken.utf8.allSatisfy({ $0 > 0x20 && $0 < 0x7F }) else {
            throw MalformedCalloutAnswer("the IAM answer has an empty or unprintable access_token")
        }
        if let type = answer.tokenType, type.lowercased() != "bearer" {
            throw MalformedCalloutAnswer("the IAM answer's token_type is not Bearer")
        }
        let lifetime = answer.expiresIn ?? answer.expiration.map { $0 - now }
        guard let lifetime, lifetime > 0 else {
            throw MalformedCalloutAnswer("the IAM answer has no positive expires_in or future expiration")
        }
        return IAMBearerToken(value: answer.accessToken, lifetimeSeconds: lifetime)
    }

    /// `errorCode` of an IAM error answer, when it is a short code (never echo arbitrary text).
    static func errorCode(in body: [UInt8]) -> String? {
        struct ErrorAnswer: Decodable { var errorCode: String }
        guard let code = try? JSONDecoder().decode(ErrorAnswer.self, from: Data(body)).errorCode,
            code.count <= 32, code.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber) })
        else { return nil }
        return code
    }
}

/// The JSON IAM answers with; other fields (`refresh_token`, `scope`, …) are ignored.
private struct TokenAnswer: Decodable {
    var accessToken: String
    var tokenType: String?
    var expiresIn: Int64?
    var expiration: Int64?

    enum CodingKeys: String, CodingKey {
        case accessToken = "access_token"
        case tokenType = "token_type"
        case expiresIn = "expires_in"
        case expiration
    }
}

extension IAMTokenProvider: CacheHolding {
    var caches: [any CacheStatisticsSource] { [self.cache] }
}
