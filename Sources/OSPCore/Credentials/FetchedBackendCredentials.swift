/// One answer of a remote credential service (HTTP, Redis): the keys, whether they were chosen for
/// the requesting principal or hold for everyone using the bucket, and how long they may be reused.
/// `perPrincipal` is what lets osp cache a shared answer once per bucket without ever letting one
/// principal's answer serve another (the original cached by bucket alone, so the first requester's
/// credentials served everyone).
public struct FetchedBackendCredentials: Sendable, Equatable {
    public var credentials: BackendCredentials
    /// The answer depends on the principal: cache it under (principal, bucket), never under bucket.
    public var perPrincipal: Bool
    /// How long the answer may be reused; `nil` leaves it to the bucket's `ttl` or the cache default,
    /// 0 means "do not cache".
    public var ttlSeconds: Int64?

    public init(credentials: BackendCredentials, perPrincipal: Bool, ttlSeconds: Int64? = nil) {
        self.credentials = credentials
        self.perPrincipal = perPrincipal
        self.ttlSeconds = ttlSeconds
    }
}
