import NIOCore

/// The client-facing S3 listeners: where they bind (plain HTTP, HTTPS, or both on one address), how
/// many event loops serve them, which base domains make a request virtual-host addressed, and the
/// limits that protect them from oversized or idle clients.
public struct ServerSettings: Sendable, Equatable {
    public var bind: String
    /// The plain-HTTP port; nil (`http_port: off`) serves HTTPS only, so that no request can go
    /// around the TLS listener's client-certificate checks.
    public var httpPort: Int?
    /// The HTTPS port; set exactly when `tls` is.
    public var httpsPort: Int?
    /// The HTTPS listener's certificate and client-certificate settings.
    public var tls: ServerTLSSettings?
    /// Event-loop threads; defaults to the machine's core count.
    public var threads: Int
    /// Base domains for virtual-host addressing (`<bucket>.<domain>`), lowercase, without a trailing dot.
    public var virtualHostDomains: [String]
    /// Accept requests without verifying their signature (development only).
    public var skipSignatureValidation: Bool
    public var maxClockSkewSeconds: Int64
    public var idleTimeoutSeconds: Int64
    public var maxHeaderBytes: Int
    public var maxHeaderCount: Int
    /// Object keys with `.` or `..` segments: refused (default) or taken literally.
    public var dotSegmentKeys: DotSegmentKeys
    /// Browsers' CORS preflights (`OPTIONS`, no credentials): refused by osp (default) or forwarded
    /// to the bucket's backend, which answers them from the bucket's CORS configuration.
    public var corsPreflight: CORSPreflightHandling
    /// How long a shutdown (SIGTERM) waits for requests in flight before it closes their
    /// connections anyway: long enough for a large download to finish, short enough for an
    /// orchestrator's own kill timeout.
    public var shutdownGraceSeconds: Int64

    public init(
        bind: String = "127.0.0.1",
        httpPort: Int? = 6190,
        httpsPort: Int? = nil,
        tls: ServerTLSSettings? = nil,
        threads: Int = ServerSettings.defaultThreads,
        virtualHostDomains: [String] = [],
        skipSignatureValidation: Bool = false,
        maxClockSkewSeconds: Int64 = 900,
        idleTimeoutSeconds: Int64 = 60,
        maxHeaderBytes: Int = 16384,
        maxHeaderCount: Int = 200,
        dotSegmentKeys: DotSegmentKeys = .refuse,
        corsPreflight: CORSPreflightHandling = .refuse,
        shutdownGraceSeconds: Int64 = 30
    ) {
        self.bind = bind
        self.httpPort = httpPort
        self.httpsPort = httpsPort
        self.tls = tls
        self.threads = threads
        self.virtualHostDomains = virtualHostDomains
        self.skipSignatureValidation = skipSignatureValidation
        self.maxClockSkewSeconds = maxClockSkewSeconds
        self.idleTimeoutSeconds = idleTimeoutSeconds
        self.maxHeaderBytes = maxHeaderBytes
        self.maxHeaderCount = maxHeaderCount
        self.dotSegmentKeys = dotSegmentKeys
        self.corsPreflight = corsPreflight
        self.shutdownGraceSeconds = shutdownGraceSeconds
    }

    /// One event loop per core, within the range the loader accepts.
    public static var defaultThreads: Int { min(max(System.coreCount, 1), 256) }
}
