import NIOCore
import NIOHTTP1
import S3Signing

/// The authorization stage of the pipeline: turns one authenticated S3 request into the questions
/// a policy must answer — its own action, plus `s3:GetObject` on the source of a copy — and asks
/// the configured `PolicyEngine`. Fails closed: any deny is 403 `AccessDenied`, a backend that could
/// not answer is 503 `ServiceUnavailable`, and nothing is forwarded (nor `100 Continue` sent) until
/// every answer is allow.
///
/// A class: it is immutable, and the request path takes it in hand for every request — as a struct
/// of five references each of those was five retains and releases (~0.7 µs a request by `perf`).
public final class Authorizer: Sendable {
    public let engine: any PolicyEngine
    /// Request headers (lower case, sorted, each once) a policy may see in `request.headers`; never
    /// credentials. Sorted because the decision key writes headers in name order.
    let headerAllowList: [String]
    /// Answers of remote engines, keyed by everything the answer depends on; nil for engines that
    /// decide in memory (asking them is as cheap as a cache lookup).
    let decisions: DecisionCache?
    /// The engine, when it decides in memory.
    let inMemory: (any InMemoryPolicyEngine)?
    /// The grants, when the engine is `rules`: asked straight from the request's parts.
    let rules: RuleSet?
    /// Whether every authenticated request is allowed (the `allow-all` engine): then no question
    /// needs to be built or asked. Stored, not a cast per request.
    let allowsEverything: Bool

    public convenience init(engine: any PolicyEngine, headerAllowList: [String] = [], cache: DecisionCacheSettings = DecisionCacheSettings()) {
        self.init(engine: engine, headerAllowList: headerAllowList, cache: cache, clock: .system)
    }

    /// - Parameter clock: what the decision cache's answers expire by (tests move one by hand).
    init(engine: any PolicyEngine, headerAllowList: [String], cache: DecisionCacheSettings, clock: CacheClock) {
        self.engine = engine
        self.headerAllowList = Set(headerAllowList.map { $0.lowercased() }).filter { $0 != "authorization" }.sorted()
        let inMemory = engine as? any InMemoryPolicyEngine
        self.inMemory = inMemory
        self.rules = (engine as? RulesPolicy)?.rules
        self.allowsEverything = engine is AllowAllPolicy
        self.decisions = inMemory == nil ? DecisionCache(cache, clock: clock) : nil
    }

    /// What the policy is asked for this request: one question, plus one about a copy's source and
    /// one per setting a write also makes (`s3:PutObjectAcl`, `s3:PutBucketAcl`, … see `WriteSettings`).
    func questions(_ request: PolicyView) -> [AuthorizationRequest] {
        let conditions: [String: String]
        let context: RequestContext
        if self.inMemory != nil {
            (conditions, context) = Self.ruleInputs(route: request.route, method: request.method, query: request.forwardedQuery)
        } else {
            (conditions, context) = self.fullInputs(request)
        }
        let main = Self.question(route: request.route, principal: request.principal, groups: request.groups, conditions: conditions, context: context)
        var questions = [main]
        for action in request.route.alsoSets.actions {
            var setting = main
            setting.action = action
            questions.append(setting)
        }
        if let source = request.route.copySource {
            var sourceConditions = conditions
            sourceConditions.removeValue(forKey: "prefix")
            sourceConditions.removeValue(forKey: "delimiter")
            sourceConditions.removeValue(forKey: "max-keys")
            sourceConditions["versionid"] = source.versionId
            questions.append(
                AuthorizationRequest(
                    principal: request.principal, groups: request.groups, action: source.action,
                    bucket: source.bucket, key: source.key, conditions: sourceConditions, request: context
                )
            )
        }
        return questions
    }

    /// The question a request asks about its own action (a copy asks a second one, about its source).
    private static func question(
        route: S3Route, principal: String, groups: [String], conditions: [String: String], context: RequestContext
    ) -> AuthorizationRequest {
        AuthorizationRequest(
            principal: principal, groups: groups, action: route.operation.action,
            bucket: route.bucket, key: route.key, conditions: conditions, request: context
        )
    }

