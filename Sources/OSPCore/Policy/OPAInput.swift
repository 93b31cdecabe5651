import S3Signing

/// The `input` document osp sends to an OPA-compatible policy service: a superset of MinIO's
/// policy-plugin input (`account`, `groups`, `action`, `bucket`, `object`, `conditions` with every
/// value a list of strings), so policies written for MinIO's plugin work unchanged, plus osp's
/// `principal` and the HTTP `request` (method, path, query, allow-listed headers, source IP).
enum OPAInput {
    /// Headers never sent to a policy service, even when listed: they carry credentials.
    static let forbiddenHeaders: Set<String> = ["authorization", "cookie", "proxy-authorization", "x-amz-security-token"]

    /// `{"input": {...}}` as JSON bytes.
    /// - Parameter now: MinIO's `CurrentTime` condition. It is added here, when the policy is really
    ///   asked, rather than carried in every question: a cached answer does not depend on it (answers
    ///   are cached for their TTL), so formatting it per request would only cost.
    static func requestBody(for request: AuthorizationRequest, headerAllowList: [String], now: AmzDate? = nil) -> [UInt8] {
        OPAJSON.object(["input": document(for: request, headerAllowList: headerAllowList, now: now)]).encoded()
    }

    static func document(for request: AuthorizationRequest, headerAllowList: [String], now: AmzDate? = nil) -> OPAJSON {
        var conditions: [String: OPAJSON] = [:]
        for (name, value) in request.conditions {
            conditions[name] = .array([.string(value)])
        }
        if let now, conditions["CurrentTime"] == nil {
            conditions["CurrentTime"] = .array([.string(ListAllMyBucketsResult.iso8601(now))])
        }
        var httpRequest: [String: OPAJSON] = [
            "method": .string(request.request.method),
            "path": .string(request.request.path),
            "query": .string(request.request.query),
            "headers": .object(selectedHeaders(request.request.headers, allowList: headerAllowList)),
        ]
        if let sourceIP = request.request.sourceIP {
            httpRequest["source_ip"] = .string(sourceIP)
        }
        return .object([
            // MinIO's names: the principal is the "account"; absent bucket/object are "".
            "account": .string(request.principal),
            "groups": .array(request.groups.map(OPAJSON.string)),
            "action": .string(request.action),
            "bucket": .string(request.bucket ?? ""),
            "object": .string(request.key ?? ""),
            "conditions": .object(conditions),
            "principal": .string(request.principal),
            "request": .object(httpRequest),
        ])
    }

    /// The request's headers named on the allow-list (case-insensitively), keyed by lowercase name.
    static func selectedHeaders(_ headers: [String: String], allowList: [String]) -> [String: OPAJSON] {
        guard !allowList.isEmpty else { return [:] }
        let allowed = Set(allowList.map { $0.lowercased() }).subtracting(forbiddenHeaders)
        var selected: [String: OPAJSON] = [:]
        for (name, value) in headers {
            let lowercased = name.lowercased()
            if allowed.contains(lowercased) {
                selected[lowercased] = .string(value)
            }
        }
        return selected
    }
}
