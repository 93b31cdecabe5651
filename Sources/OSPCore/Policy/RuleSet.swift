/// A table of grants evaluated as one permission set: "fine-grained permissions on any prefix, with
/// exceptions". The same evaluator serves grants from the config file and grants stored in Redis.
///
/// A grant *matches* a request when all of these hold:
/// - **principal**: it names the request's principal, one of its groups (`group:NAME`), or `*`;
/// - **bucket**: one of its bucket patterns matches (`*`, `logs-*`, or the exact name);
/// - **action**: one of its action patterns matches (`s3:GetObject`, `s3:Get*`, `s3:*`, `*`, or the
///   groups `read`, `write`, `list`, `delete`); names compare case-insensitively, as in IAM;
/// - **resource under the prefix** (byte for byte, no normalisation):
///   - object requests (a `key`): the key starts with the grant's prefix;
///   - bucket-level requests (no `key`: ListBucket, ListBucketVersions, ListBucketMultipartUploads,
///     GetBucketLocation, DeleteObjects, …): the request's `prefix` condition, `""` when absent,
///     starts with the grant's prefix. A grant on `team/` allows listing `team/` and `team/x`, not
///     `""` nor `te`. Listing a *parent* of the grant (to browse down to `team/`) is refused on
///     purpose: osp streams listings unchanged, so it would show the names of every key outside the
///     grant. Clients start at the granted prefix (`aws s3 ls s3://bucket/team/`).
///   - HeadBucket (`HEAD` on the bucket, authorized as `s3:ListBucket`) only says the bucket exists,
///     which any object grant on the bucket already reveals: an allow on any prefix covers it, a deny
///     only when it covers the whole bucket (prefix `""`). SDKs probe buckets this way before use.
///   - `s3:ListAllMyBuckets`: any allow grant of the principal matches (the bucket list is filtered
///     with `allowedBuckets(principal:groups:)` elsewhere); a deny matches only when it also covers
///     the action, every bucket (`*`) and prefix `""`.
///
/// Then: any matching deny → `.deny` naming the first such grant by index (**deny beats allow**,
/// whatever the order); else any matching allow → `.allow(nil)`; else `.deny(reason: "no grant")`
/// (**default deny**). A deny on a sub-prefix stops reads, writes and listings *inside* it; a listing
/// of its parent still shows the names (never the contents) of keys below it, as in AWS with an
/// `s3:prefix` condition.
///
/// Example — the team may read, list and write `team/` except `team/secret/`:
/// ```swift
/// let rules = RuleSet([
///     Grant(principals: ["group:team"], buckets: ["data"], prefix: "team/",
///           actions: ["read", "list", "write"], effect: .allow),
///     Grant(principals: ["*"], buckets: ["*"], prefix: "team/secret/", actions: ["*"], effect: .deny),
/// ])
/// // GetObject data/team/a        → .allow(nil)
/// // GetObject data/team/secret/x → .deny(reason: "denied by grant 1")
/// // GetObject data/other/b       → .deny(reason: "no grant")
/// ```
///
/// Patterns are compiled in `init`; `evaluate` compares bytes and does not allocate. Grants are assumed
/// valid (`Grant.validate()`, which the config reader and the JSON decoder apply): an action pattern
/// that does not compile matches nothing.
public struct RuleSet: Sendable {
    /// The grants as written, in order; deny reasons index into this list.
    public let grants: [Grant]
    private let compiled: [CompiledGrant]

    public init(_ grants: [Grant]) {
        self.grants = grants
        self.compiled = grants.map(CompiledGrant.init)
    }

    public func evaluate(_ request: AuthorizationRequest) -> PolicyDecision {
        self.evaluate(
            principal: request.principal,
            groups: request.groups,
            action: request.action,
            bucket: request.bucket,
            key: request.key,
            method: request.request.method,
            listingPrefix: request.key == nil ? request.conditions["prefix"] : nil
        )
    }

