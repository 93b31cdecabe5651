/// Every S3 operation osp recognises, as one table: HTTP method × what the path names (service,
/// bucket, object) × the one operation-selecting query parameter (subresource) → AWS API name and
/// IAM action. Reading the table is reading the S3 API; adding an operation is adding a row.
///
/// Rules of the lookup (see `operation(...)`):
/// - at most one selecting subresource may be present; two (`?acl&policy`) is ambiguous → Unknown,
///   because osp must not authorize one operation while the backend performs another;
/// - a query parameter that is neither a selecting subresource nor a known ordinary parameter
///   (`prefix`, `versionId`, `response-*`, `X-Amz-*`, …) makes the request Unknown (default-deny);
/// - rows are tried in order; the first whose subresource and condition match wins;
/// - with `versionId` present, a row's `versionAction` replaces its action.
enum S3OperationTable {
    enum Target: Sendable {
        /// `/` with no bucket.
        case service
        /// A bucket, no key.
        case bucket
        /// A key in a bucket.
        case object
    }

    enum Condition: Sendable {
        case none
        /// The query has this parameter (besides the subresource), e.g. an analytics `id`.
        case has(String)
        /// The subresource has this exact value, e.g. `list-type=2`.
        case value(String)
        /// The request carries `x-amz-copy-source`.
        case copySource
    }

    struct Row: Sendable {
        var method: String
        var target: Target
        var subresource: String?
        var condition: Condition
        var operation: S3Operation
        var versionAction: String?

        /// Whether the operation reads an object named by `x-amz-copy-source` (CopyObject, UploadPartCopy).
        var readsCopySource: Bool {
            if case .copySource = self.condition { return true }
            return false
        }

        init(
            _ method: String, _ target: Target, _ subresource: String?,
            _ name: String, _ action: String, versioned versionAction: String? = nil
        ) {
            self.init(method, target, subresource, .none, name, action, versioned: versionAction)
        }

        init(
            _ method: String, _ target: Target, _ subresource: String?, _ condition: Condition,
            _ name: String, _ action: String, versioned versionAction: String? = nil
        ) {
            self.method = method
            self.target = target
            self.subresource = subresource
            self.condition = condition
            self.operation = S3Operation(name: name, action: action)
            self.versionAction = versionAction
        }
    }

