import NIOCore
import NIOEmbedded
import NIOHTTP1
import S3Signing
import Testing

@testable import OSPCore

/// The policy hot path finds a remote engine's cached answer by a key written straight from the
/// request. That key must be the key of the question osp would otherwise build and ask — byte for
/// byte, or a cached answer could serve a request it was not given for.
@Suite("Decision cache hot path")
struct DecisionHotPathTests {
    struct Case: CustomTestStringConvertible, Sendable {
        var name: String
        var method: HTTPMethod = .GET
        var uri: String
        var headers: [(String, String)] = [("host", "127.0.0.1:6190")]
        var bucket: String? = "data"
        var key: String? = "team/report.csv"
        var operation = S3Operation(name: "GetObject", action: "s3:GetObject")
        var groups: [String] = []
        var sourceIP: String? = "10.0.0.7"
        var secure = false
        var tlsPrincipal: String?
        var allowList: [String] = []
        var testDescription: String { name }
    }

    static let signature = String(repeating: "0a", count: 32)
    static let presigned =
        "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=OSPKEY%2F20261130%2Fus-east-1%2Fs3%2Faws4_request"
        + "&X-Amz-Date=20261130T000000Z&X-Amz-Expires=60&X-Amz-SignedHeaders=host&X-Amz-Signature=\(signature)"
    static let headerAuth = ("Authorization", "AWS4-HMAC-SHA256 Credential=OSPKEY/20261130/us-east-1/s3/aws4_request, SignedHeaders=host, Signature=\(signature)")

    static let cases: [Case] = [
        Case(name: "presigned GET with a user agent", uri: "/data/team/report.csv?" + presigned,
             headers: [("host", "h"), ("User-Agent", "wrk")]),
        Case(name: "listing with prefix, delimiter and max-keys over TLS with a client certificate", uri: "/data?list-type=2&prefix=team%2F&delimiter=%2F&max-keys=5",
             headers: [("host", "h"), headerAuth, ("user-agent", "aws-cli/2")], key: nil,
             operation: S3Operation(name: "ListObjectsV2", action: "s3:ListBucket"), secure: true, tlsPrincipal: "alice"),
        Case(name: "versioned GET without source address or user agent", uri: "/data/team/report.csv?versionId=3%2B1",
             headers: [("host", "h"), headerAuth], sourceIP: nil),
        Case(name: "allow-listed headers, repeated, mixed case, listed twice", uri: "/data/team/report.csv",
             headers: [("host", "h"), headerAuth, ("Range", "bytes=0-9"), ("range", "bytes=20-29"), ("X-Amz-Server-Side-Encryption", "AES256")],
             allowList: ["range", "X-Amz-Server-Side-Encryption", "Range", "authorization", "x-amz-meta-absent"]),
        Case(name: "a principal with groups", uri: "/data/team/report.csv", headers: [("host", "h"), headerAuth], groups: ["eu", "analysts"]),
        Case(name: "ListBuckets: no bucket, no key", uri: "/", headers: [("host", "h"), headerAuth], bucket: nil, key: nil,
             operation: S3Operation(name: "ListBuckets", action: "s3:ListAllMyBuckets")),
        Case(name: "HEAD bucket: existence, decided by method", method: .HEAD, uri: "/data", headers: [("host", "h"), headerAuth], key: nil,
             operation: S3Operation(name: "HeadBucket", action: "s3:ListBucket")),
        Case(name: "percent-encoded key and query names", method: .PUT, uri: "/data/a%2Bb%20c.txt?x-id=PutObject&%70refix=p",
             headers: [("host", "h"), headerAuth], key: "a+b c.txt", operation: S3Operation(name: "PutObject", action: "s3:PutObject")),
    ]

    struct Request {
        let authorizer: Authorizer
        let identity: ClientIdentity
        let head: HTTPRequestHead
        let target: RequestTarget
        let view: PolicyView
        let c: Case

        init(_ c: Case, engine: any PolicyEngine = DenyAllPolicy(reason: "remote")) throws {
            try self.init(c, authorizer: Authorizer(engine: engine, headerAllowList: c.allowList))
        }

