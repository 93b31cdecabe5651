import NIOCore

/// Where and how osp asks an HTTP service: the secret and credential callouts (`secrets.http`,
/// `credentials.http` — the original's `hmac_fetcher` and `bucket_creds_fetcher` as a URL) and the
/// OPA endpoint. The bearer token is a secret: it never appears in `description`, logs or errors.
public struct HTTPCalloutSettings: Sendable, Equatable {
    /// The service's endpoint, e.g. `https://keys.internal/v1/secret`; osp appends its query
    /// parameters (with `&` when the URL already has a query).
    public var url: String
    /// Sent as `Authorization: Bearer <token>` when set.
    public var bearerToken: String?
    /// Hard limit for one callout, connecting included; past it the request is refused with 503.
    public var timeoutMilliseconds: Int
    /// Verify the service's TLS certificate (https URLs).
    public var verifyTLS: Bool
    /// PEM bundle to trust instead of the system roots.
    public var caFile: String?
    /// The forward proxy towards the service: `upstream`'s, set by the config loader.
    public var proxy: UpstreamProxySettings = .direct

    public init(
        url: String,
        bearerToken: String? = nil,
        timeoutMilliseconds: Int = 2000,
        verifyTLS: Bool = true,
        caFile: String? = nil
    ) {
        self.url = url
        self.bearerToken = bearerToken
        self.timeoutMilliseconds = timeoutMilliseconds
        self.verifyTLS = verifyTLS
        self.caFile = caFile
    }

    /// Settings for a `CurlHTTPClient` dedicated to this service.
    public var calloutSettings: CalloutSettings {
        CalloutSettings(
            verifyTLS: verifyTLS,
            caFile: caFile,
            connectTimeout: .milliseconds(Int64(min(timeoutMilliseconds, 2000))),
            proxy: proxy
        )
    }

    var timeout: TimeAmount { .milliseconds(Int64(timeoutMilliseconds)) }

    /// `url` with `parameters` appended as a form-encoded query.
    func url(with parameters: [(String, String)]) -> String {
        let query = String(decoding: FormEncoding.encode(parameters), as: UTF8.self)
        let separator = url.contains("?") ? (url.hasSuffix("?") || url.hasSuffix("&") ? "" : "&") : "?"
        return url + separator + query
    }

    /// `Accept: application/json`, plus the bearer token when configured.
    var requestHeaders: [(String, String)] {
        var headers = [("Accept", "application/json")]
        if let bearerToken {
            headers.append(("Authorization", "Bearer \(bearerToken)"))
        }
        return headers
    }
}

extension HTTPCalloutSettings: CustomStringConvertible, CustomDebugStringConvertible {
    public var description: String {
        let token = bearerToken == nil ? "none" : Redacted.marker
        return "HTTPCalloutSettings(url: \(url), bearer_token: \(token), timeout_ms: \(timeoutMilliseconds), "
            + "verify: \(verifyTLS), ca_file: \(caFile ?? "none"))"
    }

    public var debugDescription: String { description }
}

extension HTTPCalloutSettings {
    static let configKeys = ["url", "bearer_token", "timeout_ms", "verify", "ca_file"]

    /// Reads `secrets.http` or `credentials.http`:
    /// ```yaml
    /// http:
    ///   url: https://keys.internal/v1/secret
    ///   bearer_token: ${KEYS_TOKEN}
    ///   timeout_ms: 2000
    ///   verify: true
    ///   ca_file: /etc/osp/keys-ca.pem
    /// ```
    init(_ mapping: ConfigMapping) throws(ConfigError) {
        try self.init(mapping, alsoAllowing: [])
    }

    /// Reads the endpoint keys of `mapping`, which may also hold `extraKeys` that the caller reads
    /// (OPA's `headers`).
    init(_ mapping: ConfigMapping, alsoAllowing extraKeys: [String]) throws(ConfigError) {
        let allowed = Self.configKeys + extraKeys
        try mapping.requireKnownKeys(allowed)
        let url = try mapping.nonEmptyString("url", required: true) ?? ""
        let lowercasedURL = url.lowercased()
        guard lowercasedURL.hasPrefix("http://") || lowercasedURL.hasPrefix("https://") else {
            throw ConfigError(path: mapping.path(of: "url"), message: "must be an http:// or https:// URL")
        }
        guard !url.utf8.contains(where: { $0 <= 0x20 || $0 == 0x7F }) else {
            throw ConfigError(path: mapping.path(of: "url"), message: "must not contain spaces or control characters")
        }
        guard !url.contains("#") else {
            throw ConfigError(path: mapping.path(of: "url"), message: "must not contain a fragment ('#'): osp appends query parameters")
        }
        let token = try mapping.nonEmptyString("bearer_token", required: false)
        if let token, token.utf8.contains(where: { $0 < 0x20 || $0 == 0x7F }) {
            // The message must not repeat the value: it is a secret.
            throw ConfigError(path: mapping.path(of: "bearer_token"), message: "must not contain control characters or line breaks")
        }
        self.init(
            url: url,
            bearerToken: token,
            timeoutMilliseconds: try mapping.int("timeout_ms", in: 1...60_000) ?? 2000,
            verifyTLS: try mapping.bool("verify") ?? true,
            caFile: try mapping.nonEmptyString("ca_file", required: false)
        )
    }
}