    // swift-format-ignore
    static let rows: [Row] = [
        // MARK: Service
        Row("GET", .service, nil, "ListBuckets", "s3:ListAllMyBuckets"),

        // MARK: Bucket, read
        Row("HEAD", .bucket, nil, "HeadBucket", "s3:ListBucket"),
        Row("GET", .bucket, nil, "ListObjects", "s3:ListBucket"),
        Row("GET", .bucket, "list-type", .value("2"), "ListObjectsV2", "s3:ListBucket"),
        Row("GET", .bucket, "versions", "ListObjectVersions", "s3:ListBucketVersions"),
        Row("GET", .bucket, "uploads", "ListMultipartUploads", "s3:ListBucketMultipartUploads"),
        Row("GET", .bucket, "acl", "GetBucketAcl", "s3:GetBucketAcl"),
        Row("GET", .bucket, "tagging", "GetBucketTagging", "s3:GetBucketTagging"),
        Row("GET", .bucket, "versioning", "GetBucketVersioning", "s3:GetBucketVersioning"),
        Row("GET", .bucket, "object-lock", "GetObjectLockConfiguration", "s3:GetBucketObjectLockConfiguration"),
        Row("GET", .bucket, "cors", "GetBucketCors", "s3:GetBucketCORS"),
        Row("GET", .bucket, "lifecycle", "GetBucketLifecycleConfiguration", "s3:GetLifecycleConfiguration"),
        Row("GET", .bucket, "policy", "GetBucketPolicy", "s3:GetBucketPolicy"),
        Row("GET", .bucket, "policyStatus", "GetBucketPolicyStatus", "s3:GetBucketPolicyStatus"),
        Row("GET", .bucket, "location", "GetBucketLocation", "s3:GetBucketLocation"),
        Row("GET", .bucket, "logging", "GetBucketLogging", "s3:GetBucketLogging"),
        Row("GET", .bucket, "notification", "GetBucketNotificationConfiguration", "s3:GetBucketNotification"),
        Row("GET", .bucket, "replication", "GetBucketReplication", "s3:GetReplicationConfiguration"),
        Row("GET", .bucket, "requestPayment", "GetBucketRequestPayment", "s3:GetBucketRequestPayment"),
        Row("GET", .bucket, "website", "GetBucketWebsite", "s3:GetBucketWebsite"),
        Row("GET", .bucket, "encryption", "GetBucketEncryption", "s3:GetEncryptionConfiguration"),
        Row("GET", .bucket, "accelerate", "GetBucketAccelerateConfiguration", "s3:GetAccelerateConfiguration"),
        Row("GET", .bucket, "analytics", .has("id"), "GetBucketAnalyticsConfiguration", "s3:GetAnalyticsConfiguration"),
        Row("GET", .bucket, "analytics", "ListBucketAnalyticsConfigurations", "s3:GetAnalyticsConfiguration"),
        Row("GET", .bucket, "inventory", .has("id"), "GetBucketInventoryConfiguration", "s3:GetInventoryConfiguration"),
        Row("GET", .bucket, "inventory", "ListBucketInventoryConfigurations", "s3:GetInventoryConfiguration"),
        Row("GET", .bucket, "metrics", .has("id"), "GetBucketMetricsConfiguration", "s3:GetMetricsConfiguration"),
        Row("GET", .bucket, "metrics", "ListBucketMetricsConfigurations", "s3:GetMetricsConfiguration"),
        Row("GET", .bucket, "intelligent-tiering", .has("id"), "GetBucketIntelligentTieringConfiguration", "s3:GetIntelligentTieringConfiguration"),
        Row("GET", .bucket, "intelligent-tiering", "ListBucketIntelligentTieringConfigurations", "s3:GetIntelligentTieringConfiguration"),
        Row("GET", .bucket, "ownershipControls", "GetBucketOwnershipControls", "s3:GetBucketOwnershipControls"),
        Row("GET", .bucket, "publicAccessBlock", "GetPublicAccessBlock", "s3:GetBucketPublicAccessBlock"),

        // MARK: Bucket, write
        Row("PUT", .bucket, nil, "CreateBucket", "s3:CreateBucket"),
        Row("PUT", .bucket, "acl", "PutBucketAcl", "s3:PutBucketAcl"),
        Row("PUT", .bucket, "tagging", "PutBucketTagging", "s3:PutBucketTagging"),
        Row("PUT", .bucket, "versioning", "PutBucketVersioning", "s3:PutBucketVersioning"),
        Row("PUT", .bucket, "object-lock", "PutObjectLockConfiguration", "s3:PutBucketObjectLockConfiguration"),
        Row("PUT", .bucket, "cors", "PutBucketCors", "s3:PutBucketCORS"),
        Row("PUT", .bucket, "lifecycle", "PutBucketLifecycleConfiguration", "s3:PutLifecycleConfiguration"),
        Row("PUT", .bucket, "policy", "PutBucketPolicy", "s3:PutBucketPolicy"),
        Row("PUT", .bucket, "logging", "PutBucketLogging", "s3:PutBucketLogging"),
        Row("PUT", .bucket, "notification", "PutBucketNotificationConfiguration", "s3:PutBucketNotification"),
        Row("PUT", .bucket, "replication", "PutBucketReplication", "s3:PutReplicationConfiguration"),
        Row("PUT", .bucket, "requestPayment", "PutBucketRequestPayment", "s3:PutBucketRequestPayment"),
        Row("PUT", .bucket, "website", "PutBucketWebsite", "s3:PutBucketWebsite"),
        Row("PUT", .bucket, "encryption", "PutBucketEncryption", "s3:PutEncryptionConfiguration"),
        Row("PUT", .bucket, "accelerate", "PutBucketAccelerateConfiguration", "s3:PutAccelerateConfiguration"),
        Row("PUT", .bucket, "analytics", "PutBucketAnalyticsConfiguration", "s3:PutAnalyticsConfiguration"),
        Row("PUT", .bucket, "inventory", "PutBucketInventoryConfiguration", "s3:PutInventoryConfiguration"),
        Row("PUT", .bucket, "metrics", "PutBucketMetricsConfiguration", "s3:PutMetricsConfiguration"),
        Row("PUT", .bucket, "intelligent-tiering", "PutBucketIntelligentTieringConfiguration", "s3:PutIntelligentTieringConfiguration"),
        Row("PUT", .bucket, "ownershipControls", "PutBucketOwnershipControls", "s3:PutBucketOwnershipControls"),
        Row("PUT", .bucket, "publicAccessBlock", "PutPublicAccessBlock", "s3:PutBucketPublicAccessBlock"),
        Row("POST", .bucket, "delete", "DeleteObjects", "s3:DeleteObject"),
        // A browser form upload: its credentials are in the multipart body, not the head.
        Row("POST", .bucket, nil, "PostObject", "s3:PutObject"),

        // MARK: Bucket, delete (IAM folds most configuration deletes into the Put action)
        Row("DELETE", .bucket, nil, "DeleteBucket", "s3:DeleteBucket"),
        Row("DELETE", .bucket, "tagging", "DeleteBucketTagging", "s3:PutBucketTagging"),
        Row("DELETE", .bucket, "cors", "DeleteBucketCors", "s3:PutBucketCORS"),
        Row("DELETE", .bucket, "lifecycle", "DeleteBucketLifecycle", "s3:PutLifecycleConfiguration"),
        Row("DELETE", .bucket, "policy", "DeleteBucketPolicy", "s3:DeleteBucketPolicy"),
        Row("DELETE", .bucket, "replication", "DeleteBucketReplication", "s3:PutReplicationConfiguration"),
        Row("DELETE", .bucket, "website", "DeleteBucketWebsite", "s3:DeleteBucketWebsite"),
        Row("DELETE", .bucket, "encryption", "DeleteBucketEncryption", "s3:PutEncryptionConfiguration"),
        Row("DELETE", .bucket, "analytics", "DeleteBucketAnalyticsConfiguration", "s3:PutAnalyticsConfiguration"),
        Row("DELETE", .bucket, "inventory", "DeleteBucketInventoryConfiguration", "s3:PutInventoryConfiguration"),
        Row("DELETE", .bucket, "metrics", "DeleteBucketMetricsConfiguration", "s3:PutMetricsConfiguration"),
        Row("DELETE", .bucket, "intelligent-tiering", "DeleteBucketIntelligentTieringConfiguration", "s3:PutIntelligentTieringConfiguration"),
        Row("DELETE", .bucket, "ownershipControls", "DeleteBucketOwnershipControls", "s3:PutBucketOwnershipControls"),
        Row("DELETE", .bucket, "publicAccessBlock", "DeletePublicAccessBlock", "s3:PutBucketPublicAccessBlock"),

        // MARK: Object, read
        Row("GET", .object, nil, "GetObject", "s3:GetObject", versioned: "s3:GetObjectVersion"),
        Row("HEAD", .object, nil, "HeadObject", "s3:GetObject", versioned: "s3:GetObjectVersion"),
        Row("GET", .object, "acl", "GetObjectAcl", "s3:GetObjectAcl", versioned: "s3:GetObjectVersionAcl"),
        Row("GET", .object, "tagging", "GetObjectTagging", "s3:GetObjectTagging", versioned: "s3:GetObjectVersionTagging"),
        Row("GET", .object, "retention", "GetObjectRetention", "s3:GetObjectRetention"),
        Row("GET", .object, "legal-hold", "GetObjectLegalHold", "s3:GetObjectLegalHold"),
        Row("GET", .object, "attributes", "GetObjectAttributes", "s3:GetObjectAttributes", versioned: "s3:GetObjectVersionAttributes"),
        Row("GET", .object, "torrent", "GetObjectTorrent", "s3:GetObjectTorrent", versioned: "s3:GetObjectVersionTorrent"),
        Row("GET", .object, "uploadId", "ListParts", "s3:ListMultipartUploadParts"),
        Row("POST", .object, "select", "SelectObjectContent", "s3:GetObject"),

        // MARK: Object, write
        Row("PUT", .object, nil, .copySource, "CopyObject", "s3:PutObject"),
        Row("PUT", .object, nil, "PutObject", "s3:PutObject"),
        Row("PUT", .object, "uploadId", .copySource, "UploadPartCopy", "s3:PutObject"),
        Row("PUT", .object, "uploadId", "UploadPart", "s3:PutObject"),
        Row("PUT", .object, "acl", "PutObjectAcl", "s3:PutObjectAcl", versioned: "s3:PutObjectVersionAcl"),
        Row("PUT", .object, "tagging", "PutObjectTagging", "s3:PutObjectTagging", versioned: "s3:PutObjectVersionTagging"),
        Row("PUT", .object, "retention", "PutObjectRetention", "s3:PutObjectRetention"),
        Row("PUT", .object, "legal-hold", "PutObjectLegalHold", "s3:PutObjectLegalHold"),
        Row("POST", .object, "uploads", "CreateMultipartUpload", "s3:PutObject"),
        Row("POST", .object, "uploadId", "CompleteMultipartUpload", "s3:PutObject"),
        Row("POST", .object, "restore", "RestoreObject", "s3:RestoreObject"),

        // MARK: Object, delete
        Row("DELETE", .object, nil, "DeleteObject", "s3:DeleteObject", versioned: "s3:DeleteObjectVersion"),
        Row("DELETE", .object, "tagging", "DeleteObjectTagging", "s3:DeleteObjectTagging", versioned: "s3:DeleteObjectVersionTagging"),
        Row("DELETE", .object, "uploadId", "AbortMultipartUpload", "s3:AbortMultipartUpload"),
    ]

