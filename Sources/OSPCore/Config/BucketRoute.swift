/// Where one client-visible bucket really lives (one cos_map entry): the backend endpoint, its region,
/// how to address it, the real bucket name when it differs, and the credentials to sign with.
public struct BucketRoute: Sendable, Equatable {
    /// The bucket name as clients call it, or `"*"` for the default route.
    public var name: String
    public var host: String
    public var port: Int
    public var tls: Bool
    public var region: String
    public var addressingStyle: AddressingStyle
    /// The bucket's name on the backend when clients use an alias; `nil` means the same name.
    public var backendBucket: String?
    /// Static backend keys; `nil` when a credential provider (or IBM IAM) supplies them.
    public var credentials: BackendCredentials?
    /// An IBM Cloud api key: requests to this bucket carry an IAM bearer token instead of a SigV4
    /// signature (`api_key`, `iam_endpoint`).
    public var ibmIAM: IBMIAMKey?
    /// PEM bundle trusted for this bucket's TLS backend instead of `upstream.ca_file` (`ca_file`),
    /// e.g. a private CA that only this backend's certificate chains to.
    public var caFile: String?
    /// How long fetched credentials for this bucket may be cached.
    public var ttlSeconds: Int64?
    /// This route is the `"*"` entry serving a bucket not listed (`name` is then the requested bucket),
    /// so credential stores may fall back to what they keep for `*`.
    public var isDefaultRoute = false

    public init(
        name: String,
        host: String,
        port: Int? = nil,
        tls: Bool = false,
        region: String = "us-east-1",
        addressingStyle: AddressingStyle = .path,
        backendBucket: String? = nil,
        credentials: BackendCredentials? = nil,
        ibmIAM: IBMIAMKey? = nil,
        ttlSeconds: Int64? = nil,
        caFile: String? = nil
    ) {
        self.name = name
        self.host = host
        self.port = port ?? (tls ? 443 : 80)
        self.tls = tls
        self.region = region
        self.addressingStyle = addressingStyle
        self.backendBucket = backendBucket
        self.credentials = credentials
        self.ibmIAM = ibmIAM
        self.ttlSeconds = ttlSeconds
        self.caFile = caFile
    }

    /// The bucket name to use on the backend for a request to `clientBucket`.
    /// For the default route `clientBucket` is whatever the client asked for.
    public func backendBucketName(for clientBucket: String) -> String {
        backendBucket ?? clientBucket
    }
}