        init(_ c: Case, authorizer: Authorizer) throws {
            self.c = c
            self.authorizer = authorizer
            let head = HTTPRequestHead(version: .http1_1, method: c.method, uri: c.uri, headers: HTTPHeaders(c.headers))
            let target = RequestTarget(uri: c.uri)
            self.head = head
            self.target = target
            self.identity = ClientIdentity(accessKey: "OSPKEY", secretKey: "s", principal: "alice", groups: c.groups)
            self.view = authorizer.view(
                route: S3Route(bucket: c.bucket, key: c.key, rawKeyPath: "", addressing: .path, operation: c.operation),
                identity: self.identity,
                head: head,
                target: target,
                authentication: try ClientAuthentication.parse(headers: head.headers, rawQuery: target.rawQuery),
                sourceIP: c.sourceIP,
                secureTransport: c.secure,
                tlsClientPrincipal: c.tlsPrincipal
            )
        }

        var question: AuthorizationRequest { authorizer.questions(view)[0] }

        func key(acrossKeys: Bool = false) -> DecisionKey { authorizer.decisionKey(view, acrossKeys: acrossKeys) }

        var cachedVerdict: AuthorizationVerdict? {
            var connection = RememberedAllow()
            return authorizer.cachedVerdict(view, connection: &connection)
        }
    }

    @Test("the key written from the request is the key of the question built from it", arguments: cases)
    func sameKey(_ c: Case) throws {
        let request = try Request(c)
        let question = request.question
        #expect(request.key() == DecisionKey(question))
        #expect(request.key(acrossKeys: true) == DecisionKey(question, acrossKeys: true))
        // The question really carries what the cases vary (so the equality above covers it).
        #expect(question.request.headers.isEmpty == c.allowList.isEmpty)
        #expect(question.conditions["SourceIp"] == c.sourceIP)
        #expect(question.conditions["TLSClientPrincipal"] == c.tlsPrincipal)
    }

    /// A connection's remembered allow is matched by comparing views, not keys: that is only safe
    /// if two views are equal exactly when their questions' keys are. The same request signed again
    /// (another date, another signature) and a header the policy may not see leave the view as it
    /// was; everything a question carries changes it.
    @Test("two requests have equal views exactly when their questions have equal keys")
    func viewsEqualExactlyWhenKeysAre() throws {
        func signed(_ date: String, _ signature: String) -> [(String, String)] {
            [("x-amz-date", date), ("Authorization", "AWS4-HMAC-SHA256 Credential=OSPKEY/20261130/us-east-1/s3/aws4_request, SignedHeaders=host;x-amz-date, Signature=\(signature)")]
        }
        let base = Case(
            name: "base", uri: "/data/team/report.csv",
            headers: [("host", "h"), ("User-Agent", "pyarrow/18"), ("Range", "bytes=0-9")] + signed("20261130T000000Z", Self.signature),
            allowList: ["range"]
        )
        func variant(_ name: String, _ change: (inout Case) -> Void) -> Case {
            var c = base
            c.name = name
            change(&c)
            return c
        }
        let sameQuestion = [
            variant("signed again") { $0.headers = [("host", "h"), ("User-Agent", "pyarrow/18"), ("Range", "bytes=0-9")] + signed("20261130T000105Z", String(repeating: "b1", count: 32)) },
            variant("a header outside the allow-list") { $0.headers.append(("x-amz-meta-colour", "blue")) },
        ]
        let otherQuestions = [
            variant("another user agent") { $0.headers[1].1 = "aws-cli/2" },
            variant("another allow-listed header value") { $0.headers[2].1 = "bytes=10-19" },
            variant("another key") { $0.key = "team/other.csv"; $0.uri = "/data/team/other.csv" },
            variant("a version") { $0.uri += "?versionId=7" },
            variant("another source address") { $0.sourceIP = "10.0.0.8" },
            variant("over TLS") { $0.secure = true },
            variant("bound to a client certificate") { $0.tlsPrincipal = "alice" },
            variant("with a group") { $0.groups = ["eu"] },
            variant("HEAD") { $0.method = .HEAD },
            variant("another action") { $0.operation = S3Operation(name: "GetObjectTagging", action: "s3:GetObjectTagging") },
        ]
        let authorizer = Authorizer(engine: DenyAllPolicy(reason: "remote"), headerAllowList: base.allowList)
        let requests = try ([base] + sameQuestion + otherQuestions).map { try Request($0, authorizer: authorizer) }
        for a in requests {
            for b in requests {
                #expect((a.view == b.view) == (a.key() == b.key()), "\(a.c.name) / \(b.c.name)")
            }
        }
        for same in requests[1...sameQuestion.count] {
            #expect(same.view == requests[0].view, "\(same.c.name)")
        }
        for other in requests[(sameQuestion.count + 1)...] {
            #expect(other.view != requests[0].view, "\(other.c.name)")
        }
    }

