/// Reads an OPA-compatible answer into a decision, failing closed: only `{"result": true}` or
/// `{"result": {"allow": true, ...}}` allow; `false` answers deny; anything else (no `result`, which is
/// how OPA reports an undefined document, or any other shape) is a `malformedResult` error, so a
/// policy bug shows up as 503s and a metric rather than as silent allows or denies.
enum OPAResult {
    static func decision(from body: [UInt8], for request: AuthorizationRequest) throws(PolicyBackendError) -> PolicyDecision {
        guard let answer = OPAJSON.decode(body) else {
            throw malformed("the answer is not JSON")
        }
        guard case .object(let fields) = answer else {
            throw malformed("the answer is not a JSON object")
        }
        guard let result = fields["result"] else {
            throw malformed("the answer has no 'result' (the policy document is undefined)")
        }
        switch result {
        case .bool(true):
            return .allow(nil)
        case .bool(false):
            return .deny(reason: "policy")
        case .object(let object):
            return try decision(fromObject: object, for: request)
        default:
            throw malformed("'result' is neither a boolean nor an object")
        }
    }

    /// `{"allow": Bool, "ttl": N?, "scope": {"prefix": String}?}`.
    private static func decision(fromObject object: [String: OPAJSON], for request: AuthorizationRequest) throws(PolicyBackendError) -> PolicyDecision {
        guard let allowValue = object["allow"] else {
            throw malformed("'result' has no 'allow'")
        }
        guard case .bool(let allow) = allowValue else {
            throw malformed("'result.allow' is not a boolean")
        }
        guard allow else {
            return .deny(reason: "policy")
        }
        var ttlSeconds: Int64?
        switch object["ttl"] {
        case nil, .null?:
            ttlSeconds = nil
        case .int(let seconds)? where seconds >= 0:
            ttlSeconds = seconds
        default:
            throw malformed("'result.ttl' is not a non-negative integer")
        }
        let prefix: String
        switch object["scope"] {
        case nil, .null?:
            // A TTL without a scope has nothing to attach to: the answer covers this request only.
            return .allow(nil)
        case .object(let scope)?:
            guard case .string(let value)? = scope["prefix"] else {
                throw malformed("'result.scope.prefix' is not a string")
            }
            prefix = value
        default:
            throw malformed("'result.scope' is not an object")
        }
        // A scope that does not contain what was asked cannot be a reason to cache; the allow itself
        // still stands, since the policy said allow for this request.
        guard covers(prefix, request) else {
            return .allow(nil)
        }
        return .allow(DecisionScope(prefix: prefix, ttlSeconds: ttlSeconds))
    }

    /// Whether every key the request is about lies under `prefix`: the object key, or for listings
    /// the listed prefix; a bucket-level request only under the empty prefix. Compared byte by byte,
    /// as S3 compares keys (`String.hasPrefix` would match canonically equivalent Unicode instead).
    static func covers(_ prefix: String, _ request: AuthorizationRequest) -> Bool {
        if let key = request.key {
            return key.utf8.starts(with: prefix.utf8)
        }
        if let listed = request.conditions["prefix"] {
            return listed.utf8.starts(with: prefix.utf8)
        }
        return prefix.isEmpty
    }

    private static func malformed(_ detail: String) -> PolicyBackendError {
        PolicyBackendError(kind: .malformedResult, detail: detail)
    }
}
