/// One backend server osp connects to: where to dial, whether to speak TLS and which CA bundle
/// to trust there. Pooled connections are keyed by it, so two buckets on one server share their
/// connections — unless they trust different CAs. The forward proxy, if any, follows from host and
/// scheme (`UpstreamProxySettings`), so the key covers it too.
public struct BackendEndpoint: Hashable, Sendable, CustomStringConvertible {
    public var host: String
    public var port: Int
    public var tls: Bool
    /// The bucket's own `ca_file`; nil trusts what `upstream` says.
    public var caFile: String?

    public init(host: String, port: Int, tls: Bool, caFile: String? = nil) {
        self.host = host
        self.port = port
        self.tls = tls
        self.caFile = tls ? caFile : nil
    }

    public init(_ route: BucketRoute) {
        self.init(host: route.host, port: route.port, tls: route.tls, caFile: route.caFile)
    }

    /// The `Host` header value for `hostname` on this endpoint: the port only when it is not the scheme's default.
    func hostHeader(for hostname: String) -> String {
        let defaultPort = self.tls ? 443 : 80
        return self.port == defaultPort ? hostname : "\(hostname):\(self.port)"
    }

    public var description: String { "\(tls ? "https" : "http")://\(host):\(port)" }
}