    /// For an engine that decides in memory: the verdict for a request that asks one question,
    /// without the array of questions (the per-request hot path of `rules`). nil for remote engines
    /// and for requests that ask more than one question, which `questions` and `authorizeNow` decide.
    func localVerdict(route: S3Route, identity: ClientIdentity, head: HTTPRequestHead, target: RequestTarget) -> AuthorizationVerdict? {
        guard let local = self.inMemory, route.asksOneQuestion else { return nil }
        let decision: PolicyDecision
        if let rules = self.rules {
            // What `ruleInputs` would put in the question, read in place.
            decision = rules.evaluate(
                principal: identity.principal, groups: identity.groups, action: route.operation.action,
                bucket: route.bucket, key: route.key, method: head.method.rawValue,
                listingPrefix: Self.listingPrefix(route: route, query: target.rawQuery)
            )
        } else {
            let (conditions, context) = Self.ruleInputs(route: route, method: head.method, query: target.rawQuery)
            decision = local.decideNow(
                Self.question(route: route, principal: identity.principal, groups: identity.groups, conditions: conditions, context: context)
            )
        }
        switch decision {
        case .allow: return .allow
        case .deny(let reason): return .deny(reason: reason)
        }
    }

    /// What an in-memory engine (`RuleSet`) reads besides principal, action, bucket and key: the
    /// method (HEAD bucket) and a listing's `prefix`. Building only that keeps rules as cheap per request
    /// as allow-all; remote engines get `fullInputs`.
    /// `query` is the raw query or the credential-free one: `prefix` is never a credential.
    private static func ruleInputs(route: S3Route, method: HTTPMethod, query: String) -> ([String: String], RequestContext) {
        var conditions: [String: String] = [:]
        if let prefix = Self.listingPrefix(route: route, query: query) {
            conditions["prefix"] = prefix
        }
        return (conditions, RequestContext(method: method.rawValue, path: "", query: "", headers: [:], sourceIP: nil))
    }

    /// A bucket-level request's `prefix` query parameter (what rules match a listing by).
    private static func listingPrefix(route: S3Route, query: String) -> String? {
        guard route.key == nil, !query.isEmpty else { return nil }
        return RequestQuery(rawQuery: query).value(of: "prefix")
    }

    /// The whole input of a remote engine (MinIO's conditions and the `request` object).
    private func fullInputs(_ request: PolicyView) -> ([String: String], RequestContext) {
        // Sized for every condition osp may set, so filling it allocates once.
        var conditions = [String: String](minimumCapacity: 10)
        Self.forEachCondition(of: request, query: RequestQuery(rawQuery: request.forwardedQuery)) { conditions[$0] = $1 }
        var headers: [String: String] = [:]
        for header in request.allowedHeaders { headers[header.name] = header.value }
        let context = RequestContext(
            method: request.method.rawValue,
            path: request.rawPath,
            query: request.forwardedQuery,
            headers: headers,
            sourceIP: request.sourceIP
        )
        return (conditions, context)
    }

    /// A remote engine's conditions (MinIO's names), in ascending name order — the order a
    /// `DecisionKey` writes them in. `query` is the credential-free query: the conditions are never
    /// credential parameters, and for a presigned request it is far shorter to scan than the raw one.
    /// `CurrentTime` is added when a remote engine is really asked (`OPAInput`), not per question.
    private static func forEachCondition(of request: PolicyView, query: RequestQuery, _ body: (String, String) -> Void) {
        body("SecureTransport", request.secureTransport ? "true" : "false")
        if let sourceIP = request.sourceIP { body("SourceIp", sourceIP) }
        if let tlsClientPrincipal = request.tlsClientPrincipal { body("TLSClientPrincipal", tlsClientPrincipal) }
        if let userAgent = request.userAgent { body("UserAgent", userAgent) }
        body("authType", request.authType)
        let hasQuery = !query.parameters.isEmpty
        if hasQuery, let value = query.value(of: "delimiter") { body("delimiter", value) }
        if hasQuery, let value = query.value(of: "max-keys") { body("max-keys", value) }
        if hasQuery, let value = query.value(of: "prefix") { body("prefix", value) }
        body("signatureversion", request.signatureVersion)
        if hasQuery, let value = query.value(of: "versionId") { body("versionid", value) }
    }

    /// The decision-cache key of the one question a request asks a remote engine, written straight
    /// from the request: what `DecisionKey(questions(...)[0])` is, without building the question, its
    /// dictionaries or the array (tests hold the two to the same bytes).
    /// - Parameter query: `request.forwardedQuery` split, when the caller has it (one split serves
    ///   both keys of a scoped lookup).
    func decisionKey(_ request: PolicyView, query: RequestQuery? = nil, acrossKeys: Bool = false) -> DecisionKey {
        var writer = DecisionKey.Writer()
        self.writeDecisionKey(request, query: query, acrossKeys: acrossKeys, into: &writer)
        return writer.finish()
    }

