import S3Signing

/// The object a CopyObject or UploadPartCopy reads, from `x-amz-copy-source`. Kept both decoded (for
/// authorization: the source needs `s3:GetObject`) and as sent (to rebuild the header for the backend
/// under the backend bucket name without re-encoding the key).
public struct CopySource: Sendable, Equatable {
    /// The source bucket as the client named it.
    public var bucket: String
    /// The percent-decoded source key.
    public var key: String
    /// The source key exactly as it appeared in the header (percent-encoded).
    public var rawKey: String
    /// The percent-decoded `versionId`, when a specific version is copied.
    public var versionId: String?
    /// The `versionId` value exactly as sent.
    public var rawVersionId: String?

    public init(bucket: String, key: String, rawKey: String, versionId: String? = nil, rawVersionId: String? = nil) {
        self.bucket = bucket
        self.key = key
        self.rawKey = rawKey
        self.versionId = versionId
        self.rawVersionId = rawVersionId ?? versionId
    }

    /// The IAM action reading the source requires.
    public var action: String {
        versionId == nil ? "s3:GetObject" : "s3:GetObjectVersion"
    }

    /// The header value for the backend: `/<backendBucket>/<rawKey>[?versionId=<raw>]`, the key's
    /// encoding kept byte for byte.
    public func headerValue(backendBucket: String) -> String {
        var value = "/" + backendBucket + "/" + rawKey
        if let rawVersionId {
            value += "?versionId=" + rawVersionId
        }
        return value
    }

    /// Parses `bucket/key`, `/bucket/key`, optionally followed by `?versionId=…`; the key is
    /// percent-encoded. Other query parameters are dropped.
    public init(headerValue: String) throws(S3Error) {
        var rest = Substring(headerValue)
        if rest.first == "/" { rest = rest.dropFirst() }
        var rawVersionId: Substring?
        if let questionMark = rest.firstIndex(of: "?") {
            for parameter in RequestQuery(rawQuery: rest[rest.index(after: questionMark)...]).parameters
            where parameter.name == "versionId" {
                rawVersionId = parameter.rawValue
            }
            rest = rest[..<questionMark]
        }
        guard let slash = rest.firstIndex(of: "/") else {
            throw S3Error(.invalidArgument, "Invalid copy source")
        }
        let rawKey = rest[rest.index(after: slash)...]
        guard !rawKey.isEmpty else {
            throw S3Error(.invalidArgument, "Invalid copy source")
        }
        // As in a request's path (`S3RequestRouter.plusInKey`): a space to some backends, a plus to others.
        guard !rawKey.utf8.contains(UInt8(ascii: "+")) else {
            throw S3Error(.invalidArgument, "A + in the copy source key is ambiguous; encode a plus as %2B, a space as %20.")
        }
        guard let bucket = PercentDecoding.decode(rest[..<slash]), RequestBucketName.isAcceptable(bucket) else {
            throw S3Error(.invalidArgument, "Invalid copy source bucket name")
        }
        guard let key = PercentDecoding.decode(rawKey) else {
            throw S3Error(.invalidArgument, "Invalid copy source encoding")
        }
        var versionId: String?
        if let rawVersionId {
            // As the request's own versionId (`S3RequestRouter.authorizedParameters`): a policy judges it.
            guard !rawVersionId.utf8.contains(UInt8(ascii: "+")) else {
                throw S3Error(.invalidArgument, "A + in the copy source version id is ambiguous; encode a plus as %2B.")
            }
            guard let decoded = PercentDecoding.decode(rawVersionId), !decoded.isEmpty else {
                throw S3Error(.invalidArgument, "Invalid copy source version id")
            }
            versionId = decoded
        }
        self.init(bucket: bucket, key: key, rawKey: String(rawKey), versionId: versionId, rawVersionId: rawVersionId.map(String.init))
    }
}
