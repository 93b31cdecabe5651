/// The whole gateway configuration: listeners, upstream behaviour, the bucket map (cos_map) and the
/// client keystore, and the authorization policy. A plain value, built either from a config file by `ConfigLoader` or in code.
public struct OSPConfig: Sendable, Equatable {
    public var server: ServerSettings
    public var admin: AdminSettings?
    public var upstream: UpstreamSettings
    public var buckets: BucketMap
    public var keystore: [KeystoreEntry]
    /// `nil`: no policy configured, every authenticated client may do anything.
    public var authorization: AuthorizationSettings?
    /// Where client secrets come from (default: the keystore).
    public var secrets: SecretsSettings
    /// Where backend credentials come from (default: the keys next to each bucket).
    public var credentials: CredentialsSettings
    /// The shared Redis store, for any section whose backend is `redis`.
    public var redis: RedisSettings?
    /// The access log's destination and the process log's level.
    public var logging: LoggingSettings
    /// Where request spans are exported (OTLP/HTTP); nil: not by osp (an embedder may still bootstrap a tracer).
    public var tracing: TracingSettings?

    public init(
        server: ServerSettings = ServerSettings(),
        admin: AdminSettings? = nil,
        upstream: UpstreamSettings = UpstreamSettings(),
        buckets: BucketMap,
        keystore: [KeystoreEntry] = [],
        authorization: AuthorizationSettings? = nil,
        secrets: SecretsSettings = SecretsSettings(),
        credentials: CredentialsSettings = CredentialsSettings(),
        redis: RedisSettings? = nil,
        logging: LoggingSettings = LoggingSettings(),
        tracing: TracingSettings? = nil
    ) {
        self.server = server
        self.admin = admin
        self.upstream = upstream
        self.buckets = buckets
        self.keystore = keystore
        self.authorization = authorization
        self.secrets = secrets
        self.credentials = credentials
        self.redis = redis
        self.logging = logging
        self.tracing = tracing
    }
}
