import NIOCore

/// What one authorization question is about: who wants to do which IAM action on which bucket/key,
/// with the conditions a policy may look at.
///
/// A value type, and `Hashable`, so that a decision can be cached under exactly the question it
/// answered: a decision for one key, action or condition set must never answer for another.
public struct AuthorizationRequest: Sendable, Hashable {
    /// The authenticated principal (from the keystore or secret backend), not the access key.
    public var principal: String
    /// Groups the principal belongs to; grants may name them as `group:NAME`.
    public var groups: [String]
    /// IAM-style action, e.g. `"s3:GetObject"`.
    public var action: String
    /// Bucket the client named; `nil` for ListBuckets (`s3:ListAllMyBuckets`).
    public var bucket: String?
    /// Object key (decoded); `nil` for bucket-level operations.
    public var key: String?
    /// Condition values a policy may look at, named as in MinIO's policy-plugin input:
    /// "prefix", "delimiter", "max-keys", "SourceIp", "SecureTransport", "UserAgent", "CurrentTime",
    /// "signatureversion", "authType", "versionid"; and osp's own "TLSClientPrincipal" (the principal a
    /// verified client certificate vouched for, on HTTPS with `client_ca_file`).
    public var conditions: [String: String]
    /// The HTTP request itself (method, path, query, selected headers, source IP).
    public var request: RequestContext

    public init(
        principal: String,
        groups: [String] = [],
        action: String,
        bucket: String? = nil,
        key: String? = nil,
        conditions: [String: String] = [:],
        request: RequestContext = RequestContext()
    ) {
        self.principal = principal
        self.groups = groups
        self.action = action
        self.bucket = bucket
        self.key = key
        self.conditions = conditions
        self.request = request
    }
}

/// The parts of the HTTP request a policy backend may see beyond the S3 semantics (OPA's `request`
/// input), so policies can decide on things osp itself does not interpret.
public struct RequestContext: Sendable, Hashable {
    public var method: String
    /// The path as sent by the client (not decoded).
    public var path: String
    /// The raw query string, without `?`.
    public var query: String
    /// Only headers on the configured allow-list; never the client's Authorization header.
    public var headers: [String: String]
    public var sourceIP: String?

    public init(
        method: String = "GET",
        path: String = "/",
        query: String = "",
        headers: [String: String] = [:],
        sourceIP: String? = nil
    ) {
        self.method = method
        self.path = path
        self.query = query
        self.headers = headers
        self.sourceIP = sourceIP
    }
}

/// A policy backend's answer. Only `.allow` lets a request through; everything else is refused.
public enum PolicyDecision: Sendable, Equatable {
    /// Allowed. A scope says the answer also holds for every key under a prefix (for this principal,
    /// action and bucket), so the caller may cache it once for the prefix instead of per object.
    case allow(DecisionScope?)
    /// Refused (403 AccessDenied). The reason is for logs, never sent to the client.
    case deny(reason: String)
}

/// How far an allow answer reaches: every key under `prefix`, for `ttlSeconds` if the backend said so
/// (otherwise the cache's default TTL applies).
public struct DecisionScope: Sendable, Equatable, Hashable {
    public var prefix: String
    public var ttlSeconds: Int64?

    public init(prefix: String, ttlSeconds: Int64? = nil) {
        self.prefix = prefix
        self.ttlSeconds = ttlSeconds
    }
}

/// Why a backend could not answer at all (→ 503 ServiceUnavailable, never forwarded). Distinct from
/// a deny so logs and metrics can tell "the backend said no" from "the backend is broken".
public struct PolicyBackendError: Error, Sendable, Equatable {
    public enum Kind: String, Sendable {
        case timeout, transport, httpStatus, malformedResult
    }

    public var kind: Kind
    public var detail: String

    public init(kind: Kind, detail: String) {
        self.kind = kind
        self.detail = detail
    }
}

/// Answers allow/deny for one `AuthorizationRequest`. Fail closed: anything but a clear allow is a
/// deny or an error; implementations never block the event loop they are given.
public protocol PolicyEngine: Sendable {
    /// A short name for logs and metrics: "rules", "opa", "redis", "allow-all".
    var name: String { get }
    /// The answer, completed on `eventLoop`. A failed future carries a `PolicyBackendError`.
    func decide(_ request: AuthorizationRequest, on eventLoop: any EventLoop) -> EventLoopFuture<PolicyDecision>
    /// The same, for a traced request: engines that call a service pass `trace` on (as headers) so
    /// the service's spans join the request's trace. Others need not implement it.
    func decide(_ request: AuthorizationRequest, trace: CalloutTraceHeaders, on eventLoop: any EventLoop) -> EventLoopFuture<PolicyDecision>
}

extension PolicyEngine {
    public func decide(_ request: AuthorizationRequest, trace: CalloutTraceHeaders, on eventLoop: any EventLoop) -> EventLoopFuture<PolicyDecision> {
        self.decide(request, on: eventLoop)
    }
}
