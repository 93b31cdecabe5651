import Crypto

/// How a browser form upload (S3's POST Object) proves who sent it: not the request head, which
/// carries no credentials, but form fields — the base64 POST policy and a signature over exactly
/// that base64 text, made with the uploader's secret. The policy's conditions then say what the
/// form may contain; checking them is the caller's (`PostPolicy` in OSPCore).
public enum PostPolicySignature: Sendable, Equatable {
    /// `x-amz-algorithm: AWS4-HMAC-SHA256`, `x-amz-credential: AK/date/region/s3/aws4_request`,
    /// `x-amz-date`, `x-amz-signature`: hex HMAC-SHA256 of the policy under the SigV4 signing key.
    case sigV4(accessKey: String, dateStamp: String, region: String, service: String, amzDate: String, signature: String)
    /// `AWSAccessKeyId`, `signature`: base64 HMAC-SHA1 of the policy under the secret itself.
    case sigV2(accessKey: String, signature: String)

    public var accessKey: String {
        switch self {
        case .sigV4(let accessKey, _, _, _, _, _), .sigV2(let accessKey, _): return accessKey
        }
    }

    /// The form fields that carry the signature, in lower case (form field names are
    /// case-insensitive); they are never forwarded, and never need a policy condition of their own
    /// beyond what S3 requires (`x-amz-algorithm`, `x-amz-credential` and `x-amz-date` do).
    public static let fieldNames: Set<String> = [
        "x-amz-algorithm", "x-amz-credential", "x-amz-date", "x-amz-signature", "awsaccesskeyid", "signature",
    ]

    /// Finds the signature among a form's fields (`field` answers a lower-case name); nil when the
    /// form carries none of the signature fields (an anonymous upload).
    public static func parse(field: (String) -> String?) throws(S3Error) -> PostPolicySignature? {
        let algorithm = field("x-amz-algorithm")
        let credential = field("x-amz-credential")
        let v4Signature = field("x-amz-signature")
        let v2AccessKey = field("awsaccesskeyid")
        let v2Signature = field("signature")
        let hasV4 = algorithm != nil || credential != nil || v4Signature != nil
        let hasV2 = v2AccessKey != nil || v2Signature != nil
        if hasV4 && hasV2 {
            throw S3Error(.invalidArgument, "Only one auth mechanism allowed in a POST form.")
        }
        if hasV4 {
            guard algorithm == "AWS4-HMAC-SHA256" else {
                throw S3Error(.invalidArgument, "The x-amz-algorithm form field must be AWS4-HMAC-SHA256.")
            }
            guard let credential, let v4Signature, let amzDate = field("x-amz-date") else {
                throw S3Error(.invalidArgument, "A POST form signed with AWS4-HMAC-SHA256 needs x-amz-credential, x-amz-date and x-amz-signature fields.")
            }
            let parts = credential.split(separator: "/", omittingEmptySubsequences: false)
            guard parts.count == 5, !parts[0].isEmpty, parts[1].utf8.count == 8, parts[1].utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }),
                !parts[2].isEmpty, parts[3] == "s3", parts[4] == "aws4_request"
            else {
                throw S3Error(.invalidArgument, "The x-amz-credential form field is malformed; expecting \"<YOUR-AKID>/YYYYMMDD/REGION/s3/aws4_request\".")
            }
            guard let date = AmzDate(iso8601Basic: amzDate), date.dateStamp == parts[1] else {
                throw S3Error(.invalidArgument, "The x-amz-date form field must be YYYYMMDD'T'HHMMSS'Z' on the credential's date.")
            }
            return .sigV4(
                accessKey: String(parts[0]), dateStamp: String(parts[1]), region: String(parts[2]), service: String(parts[3]),
                amzDate: amzDate, signature: v4Signature)
        }
        if hasV2 {
            guard let v2AccessKey, !v2AccessKey.isEmpty, let v2Signature else {
                throw S3Error(.invalidArgument, "A POST form signed with AWSAccessKeyId needs a signature field.")
            }
            return .sigV2(accessKey: v2AccessKey, signature: v2Signature)
        }
        return nil
    }

    /// Whether the signature is the one `secretKey` makes over `policy` (the base64 text as sent).
    /// Constant-time in the signature's content.
    public func verifies(policy: String, secretKey: String, keyCache: SigningKeyCache) -> Bool {
        switch self {
        case .sigV4(_, let dateStamp, let region, let service, _, let signature):
            let expected = Self.sigV4Signature(
                policy: policy, secretKey: secretKey, dateStamp: dateStamp, region: region, service: service, keyCache: keyCache)
            return constantTimeEquals(expected, signature)
        case .sigV2(_, let signature):
            let mac = HMAC<Insecure.SHA1>.authenticationCode(for: Array(policy.utf8), using: SymmetricKey(data: Array(secretKey.utf8)))
            return constantTimeEquals(Base64.encode(Array(mac)), signature)
        }
    }

    /// The `x-amz-signature` of a form: hex HMAC-SHA256 of `policy` under the signing key of
    /// (secret, date, region, service). osp signs the form it forwards to a backend with this.
    public static func sigV4Signature(
        policy: String, secretKey: String, dateStamp: String, region: String, service: String, keyCache: SigningKeyCache
    ) -> String {
        let key = keyCache.entry(secret: secretKey, dateStamp: dateStamp, region: region, service: service)
        var policy = policy
        let mac = policy.withUTF8 { key.authenticationCode(for: UnsafeRawBufferPointer($0)) }
        return Hex.encode(mac)
    }
}
