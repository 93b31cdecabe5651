/// The cos_map: which backend serves each bucket a client may name. Exact names win; the optional
/// `"*"` entry serves every other bucket; without it, unlisted buckets have no route.
public struct BucketMap: Sendable, Equatable {
    /// Routes by the bucket name clients use (never contains `"*"`).
    public var routes: [String: BucketRoute]
    /// The `"*"` entry, if configured.
    public var defaultRoute: BucketRoute?

    public init(routes: [String: BucketRoute] = [:], defaultRoute: BucketRoute? = nil) {
        self.routes = routes
        self.defaultRoute = defaultRoute
    }

    /// The route serving `bucket`: its own entry, else the default route named for `bucket` (so
    /// credential sources and logs see the bucket the client asked for), else `nil` (NoSuchBucket).
    public func route(for bucket: String) -> BucketRoute? {
        if let route = routes[bucket] { return route }
        guard var route = defaultRoute else { return nil }
        route.name = bucket
        route.isDefaultRoute = true
        return route
    }
}
