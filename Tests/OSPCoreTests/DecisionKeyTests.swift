import Testing

@testable import OSPCore

/// The decision cache's key: equal exactly when the questions are (the clock aside), so a cached
/// answer can never be served for a question it did not answer.
@Suite("Decision key")
struct DecisionKeyTests {
    static let base = AuthorizationRequest(
        principal: "alice", groups: ["analysts", "eu"], action: "s3:GetObject", bucket: "data", key: "team/report.csv",
        conditions: ["SourceIp": "10.0.0.7", "SecureTransport": "true", "authType": "REST-QUERY", "CurrentTime": "2026-11-30T10:00:00Z"],
        request: RequestContext(method: "GET", path: "/data/team/report.csv", query: "versionId=3", headers: ["x-amz-server-side-encryption": "AES256"], sourceIP: "10.0.0.7")
    )

    /// Every field of a question, changed one at a time, and changes that only differ in where a
    /// boundary between two fields falls (a key that is not length-prefixed would confuse them).
    static let variants: [(String, @Sendable (inout AuthorizationRequest) -> Void)] = [
        ("principal", { $0.principal = "bob" }),
        ("principal absorbing a group", { $0.principal = "aliceanalysts"; $0.groups = ["eu"] }),
        ("groups", { $0.groups = ["analysts"] }),
        ("group order", { $0.groups = ["eu", "analysts"] }),
        ("group split", { $0.groups = ["analystseu"] }),
        ("action", { $0.action = "s3:PutObject" }),
        ("bucket", { $0.bucket = "data2" }),
        ("no bucket", { $0.bucket = nil }),
        ("empty bucket", { $0.bucket = "" }),
        ("key", { $0.key = "team/report.csv.bak" }),
        ("no key", { $0.key = nil }),
        ("empty key", { $0.key = "" }),
        ("condition value", { $0.conditions["SourceIp"] = "10.0.0.8" }),
        ("condition added", { $0.conditions["prefix"] = "team/" }),
        ("condition removed", { $0.conditions.removeValue(forKey: "authType") }),
        ("condition name and value swapped", { $0.conditions = ["10.0.0.7": "SourceIp", "SecureTransport": "true", "authType": "REST-QUERY"] }),
        ("method", { $0.request.method = "HEAD" }),
        ("path", { $0.request.path = "/data/team/report.csv2" }),
        ("query", { $0.request.query = "versionId=4" }),
        ("query moved into the path", { $0.request.path = "/data/team/report.csvversionId=3"; $0.request.query = "" }),
        ("header value", { $0.request.headers["x-amz-server-side-encryption"] = "aws:kms" }),
        ("header added", { $0.request.headers["range"] = "bytes=0-9" }),
        ("source IP", { $0.request.sourceIP = "10.0.0.9" }),
        ("no source IP", { $0.request.sourceIP = nil }),
    ]

    @Test("a change to any field of the question gives a different key", arguments: variants.map(\.0))
    func everyFieldCounts(_ name: String) {
        var changed = Self.base
        Self.variants.first { $0.0 == name }!.1(&changed)
        #expect(changed != Self.base, "the variant must change the question")
        #expect(DecisionKey(changed) != DecisionKey(Self.base))
    }

    @Test("the clock is not part of the key")
    func clockIgnored() {
        var later = Self.base
        later.conditions["CurrentTime"] = "2026-11-30T10:00:59Z"
        var timeless = Self.base
        timeless.conditions.removeValue(forKey: "CurrentTime")
        #expect(DecisionKey(later) == DecisionKey(Self.base))
        #expect(DecisionKey(timeless) == DecisionKey(Self.base))
        #expect(DecisionKey(later).hashValue == DecisionKey(Self.base).hashValue)
    }

    @Test("equal questions give equal keys, whatever order their dictionaries were filled in")
    func dictionaryOrderIgnored() {
        var conditions: [String: String] = [:]
        for (name, value) in Self.base.conditions.sorted(by: { $0.key > $1.key }) { conditions[name] = value }
        var grown = [String: String](minimumCapacity: 64)
        for (name, value) in Self.base.conditions { grown[name] = value }
        for (name, conditions) in [("reversed", conditions), ("larger table", grown)] {
            var same = Self.base
            same.conditions = conditions
            #expect(DecisionKey(same) == DecisionKey(Self.base), "\(name)")
            #expect(DecisionKey(same).hashValue == DecisionKey(Self.base).hashValue, "\(name)")
        }
    }

    @Test("a key across objects ignores only the object key and the path")
    func acrossKeys() {
        var other = Self.base
        other.key = "team/other.csv"
        other.request.path = "/data/team/other.csv"
        #expect(DecisionKey(other, acrossKeys: true) == DecisionKey(Self.base, acrossKeys: true))
        #expect(DecisionKey(other) != DecisionKey(Self.base))
        var otherAction = other
        otherAction.action = "s3:DeleteObject"
        #expect(DecisionKey(otherAction, acrossKeys: true) != DecisionKey(Self.base, acrossKeys: true))
        #expect(DecisionKey(Self.base, acrossKeys: true) != DecisionKey(Self.base))
    }
}