    private func writeDecisionKey(_ request: PolicyView, query: RequestQuery?, acrossKeys: Bool, into writer: inout DecisionKey.Writer) {
        let route = request.route
        writer.subject(
            principal: request.principal, groups: request.groups, action: route.operation.action,
            bucket: route.bucket, key: acrossKeys ? nil : route.key
        )
        let conditions = writer.beginPairs()
        var count = 0
        Self.forEachCondition(of: request, query: query ?? RequestQuery(rawQuery: request.forwardedQuery)) { name, value in
            writer.pair(name, value)
            count += 1
        }
        writer.endPairs(conditions, count: count)
        writer.string(request.method.rawValue)
        writer.string(acrossKeys ? "" : request.rawPath)
        writer.string(request.forwardedQuery)
        let headers = writer.beginPairs()
        for header in request.allowedHeaders { writer.pair(header.name, header.value) }
        writer.endPairs(headers, count: request.allowedHeaders.count)
        writer.optional(request.sourceIP)
    }

    /// For a remote engine with a warm decision cache: the verdict for a request, found by its
    /// question's key alone (`decisionKey`) — the policy hot path builds no question. nil when the
    /// engine decides in memory, the cache has no answer, or the request asks more than one question
    /// (a copy's source, an ACL or tags set with the write): then `questions` and
    /// `authorizeNow`/`authorize` decide.
    /// - Parameter connection: the connection's last allow (`RememberedAllow`): a request whose view
    ///   equals it is allowed without writing its key or looking it up, and a cached allow becomes
    ///   the new one.
    func cachedVerdict(_ request: PolicyView, connection: inout RememberedAllow) -> AuthorizationVerdict? {
        guard let decisions = self.decisions, request.route.asksOneQuestion else { return nil }
        if connection.allows(request, from: decisions, at: decisions.now()) { return .allow }
        let query = RequestQuery(rawQuery: request.forwardedQuery)
        var writer = DecisionKey.Writer(reusing: connection.takeBuffer())
        self.writeDecisionKey(request, query: query, acrossKeys: false, into: &writer)
        let answer = decisions.cachedDecision(writer.finish(), objectKey: request.route.key) {
            self.decisionKey(request, query: query, acrossKeys: true)
        }
        connection.giveBack(writer.bytes)
        switch answer {
        case nil:
            return nil
        case (.allow, let freshUntil)?:
            connection.remember(request, from: decisions, freshUntil: freshUntil)
            return .allow
        case (.deny(let reason), _)?:
            return .deny(reason: reason)
        }
    }

    /// What a policy may see of a request (`PolicyView`), its headers picked by this authorizer's
    /// allow-list.
    func view(
        route: S3Route,
        identity: ClientIdentity,
        head: HTTPRequestHead,
        target: RequestTarget,
        authentication: ClientAuthentication,
        sourceIP: String?,
        secureTransport: Bool,
        tlsClientPrincipal: String? = nil,
        forwardedQuery: String? = nil
    ) -> PolicyView {
        PolicyView(
            route: route, identity: identity, head: head, target: target, authentication: authentication,
            headerAllowList: self.headerAllowList, sourceIP: sourceIP, secureTransport: secureTransport,
            tlsClientPrincipal: tlsClientPrincipal, forwardedQuery: forwardedQuery
        )
    }

    /// `.allow` only if every question is answered allow. Never fails: a backend that could not
    /// answer is the verdict `.unavailable`.
    /// `trace` goes with the callouts this starts (not with answers found in the cache).
    func authorize(
        _ questions: [AuthorizationRequest],
        trace: CalloutTraceHeaders = .none,
        on eventLoop: any EventLoop
    ) -> EventLoopFuture<AuthorizationVerdict> {
        let answers = questions.map { question in self.decide(question, trace: trace, on: eventLoop) }
        return EventLoopFuture.whenAllComplete(answers, on: eventLoop).map { results in
            var verdict = AuthorizationVerdict.allow
            for result in results {
                switch result {
                case .success(.allow):
                    continue
                case .success(.deny(let reason)):
                    // A deny is final whatever the other answers: 403 rather than 503.
                    return .deny(reason: reason)
                case .failure(let error):
                    verdict = .unavailable(reason: AuthorizationVerdict.reason(for: error))
                }
            }
            return verdict
        }
    }
}

