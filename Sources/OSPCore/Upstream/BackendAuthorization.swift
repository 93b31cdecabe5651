import NIOCore
import S3Signing

/// How osp proves itself to a bucket's backend: a SigV4 signature with HMAC keys, or an IBM IAM
/// bearer token (IBM COS buckets configured with an `api_key`).
enum BackendAuthorization: Sendable {
    case signature(BackendCredentials)
    case bearer(IAMBearerToken)

    /// Whether the two act as one identity at the backend: the same access key, or the same IAM
    /// token (one api key's cached token; after a refresh in between, two — then they count as two,
    /// which costs a copy through osp, never a wrong one).
    func isSameIdentity(as other: BackendAuthorization) -> Bool {
        switch (self, other) {
        case (.signature(let one), .signature(let two)): one.accessKey == two.accessKey
        case (.bearer(let one), .bearer(let two)): one.value == two.value
        default: false
        }
    }
}

/// Resolves a bucket's `BackendAuthorization`: its IAM token when it has an `api_key`, else its
/// credentials from the configured `BackendCredentialSource`.
struct BackendAuthorizationSource: Sendable {
    let credentials: any BackendCredentialSource
    let iamTokens: IAMTokenProvider

    /// - Parameter trace: the trace context an IAM token exchange carries, if one is needed.
    func authorization(
        for bucket: BucketRoute,
        principal: String,
        trace: CalloutTraceHeaders = .none,
        on eventLoop: any EventLoop
    ) -> EventLoopFuture<BackendAuthorization> {
        if let key = bucket.ibmIAM {
            return iamTokens.token(for: key, trace: trace, on: eventLoop).map { .bearer($0) }
        }
        return credentials.credentials(for: bucket, principal: principal, on: eventLoop).map { .signature($0) }
    }

    /// The authorization when it is at hand without waiting (config keys, a cached IAM token), nil
    /// when `authorization(for:principal:trace:on:)` must fetch it.
    func authorizationNow(for bucket: BucketRoute, principal: String) -> Result<BackendAuthorization, any Error>? {
        if let key = bucket.ibmIAM {
            return iamTokens.cachedToken(for: key).map { .success(.bearer($0)) }
        }
        return credentials.credentialsNow(for: bucket, principal: principal).map { $0.map { .signature($0) } }
    }
}
