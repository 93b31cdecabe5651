import NIOCore
import NIOEmbedded
import NIOHTTP1
import S3Signing
import Testing

@testable import OSPCore

/// The `rules` and `allow-all` backends behind the `PolicyEngine` seam.
@Suite("Policy engines")
struct PolicyEngineTests {
    @Test func rulesAnswerOnTheCallersLoopWithoutAHop() throws {
        let loop = EmbeddedEventLoop()
        let engine: any PolicyEngine = RulesPolicy(grants: [
            Grant(principals: ["alice"], buckets: ["data"], prefix: "team/", actions: ["read"], effect: .allow)
        ])
        #expect(engine.name == "rules")

        let allowed = engine.decide(AuthorizationRequest(principal: "alice", action: "s3:GetObject", bucket: "data", key: "team/a"), on: loop)
        let denied = engine.decide(AuthorizationRequest(principal: "alice", action: "s3:GetObject", bucket: "data", key: "x"), on: loop)
        // Already complete: no loop turn needed.
        #expect(allowed.eventLoop === loop)
        #expect(try allowed.wait() == .allow(nil))
        #expect(try denied.wait() == .deny(reason: "no grant"))
    }

    @Test func allowAllAllowsEverything() throws {
        let loop = EmbeddedEventLoop()
        let engine: any PolicyEngine = AllowAllPolicy()
        #expect(engine.name == "allow-all")
        #expect(try engine.decide(AuthorizationRequest(principal: "anyone", action: "s3:DeleteBucket", bucket: "b"), on: loop).wait() == .allow(nil))
    }

    /// Rules read only principal, groups, action, bucket, key, the method and a listing's prefix, so
    /// that is all the authorizer builds for them; a remote engine is asked with the full input.
    @Test func rulesAreAskedOnlyWhatTheyReadRemoteEnginesEverything() {
        let route = S3Route(
            bucket: "data", key: nil, rawKeyPath: "", addressing: .path,
            operation: S3Operation(name: "ListObjectsV2", action: "s3:ListBucket")
        )
        let head = HTTPRequestHead(version: .http1_1, method: .GET, uri: "/data?list-type=2&prefix=team%2F&max-keys=5", headers: ["User-Agent": "boto3"])
        let identity = ClientIdentity(accessKey: "AK", secretKey: "SK", principal: "alice")
        func ask(_ authorizer: Authorizer) -> AuthorizationRequest {
            authorizer.questions(
                authorizer.view(
                    route: route, identity: identity, head: head, target: RequestTarget(uri: head.uri),
                    authentication: .anonymous, sourceIP: "127.0.0.1", secureTransport: false
                )
            )[0]
        }
        let rules = Authorizer(engine: RulesPolicy(grants: [
            Grant(principals: ["alice"], buckets: ["data"], prefix: "team/", actions: ["list"], effect: .allow)
        ]))
        let lean = ask(rules)
        #expect(lean.conditions == ["prefix": "team/"])
        #expect(lean.request.method == "GET")
        #expect(rules.authorizeNow([lean]) == .allow)

        let remote = ask(Authorizer(engine: DenyAllPolicy(reason: "remote")))
        #expect(remote.conditions["prefix"] == "team/")
        #expect(remote.conditions["max-keys"] == "5")
        #expect(remote.conditions["UserAgent"] == "boto3")
        #expect(remote.conditions["SourceIp"] == "127.0.0.1")
        #expect(remote.conditions["CurrentTime"] == nil, "added when the engine is really asked (OPAInput)")
        #expect(remote.request.query == "list-type=2&prefix=team%2F&max-keys=5")
    }

    /// A browser form upload is asked about as a PutObject of the key its form names, and a remote
    /// engine can tell it from a signed request (MinIO's `authType` POST).
    @Test func aFormUploadIsAskedAboutItsKeyAsPOST() {
        let route = S3Route(
            bucket: "photos", key: "uploads/cat.jpg", rawKeyPath: "", addressing: .path,
            operation: S3Operation(name: "PostObject", action: "s3:PutObject")
        )
        let head = HTTPRequestHead(version: .http1_1, method: .POST, uri: "/photos", headers: ["Content-Type": "multipart/form-data; boundary=b"])
        let identity = ClientIdentity(accessKey: "AK", secretKey: "SK", principal: "alice")
        let authorizer = Authorizer(engine: DenyAllPolicy(reason: "remote"))
        let question = authorizer.questions(
            authorizer.view(
                route: route, identity: identity, head: head, target: RequestTarget(uri: head.uri),
                authentication: .postPolicy(.sigV2(accessKey: "AK", signature: "c2ln")), sourceIP: nil, secureTransport: false
            )
        )[0]
        #expect(question.action == "s3:PutObject")
        #expect(question.bucket == "photos" && question.key == "uploads/cat.jpg")
        #expect(question.conditions["authType"] == "POST")
        #expect(question.conditions["signatureversion"] == "AWS")
    }

