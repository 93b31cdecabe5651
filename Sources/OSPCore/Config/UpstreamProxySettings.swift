import Foundation

/// Which forward proxy, if any, osp goes through to reach a host: one for TLS destinations
/// (tunnelled with `CONNECT`), one for plain-HTTP destinations (absolute-form requests), and the
/// hosts that bypass both. The same answer serves backend connections and libcurl callouts.
///
/// Config keys, each falling back on its environment variable when absent (upper case first):
/// `upstream.https_proxy` (`HTTPS_PROXY`, `https_proxy`), `upstream.http_proxy` (`HTTP_PROXY`,
/// `http_proxy`), `upstream.no_proxy` (`NO_PROXY`, `no_proxy`). `https_proxy: off` (or `http_proxy:
/// off`) means no proxy whatever the environment says.
public struct UpstreamProxySettings: Sendable, Equatable {
    /// For plain-HTTP destinations.
    public var http: ProxyURL?
    /// For TLS destinations.
    public var https: ProxyURL?
    public var noProxy: NoProxyList

    /// Every host is reached directly.
    public static let direct = UpstreamProxySettings()

    public init(http: ProxyURL? = nil, https: ProxyURL? = nil, noProxy: NoProxyList = .empty) {
        self.http = http
        self.https = https
        self.noProxy = noProxy
    }

    /// The proxy for a connection to `host`, or nil to connect directly.
    public func proxy(forHost host: String, tls: Bool) -> ProxyURL? {
        guard let proxy = tls ? https : http else { return nil }
        return noProxy.matches(host: host) ? nil : proxy
    }

    /// The proxy for an `http://` or `https://` URL (callouts), or nil to connect directly.
    public func proxy(forURL url: String) -> ProxyURL? {
        guard http != nil || https != nil, let target = Self.hostAndScheme(of: url) else { return nil }
        return proxy(forHost: target.host, tls: target.tls)
    }

    var isDirect: Bool { http == nil && https == nil }

    /// Host and whether the scheme is https; nil for anything that is not an http(s) URL.
    static func hostAndScheme(of url: String) -> (host: String, tls: Bool)? {
        guard let schemeEnd = url.range(of: "://") else { return nil }
        let scheme = url[..<schemeEnd.lowerBound].lowercased()
        guard scheme == "http" || scheme == "https" else { return nil }
        var authority = url[schemeEnd.upperBound...]
        if let end = authority.firstIndex(where: { $0 == "/" || $0 == "?" || $0 == "#" }) {
            authority = authority[..<end]
        }
        if let at = authority.lastIndex(of: "@") {
            authority = authority[authority.index(after: at)...]
        }
        var host = authority
        if authority.hasPrefix("["), let close = authority.firstIndex(of: "]") {
            host = authority[authority.index(after: authority.startIndex)..<close]
        } else if let colon = authority.lastIndex(of: ":") {
            host = authority[..<colon]
        }
        return (String(host), scheme == "https")
    }

    // MARK: Reading config and environment

    static let environmentNames = (
        https: ["HTTPS_PROXY", "https_proxy"],
        http: ["HTTP_PROXY", "http_proxy"],
        noProxy: ["NO_PROXY", "no_proxy"]
    )

    /// Reads the three keys of `upstream`, each falling back on the environment.
    static func read(_ section: ConfigMapping?, environment: [String: String]) throws(ConfigError) -> UpstreamProxySettings {
        let https = try readProxy(section, key: "https_proxy", variables: environmentNames.https, environment: environment)
        let http = try readProxy(section, key: "http_proxy", variables: environmentNames.http, environment: environment)
        var noProxy = NoProxyList.empty
        if let section, let node = section.node("no_proxy") {
            if node.scalar != nil {
                noProxy = NoProxyList([try section.string("no_proxy") ?? ""])
            } else {
                noProxy = NoProxyList(try section.stringList("no_proxy") ?? [])
            }
        } else if let value = firstValue(environmentNames.noProxy, in: environment) {
            noProxy = NoProxyList([value.value])
        }
        return UpstreamProxySettings(http: http, https: https, noProxy: noProxy)
    }

    private static func readProxy(
        _ section: ConfigMapping?,
        key: String,
        variables: [String],
        environment: [String: String]
    ) throws(ConfigError) -> ProxyURL? {
        if let section, let node = section.node(key) {
            let path = section.path(of: key)
            if node.tagName == .bool {
                guard node.bool == false else {
                    throw ConfigError(path: path, message: "expected a proxy URL (http://[user:password@]host:port), or off for no proxy")
                }
                return nil
            }
            guard let text = try section.nonEmptyString(key, required: true) else { return nil }
            do {
                return try ProxyURL(parsing: text)
            } catch {
                throw ConfigError(path: path, message: "not a usable proxy URL: \(error)")
            }
        }
        guard let variable = firstValue(variables, in: environment) else { return nil }
        do {
            return try ProxyURL(parsing: variable.value)
        } catch {
            // The path names the config key that would override the variable.
            throw ConfigError(
                path: "upstream." + key,
                message: "the environment variable \(variable.name) is not a usable proxy URL: \(error); set \(key) to override it (off for no proxy)"
            )
        }
    }

    /// The first of `names` set to a non-blank value.
    private static func firstValue(_ names: [String], in environment: [String: String]) -> (name: String, value: String)? {
        for name in names {
            if let value = environment[name], !value.allSatisfy(\.isWhitespace) { return (name, value) }
        }
        return nil
    }
}
