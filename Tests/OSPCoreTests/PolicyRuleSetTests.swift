import Testing

@testable import OSPCore

// Specifications of `RuleSet.evaluate`: which requests a grant table allows, and why the others are refused.

/// One request, written as a line of a table.
private func ask(
    _ principal: String,
    groups: [String] = [],
    _ action: String,
    bucket: String? = "data",
    key: String? = nil,
    listPrefix: String? = nil,
    method: String = "GET"
) -> AuthorizationRequest {
    AuthorizationRequest(
        principal: principal,
        groups: groups,
        action: action,
        bucket: bucket,
        key: key,
        conditions: listPrefix.map { ["prefix": $0] } ?? [:],
        request: RequestContext(method: method)
    )
}

private func allows(_ rules: RuleSet, _ request: AuthorizationRequest) -> Bool {
    rules.evaluate(request) == .allow(nil)
}

@Suite("Rules: a prefix with an exception")
struct PolicyPrefixExceptionTests {
    /// The type's doc example: the team reads, lists and writes `team/` except `team/secret/`.
    static let rules = RuleSet([
        Grant(principals: ["alice"], buckets: ["data"], prefix: "team/", actions: ["read", "list", "write"], effect: .allow),
        Grant(principals: ["*"], buckets: ["*"], prefix: "team/secret/", actions: ["*"], effect: .deny),
    ])

    @Test(arguments: [
        ("s3:GetObject", "team/a", true),
        ("s3:PutObject", "team/sub/b.csv", true),
        ("s3:GetObject", "team/", true),
        ("s3:GetObject", "team/secret/x", false),
        ("s3:PutObject", "team/secret/x", false),
        ("s3:GetObject", "team/secret/", false),
        ("s3:GetObject", "team/secretary", true),  // a prefix, not a path segment: "team/secret/" does not cover it
        ("s3:GetObject", "other/b", false),
        ("s3:GetObject", "team", false),
        ("s3:GetObject", "Team/a", false),  // keys compare byte for byte
        ("s3:DeleteObject", "team/a", false),  // not in read, list or write
    ])
    func objectActions(action: String, key: String, allowed: Bool) {
        #expect(allows(Self.rules, ask("alice", action, key: key)) == allowed)
    }

    @Test func theDenyNamesItsGrant() {
        #expect(Self.rules.evaluate(ask("alice", "s3:GetObject", key: "team/secret/x")) == .deny(reason: "denied by grant 1"))
    }

    @Test func anythingUngrantedIsRefusedAsNoGrant() {
        #expect(Self.rules.evaluate(ask("alice", "s3:GetObject", key: "other/b")) == .deny(reason: "no grant"))
        #expect(Self.rules.evaluate(ask("bob", "s3:GetObject", key: "team/a")) == .deny(reason: "no grant"))
        #expect(Self.rules.evaluate(ask("alice", "s3:GetObject", bucket: "elsewhere", key: "team/a")) == .deny(reason: "no grant"))
    }

    @Test(arguments: [
        ("team/", true),
        ("team/x", true),
        ("team/secret/", false),
        ("team/secret/deeper/", false),
        ("", false),  // a parent of the grant: would list every key outside it
        ("te", false),
        ("other/", false),
    ])
    func listingUnderThePrefix(listPrefix: String, allowed: Bool) {
        #expect(allows(Self.rules, ask("alice", "s3:ListBucket", listPrefix: listPrefix)) == allowed)
    }

    @Test func listingWithoutAPrefixIsListingTheWholeBucket() {
        #expect(!allows(Self.rules, ask("alice", "s3:ListBucket")))
        let wholeBucket = RuleSet([Grant(principals: ["alice"], buckets: ["data"], actions: ["list"], effect: .allow)])
        #expect(allows(wholeBucket, ask("alice", "s3:ListBucket")))
        #expect(allows(wholeBucket, ask("alice", "s3:ListBucketVersions", listPrefix: "any/")))
    }
}

@Suite("Rules: deny beats allow; default deny")
struct PolicyPrecedenceTests {
    static let allow = Grant(principals: ["alice"], buckets: ["data"], actions: ["*"], effect: .allow)
    static let deny = Grant(principals: ["alice"], buckets: ["data"], prefix: "private/", actions: ["s3:GetObject"], effect: .deny)

    @Test(arguments: [[allow, deny], [deny, allow], [allow, allow, deny], [deny, deny, allow]])
    func denyWinsWhateverTheOrder(grants: [Grant]) {
        let rules = RuleSet(grants)
        #expect(!allows(rules, ask("alice", "s3:GetObject", key: "private/x")))
        #expect(allows(rules, ask("alice", "s3:GetObject", key: "public/x")))
        #expect(allows(rules, ask("alice", "s3:PutObject", key: "private/x")))
    }