    /// Query parameters that select an operation: every subresource named in the table.
    static let selectingSubresources: Set<Substring> = Set(rows.compactMap { row in row.subresource.map { Substring($0) } })

    /// Query parameters that refine an operation without changing which one it is.
    static let ordinaryParameters: Set<Substring> = [
        // listings
        "prefix", "delimiter", "marker", "max-keys", "encoding-type", "continuation-token", "fetch-owner",
        "start-after", "key-marker", "version-id-marker", "upload-id-marker", "max-uploads", "max-parts",
        "part-number-marker", "max-buckets", "bucket-region",
        // objects and configurations
        "versionId", "partNumber", "id", "select-type",
        // the SDKs' operation hint, SigV2 presigned URLs
        "x-id", "AWSAccessKeyId", "Signature", "Expires",
    ]

    /// Prefixes of ordinary parameters: response header overrides and SigV4 presigned-URL fields.
    static func isOrdinaryParameter(_ name: Substring) -> Bool {
        if ordinaryParameters.contains(name) { return true }
        let utf8 = name.utf8
        return utf8.starts(with: "response-".utf8) || name.hasLowercaseASCIIPrefix("x-amz-")
    }

    private struct RowGroup: Hashable {
        var method: String
        var target: Target
    }

    private static let rowsByGroup: [RowGroup: [Row]] = Dictionary(grouping: rows) {
        RowGroup(method: $0.method, target: $0.target)
    }

    /// The row for a request, or `nil` when the request is not an operation osp recognises.
    static func row(method: String, target: Target, query: RequestQuery, hasCopySource: Bool) -> Row? {
        var selector: Substring?
        for parameter in query.parameters {
            // A presigned URL's X-Amz-* fields are most of its parameters, and no subresource
            // starts with `x-amz-`: answered by a prefix test before any set lookup.
            if parameter.name.hasLowercaseASCIIPrefix("x-amz-") { continue }
            if selectingSubresources.contains(parameter.name) {
                if let selector, selector != parameter.name { return nil }
                selector = parameter.name
            } else if !isOrdinaryParameter(parameter.name) {
                return nil
            }
        }
        guard let candidates = rowsByGroup[RowGroup(method: method, target: target)] else { return nil }
        for row in candidates where row.subresource.map({ Substring($0) }) == selector {
            switch row.condition {
            case .none:
                return row
            case .has(let name):
                if query.contains(name) { return row }
            case .value(let value):
                if let selector, query.value(of: String(selector)) == value { return row }
            case .copySource:
                if hasCopySource { return row }
            }
        }
        return nil
    }
}
