import Testing
import Yams

@testable import OSPCore

/// Reading `authorization.opa` from the config file, and keeping the bearer token out of sight.
@Suite("OPA settings")
struct OPASettingsTests {
    func read(_ yaml: String, environment: [String: String] = [:]) throws(ConfigError) -> OPASettings {
        try OPASettings(ConfigFixture.mapping(yaml, at: "authorization.opa", environment: environment))
    }

    func error(_ yaml: String, environment: [String: String] = [:]) -> ConfigError? {
        ConfigFixture.error { () throws(ConfigError) in try read(yaml, environment: environment) }
    }

    @Test func readsEveryKey() throws {
        let settings = try read(
            """
            url: "http://127.0.0.1:8181/v1/data/osp/allow"
            bearer_token: "${OPA_TOKEN}"
            timeout_ms: 750
            headers: [User-Agent, x-request-id]
            verify: false
            ca_file: /etc/osp/opa-ca.pem
            """,
            environment: ["OPA_TOKEN": "s3cr3t-token"]
        )
        #expect(settings == OPASettings(
            url: "http://127.0.0.1:8181/v1/data/osp/allow",
            bearerToken: "s3cr3t-token",
            timeoutMilliseconds: 750,
            headers: ["user-agent", "x-request-id"],
            verifyTLS: false,
            caFile: "/etc/osp/opa-ca.pem"
        ))
        #expect(settings.calloutSettings.verifyTLS == false)
        #expect(settings.calloutSettings.caFile == "/etc/osp/opa-ca.pem")
        #expect(settings.calloutSettings.connectTimeout == .milliseconds(750))
    }

    @Test func defaults() throws {
        let settings = try read("url: https://opa.example/v1/data/osp/allow")
        #expect(settings.bearerToken == nil)
        #expect(settings.timeoutMilliseconds == 2000)
        #expect(settings.headers == [])
        #expect(settings.verifyTLS)
        #expect(settings.caFile == nil)
    }

    @Test func theTokenNeverShowsInDescriptions() throws {
        let settings = try read("url: http://opa/v1/data/osp/allow\nbearer_token: s3cr3t-token")
        #expect(!settings.description.contains("s3cr3t-token"))
        #expect(!String(reflecting: settings).contains("s3cr3t-token"))
        #expect(!"\(settings)".contains("s3cr3t-token"))
        #expect(settings.description.contains("<redacted>"))
    }

    @Test func refusals() {
        #expect(error("timeout_ms: 5")?.path == "authorization.opa.url")
        #expect(error("url: ftp://opa/x")?.path == "authorization.opa.url")
        #expect(error("url: 'http://opa/a b'")?.path == "authorization.opa.url")
        #expect(error("url: http://opa/x\nurl_typo: 1")?.path == "authorization.opa.url_typo")
        #expect(error("url: http://opa/x\ntimeout_ms: 0")?.path == "authorization.opa.timeout_ms")
        #expect(error("url: http://opa/x\ntimeout_ms: 600000")?.path == "authorization.opa.timeout_ms")
        #expect(error("url: http://opa/x\nheaders: [Authorization]")?.path == "authorization.opa.headers[0]")
        #expect(error("url: http://opa/x\nheaders: [ok, 'bad name']")?.path == "authorization.opa.headers[1]")
        #expect(error("url: http://opa/x\nbearer_token: ''")?.path == "authorization.opa.bearer_token")
        #expect(error("url: http://opa/x\nbearer_token: ${MISSING}")?.path == "authorization.opa.bearer_token")
        let split = error("url: http://opa/x\nbearer_token: \"${T}\"", environment: ["T": "abc\r\nX-Evil: 1"])
        #expect(split?.path == "authorization.opa.bearer_token")
        #expect(split.map { !$0.description.contains("abc") } == true)
    }
}
