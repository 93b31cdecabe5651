import NIOCore

/// Where and how osp asks an OPA-compatible policy service (`authorization.backend: opa`). The bearer
/// token is a secret: it never appears in `description`, logs or errors.
public struct OPASettings: Sendable, Equatable {
    /// The decision document, e.g. `http://127.0.0.1:8181/v1/data/osp/allow`.
    public var url: String
    /// Sent as `Authorization: Bearer <token>` when set.
    public var bearerToken: String?
    /// Hard limit for one decision, connecting included; past it the request is refused with 503.
    public var timeoutMilliseconds: Int
    /// Request headers (case-insensitive names) copied into `input.request.headers`.
    public var headers: [String]
    /// Verify the service's TLS certificate (https URLs).
    public var verifyTLS: Bool
    /// PEM bundle to trust instead of the system roots.
    public var caFile: String?

    public init(
        url: String,
        bearerToken: String? = nil,
        timeoutMilliseconds: Int = 2000,
        headers: [String] = [],
        verifyTLS: Bool = true,
        caFile: String? = nil
    ) {
        self.url = url
        self.bearerToken = bearerToken
        self.timeoutMilliseconds = timeoutMilliseconds
        self.headers = headers
        self.verifyTLS = verifyTLS
        self.caFile = caFile
    }

    /// Settings for a `CurlHTTPClient` dedicated to this service.
    public var calloutSettings: CalloutSettings {
        CalloutSettings(
            verifyTLS: verifyTLS,
            caFile: caFile,
            connectTimeout: .milliseconds(Int64(min(timeoutMilliseconds, 2000)))
        )
    }
}

extension OPASettings: CustomStringConvertible, CustomDebugStringConvertible {
    public var description: String {
        let token = bearerToken == nil ? "none" : "<redacted>"
        return "OPASettings(url: \(url), bearer_token: \(token), timeout_ms: \(timeoutMilliseconds), "
            + "headers: \(headers), verify: \(verifyTLS), ca_file: \(caFile ?? "none"))"
    }

    public var debugDescription: String { description }
}

extension OPASettings {
    static let configKeys = ["url", "bearer_token", "timeout_ms", "headers", "verify", "ca_file"]

    /// Reads `authorization.opa`:
    /// ```yaml
    /// opa:
    ///   url: http://127.0.0.1:8181/v1/data/osp/allow
    ///   bearer_token: ${OPA_TOKEN}
    ///   timeout_ms: 2000
    ///   headers: [user-agent]
    /// ```
    init(_ mapping: ConfigMapping) throws(ConfigError) {
        for entry in mapping.entries where !Self.configKeys.contains(entry.key) {
            throw ConfigError(
                path: mapping.path(of: entry.key),
                message: "unknown key '\(entry.key)' in \(mapping.path); expected one of: \(Self.configKeys.joined(separator: ", "))"
            )
        }
        let url = try mapping.nonEmptyString("url", required: true) ?? ""
        let lowercasedURL = url.lowercased()
        guard lowercasedURL.hasPrefix("http://") || lowercasedURL.hasPrefix("https://") else {
            throw ConfigError(path: mapping.path(of: "url"), message: "must be an http:// or https:// URL")
        }
        guard !url.utf8.contains(where: { $0 <= 0x20 || $0 == 0x7F }) else {
            throw ConfigError(path: mapping.path(of: "url"), message: "must not contain spaces or control characters")
        }
        let token = try mapping.nonEmptyString("bearer_token", required: false)
        if let token, token.utf8.contains(where: { $0 < 0x20 || $0 == 0x7F }) {
            // The message must not repeat the value: it is a secret.
            throw ConfigError(path: mapping.path(of: "bearer_token"), message: "must not contain control characters or line breaks")
        }
        var headers: [String] = []
        for (index, name) in (try mapping.stringList("headers") ?? []).enumerated() {
            let lowercased = name.lowercased()
            let path = "\(mapping.path(of: "headers"))[\(index)]"
            guard !lowercased.isEmpty, lowercased.utf8.allSatisfy(Self.isHeaderNameByte) else {
                throw ConfigError(path: path, message: "'\(name)' is not an HTTP header name")
            }
            guard !OPAInput.forbiddenHeaders.contains(lowercased) else {
                throw ConfigError(path: path, message: "'\(name)' carries credentials and is never sent to the policy service")
            }
            headers.append(lowercased)
        }
        self.init(
            url: url,
            bearerToken: token,
            timeoutMilliseconds: try mapping.int("timeout_ms", in: 1...60_000) ?? 2000,
            headers: headers,
            verifyTLS: try mapping.bool("verify") ?? true,
            caFile: try mapping.nonEmptyString("ca_file", required: false)
        )
    }

    private static func isHeaderNameByte(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "-"), UInt8(ascii: "_"):
            return true
        default:
            return false
        }
    }
}
