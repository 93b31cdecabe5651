/// What one S3 request is about, computed once from the request head and carried through the
/// pipeline: authorization reads bucket, key and action from it; the upstream stage rebuilds the
/// backend path from `rawKeyPath` so the key's encoding reaches the backend byte for byte.
public struct S3Route: Sendable, Equatable {
    /// The bucket as the client named it; `nil` for service-level requests (ListBuckets).
    public var bucket: String?
    /// The percent-decoded object key; `nil` for bucket- and service-level requests.
    public var key: String?
    /// The path after the bucket exactly as sent, still percent-encoded: `"/my%20key"` for an object,
    /// `""` or `"/"` for the bucket itself (path style: `/bucket` vs `/bucket/`; virtual host: `"/"`).
    public var rawKeyPath: String
    public var addressing: AddressingMode
    public var operation: S3Operation
    /// The object read by CopyObject and UploadPartCopy; it needs `copySource.action` (s3:GetObject).
    public var copySource: CopySource?

    public init(
        bucket: String?,
        key: String?,
        rawKeyPath: String,
        addressing: AddressingMode,
        operation: S3Operation,
        copySource: CopySource? = nil
    ) {
        self.bucket = bucket
        self.key = key
        self.rawKeyPath = rawKeyPath
        self.addressing = addressing
        self.operation = operation
        self.copySource = copySource
    }
}
