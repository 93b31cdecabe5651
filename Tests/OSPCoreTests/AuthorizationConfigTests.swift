import NIOPosix
import Testing

@testable import OSPCore

@Suite("authorization: config section")
struct AuthorizationConfigTests {
    let base = """
        buckets:
          bucket-one: {host: 127.0.0.1, port: 9000, access_key: AK, secret_key: SK}
        keystore:
          - {access_key: CK, secret_key: CS, principal: alice}

        """

    func parse(_ section: String) throws(ConfigError) -> OSPConfig {
        try ConfigLoader.parse(yaml: base + section, environment: [:])
    }

    @Test("without the section every authenticated client may do anything (osp warns at start-up)")
    func absent() throws {
        let config = try parse("")
        #expect(config.authorization == nil)
        #expect(Gateway.policyEngine(config.authorization, callouts: NIOThreadPool(numberOfThreads: 1)) is AllowAllPolicy)
    }

    @Test("rules with a cache section")
    func rulesAndCache() throws {
        let config = try parse("""
            authorization:
              backend: rules
              cache: {allow_ttl_seconds: 30, deny_ttl_seconds: 2, capacity: 1000}
              rules:
                - {principals: [alice], buckets: [bucket-one], prefix: "team/", actions: [read], effect: allow}
            """)
        let authorization = try #require(config.authorization)
        #expect(authorization.backend == .rules)
        #expect(authorization.rules.grants.count == 1)
        #expect(authorization.requestHeaders == [])
        #expect(authorization.cache == DecisionCacheSettings(allowTTLSeconds: 30, denyTTLSeconds: 2, capacity: 1000))
        #expect(Gateway.policyEngine(authorization, callouts: NIOThreadPool(numberOfThreads: 1)) is RulesPolicy)
    }

    @Test("opa with its endpoint and the headers it may see")
    func opa() throws {
        let config = try parse("""
            authorization:
              backend: opa
              opa: {url: "http://127.0.0.1:8181/v1/data/osp/allow", timeout_ms: 500, headers: [user-agent]}
            """)
        let authorization = try #require(config.authorization)
        #expect(authorization.opa?.url == "http://127.0.0.1:8181/v1/data/osp/allow")
        #expect(authorization.requestHeaders == ["user-agent"])
        #expect(Gateway.policyEngine(authorization, callouts: NIOThreadPool(numberOfThreads: 1)) is OPAPolicy)
    }

    @Test(
        "impossible authorization sections are errors with their key path",
        arguments: [
            ("authorization: {rules: []}", "authorization.backend"),
            ("authorization: {backend: magic}", "authorization.backend"),
            ("authorization: {backend: rules}", "authorization.rules"),
            ("authorization: {backend: opa}", "authorization.opa"),
            ("authorization: {backend: rules, opa: {url: \"http://127.0.0.1:1/x\"}, rules: [{principals: [a], buckets: [b], actions: [read], effect: allow}]}", "authorization.opa"),
            ("authorization: {backend: allow-all, cache: {ttl: 3}}", "authorization.cache.ttl"),
            ("authorization: {backend: allow-all, colour: blue}", "authorization.colour"),
        ]
    )
    func errors(section: String, path: String) {
        #expect {
            _ = try parse(section)
        } throws: { error in
            (error as? ConfigError)?.path == path
        }
    }
}
