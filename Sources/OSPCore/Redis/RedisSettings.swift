/// Where osp's Redis lives and how it is reached: the server, its credentials (Redis 6 ACL user or
/// the classic `requirepass` password), the database index, one time limit per command, and the key
/// prefix of osp's schema (see `RedisKeySchema`). The password is a secret: it never appears in
/// `description`, logs or errors.
public struct RedisSettings: Sendable, Equatable {
    public var host: String
    public var port: Int
    /// Sent with `AUTH` after every (re)connect when set.
    public var password: String?
    /// The ACL user for `AUTH username password` (Redis 6+); nil uses the default user.
    public var username: String?
    /// Selected with `SELECT` after every (re)connect when not 0.
    public var database: Int
    /// Hard limit for connecting and for one command, including the wait for a free pool thread.
    public var timeoutMilliseconds: Int
    /// Prepended to every key osp reads (`osp:` → `osp:key:AKIA…`).
    public var keyPrefix: String
    /// How long `RedisPolicy` keeps a principal's decoded grants in process (0: fetch every time,
    /// still one fetch for concurrent requests).
    public var grantsTTLSeconds: Int

    public init(
        host: String = "127.0.0.1",
        port: Int = 6379,
        password: String? = nil,
        username: String? = nil,
        database: Int = 0,
        timeoutMilliseconds: Int = 500,
        keyPrefix: String = "osp:",
        grantsTTLSeconds: Int = 5
    ) {
        self.host = host
        self.port = port
        self.password = password
        self.username = username
        self.database = database
        self.timeoutMilliseconds = timeoutMilliseconds
        self.keyPrefix = keyPrefix
        self.grantsTTLSeconds = grantsTTLSeconds
    }

    /// The schema under this prefix.
    public var schema: RedisKeySchema { RedisKeySchema(prefix: keyPrefix) }
}

extension RedisSettings: CustomStringConvertible, CustomDebugStringConvertible, CustomReflectable {
    public var description: String {
        "RedisSettings(host: \(host), port: \(port), username: \(username ?? "none"), "
            + "password: \(password == nil ? "none" : Redacted.marker), db: \(database), "
            + "timeout_ms: \(timeoutMilliseconds), key_prefix: \(keyPrefix), grants_ttl_seconds: \(grantsTTLSeconds))"
    }

    public var debugDescription: String { description }

    public var customMirror: Mirror {
        Mirror(
            self,
            children: [
                "host": host,
                "port": port,
                "username": username as Any,
                "password": password.map { _ in Redacted.marker } as Any,
                "database": database,
                "timeoutMilliseconds": timeoutMilliseconds,
                "keyPrefix": keyPrefix,
                "grantsTTLSeconds": grantsTTLSeconds,
            ],
            displayStyle: .struct
        )
    }
}

extension RedisSettings {
    static let configKeys = ["host", "port", "password", "username", "db", "timeout_ms", "key_prefix", "grants_ttl_seconds"]

    /// Reads a `redis:` section (every key optional):
    /// ```yaml
    /// redis:
    ///   host: 127.0.0.1
    ///   port: 6379
    ///   username: osp            # Redis 6 ACL user; needs a password
    ///   password: ${REDIS_PASSWORD}
    ///   db: 0
    ///   timeout_ms: 500
    ///   key_prefix: "osp:"
    ///   grants_ttl_seconds: 5
    /// ```
    init(_ mapping: ConfigMapping) throws(ConfigError) {
        try mapping.requireKnownKeys(Self.configKeys)
        let defaults = RedisSettings()
        let host = try mapping.nonEmptyString("host", required: false) ?? defaults.host
        guard !host.utf8.contains(where: { $0 <= 0x20 || $0 == 0x7F }) else {
            throw ConfigError(path: mapping.path(of: "host"), message: "must not contain spaces or control characters")
        }
        let password = try mapping.nonEmptyString("password", required: false)
        if let password, password.utf8.contains(where: { $0 < 0x20 || $0 == 0x7F }) {
            // The message must not repeat the value: it is a secret.
            throw ConfigError(path: mapping.path(of: "password"), message: "must not contain control characters or line breaks")
        }
        let username = try mapping.nonEmptyString("username", required: false)
        if let username, username.utf8.contains(where: { $0 <= 0x20 || $0 == 0x7F }) {
            throw ConfigError(path: mapping.path(of: "username"), message: "must not contain spaces or control characters")
        }
        if username != nil && password == nil {
            throw ConfigError(path: mapping.path(of: "username"), message: "a username needs a password (AUTH username password)")
        }
        self.init(
            host: host,
            port: try mapping.int("port", in: 1...65_535) ?? defaults.port,
            password: password,
            username: username,
            database: try mapping.int("db", in: 0...1_000_000) ?? defaults.database,
            timeoutMilliseconds: try mapping.int("timeout_ms", in: 1...60_000) ?? defaults.timeoutMilliseconds,
            keyPrefix: try mapping.string("key_prefix") ?? defaults.keyPrefix,
            grantsTTLSeconds: try mapping.int("grants_ttl_seconds", in: 0...86_400) ?? defaults.grantsTTLSeconds
        )
    }
}