    @Test("a warm cache answers by key alone; another request, or a copy, does not get that answer")
    func cachedVerdicts() throws {
        let engine = CountingEngine { question in
            .success(question.key?.hasPrefix("team/") == true ? .allow(nil) : .deny(reason: "outside team/"))
        }
        let loop = EmbeddedEventLoop()
        let allowed = try Request(Self.cases[0], engine: engine)
        var outside = Self.cases[0]
        outside.key = "other/x"
        outside.uri = "/data/other/x?" + Self.presigned
        let denied = try Request(outside, engine: engine)
        // Each request's own authorizer would have its own cache: ask through one.
        let authorizer = allowed.authorizer
        // Fresh connections: a remembered allow is tested on its own (`rememberedAllow`).
        func verdict(_ request: Request) -> AuthorizationVerdict? {
            var connection = RememberedAllow()
            return authorizer.cachedVerdict(request.view, connection: &connection)
        }

        #expect(verdict(allowed) == nil)
        #expect(verdict(denied) == nil)
        let asked = authorizer.authorize([allowed.question], on: loop)
        loop.advanceTime(by: .milliseconds(50))
        #expect(try asked.wait() == .allow)
        #expect(verdict(allowed) == .allow)
        #expect(verdict(denied) == nil)  // cached for team/report.csv only

        let refused = authorizer.authorize([denied.question], on: loop)
        loop.advanceTime(by: .milliseconds(50))
        #expect(try refused.wait() == .deny(reason: "outside team/"))
        #expect(verdict(denied) == .deny(reason: "outside team/"))
        #expect(engine.callCount == 2)

        // A copy also asks about its source: never answered by the first question's key alone.
        var copy = allowed.view
        copy.route = S3Route(
            bucket: "data", key: "team/report.csv", rawKeyPath: "", addressing: .path,
            operation: S3Operation(name: "CopyObject", action: "s3:GetObject"),
            copySource: CopySource(bucket: "data", key: "other/x", rawKey: "other/x")
        )
        var connection = RememberedAllow()
        #expect(authorizer.cachedVerdict(copy, connection: &connection) == nil)
    }

