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
}

/// The keys written next to each bucket in the config file.
public struct StaticBackendCredentials: BackendCredentialSource {
    public init() {}

    public func credentials(
        for bucket: BucketRoute,
        principal: String,
        on eventLoop: any EventLoop
    ) -> EventLoopFuture<BackendCredentials> {
        guard let credentials = bucket.credentials else {
            return eventLoop.makeFailedFuture(
                S3Error(.internalError, "No backend credentials are configured for this bucket.")
            )
        }
        return eventLoop.makeSucceededFuture(credentials)
    }
}
