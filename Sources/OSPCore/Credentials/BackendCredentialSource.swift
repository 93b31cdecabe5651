import NIOCore
import S3Signing

/// Where the real backend credentials for a bucket come from (the original's
/// `bucket_creds_fetcher`). Answers on the given loop; a failure refuses the request.
public protocol BackendCredentialSource: Sendable {
    func credentials(
        for bucket: BucketRoute,
        principal: String,
        on eventLoop: any EventLoop
    ) -> EventLoopFuture<BackendCredentials>
    /// The answer when it is at hand without waiting (keys from the config file), nil otherwise:
    /// lets the per-request hot path sign without a future.
    func credentialsNow(for bucket: BucketRoute, principal: String) -> Result<BackendCredentials, any Error>?
}

extension BackendCredentialSource {
    public func credentialsNow(for bucket: BucketRoute, principal: String) -> Result<BackendCredentials, any Error>? { nil }
}

/// The keys written next to each bucket in the config file.
public struct StaticBackendCredentials: BackendCredentialSource {
    public init() {}

    public func credentials(
        for bucket: BucketRoute,
        principal: String,
        on eventLoop: any EventLoop
    ) -> EventLoopFuture<BackendCredentials> {
        eventLoop.makeCompletedFuture(self.credentialsNow(for: bucket, principal: principal)!)
    }

    public func credentialsNow(for bucket: BucketRoute, principal: String) -> Result<BackendCredentials, any Error>? {
        guard let credentials = bucket.credentials else {
            return .failure(S3Error(.internalError, "No backend credentials are configured for this bucket."))
        }
        return .success(credentials)
    }
}
