import NIOCore

/// Where and how osp asks an OPA-compatible policy service (`authorization.backend: opa`). The bearer
/// token is a secret: it never appears in `description`, logs or errors.
public struct OPASettings: Sendable, Equatable {
    /// The decision document (e.g. `http://127.0.0.1:8181/v1/data/osp/allow`), bearer token,
    /// hard timeout (past it the request is refused with 503) and TLS settings.
    public var endpoint: HTTPCalloutSettings
    /// Request headers (case-insensitive names) copied into `input.request.headers`.
    public var headers: [String]

    public init(
        url: String,
        bearerToken: String? = nil,
        timeoutMilliseconds: Int = 2000,
        headers: [String] = [],
        verifyTLS: Bool = true,
        caFile: String? = nil
    ) {
        self.endpoint = HTTPCalloutSettings(
            url: url, bearerToken: bearerToken, timeoutMilliseconds: timeoutMilliseconds, verifyTLS: verifyTLS, caFile: caFile
        )
        self.headers = headers
    }

    public var url: String { endpoint.url }
    public var bearerToken: String? { endpoint.bearerToken }
    public var timeoutMilliseconds: Int { endpoint.timeoutMilliseconds }
    public var verifyTLS: Bool { endpoint.verifyTLS }
    public var caFile: String? { endpoint.caFile }

    /// Settings for a `CurlHTTPClient` dedicated to this service.
    public var calloutSettings: CalloutSettings { endpoint.calloutSettings }
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
    static let configKeys = HTTPCalloutSettings.configKeys + ["headers"]

    /// Reads `authorization.opa`:
    /// ```yaml
    /// opa:
    ///   url: http://127.0.0.1:8181/v1/data/osp/allow
    ///   bearer_token: ${OPA_TOKEN}
    ///   timeout_ms: 2000
    ///   headers: [user-agent]
    /// ```
    init(_ mapping: ConfigMapping) throws(ConfigError) {
        let endpoint = try HTTPCalloutSettings(mapping, alsoAllowing: ["headers"])
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
        self.endpoint = endpoint
        self.headers = headers
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