    /// A write that also sets an ACL or tags asks for those permissions too, as AWS does; it is then
    /// no longer a one-question request, so the in-memory hot path steps aside for `authorizeNow`.
    @Test func aWriteThatSetsAnACLOrTagsAsksForThosePermissionsToo() {
        var route = S3Route(
            bucket: "data", key: "up/a.txt", rawKeyPath: "/up/a.txt", addressing: .path,
            operation: S3Operation(name: "PutObject", action: "s3:PutObject")
        )
        route.alsoSets = [.acl, .tagging]
        let head = HTTPRequestHead(version: .http1_1, method: .PUT, uri: "/data/up/a.txt", headers: ["x-amz-acl": "public-read", "x-amz-tagging": "a=b"])
        let identity = ClientIdentity(accessKey: "AK", secretKey: "SK", principal: "carol")
        func decide(_ actions: [String]) -> (local: AuthorizationVerdict?, all: AuthorizationVerdict?, asked: [String]) {
            let authorizer = Authorizer(engine: RulesPolicy(grants: [
                Grant(principals: ["carol"], buckets: ["data"], prefix: "up/", actions: actions, effect: .allow)
            ]))
            let questions = authorizer.questions(
                authorizer.view(route: route, identity: identity, head: head, target: RequestTarget(uri: head.uri),
                           authentication: .anonymous, sourceIP: nil, secureTransport: false))
            return (authorizer.localVerdict(route: route, identity: identity, head: head, target: RequestTarget(uri: head.uri)),
                    authorizer.authorizeNow(questions), questions.map(\.action))
        }
        let putOnly = decide(["s3:PutObject"])
        #expect(putOnly.asked == ["s3:PutObject", "s3:PutObjectAcl", "s3:PutObjectTagging"])
        #expect(putOnly.local == nil)
        #expect(putOnly.all == .deny(reason: "no grant"))
        #expect(decide(["s3:PutObject", "s3:PutObjectAcl"]).all != .allow, "tags still need their own permission")
        #expect(decide(["write"]).all == .allow)
    }

    /// CreateBucket that makes the bucket public, lockable or changes who owns its objects asks for
    /// those permissions too; `s3:CreateBucket` alone creates only a plain bucket.
    @Test func createBucketThatSetsMoreAsksForThosePermissionsToo() throws {
        let head = HTTPRequestHead(version: .http1_1, method: .PUT, uri: "/fresh", headers: [
            "x-amz-acl": "public-read", "x-amz-bucket-object-lock-enabled": "true",
        ])
        let route = try S3RequestRouter(virtualHostDomains: []).route(
            method: "PUT", rawPath: "/fresh", rawQuery: "", host: "127.0.0.1", headers: head.headers
        )
        let identity = ClientIdentity(accessKey: "AK", secretKey: "SK", principal: "dave")
        func decide(_ actions: [String]) -> (verdict: AuthorizationVerdict?, asked: [String]) {
            let authorizer = Authorizer(engine: RulesPolicy(grants: [
                Grant(principals: ["dave"], buckets: ["fresh"], prefix: "", actions: actions, effect: .allow)
            ]))
            let questions = authorizer.questions(
                authorizer.view(route: route, identity: identity, head: head, target: RequestTarget(uri: head.uri),
                           authentication: .anonymous, sourceIP: nil, secureTransport: false))
            #expect(authorizer.localVerdict(route: route, identity: identity, head: head, target: RequestTarget(uri: head.uri)) == nil)
            return (authorizer.authorizeNow(questions), questions.map(\.action))
        }
        let createOnly = decide(["s3:CreateBucket"])
        #expect(createOnly.asked == ["s3:CreateBucket", "s3:PutBucketAcl", "s3:PutBucketObjectLockConfiguration", "s3:PutBucketVersioning"])
        #expect(createOnly.verdict == .deny(reason: "no grant"))
        #expect(decide(["s3:CreateBucket", "s3:PutBucketAcl", "s3:PutBucketObjectLockConfiguration"]).verdict != .allow,
                "enabling Object Lock also turns versioning on, which needs its own permission")
        #expect(decide(["s3:CreateBucket", "s3:PutBucketAcl", "s3:PutBucketObjectLockConfiguration", "s3:PutBucketVersioning"]).verdict == .allow)
    }
}
