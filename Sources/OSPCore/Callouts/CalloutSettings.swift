import NIOCore

/// How osp's outbound HTTP callouts (policy, secret, credential and token services) reach their
/// endpoint: trust, connect time and how much of an answer osp will hold in memory. One value per
/// `CurlHTTPClient`; the per-request timeout is given with each call.
public struct CalloutSettings: Sendable, Equatable {
    /// Verify the endpoint's TLS certificate and host name. Turning this off is for test services only.
    public var verifyTLS: Bool
    /// PEM bundle to trust instead of the system roots.
    public var caFile: String?
    /// Upper bound for establishing the connection (TCP + TLS); never longer than the request timeout.
    public var connectTimeout: TimeAmount
    /// Answers larger than this fail with `CalloutError.Kind.responseTooLarge` instead of growing memory.
    public var maxResponseBytes: Int
    public var userAgent: String
    /// The forward proxy per destination: `upstream.http_proxy` / `https_proxy` / `no_proxy`, each
    /// falling back on its environment variable when the config file is read. libcurl never reads
    /// the environment itself: osp decides, with the same NO_PROXY rules as for backend connections.
    public var proxy: UpstreamProxySettings

    public init(
        verifyTLS: Bool = true,
        caFile: String? = nil,
        connectTimeout: TimeAmount = .seconds(2),
        maxResponseBytes: Int = 1 << 20,
        userAgent: String = "osp",
        proxy: UpstreamProxySettings = .direct
    ) {
        self.verifyTLS = verifyTLS
        self.caFile = caFile
        self.connectTimeout = connectTimeout
        self.maxResponseBytes = maxResponseBytes
        self.userAgent = userAgent
        self.proxy = proxy
    }
}