    @Test func theReasonNamesTheFirstMatchingDeny() {
        let rules = RuleSet([Self.allow, Self.deny, Self.deny])
        #expect(rules.evaluate(ask("alice", "s3:GetObject", key: "private/x")) == .deny(reason: "denied by grant 1"))
        let reversed = RuleSet([Self.deny, Self.allow])
        #expect(reversed.evaluate(ask("alice", "s3:GetObject", key: "private/x")) == .deny(reason: "denied by grant 0"))
    }

    @Test func noGrantsRefuseEverything() {
        let rules = RuleSet([])
        #expect(rules.evaluate(ask("alice", "s3:GetObject", key: "x")) == .deny(reason: "no grant"))
        #expect(rules.evaluate(ask("alice", "s3:ListAllMyBuckets", bucket: nil)) == .deny(reason: "no grant"))
    }

    @Test func onlyDenyGrantsStillRefuse() {
        let rules = RuleSet([Grant(principals: ["*"], buckets: ["*"], prefix: "x/", actions: ["*"], effect: .deny)])
        #expect(rules.evaluate(ask("alice", "s3:GetObject", key: "y")) == .deny(reason: "no grant"))
    }
}

@Suite("Rules: principals and groups")
struct PolicyPrincipalTests {
    static let rules = RuleSet([
        Grant(principals: ["group:analysts", "carol"], buckets: ["data"], actions: ["read"], effect: .allow),
        Grant(principals: ["*"], buckets: ["public"], actions: ["read"], effect: .allow),
        Grant(principals: ["group:interns"], buckets: ["data"], prefix: "hr/", actions: ["*"], effect: .deny),
    ])

    @Test(arguments: [
        ("alice", ["analysts"], "data", "k", true),
        ("alice", ["staff", "analysts"], "data", "k", true),
        ("alice", ["staff"], "data", "k", false),
        ("carol", [], "data", "k", true),
        ("analysts", [], "data", "k", false),  // a principal named like the group is not in it
        ("group:analysts", [], "data", "k", false),
        ("anyone", [], "public", "k", true),  // "*": anyone authenticated
        ("alice", ["analysts", "interns"], "data", "hr/pay", false),  // a group's deny reaches its members
        ("alice", ["analysts", "interns"], "data", "sales/q1", true),
    ])
    func whoTheGrantNames(principal: String, groups: [String], bucket: String, key: String, allowed: Bool) {
        #expect(allows(Self.rules, ask(principal, groups: groups, "s3:GetObject", bucket: bucket, key: key)) == allowed)
    }
}

@Suite("Rules: action patterns and groups")
struct PolicyActionTests {
    private static func rules(_ pattern: String) -> RuleSet {
        RuleSet([Grant(principals: ["alice"], buckets: ["data"], actions: [pattern], effect: .allow)])
    }

    @Test(arguments: [
        ("s3:Get*", "s3:GetObject", true),
        ("s3:Get*", "s3:GetObjectTagging", true),
        ("s3:Get*", "s3:PutObject", false),
        ("s3:Get*", "s3:ListBucket", false),
        ("s3:GetObject", "s3:GetObject", true),
        ("s3:GetObject", "s3:GetObjectTagging", false),  // exact names are not prefixes
        ("s3:GetObjectTagging", "s3:GetObject", false),
        ("s3:*", "s3:DeleteObject", true),
        ("s3:*", "s3:Unknown", true),
        ("*", "s3:PutBucketPolicy", true),
        ("s3:getobject", "s3:GetObject", true),  // IAM action names are case-insensitive
        ("S3:GET*", "s3:GetObjectAcl", true),
    ])
    func patterns(pattern: String, action: String, allowed: Bool) {
        #expect(allows(Self.rules(pattern), ask("alice", action, key: "k")) == allowed)
    }

    @Test(arguments: [
        ("read", ["s3:GetObject", "s3:GetObjectVersion", "s3:GetObjectTagging", "s3:GetObjectAcl", "s3:GetObjectAttributes", "s3:ListMultipartUploadParts"],
         ["s3:PutObject", "s3:DeleteObject", "s3:ListBucket", "s3:PutObjectTagging"]),
        ("write", ["s3:PutObject", "s3:AbortMultipartUpload", "s3:PutObjectTagging", "s3:PutObjectAcl"],
         ["s3:GetObject", "s3:DeleteObject", "s3:PutObjectRetention", "s3:PutObjectLegalHold", "s3:PutBucketPolicy"]),
        ("list", ["s3:ListBucket", "s3:ListBucketVersions", "s3:ListBucketMultipartUploads", "s3:GetBucketLocation"],
         ["s3:GetObject", "s3:PutObject", "s3:GetBucketPolicy"]),
        ("delete", ["s3:DeleteObject", "s3:DeleteObjectVersion", "s3:DeleteObjectTagging"],
         ["s3:PutObject", "s3:GetObject", "s3:DeleteBucket"]),
    ])
    func groups(group: String, covered: [String], notCovered: [String]) {
        let rules = Self.rules(group)
        for action in covered {
            #expect(allows(rules, ask("alice", action, key: "k")), "\(group) should cover \(action)")
        }
        for action in notCovered {
            #expect(!allows(rules, ask("alice", action, key: "k")), "\(group) should not cover \(action)")
        }
    }
}

