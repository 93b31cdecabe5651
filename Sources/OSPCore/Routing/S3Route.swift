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
    /// What a write also sets (an ACL, tags, a lock), each needing its own permission, as in AWS.
    public var alsoSets: WriteSettings = []

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

/// Besides its data, what a write sets — each a permission of its own in AWS, asked besides the
/// write's own action.
///
/// An object write (PutObject, CopyObject, CreateMultipartUpload, a form upload) may set an ACL
/// (`x-amz-acl`, `x-amz-grant-*`: `s3:PutObjectAcl`), tags (`x-amz-tagging`: `s3:PutObjectTagging`),
/// a retention period (`x-amz-object-lock-mode`, `x-amz-object-lock-retain-until-date`:
/// `s3:PutObjectRetention`) or a legal hold (`x-amz-object-lock-legal-hold`: `s3:PutObjectLegalHold`).
/// CreateBucket may set the bucket's ACL (`s3:PutBucketAcl`), enable Object Lock
/// (`x-amz-bucket-object-lock-enabled`: `s3:PutBucketObjectLockConfiguration` and
/// `s3:PutBucketVersioning`) or choose object ownership (`x-amz-object-ownership`:
/// `s3:PutBucketOwnershipControls`). So a principal allowed only `s3:PutObject` may store objects but
/// not make them public, tag them, or lock them against deletion for years; one allowed only
/// `s3:CreateBucket` may not create a public or locked bucket. And a delete or retention change that
/// overrides governance-mode retention (`x-amz-bypass-governance-retention` on DeleteObject,
/// DeleteObjects, PutObjectRetention) needs `s3:BypassGovernanceRetention`, so `delete` rights alone
/// do not remove locked objects. A header is counted whatever its value: deciding which values are
/// harmless is the backend's business, asking is osp's. So is a query parameter of the same name,
/// in any case: SDKs hoist `x-amz-*` headers into presigned URLs' queries, and a backend that reads
/// them from there would apply a setting osp did not ask permission for.
public struct WriteSettings: OptionSet, Sendable, Hashable {
    public let rawValue: UInt8
    public init(rawValue: UInt8) { self.rawValue = rawValue }

    public static let acl = WriteSettings(rawValue: 1 << 0)
    public static let tagging = WriteSettings(rawValue: 1 << 1)
    public static let retention = WriteSettings(rawValue: 1 << 2)
    public static let legalHold = WriteSettings(rawValue: 1 << 3)
    public static let bucketACL = WriteSettings(rawValue: 1 << 4)
    public static let bucketObjectLock = WriteSettings(rawValue: 1 << 5)
    public static let bucketOwnership = WriteSettings(rawValue: 1 << 6)
    public static let governanceBypass = WriteSettings(rawValue: 1 << 7)

    /// The operations that write an object and may set more than its data.
    static let objectWrites: Set<String> = ["PutObject", "CopyObject", "CreateMultipartUpload", "PostObject"]
    /// The operations that may override governance-mode retention.
    static let governedChanges: Set<String> = ["DeleteObject", "DeleteObjects", "PutObjectRetention"]

    /// Request headers (or form fields) that set an ACL (`x-amz-grant-write` is a bucket's only; on an
    /// object write S3 refuses it, so counting it there costs nothing).
    static let aclNames = [
        "x-amz-acl", "x-amz-grant-read", "x-amz-grant-write", "x-amz-grant-read-acp", "x-amz-grant-write-acp", "x-amz-grant-full-control"]
    /// Request headers (or form fields) that set an object's retention period.
    static let retentionNames = ["x-amz-object-lock-mode", "x-amz-object-lock-retain-until-date"]
    static let legalHoldName = "x-amz-object-lock-legal-hold"

    /// What the headers (and query parameters) of `operation` set besides its data; `[]` for
    /// operations that set nothing else (their headers carry no settings of another permission).
    init(operation: String, headers: HTTPHeaders, query: RequestQuery) {
        let isPresent = { (name: String) in
            headers.contains(name: name) || query.parameters.contains { $0.name.equalsLowercaseASCII(name) }
        }
        if operation == "CreateBucket" {
            self = Self(bucketField: isPresent)
        } else if Self.objectWrites.contains(operation) {
            self = Self(objectField: isPresent)
        } else if Self.governedChanges.contains(operation), isPresent("x-amz-bypass-governance-retention") {
            self = .governanceBypass
        } else if operation == S3Operation.unknown.name {
            // What an operation osp does not know sets, osp cannot tell (a backend ignoring its
            // unknown parameter may run a PutObject): every setting its headers name is asked for.
            var settings = Self(objectField: isPresent).union(Self(bucketField: isPresent))
            if isPresent("x-amz-bypass-governance-retention") { settings.insert(.governanceBypass) }
            self = settings
        } else {
            self = []
        }
    }

    /// What a form's fields set besides the file: `acl` or `tagging`, or a field named like one of
    /// the headers (which some backends may read from a form too).
    init(formField: (String) -> String?) {
        var settings = Self(objectField: { formField($0) != nil })
        if formField("acl") != nil { settings.insert(.acl) }
        if formField("tagging") != nil { settings.insert(.tagging) }
        self = settings
    }

    /// The bucket settings a CreateBucket's headers name (ACL, Object Lock, ownership).
    private init(bucketField isPresent: (String) -> Bool) {
        var settings: WriteSettings = []
        if Self.aclNames.contains(where: isPresent) { settings.insert(.bucketACL) }
        if isPresent("x-amz-bucket-object-lock-enabled") { settings.insert(.bucketObjectLock) }
        if isPresent("x-amz-object-ownership") { settings.insert(.bucketOwnership) }
        self = settings
    }

    /// The object settings named by headers (or form fields) for which `isPresent` holds.
    private init(objectField isPresent: (String) -> Bool) {
        var settings: WriteSettings = []
        if Self.aclNames.contains(where: isPresent) { settings.insert(.acl) }
        if isPresent("x-amz-tagging") { settings.insert(.tagging) }
        if Self.retentionNames.contains(where: isPresent) { settings.insert(.retention) }
        if isPresent(Self.legalHoldName) { settings.insert(.legalHold) }
        self = settings
    }

    /// The actions these settings need, in a fixed order.
    var actions: [String] {
        var actions: [String] = []
        if self.contains(.acl) { actions.append("s3:PutObjectAcl") }
        if self.contains(.tagging) { actions.append("s3:PutObjectTagging") }
        if self.contains(.retention) { actions.append("s3:PutObjectRetention") }
        if self.contains(.legalHold) { actions.append("s3:PutObjectLegalHold") }
        if self.contains(.bucketACL) { actions.append("s3:PutBucketAcl") }
        if self.contains(.bucketObjectLock) {
            actions.append("s3:PutBucketObjectLockConfiguration")
            actions.append("s3:PutBucketVersioning")
        }
        if self.contains(.bucketOwnership) { actions.append("s3:PutBucketOwnershipControls") }
        if self.contains(.governanceBypass) { actions.append("s3:BypassGovernanceRetention") }
        return actions
    }
}
