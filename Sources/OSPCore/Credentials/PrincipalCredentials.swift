import NIOCore
import S3Signing
import Yams

/// One entry of `credentials.principals`: the backend identity `principal` uses for the buckets
/// matching `buckets` (names, `"logs-*"` prefixes or `"*"`). This is how each client key maps onto
/// its own backend identity, so the backend's own audit log and permissions see who really acted.
public struct PrincipalCredentialRule: Sendable, Equatable {
    public var principal: String
    public var buckets: [String]
    public var credentials: BackendCredentials

    public init(principal: String, buckets: [String], credentials: BackendCredentials) {
        self.principal = principal
        self.buckets = buckets
        self.credentials = credentials
    }
}

/// Backend credentials chosen by (principal, bucket) from the config file
/// (`credentials.backend: static` with `credentials.principals`).
///
/// Rules are tried in file order and the first whose principal is the requester's and whose bucket
/// pattern matches wins. With no match, the bucket's own keys (`buckets.<name>.access_key`) serve, so
/// per-principal identities can be added for a few principals without repeating every bucket. With
/// neither, the request is refused with `AccessDenied`: never signed with someone else's identity.
///
/// Buckets are matched by `BucketRoute.name`, the name clients use; for the `"*"` default route that
/// is the client's bucket only if the caller passes a route named after it.
public struct PrincipalBucketCredentials: BackendCredentialSource {
    public let rules: [PrincipalCredentialRule]
    /// The rules by principal, patterns compiled, file order kept.
    private let compiled: [String: [(patterns: [BucketPattern], credentials: BackendCredentials)]]

    public static let noCredentials = S3Error(.accessDenied, "No backend credentials for this principal and bucket.")

    /// Rules whose bucket patterns are invalid (empty, or a `*` before the end) match nothing; the
    /// config reader refuses them before they get here.
    public init(_ rules: [PrincipalCredentialRule]) {
        self.rules = rules
        var compiled: [String: [(patterns: [BucketPattern], credentials: BackendCredentials)]] = [:]
        for rule in rules {
            compiled[rule.principal, default: []].append((rule.buckets.compactMap(BucketPattern.init), rule.credentials))
        }
        self.compiled = compiled
    }

    /// The configured credentials for `principal` on `bucket`, or nil when no rule matches.
    public func match(principal: String, bucket: String) -> BackendCredentials? {
        guard let candidates = compiled[principal] else { return nil }
        for candidate in candidates where candidate.patterns.contains(where: { $0.matches(bucket) }) {
            return candidate.credentials
        }
        return nil
    }

    public func credentials(
        for bucket: BucketRoute,
        principal: String,
        on eventLoop: any EventLoop
    ) -> EventLoopFuture<BackendCredentials> {
        eventLoop.makeCompletedFuture(self.credentialsNow(for: bucket, principal: principal)!)
    }

    public func credentialsNow(for bucket: BucketRoute, principal: String) -> Result<BackendCredentials, any Error>? {
        if let credentials = match(principal: principal, bucket: bucket.name) ?? bucket.credentials {
            return .success(credentials)
        }
        return .failure(Self.noCredentials)
    }
}

extension PrincipalCredentialRule {
    static let configKeys = ["principal", "buckets", "access_key", "secret_key", "session_token"]

    /// Reads the list under `credentials.principals`; `path` is that list's key path:
    /// ```yaml
    /// principals:
    ///   - principal: alice
    ///     buckets: ["logs-*", reports]
    ///     access_key: ${ALICE_BACKEND_KEY}
    ///     secret_key: ${ALICE_BACKEND_SECRET}
    ///     session_token: ${ALICE_BACKEND_TOKEN}   # optional
    /// ```
    /// The same (principal, bucket pattern) twice is refused: the second could never match.
    static func read(_ items: [Node], path: String, interpolation: EnvironmentInterpolation) throws(ConfigError) -> [PrincipalCredentialRule] {
        var rules: [PrincipalCredentialRule] = []
        var firstIndex: [String: [String: Int]] = [:]
        for (index, item) in items.enumerated() {
            let mapping = try ConfigMapping(item, path: "\(path)[\(index)]", allowedKeys: configKeys, interpolation: interpolation)
            let principal = try mapping.nonEmptyString("principal", required: true)!
            guard let buckets = try mapping.stringList("buckets") else {
                throw ConfigError(path: mapping.path(of: "buckets"), message: "missing required key 'buckets' (a list of bucket names or 'prefix-*' patterns)")
            }
            guard !buckets.isEmpty else {
                throw ConfigError(path: mapping.path(of: "buckets"), message: "must name at least one bucket")
            }
            for (bucketIndex, bucket) in buckets.enumerated() {
                let bucketPath = "\(mapping.path(of: "buckets"))[\(bucketIndex)]"
                guard BucketPattern(bucket) != nil else {
                    throw ConfigError(path: bucketPath, message: "'\(bucket)' is not a bucket name, 'prefix-*' pattern or '*'")
                }
                if let first = firstIndex[principal]?[bucket] {
                    let earlier = first == index ? "listed twice here" : "already in \(path)[\(first)], which always wins"
                    throw ConfigError(path: bucketPath, message: "'\(bucket)' for '\(principal)' is \(earlier)")
                }
                firstIndex[principal, default: [:]][bucket] = index
            }
            rules.append(
                PrincipalCredentialRule(
                    principal: principal,
                    buckets: buckets,
                    credentials: BackendCredentials(
                        accessKey: try mapping.nonEmptyString("access_key", required: true)!,
                        secretKey: try mapping.nonEmptyString("secret_key", required: true)!,
                        sessionToken: try mapping.nonEmptyString("session_token", required: false)
                    )
                )
            )
        }
        return rules
    }
}
