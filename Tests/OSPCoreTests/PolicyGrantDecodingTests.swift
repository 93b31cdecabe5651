import Foundation
import Testing

@testable import OSPCore

/// Grants as Redis stores them: a JSON list per principal, in the config file's shape.
@Suite("Grants decoded from JSON")
struct PolicyGrantDecodingTests {
    private func decode(_ json: String) throws -> [Grant] {
        try JSONDecoder().decode([Grant].self, from: Data(json.utf8))
    }

    @Test func pluralAndSingularForms() throws {
        let grants = try decode(
            """
            [
              {"principals": ["alice", "group:analysts"], "buckets": ["data", "logs-*"], "prefix": "team/",
               "actions": ["read", "s3:PutObject"], "effect": "allow"},
              {"principal": "bob", "bucket": "data", "actions": "s3:*", "effect": "Deny"}
            ]
            """
        )
        #expect(
            grants == [
                Grant(principals: ["alice", "group:analysts"], buckets: ["data", "logs-*"], prefix: "team/", actions: ["read", "s3:PutObject"], effect: .allow),
                Grant(principals: ["bob"], buckets: ["data"], prefix: "", actions: ["s3:*"], effect: .deny),
            ]
        )
    }

    @Test func decodedGrantsEvaluateLikeWrittenOnes() throws {
        let rules = RuleSet(
            try decode(
                """
                [{"principal": "alice", "bucket": "data", "prefix": "team/", "actions": ["read"], "effect": "allow"},
                 {"principal": "*", "bucket": "*", "prefix": "team/secret/", "actions": ["*"], "effect": "deny"}]
                """
            )
        )
        let request = { (key: String) in AuthorizationRequest(principal: "alice", action: "s3:GetObject", bucket: "data", key: key) }
        #expect(rules.evaluate(request("team/a")) == .allow(nil))
        #expect(rules.evaluate(request("team/secret/x")) == .deny(reason: "denied by grant 1"))
    }

    @Test(arguments: [
        // a misspelled key must not silently widen a grant to the whole bucket
        #"[{"principal": "a", "bucket": "b", "prefx": "team/", "actions": ["*"], "effect": "allow"}]"#,
        #"[{"principal": "a", "bucket": "b", "actions": ["*"], "efect": "deny"}]"#,
        #"[{"principal": "a", "bucket": "b", "actions": ["*"]}]"#,
        #"[{"principal": "a", "bucket": "b", "actions": ["*"], "effect": "maybe"}]"#,
        #"[{"bucket": "b", "actions": ["*"], "effect": "allow"}]"#,
        #"[{"principals": [], "bucket": "b", "actions": ["*"], "effect": "allow"}]"#,
        #"[{"principal": "a", "principals": ["c"], "bucket": "b", "actions": ["*"], "effect": "allow"}]"#,
        #"[{"principal": "a", "buckets": [], "actions": ["*"], "effect": "allow"}]"#,
        #"[{"principal": "a", "bucket": "lo*gs", "actions": ["*"], "effect": "allow"}]"#,
        #"[{"principal": "a", "bucket": "b", "actions": [], "effect": "allow"}]"#,
        #"[{"principal": "a", "bucket": "b", "actions": ["raed"], "effect": "deny"}]"#,
        #"[{"principal": "a", "bucket": "b", "actions": ["s3:Get*Object"], "effect": "deny"}]"#,
        #"[{"principal": "a", "bucket": "b", "actions": ["s3:"], "effect": "deny"}]"#,
        #"[{"principal": "a", "bucket": "b", "prefix": 3, "actions": ["*"], "effect": "allow"}]"#,
    ])
    func refused(json: String) {
        #expect(throws: DecodingError.self) { try decode(json) }
    }
}