    /// `evaluate` over the parts of a request the rules read, so the per-request hot path asks
    /// without building an `AuthorizationRequest`.
    /// - Parameter listingPrefix: a bucket-level request's `prefix` query parameter, if any.
    func evaluate(
        principal: String,
        groups: [String],
        action: String,
        bucket: String?,
        key: String?,
        method: String,
        listingPrefix: String?
    ) -> PolicyDecision {
        let resource = Resource(action: action, bucket: bucket, key: key, method: method, listingPrefix: listingPrefix)
        var allowed = false
        // By index: the grants are read in place, not copied (this runs for every request).
        for index in compiled.indices {
            guard compiled[index].effect == .deny || !allowed else { continue }
            guard compiled[index].matches(principal, groups, action, bucket, resource) else { continue }
            switch compiled[index].effect {
            case .deny: return .deny(reason: "denied by grant \(index)")
            case .allow: allowed = true
            }
        }
        return allowed ? .allow(nil) : .deny(reason: "no grant")
    }

    /// Which buckets ListBuckets may show the principal: those named by its allow grants. Denies do
    /// not hide names; they refuse access.
    public func allowedBuckets(principal: String, groups: [String]) -> BucketVisibility {
        var patterns: Set<String> = []
        for (grant, written) in zip(compiled, grants) where grant.effect == .allow && grant.appliesTo(principal, groups) {
            if grant.buckets.contains(.any) { return .all }
            patterns.formUnion(written.buckets)
        }
        return .only(patterns)
    }
}

/// Which buckets a principal may see in ListBuckets: all, or those matching a set of names and
/// trailing-`*` globs.
public enum BucketVisibility: Sendable, Equatable {
    case all
    case only(Set<String>)

    public func includes(_ bucket: String) -> Bool {
        switch self {
        case .all: return true
        case .only(let patterns): return patterns.contains { BucketPattern($0)?.matches(bucket) ?? false }
        }
    }
}

/// What the request touches, worked out once per evaluation.
private enum Resource {
    case object(key: String)
    case listing(prefix: String)
    case bucketExistence
    case bucketList

    init(action: String, bucket: String?, key: String?, method: String, listingPrefix: String?) {
        if let key {
            self = .object(key: key)
        } else if bucket == nil && ActionPattern.listAllMyBuckets.matches(action) {
            self = .bucketList
        } else if method == "HEAD" && ActionPattern.listBucket.matches(action) {
            self = .bucketExistence
        } else {
            self = .listing(prefix: listingPrefix ?? "")
        }
    }
}

extension ActionPattern {
    fileprivate static let listAllMyBuckets = ActionPattern.exact(Array("s3:listallmybuckets".utf8))
    fileprivate static let listBucket = ActionPattern.exact(Array("s3:listbucket".utf8))
}

/// A grant with its patterns compiled.
private struct CompiledGrant: Sendable {
    let effect: Grant.Effect
    let anyone: Bool
    let principals: Set<String>
    let groups: Set<String>
    let buckets: [BucketPattern]
    let prefix: String
    let actions: [ActionPattern]

    init(_ grant: Grant) {
        effect = grant.effect
        anyone = grant.principals.contains("*")
        principals = Set(grant.principals.filter { !$0.hasPrefix(Grant.groupMarker) })
        groups = Set(grant.principals.compactMap { $0.hasPrefix(Grant.groupMarker) ? String($0.dropFirst(Grant.groupMarker.count)) : nil })
        buckets = grant.buckets.compactMap(BucketPattern.init)
        prefix = grant.prefix
        actions = grant.actions.flatMap { ActionPattern.compile($0) ?? [] }
    }

    func appliesTo(_ principal: String, _ requestGroups: [String]) -> Bool {
        anyone || principals.contains(principal) || requestGroups.contains(where: groups.contains)
    }

    func matches(_ principal: String, _ groups: [String], _ action: String, _ bucket: String?, _ resource: Resource) -> Bool {
        guard appliesTo(principal, groups) else { return false }
        if case .bucketList = resource, effect == .allow { return true }
        guard actions.contains(where: { $0.matches(action) }) else { return false }
        switch resource {
        case .bucketList:
            return prefix.isEmpty && buckets.contains(.any)
        case .object(let key):
            return matchesBucket(bucket) && key.utf8.starts(with: prefix.utf8)
        case .listing(let listed):
            return matchesBucket(bucket) && listed.utf8.starts(with: prefix.utf8)
        case .bucketExistence:
            return matchesBucket(bucket) && (effect == .allow || prefix.isEmpty)
        }
    }

    private func matchesBucket(_ bucket: String?) -> Bool {
        guard let bucket else { return false }
        return buckets.contains { $0.matches(bucket) }
    }
}