/// What the policy stage concluded for one request: the S3 error osp answers with when it refuses,
/// and the reason for the access log and metrics (never sent to the client).
enum AuthorizationVerdict: Sendable, Equatable {
    case allow
    /// A policy said no (403 AccessDenied).
    case deny(reason: String)
    /// The backend could not answer (timeout, transport, bad status, garbage): refused as
    /// unavailable (503), fail closed.
    case unavailable(reason: String)

    /// The refusal to answer with; nil for `.allow`.
    var refusal: S3Error? {
        switch self {
        case .allow: return nil
        case .deny: return S3Error(.accessDenied, "Access Denied")
        case .unavailable: return S3Error(.serviceUnavailable, "The authorization service is unavailable. Please try again.")
        }
    }

    /// Why a backend gave no answer, as a short fixed phrase (a backend's detail may hold a URL).
    static func reason(for error: any Error) -> String {
        if let backend = error as? PolicyBackendError { return "policy backend \(backend.kind.rawValue)" }
        return "policy backend error"
    }
}

extension Authorizer {
    /// The engine's answer, through the decision cache when there is one.
    func decide(
        _ question: AuthorizationRequest,
        trace: CalloutTraceHeaders = .none,
        on eventLoop: any EventLoop
    ) -> EventLoopFuture<PolicyDecision> {
        guard let decisions = self.decisions else { return self.engine.decide(question, trace: trace, on: eventLoop) }
        return decisions.decision(for: question, on: eventLoop) { [engine] in engine.decide(question, trace: trace, on: eventLoop) }
    }
}

/// Engines that decide in memory (rules, allow-all): asked synchronously, without futures, and
/// never cached (asking them costs less than a cache lookup).
protocol InMemoryPolicyEngine: PolicyEngine {
    func decideNow(_ request: AuthorizationRequest) -> PolicyDecision
}

extension RulesPolicy: InMemoryPolicyEngine {
    func decideNow(_ request: AuthorizationRequest) -> PolicyDecision { self.rules.evaluate(request) }
}

extension AllowAllPolicy: InMemoryPolicyEngine {
    func decideNow(_ request: AuthorizationRequest) -> PolicyDecision { .allow(nil) }
}

extension Authorizer {
    /// For in-memory engines, the verdict right away (per-request hot path: no futures); nil when
    /// the engine is remote and `authorize(_:on:)` must be used.
    ///
    /// For remote engines too, when every question has a cached answer: a warm decision cache then
    /// costs a lookup per question, not a chain of futures.
    func authorizeNow(_ questions: [AuthorizationRequest]) -> AuthorizationVerdict? {
        if let local = self.inMemory {
            for index in questions.indices {
                if case .deny(let reason) = local.decideNow(questions[index]) { return .deny(reason: reason) }
            }
            return .allow
        }
        guard let decisions = self.decisions else { return nil }
        var verdict = AuthorizationVerdict.allow
        for question in questions {
            switch decisions.cachedDecision(for: question) {
            case nil: return nil
            case .allow?: continue
            case .deny(let reason)?: if verdict == .allow { verdict = .deny(reason: reason) }
            }
        }
        return verdict
    }
}

/// Policy engines that can tell which buckets a principal may use at all, so ListBuckets shows
/// only those. Engines without it (remote backends) answer ListAllMyBuckets as a whole.
protocol BucketListingFilter {
    func visibleBuckets(principal: String, groups: [String]) -> BucketVisibility
}

extension RulesPolicy: BucketListingFilter {
    func visibleBuckets(principal: String, groups: [String]) -> BucketVisibility {
        self.rules.allowedBuckets(principal: principal, groups: groups)
    }
}

extension Authorizer {
    /// Which buckets `identity` may see in ListBuckets.
    func visibleBuckets(for identity: ClientIdentity) -> BucketVisibility {
        (self.engine as? BucketListingFilter)?.visibleBuckets(principal: identity.principal, groups: identity.groups) ?? .all
    }
}

extension ClientAuthentication {
    /// MinIO's `authType` condition: how the credentials were sent.
    var authType: String {
        switch self {
        case .sigV4Query, .sigV2Query: return "REST-QUERY"
        case .sigV4Header, .sigV2Header: return "REST-HEADER"
        case .postPolicy: return "POST"
        case .anonymous: return "Anonymous"
        }
    }

    /// MinIO's `signatureversion` condition.
    var signatureVersion: String {
        switch self {
        case .sigV4Header, .sigV4Query: return "AWS4-HMAC-SHA256"
        case .sigV2Header, .sigV2Query, .postPolicy(.sigV2): return "AWS"
        case .postPolicy(.sigV4): return "AWS4-HMAC-SHA256"
        case .anonymous: return ""
        }
    }
}
