/// The keys osp reads from Redis, all under one configurable prefix `P` (default `osp:`), so one
/// Redis can serve several gateways or share a database with other applications. Documented for
/// operators in `docs/redis-schema.md`; osp only ever reads these keys.
///
/// | key | type | holds | read by |
/// |---|---|---|---|
/// | `P key:<access_key>` | HASH | `secret`, `principal`, `groups` (comma-separated, optional) | `RedisSecretSource` |
/// | `P grants:<principal>` | STRING | JSON list of grants (`Grant`'s JSON form) | `RedisPolicy` |
/// | `P grants:group:<group>` | STRING | JSON list of grants for members of the group | `RedisPolicy` |
/// | `P creds:<principal>:<bucket>` | HASH | `access_key`, `secret_key`, `session_token` (optional) | `RedisCredentialSource` (first) |
/// | `P creds:<bucket>` | HASH | the same | `RedisCredentialSource` (fallback) |
///
/// `<bucket>` is the bucket name as configured under `buckets:` (as clients call it; `*` for the
/// default route). Principals, groups and buckets are used verbatim; a principal name containing
/// `:` could collide with a bucket-level key, so principals must not contain `:`.
public struct RedisKeySchema: Sendable, Equatable {
    public var prefix: String

    public init(prefix: String = "osp:") {
        self.prefix = prefix
    }

    public func clientKey(accessKey: String) -> String { "\(prefix)key:\(accessKey)" }
    public func grants(principal: String) -> String { "\(prefix)grants:\(principal)" }
    public func grants(group: String) -> String { "\(prefix)grants:group:\(group)" }
    public func credentials(bucket: String) -> String { "\(prefix)creds:\(bucket)" }
    public func credentials(principal: String, bucket: String) -> String { "\(prefix)creds:\(principal):\(bucket)" }
}
