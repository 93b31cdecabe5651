import NIOCore
import S3Signing

/// Backend credentials kept in Redis (the original's `bucket_creds_fetcher`): the principal's own
/// keys for a bucket (`HGETALL P creds:<principal>:<bucket>`) win over the bucket's shared keys
/// (`HGETALL P creds:<bucket>`); each hash holds `access_key`, `secret_key` and optionally
/// `session_token`. `<bucket>` is the bucket name clients use. A bucket served by the `"*"` default
/// route falls back, in the same order, to `creds:<principal>:*` and `creds:*`: keys for one such
/// bucket may be kept on their own, and the rest share the default route's.
///
/// Refusals:
/// - neither hash exists → 403 AccessDenied. No keys for this bucket (and this principal) is a data
///   decision an operator made, or has yet to make; retrying will not help, and the client must not
///   learn more than that it may not use the bucket.
/// - Redis down or slow, a key of the wrong type, or a hash missing `access_key`/`secret_key` → 503
///   ServiceUnavailable: the store could not give a usable answer.
///
/// Nothing is cached here; wrap the source in a cache keyed by (principal, bucket) if the lookup
/// rate matters.
public struct RedisCredentialSource: BackendCredentialSource {
    public let client: RedisClient
    public let schema: RedisKeySchema

    public init(client: RedisClient) {
        self.client = client
        self.schema = client.settings.schema
    }

    public func credentials(
        for bucket: BucketRoute,
        principal: String,
        on eventLoop: any EventLoop
    ) -> EventLoopFuture<BackendCredentials> {
        var keys = [schema.credentials(principal: principal, bucket: bucket.name), schema.credentials(bucket: bucket.name)]
        if bucket.isDefaultRoute {
            keys += [schema.credentials(principal: principal, bucket: "*"), schema.credentials(bucket: "*")]
        }
        return firstCredentials(keys[...], on: eventLoop)
    }

    /// The credentials in the first of `keys` that holds any; 403 when none does.
    private func firstCredentials(_ keys: ArraySlice<String>, on eventLoop: any EventLoop) -> EventLoopFuture<BackendCredentials> {
        guard let key = keys.first else {
            return eventLoop.makeFailedFuture(S3Error(.accessDenied, "No backend credentials for this bucket."))
        }
        return lookup(key, on: eventLoop).flatMap { found in
            if let found { return eventLoop.makeSucceededFuture(found) }
            return self.firstCredentials(keys.dropFirst(), on: eventLoop)
        }
    }

    private func lookup(_ key: String, on eventLoop: any EventLoop) -> EventLoopFuture<BackendCredentials?> {
        Self.lookup(key, client: client, on: eventLoop)
    }

    private static func lookup(_ key: String, client: RedisClient, on eventLoop: any EventLoop) -> EventLoopFuture<BackendCredentials?> {
        client.command(["HGETALL", key], idempotent: true, on: eventLoop)
            .flatMapErrorThrowing { _ in
                throw S3Error(.serviceUnavailable, "The backend credential store is unavailable.")
            }
            .flatMapThrowing { reply in
                try credentials(from: reply)
            }
    }

    static func credentials(from reply: RedisReply) throws(S3Error) -> BackendCredentials? {
        guard let fields = reply.hashFields else {
            throw S3Error(.serviceUnavailable, "The backend credential store is unavailable.")
        }
        if fields.isEmpty { return nil }
        guard let accessKey = fields["access_key"], !accessKey.isEmpty,
            let secretKey = fields["secret_key"], !secretKey.isEmpty
        else {
            throw S3Error(.serviceUnavailable, "The backend credential store is unavailable.")
        }
        let token = fields["session_token"].flatMap { $0.isEmpty ? nil : $0 }
        return BackendCredentials(accessKey: accessKey, secretKey: secretKey, sessionToken: token)
    }
}
