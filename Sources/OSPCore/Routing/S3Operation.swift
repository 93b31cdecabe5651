/// The S3 API call a request makes (its AWS API name) and the IAM action that authorizes it. Names
/// and actions follow AWS so policies written for S3 read the same here.
public struct S3Operation: Sendable, Equatable, Hashable, CustomStringConvertible {
    /// The AWS API name: `GetObject`, `ListObjectsV2`, `CreateMultipartUpload`, … or `Unknown`.
    public var name: String
    /// The IAM action a policy must allow: `s3:GetObject`, `s3:ListBucket`, … or `s3:Unknown`.
    public var action: String

    public init(name: String, action: String) {
        self.name = name
        self.action = action
    }

    public var description: String { "\(name) (\(action))" }

    /// A request osp cannot classify; it is still forwarded if a policy explicitly allows `s3:Unknown`.
    public static let unknown = S3Operation(name: "Unknown", action: "s3:Unknown")
    /// A CORS preflight (`OPTIONS`): unauthenticated by nature, answered by the backend's CORS rules.
    public static let preflightRequest = S3Operation(name: "PreflightRequest", action: "s3:Unknown")
    public static let listBuckets = S3Operation(name: "ListBuckets", action: "s3:ListAllMyBuckets")
}
