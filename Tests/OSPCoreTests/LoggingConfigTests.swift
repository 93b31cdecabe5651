import Testing

@testable import OSPCore

private func config(_ logging: String) throws(ConfigError) -> OSPConfig {
    try ConfigLoader.parse(
        yaml: """
            buckets:
              bucket-one: {host: 127.0.0.1}
            keystore: [{access_key: AK, secret_key: SK, principal: alice}]
            \(logging)
            """,
        environment: ["ACCESS_LOG": "/var/log/osp/from-env.log"]
    )
}

private func error(_ logging: String) -> ConfigError? {
    ConfigFixture.error { () throws(ConfigError) in try config(logging) }
}

@Suite("Config: logging")
struct LoggingConfigTests {
    @Test("without a logging section: access log on stdout, level from the command line")
    func defaults() throws {
        let settings = try config("").logging
        #expect(settings == LoggingSettings(accessLog: .stdout, level: nil))
    }

    @Test("access_log takes stdout, off (not YAML's false) or a path, also from the environment", arguments: [
        ("stdout", AccessLogDestination.stdout),
        ("off", .off),
        ("\"off\"", .off),
        ("/var/log/osp/access.log", .file("/var/log/osp/access.log")),
        ("\"${ACCESS_LOG}\"", .file("/var/log/osp/from-env.log")),
    ])
    func destinations(value: String, expected: AccessLogDestination) throws {
        #expect(try config("logging: {access_log: \(value)}").logging.accessLog == expected)
    }

    @Test("level names swift-log's levels")
    func level() throws {
        #expect(try config("logging: {level: debug}").logging.level == .debug)
        #expect(try config("logging: {level: warning, access_log: off}").logging == LoggingSettings(accessLog: .off, level: .warning))
    }

    @Test("unknown keys, unknown levels and empty destinations are errors with the key path")
    func errors() {
        #expect(error("logging: {access_logs: stdout}")?.path == "logging.access_logs")
        #expect(error("logging: {level: verbose}")?.path == "logging.level")
        #expect(error("logging: {access_log: \"\"}")?.path == "logging.access_log")
        #expect(error("logging: [stdout]")?.path == "logging")
    }
}