    @Test("a connection's remembered allow answers its own question only, from its own cache, until the answer expires")
    func rememberedAllow() throws {
        let engine = CountingEngine { question in
            .success(question.key?.hasPrefix("team/") == true ? .allow(nil) : .deny(reason: "outside team/"))
        }
        let loop = EmbeddedEventLoop()
        let time = ManualDecisionClock()
        func authorizer() -> Authorizer {
            Authorizer(engine: engine, headerAllowList: [], cache: DecisionCacheSettings(allowTTLSeconds: 60), clock: time.clock)
        }
        let first = authorizer()
        func ask(_ authorizer: Authorizer, _ request: Request) throws -> AuthorizationVerdict {
            let asked = authorizer.authorize([request.question], on: loop)
            loop.advanceTime(by: .milliseconds(50))
            return try asked.wait()
        }
        func hits(_ authorizer: Authorizer) -> Int { authorizer.decisions!.caches.reduce(0) { $0 + $1.statistics.hits } }
        let allowed = try Request(Self.cases[0])
        var outside = Self.cases[0]
        outside.key = "other/x"
        outside.uri = "/data/other/x?" + Self.presigned
        let denied = try Request(outside)
        var connection = RememberedAllow()

        #expect(try ask(first, allowed) == .allow)
        #expect(first.cachedVerdict(allowed.view, connection: &connection) == .allow)
        #expect(hits(first) == 1)
        // Asked again on the connection: allowed without a lookup.
        #expect(first.cachedVerdict(allowed.view, connection: &connection) == .allow)
        #expect(first.cachedVerdict(allowed.view, connection: &connection) == .allow)
        #expect(hits(first) == 1)
        // Another question is looked up (and not cached yet), whatever the connection holds.
        #expect(first.cachedVerdict(denied.view, connection: &connection) == nil)
        #expect(try ask(first, denied) == .deny(reason: "outside team/"))
        #expect(first.cachedVerdict(denied.view, connection: &connection) == .deny(reason: "outside team/"))
        #expect(first.cachedVerdict(allowed.view, connection: &connection) == .allow)
        // A reloaded policy has a new cache: its first request is asked afresh.
        let reloaded = authorizer()
        #expect(reloaded.cachedVerdict(allowed.view, connection: &connection) == nil)
        #expect(first.cachedVerdict(allowed.view, connection: &connection) == .allow)
        // Not a moment past the cached answer: at 60 s it is gone from the cache and the connection.
        time.advance(.seconds(59))
        #expect(first.cachedVerdict(allowed.view, connection: &connection) == .allow)
        time.advance(.seconds(1))
        #expect(first.cachedVerdict(allowed.view, connection: &connection) == nil)
        #expect(engine.callCount == 2)
    }

    @Test("a policy view holds the principal, never the client's secret key or signature")
    func viewHoldsNoSecret() throws {
        let secret = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
        let head = HTTPRequestHead(version: .http1_1, method: .GET, uri: "/data/k", headers: ["host": "h", "Authorization": Self.headerAuth.1])
        let view = PolicyView(
            route: S3Route(bucket: "data", key: "k", rawKeyPath: "/k", addressing: .path, operation: S3Operation(name: "GetObject", action: "s3:GetObject")),
            identity: ClientIdentity(accessKey: "OSPKEY", secretKey: secret, principal: "alice", groups: ["eu"]),
            head: head, target: RequestTarget(uri: head.uri),
            authentication: try ClientAuthentication.parse(headers: head.headers, rawQuery: ""),
            headerAllowList: ["authorization-like", "range"], sourceIP: nil, secureTransport: false
        )
        let dumped = String(reflecting: view)
        #expect(dumped.contains("alice") && dumped.contains("eu"))
        #expect(!dumped.contains(secret))
        #expect(!dumped.contains(Self.signature), "the request's signature is not part of what a policy sees")
        #expect(view.authType == "REST-HEADER" && view.signatureVersion == "AWS4-HMAC-SHA256")
    }

    @Test("rules decide each request's one question in memory, as they decide the built questions", arguments: cases)
    func inMemoryEngines(_ c: Case) throws {
        let rules = try Request(c, engine: RulesPolicy(grants: [
            Grant(principals: ["alice"], buckets: ["data"], prefix: "team/", actions: ["read", "list"], effect: .allow),
            Grant(principals: ["alice"], buckets: ["data"], prefix: "team/secret/", actions: ["*"], effect: .deny),
        ]))
        #expect(rules.cachedVerdict == nil)  // never looked up by key: nothing is cached for them
        let questions = rules.authorizer.questions(rules.view)
        let view = rules.view
        let local = rules.authorizer.localVerdict(route: view.route, identity: rules.identity, head: rules.head, target: rules.target)
        #expect(local != nil)
        #expect(local == rules.authorizer.authorizeNow(questions))

        // A copy asks about its source too, so it is decided through the questions.
        var copyRoute = view.route
        copyRoute.copySource = CopySource(bucket: "data", key: "team/secret/x", rawKey: "team/secret/x")
        #expect(rules.authorizer.localVerdict(route: copyRoute, identity: rules.identity, head: rules.head, target: rules.target) == nil)
        // Remote engines are never decided locally.
        #expect(try Request(c).authorizer.localVerdict(route: view.route, identity: rules.identity, head: rules.head, target: rules.target) == nil)
    }
}
