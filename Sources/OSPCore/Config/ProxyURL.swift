import Foundation

/// A forward HTTP proxy osp reaches backends (and callout services) through, as written in
/// `upstream.https_proxy` / `HTTPS_PROXY`: `http://[user:password@]host[:port][/]`.
///
/// osp always talks to the proxy in plain HTTP: TLS backends are tunnelled with `CONNECT`, so the
/// TLS session (and certificate verification) stays end to end between osp and the backend.
/// The credentials are a secret: `description` never shows them.
public struct ProxyURL: Sendable, Equatable, CustomStringConvertible, CustomDebugStringConvertible {
    /// Host name or address, without the brackets of an IPv6 literal.
    public var host: String
    public var port: Int
    /// Percent-decoded user name and password for `Proxy-Authorization: Basic`.
    public var username: String?
    public var password: String?

    public init(host: String, port: Int, username: String? = nil, password: String? = nil) {
        self.host = host
        self.port = port
        self.username = username
        self.password = password
    }

    /// Parses a proxy URL; the error text names what is wrong but never repeats the URL (it may hold a password).
    public init(parsing text: String) throws(ProxyURLError) {
        var rest = Substring(text.trimmingCharacters(in: .whitespaces))
        if let schemeEnd = rest.range(of: "://") {
            let scheme = rest[..<schemeEnd.lowerBound].lowercased()
            guard scheme == "http" else {
                throw ProxyURLError(
                    "the scheme must be http:// (osp speaks plain HTTP to the proxy and tunnels TLS backends with CONNECT), not \(scheme)://"
                )
            }
            rest = rest[schemeEnd.upperBound...]
        }
        if rest.hasSuffix("/") { rest = rest.dropLast() }
        guard !rest.contains(where: { $0 == "/" || $0 == "?" || $0 == "#" || $0.isWhitespace }) else {
            throw ProxyURLError("a proxy URL has no path, query or fragment")
        }
        var username: String?
        var password: String?
        if let at = rest.lastIndex(of: "@") {
            let userinfo = rest[..<at]
            rest = rest[rest.index(after: at)...]
            let colon = userinfo.firstIndex(of: ":")
            let rawUser = colon.map { userinfo[..<$0] } ?? userinfo
            let rawPassword = colon.map { userinfo[userinfo.index(after: $0)...] } ?? ""
            guard let user = PercentDecoding.decode(rawUser), let pass = PercentDecoding.decode(rawPassword), !user.isEmpty else {
                throw ProxyURLError("the user name or password is empty or not validly percent-encoded")
            }
            username = user
            password = pass
        }
        let host: Substring
        var portText: Substring?
        if rest.hasPrefix("[") {
            guard let close = rest.firstIndex(of: "]") else { throw ProxyURLError("unclosed '[' in the IPv6 address") }
            host = rest[rest.index(after: rest.startIndex)..<close]
            let after = rest[rest.index(after: close)...]
            if !after.isEmpty {
                guard after.hasPrefix(":") else { throw ProxyURLError("unexpected text after the IPv6 address") }
                portText = after.dropFirst()
            }
        } else if let colon = rest.lastIndex(of: ":") {
            host = rest[..<colon]
            portText = rest[rest.index(after: colon)...]
        } else {
            host = rest
        }
        guard !host.isEmpty else { throw ProxyURLError("the proxy host is missing") }
        var port = 80
        if let portText {
            guard let parsed = Int(portText), (1...65535).contains(parsed) else {
                throw ProxyURLError("the port must be a number from 1 to 65535")
            }
            port = parsed
        }
        self.init(host: String(host), port: port, username: username, password: password)
    }

    /// The proxy without credentials, as libcurl's `CURLOPT_PROXY` takes it (they go in separate options).
    var urlWithoutCredentials: String {
        "http://\(host.contains(":") ? "[\(host)]" : host):\(port)"
    }

    /// `Basic base64(user:password)`, sent on `CONNECT` and on absolute-form requests; nil without a user.
    var proxyAuthorization: String? {
        guard let username else { return nil }
        return "Basic " + Data("\(username):\(password ?? "")".utf8).base64EncodedString()
    }

    public var description: String {
        let host = self.host.contains(":") ? "[\(self.host)]" : self.host
        return "http://\(username == nil ? "" : Redacted.marker + "@")\(host):\(port)"
    }

    public var debugDescription: String { description }
}

/// Why a proxy URL could not be used.
public struct ProxyURLError: Error, Sendable, Equatable, CustomStringConvertible {
    public var description: String
    init(_ description: String) { self.description = description }
}