@Suite("Rules: bucket names and globs")
struct PolicyBucketTests {
    @Test(arguments: [
        ("logs-*", "logs-2024", true),
        ("logs-*", "logs-", true),
        ("logs-*", "logs", false),
        ("logs-*", "mylogs-2024", false),
        ("*", "anything", true),
        ("data", "data", true),
        ("data", "data2", false),
        ("data", "dat", false),
    ])
    func patterns(pattern: String, bucket: String, allowed: Bool) {
        let rules = RuleSet([Grant(principals: ["alice"], buckets: ["other", pattern], actions: ["read"], effect: .allow)])
        #expect(allows(rules, ask("alice", "s3:GetObject", bucket: bucket, key: "k")) == allowed)
    }

    @Test func aRequestWithoutABucketMatchesNoBucketGrant() {
        let rules = RuleSet([Grant(principals: ["alice"], buckets: ["*"], actions: ["*"], effect: .allow)])
        #expect(!allows(rules, ask("alice", "s3:GetObject", bucket: nil, key: "k")))
    }
}

@Suite("Rules: HeadBucket and ListAllMyBuckets")
struct PolicyBucketLevelTests {
    static let rules = RuleSet([
        Grant(principals: ["alice"], buckets: ["data"], prefix: "team/", actions: ["list"], effect: .allow),
        Grant(principals: ["bob"], buckets: ["*"], actions: ["*"], effect: .allow),
        Grant(principals: ["*"], buckets: ["data"], prefix: "team/secret/", actions: ["*"], effect: .deny),
        Grant(principals: ["bob"], buckets: ["vault"], actions: ["*"], effect: .deny),
        Grant(principals: ["mallory"], buckets: ["data"], actions: ["read"], effect: .allow),
        Grant(principals: ["mallory"], buckets: ["*"], actions: ["list"], effect: .deny),
    ])

    @Test(arguments: [
        ("alice", "data", true),  // a grant on team/ may probe the bucket it is on
        ("alice", "other", false),
        ("bob", "data", true),  // a deny on a sub-prefix is an exception inside the bucket, not of it
        ("bob", "vault", false),  // a deny on the whole bucket covers it
        ("carol", "data", false),
    ])
    func headBucket(principal: String, bucket: String, allowed: Bool) {
        #expect(allows(Self.rules, ask(principal, "s3:ListBucket", bucket: bucket, method: "HEAD")) == allowed)
    }

    @Test func headBucketIsNotListingTheWholeBucket() {
        #expect(!allows(Self.rules, ask("alice", "s3:ListBucket", bucket: "data", method: "GET")))
    }

    @Test(arguments: [
        ("alice", true),  // any allow grant of the principal
        ("bob", true),  // a deny on one bucket is filtering, not a refusal to list
        ("mallory", false),  // a deny of the action on every bucket
        ("carol", false),
    ])
    func listAllMyBuckets(principal: String, allowed: Bool) {
        #expect(allows(Self.rules, ask(principal, "s3:ListAllMyBuckets", bucket: nil)) == allowed)
    }

    @Test func visibleBuckets() {
        let rules = RuleSet([
            Grant(principals: ["alice"], buckets: ["data", "logs-*"], actions: ["read"], effect: .allow),
            Grant(principals: ["group:ops"], buckets: ["ops"], actions: ["list"], effect: .allow),
            Grant(principals: ["alice"], buckets: ["vault"], actions: ["*"], effect: .deny),
            Grant(principals: ["root"], buckets: ["*"], actions: ["*"], effect: .allow),
        ])
        #expect(rules.allowedBuckets(principal: "alice", groups: []) == .only(["data", "logs-*"]))
        #expect(rules.allowedBuckets(principal: "alice", groups: ["ops"]) == .only(["data", "logs-*", "ops"]))
        #expect(rules.allowedBuckets(principal: "root", groups: []) == .all)
        #expect(rules.allowedBuckets(principal: "nobody", groups: []) == .only([]))

        let visibility = rules.allowedBuckets(principal: "alice", groups: [])
        #expect(visibility.includes("logs-2024"))
        #expect(visibility.includes("data"))
        #expect(!visibility.includes("vault"))
        #expect(!visibility.includes("ops"))
    }
}
