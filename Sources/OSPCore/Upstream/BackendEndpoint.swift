/// One backend server osp connects to: where to dial and whether to speak TLS. Pooled
/// connections are keyed by it, so two buckets on one server share their connections.
public struct BackendEndpoint: Hashable, Sendable, CustomStringConvertible {
    public var host: String
    public var port: Int
    public var tls: Bool

    public init(host: String, port: Int, tls: Bool) {
        self.host = host
        self.port = port
        self.tls = tls
    }

    public init(_ route: BucketRoute) {
        self.init(host: route.host, port: route.port, tls: route.tls)
    }

    /// The `Host` header value for `hostname` on this endpoint: the port only when it is not the scheme's default.
    func hostHeader(for hostname: String) -> String {
        let defaultPort = self.tls ? 443 : 80
        return self.port == defaultPort ? hostname : "\(hostname):\(self.port)"
    }

    public var description: String { "\(tls ? "https" : "http")://\(host):\(port)" }
}
