import Testing
import Yams

@testable import OSPCore

/// The `authorization.rules` section of the config file.
@Suite("Rules config")
struct RulesSettingsTests {
    private func read(_ yaml: String, environment: [String: String] = [:]) throws(ConfigError) -> RulesSettings {
        try RulesSettings(ConfigFixture.items(yaml), path: "authorization.rules", interpolation: EnvironmentInterpolation(environment: environment))
    }

    private func error(_ yaml: String) -> ConfigError? {
        ConfigFixture.error { () throws(ConfigError) in try read(yaml) }
    }

    @Test func theDocumentedShape() throws {
        let settings = try read(
            """
            - {principals: [alice, "group:analysts"], buckets: [proxy-bucket01], prefix: "team/", actions: [read, list, write], effect: allow}
            - {principals: ["*"], buckets: ["*"], prefix: "team/secret/", actions: ["*"], effect: deny}
            - {principal: "${OWNER}", bucket: logs-*, actions: "s3:Get*", effect: allow}
            """,
            environment: ["OWNER": "carol"]
        )
        #expect(
            settings.grants == [
                Grant(principals: ["alice", "group:analysts"], buckets: ["proxy-bucket01"], prefix: "team/", actions: ["read", "list", "write"], effect: .allow),
                Grant(principals: ["*"], buckets: ["*"], prefix: "team/secret/", actions: ["*"], effect: .deny),
                Grant(principals: ["carol"], buckets: ["logs-*"], prefix: "", actions: ["s3:Get*"], effect: .allow),
            ]
        )
    }

    @Test(arguments: [
        ("- {principals: [a], buckets: [b], actions: [read], effect: allow, prefx: team/}", "authorization.rules[0].prefx"),
        ("- {principals: [], buckets: [b], actions: [read], effect: allow}", "authorization.rules[0].principals"),
        ("- {principals: [\"\"], buckets: [b], actions: [read], effect: allow}", "authorization.rules[0].principals[0]"),
        ("- {buckets: [b], actions: [read], effect: allow}", "authorization.rules[0].principals"),
        ("- {principal: a, principals: [c], buckets: [b], actions: [read], effect: allow}", "authorization.rules[0].principal"),
        ("- {principals: [a], buckets: [], actions: [read], effect: allow}", "authorization.rules[0].buckets"),
        ("- {principals: [a], buckets: [b, \"x*y\"], actions: [read], effect: allow}", "authorization.rules[0].buckets[1]"),
        ("- {principals: [a], buckets: [b], actions: [], effect: allow}", "authorization.rules[0].actions"),
        ("- {principals: [a], buckets: [b], actions: [read, raed], effect: allow}", "authorization.rules[0].actions[1]"),
        ("- {principals: [a], buckets: [b], actions: [GetObject], effect: allow}", "authorization.rules[0].actions[0]"),
        ("- {principals: [a], buckets: [b], actions: [read], effect: permit}", "authorization.rules[0].effect"),
        ("- {principals: [a], buckets: [b], actions: [read]}", "authorization.rules[0].effect"),
        ("- {principals: [a], buckets: [b], actions: [read], effect: allow}\n- just-a-string", "authorization.rules[1]"),
    ])
    func refusedWithThePathOfTheMistake(yaml: String, path: String) {
        #expect(error(yaml)?.path == path)
    }

    @Test func unknownActionsAreExplained() {
        let message = error("- {principals: [a], buckets: [b], actions: [raed], effect: deny}")?.message ?? ""
        #expect(message.contains("'raed'"))
        #expect(message.contains("read, write, list, delete"))
    }

    @Test func backendKinds() throws {
        #expect(AuthorizationBackendKind(rawValue: "allow-all") == .allowAll)
        #expect(AuthorizationBackendKind.allCases.map(\.rawValue) == ["rules", "opa", "redis", "allow-all"])

        let interpolation = EnvironmentInterpolation(environment: [:])
        let read = { (yaml: String) throws(ConfigError) -> AuthorizationBackendKind? in
            let node = try! Yams.compose(yaml: yaml)!
            return try AuthorizationBackendKind.read(
                ConfigMapping(node, path: "authorization", allowedKeys: nil, interpolation: interpolation)
            )
        }
        #expect(try read("backend: opa") == .opa)
        #expect(try read("other: 1") == nil)
        #expect(throws: ConfigError(path: "authorization.backend", message: "unknown backend 'allowall'; expected one of: rules, opa, redis, allow-all")) {
            try read("backend: allowall")
        }
    }
}
