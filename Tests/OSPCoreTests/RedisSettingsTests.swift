import Testing
import Yams

@testable import OSPCore

/// Reading a `redis:` section, its defaults and refusals, the documented key schema, and keeping
/// the password out of sight.
@Suite("Redis settings and key schema")
struct RedisSettingsTests {
    func read(_ yaml: String, environment: [String: String] = [:]) throws(ConfigError) -> RedisSettings {
        try RedisSettings(ConfigFixture.mapping(yaml, at: "redis", environment: environment))
    }

    func error(_ yaml: String, environment: [String: String] = [:]) -> ConfigError? {
        ConfigFixture.error { () throws(ConfigError) in try read(yaml, environment: environment) }
    }

    @Test func readsEveryKey() throws {
        let settings = try read(
            """
            host: redis.internal
            port: 6380
            username: osp
            password: "${REDIS_PASSWORD}"
            db: 2
            timeout_ms: 250
            key_prefix: "gw1:"
            grants_ttl_seconds: 30
            """,
            environment: ["REDIS_PASSWORD": "p4ss-word"]
        )
        #expect(settings == RedisSettings(
            host: "redis.internal", port: 6380, password: "p4ss-word", username: "osp", database: 2,
            timeoutMilliseconds: 250, keyPrefix: "gw1:", grantsTTLSeconds: 30
        ))
    }

    @Test func defaults() throws {
        let settings = try read("{}")
        #expect(settings == RedisSettings())
        #expect(settings.host == "127.0.0.1")
        #expect(settings.port == 6379)
        #expect(settings.password == nil)
        #expect(settings.username == nil)
        #expect(settings.database == 0)
        #expect(settings.timeoutMilliseconds == 500)
        #expect(settings.keyPrefix == "osp:")
        #expect(settings.grantsTTLSeconds == 5)
    }

    @Test func refusals() {
        #expect(error("hots: x")?.path == "redis.hots")
        #expect(error("port: 0")?.path == "redis.port")
        #expect(error("port: 70000")?.path == "redis.port")
        #expect(error("db: -1")?.path == "redis.db")
        #expect(error("timeout_ms: 0")?.path == "redis.timeout_ms")
        #expect(error("host: ''")?.path == "redis.host")
        #expect(error("host: 'a b'")?.path == "redis.host")
        #expect(error("username: osp")?.path == "redis.username")
        #expect(error("password: ''")?.path == "redis.password")
        let secretError = error("password: \"line\\nbreak-secret\"")
        #expect(secretError?.path == "redis.password")
        #expect(secretError.map { !$0.description.contains("break-secret") } == true)
    }

    @Test func thePasswordNeverShowsInText() throws {
        let settings = try read("password: hunter2-secret\nusername: osp")
        #expect(!settings.description.contains("hunter2-secret"))
        #expect(!"\(settings)".contains("hunter2-secret"))
        #expect(!String(reflecting: settings).contains("hunter2-secret"))
        var dumped = ""
        dump(settings, to: &dumped)
        #expect(!dumped.contains("hunter2-secret"))
        #expect(settings.description.contains("<redacted>"))
    }

    @Test func keySchemaIsTheDocumentedOne() {
        let schema = RedisSettings(keyPrefix: "gw1:").schema
        #expect(schema.clientKey(accessKey: "AKID") == "gw1:key:AKID")
        #expect(schema.grants(principal: "alice") == "gw1:grants:alice")
        #expect(schema.grants(group: "team") == "gw1:grants:group:team")
        #expect(schema.credentials(bucket: "data") == "gw1:creds:data")
        #expect(schema.credentials(principal: "alice", bucket: "data") == "gw1:creds:alice:data")
        #expect(RedisKeySchema().clientKey(accessKey: "AKID") == "osp:key:AKID")
    }

    @Test func groupsAreCommaSeparated() {
        #expect(RedisKeySchema.groups("team, admins,") == ["team", "admins"])
        #expect(RedisKeySchema.groups("") == [])
        #expect(RedisKeySchema.groups(" a ,, b c ") == ["a", "b c"])
    }

    @Test func hashFieldsReadHGETALLReplies() {
        #expect(RedisReply.array([.string("a"), .string("1"), .string("b"), .string("2")]).hashFields == ["a": "1", "b": "2"])
        #expect(RedisReply.array([]).hashFields == [:])
        #expect(RedisReply.array([.string("a")]).hashFields == nil)
        #expect(RedisReply.string("x").hashFields == nil)
        #expect(RedisReply.array([.string("a"), .integer(1)]).hashFields == nil)
    }
}
