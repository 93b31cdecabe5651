/// How osp talks to backends: TLS trust, the forward proxy, timeouts and the keep-alive pool size.
public struct UpstreamSettings: Sendable, Equatable {
    /// Verify backend TLS certificates. Turning this off is for test backends only.
    public var verify: Bool
    /// PEM bundle trusted in addition to (or instead of) the system roots.
    public var caFile: String?
    /// The corporate proxy between osp and its backends and callout services, if any.
    public var proxy: UpstreamProxySettings
    public var connectTimeoutSeconds: Int64
    public var readTimeoutSeconds: Int64
    public var maxIdleConnectionsPerHost: Int

    public init(
        verify: Bool = true,
        caFile: String? = nil,
        proxy: UpstreamProxySettings = .direct,
        connectTimeoutSeconds: Int64 = 5,
        readTimeoutSeconds: Int64 = 300,
        maxIdleConnectionsPerHost: Int = 64
    ) {
        self.verify = verify
        self.caFile = caFile
        self.proxy = proxy
        self.connectTimeoutSeconds = connectTimeoutSeconds
        self.readTimeoutSeconds = readTimeoutSeconds
        self.maxIdleConnectionsPerHost = maxIdleConnectionsPerHost
    }
}
