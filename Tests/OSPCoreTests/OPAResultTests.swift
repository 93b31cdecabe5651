import Testing

@testable import OSPCore

/// How an OPA-compatible answer becomes a decision: the accepted shapes, the scope rules, and every
/// shape that must fail closed as `malformedResult` (never an allow, never a silent deny).
@Suite("OPA result parsing")
struct OPAResultTests {
    static let objectRequest = AuthorizationRequest(principal: "alice", action: "s3:GetObject", bucket: "proxy-bucket01", key: "team/public/index.html")

    func decide(_ json: String, _ request: AuthorizationRequest = objectRequest) throws(PolicyBackendError) -> PolicyDecision {
        try OPAResult.decision(from: Array(json.utf8), for: request)
    }

    @Test(arguments: [
        (#"{"result": true}"#, PolicyDecision.allow(nil)),
        (#"{"result": false}"#, .deny(reason: "policy")),
        (#"{"result": {"allow": true}}"#, .allow(nil)),
        (#"{"result": {"allow": false}}"#, .deny(reason: "policy")),
        (#"{"result": {"allow": false, "ttl": 60, "scope": {"prefix": "team/"}}}"#, .deny(reason: "policy")),
        (#"{"result": {"allow": true, "ttl": 60, "scope": {"prefix": "team/public/"}}}"#, .allow(DecisionScope(prefix: "team/public/", ttlSeconds: 60))),
        (#"{"result": {"allow": true, "scope": {"prefix": "team/"}}}"#, .allow(DecisionScope(prefix: "team/", ttlSeconds: nil))),
        (#"{"result": {"allow": true, "ttl": 0, "scope": {"prefix": ""}}}"#, .allow(DecisionScope(prefix: "", ttlSeconds: 0))),
        (#"{"result": {"allow": true, "ttl": 30}}"#, .allow(nil)),
        (#"{"result": {"allow": true, "ttl": null, "scope": null}}"#, .allow(nil)),
        (#"{"result": {"allow": true, "reason": "extra fields are fine"}, "decision_id": "x"}"#, .allow(nil)),
    ])
    func acceptedShapes(json: String, expected: PolicyDecision) throws {
        #expect(try decide(json) == expected)
    }

    @Test(arguments: [
        "",
        "<html>not json",
        "[]",
        "true",
        "{}",
        #"{"allow": true}"#,
        #"{"allow": false}"#,
        #"{"result": null}"#,
        #"{"result": 1}"#,
        #"{"result": 0}"#,
        #"{"result": "true"}"#,
        #"{"result": [true]}"#,
        #"{"result": {}}"#,
        #"{"result": {"allow": "true"}}"#,
        #"{"result": {"allow": 1}}"#,
        #"{"result": {"allow": null}}"#,
        #"{"result": {"allow": true, "ttl": -1, "scope": {"prefix": "team/"}}}"#,
        #"{"result": {"allow": true, "ttl": "60", "scope": {"prefix": "team/"}}}"#,
        #"{"result": {"allow": true, "ttl": 1.5, "scope": {"prefix": "team/"}}}"#,
        #"{"result": {"allow": true, "ttl": 60, "scope": "team/"}}"#,
        #"{"result": {"allow": true, "ttl": 60, "scope": {}}}"#,
        #"{"result": {"allow": true, "ttl": 60, "scope": {"prefix": 3}}}"#,
        #"{"result": true"#,
    ])
    func malformedShapesFailClosed(json: String) {
        #expect {
            try decide(json)
        } throws: { error in
            (error as? PolicyBackendError)?.kind == .malformedResult
        }
    }

    @Test func aScopeThatDoesNotContainTheRequestIsNotAReasonToCache() throws {
        let json = #"{"result": {"allow": true, "ttl": 60, "scope": {"prefix": "team/public/"}}}"#
        let elsewhere = AuthorizationRequest(principal: "alice", action: "s3:GetObject", bucket: "proxy-bucket01", key: "team/other.txt")
        #expect(try decide(json, elsewhere) == .allow(nil))
        // Listings are covered through their prefix condition.
        let listing = AuthorizationRequest(principal: "alice", action: "s3:ListBucket", bucket: "proxy-bucket01", conditions: ["prefix": "team/public/docs/"])
        #expect(try decide(json, listing) == .allow(DecisionScope(prefix: "team/public/", ttlSeconds: 60)))
        let wideListing = AuthorizationRequest(principal: "alice", action: "s3:ListBucket", bucket: "proxy-bucket01", conditions: ["prefix": "team/"])
        #expect(try decide(json, wideListing) == .allow(nil))
        // A bucket-level request is only under the empty prefix.
        let bucketLevel = AuthorizationRequest(principal: "alice", action: "s3:GetBucketLocation", bucket: "proxy-bucket01")
        #expect(try decide(json, bucketLevel) == .allow(nil))
        let whole = #"{"result": {"allow": true, "scope": {"prefix": ""}}}"#
        #expect(try decide(whole, bucketLevel) == .allow(DecisionScope(prefix: "", ttlSeconds: nil)))
    }

    @Test func scopesCompareKeysByteForByte() throws {
        // "café/" precomposed in the key, decomposed in the scope: different S3 keys.
        let request = AuthorizationRequest(principal: "alice", action: "s3:GetObject", bucket: "b", key: "caf\u{E9}/x")
        let json = #"{"result": {"allow": true, "scope": {"prefix": "cafe\u0301/"}}}"#
        #expect(try decide(json, request) == .allow(nil))
        let same = #"{"result": {"allow": true, "scope": {"prefix": "caf\u00e9/"}}}"#
        #expect(try decide(same, request) == .allow(DecisionScope(prefix: "caf\u{E9}/", ttlSeconds: nil)))
    }

    @Test func calloutErrorsMapToDistinctBackendErrorKinds() {
        let cases: [(CalloutError.Kind, PolicyBackendError.Kind)] = [
            (.timeout, .timeout),
            (.transport, .transport),
            (.invalidRequest, .transport),
            (.httpStatus, .httpStatus),
            (.responseTooLarge, .malformedResult),
        ]
        for (callout, backend) in cases {
            #expect(OPAPolicy.backendError(for: CalloutError(callout, "detail")).kind == backend)
        }
    }
}
