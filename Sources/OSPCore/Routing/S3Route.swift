import NIOHTTP1

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
    /// What an object write also sets (an ACL, tags), each needing its own permission, as in AWS.
    public var alsoSets: ObjectSettings = []

    /// Whether the policy is asked one question only (no copy source, nothing else set): the hot
    /// paths of in-memory rules and of the decision cache answer such requests without a list.
    public var asksOneQuestion: Bool { self.copySource == nil && self.alsoSets.isEmpty }

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

/// Besides its data, what a write (PutObject, CopyObject, CreateMultipartUpload, a form upload)
/// sets on the object — each a permission of its own in AWS: `s3:PutObjectAcl` for an ACL
/// (`x-amz-acl`, `x-amz-grant-*`), `s3:PutObjectTagging` for tags (`x-amz-tagging`). A principal
/// allowed only `s3:PutObject` may store objects but not make them public nor tag them.
public struct ObjectSettings: OptionSet, Sendable, Hashable {
    public let rawValue: UInt8
    public init(rawValue: UInt8) { self.rawValue = rawValue }

    public static let acl = ObjectSettings(rawValue: 1)
    public static let tagging = ObjectSettings(rawValue: 2)

    /// The operations that write an object and may set more than its data.
    static let writeOperations: Set<String> = ["PutObject", "CopyObject", "CreateMultipartUpload", "PostObject"]

    /// Request headers (or form fields) that set an ACL.
    static let aclNames = ["x-amz-acl", "x-amz-grant-read", "x-amz-grant-read-acp", "x-amz-grant-write-acp", "x-amz-grant-full-control"]

    /// What a write's headers set besides the data.
    init(headers: HTTPHeaders) {
        self = []
        if Self.aclNames.contains(where: { headers.contains(name: $0) }) { self.insert(.acl) }
        if headers.contains(name: "x-amz-tagging") { self.insert(.tagging) }
    }

    /// What a form's fields set besides the file: `acl` or `tagging`, or a field named like one of
    /// the headers (which some backends may read from a form too).
    init(formField: (String) -> String?) {
        self = []
        if formField("acl") != nil || Self.aclNames.contains(where: { formField($0) != nil }) { self.insert(.acl) }
        if formField("tagging") != nil || formField("x-amz-tagging") != nil { self.insert(.tagging) }
    }

    /// The actions these settings need, in a fixed order.
    var actions: [String] {
        var actions: [String] = []
        if self.contains(.acl) { actions.append("s3:PutObjectAcl") }
        if self.contains(.tagging) { actions.append("s3:PutObjectTagging") }
        return actions
    }
}
