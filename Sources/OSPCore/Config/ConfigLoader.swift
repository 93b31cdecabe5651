import Foundation
import Yams

/// Reads the YAML config file into an `OSPConfig`, refusing anything it does not understand: unknown
/// keys, wrong types and impossible values are errors with the key's path, never silently ignored,
/// because a typo in a gateway's config is a security or availability bug waiting to happen.
public enum ConfigLoader {
    /// Loads and validates the config file at `path`.
    public static func load(
        path: String,
        environment: [String: String] = ProcessInfo.processInfo.environment
    ) throws(ConfigError) -> OSPConfig {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw ConfigError(path: "", message: "cannot read config file '\(path)'")
        }
        guard let yaml = String(data: data, encoding: .utf8) else {
            throw ConfigError(path: "", message: "config file '\(path)' is not UTF-8")
        }
        return try parse(yaml: yaml, environment: environment)
    }

    /// Parses and validates config text; `environment` supplies `${VAR}` values.
    public static func parse(yaml: String, environment: [String: String]) throws(ConfigError) -> OSPConfig {
        let root: Node?
        do {
            root = try Yams.compose(yaml: yaml)
        } catch {
            throw ConfigError(path: "", message: "invalid YAML: \(describe(error))")
        }
        guard let root, !(root.tagName == .null && root.scalar != nil) else {
            throw ConfigError(path: "", message: "the config is empty; at least 'buckets' is required")
        }
        let interpolation = EnvironmentInterpolation(environment: environment)
        let top = try ConfigMapping(root, path: "", allowedKeys: Keys.top, interpolation: interpolation)

        let server = try readServer(top.mapping("server", allowedKeys: Keys.server))
        let admin = try top.mapping("admin", allowedKeys: Keys.admin).map { (admin) throws(ConfigError) in try readAdmin(admin) }
        let upstream = try readUpstream(top.mapping("upstream", allowedKeys: Keys.upstream), environment: environment)
        guard let bucketsMapping = try top.mapping("buckets", allowedKeys: nil) else {
            throw ConfigError(path: "buckets", message: "missing required key 'buckets' (the bucket map)")
        }
        let buckets = try readBuckets(bucketsMapping)
        let keystore = try readKeystore(top.list("keystore") ?? [], interpolation: interpolation)
        var authorization = try top.mapping("authorization", allowedKeys: AuthorizationSettings.keys).map {
            (section) throws(ConfigError) in try AuthorizationSettings(section)
        }
        var secrets = try top.mapping("secrets", allowedKeys: SecretsSettings.keys).map {
            (section) throws(ConfigError) in try SecretsSettings(section)
        } ?? SecretsSettings()
        var credentials = try top.mapping("credentials", allowedKeys: CredentialsSettings.keys).map {
            (section) throws(ConfigError) in try CredentialsSettings(section)
        } ?? CredentialsSettings()
        // Callout services sit behind the same corporate proxy as the backends.
        authorization?.opa?.endpoint.proxy = upstream.proxy
        secrets.http?.proxy = upstream.proxy
        credentials.http?.proxy = upstream.proxy
        let redis = try top.mapping("redis", allowedKeys: RedisSettings.configKeys).map {
            (section) throws(ConfigError) in try RedisSettings(section)
        }
        let logging = try top.mapping("logging", allowedKeys: LoggingSettings.keys).map {
            (section) throws(ConfigError) in try LoggingSettings(section)
        } ?? LoggingSettings()
        let tracing = try top.mapping("tracing", allowedKeys: TracingSettings.keys).map {
            (section) throws(ConfigError) in try TracingSettings(section)
        }
        let redisUsers = [
            authorization?.backend == .redis ? "authorization" : nil,
            secrets.backend == .redis ? "secrets" : nil,
            credentials.backend == .redis ? "credentials" : nil,
        ].compactMap { $0 }
        if redis == nil, let user = redisUsers.first {
            throw ConfigError(path: "redis", message: "\(user).backend is redis, but there is no 'redis' section")
        }
        if redis != nil && redisUsers.isEmpty {
            throw ConfigError(path: "redis", message: "no section uses the redis backend")
        }

        if keystore.isEmpty && !server.skipSignatureValidation && secrets.backend == .static {
            throw ConfigError(
                path: "keystore",
                message: "no client keys configured, so no client could authenticate; add keystore entries or set server.skip_signature_validation"
            )
        }
        if let admin, admin.port == server.httpPort, bindsOverlap(admin.bind, server.bind) {
            throw ConfigError(path: "admin.port", message: "\(admin.port) is also server.http_port")
        }
        if let admin, admin.port == server.httpsPort, bindsOverlap(admin.bind, server.bind) {
            throw ConfigError(path: "admin.port", message: "\(admin.port) is also server.https_port")
        }
        return OSPConfig(
            server: server, admin: admin, upstream: upstream, buckets: buckets, keystore: keystore,
            authorization: authorization, secrets: secrets, credentials: credentials, redis: redis,
            logging: logging, tracing: tracing
        )
    }

    // MARK: Sections

    private enum Keys {
        static let top = ["server", "admin", "upstream", "buckets", "keystore", "authorization", "secrets", "credentials", "redis", "logging", "tracing"]
        static let server = [
            "bind", "http_port", "threads", "virtual_host_domains", "skip_signature_validation",
            "max_clock_skew_seconds", "idle_timeout_seconds", "max_header_bytes", "max_header_count",
            "https_port", "tls",
            "dot_segment_keys", "cors_preflight", "shutdown_grace_seconds",
        ]
        static let admin = ["bind", "port"]
        static let upstream = [
            "verify", "ca_file", "connect_timeout_seconds", "read_timeout_seconds", "max_idle_connections_per_host",
            "https_proxy", "http_proxy", "no_proxy",
        ]
        static let bucket = [
            "host", "port", "tls", "region", "addressing_style", "backend_bucket",
            "access_key", "secret_key", "session_token", "api_key", "iam_endpoint", "ttl",
            "ca_file",
        ]
        static let keystoreEntry = ["access_key", "secret_key", "principal", "groups"]
    }

    private static let ports = 1...65535
    private static let positive = 1...Int.max

    private static func readServer(_ section: ConfigMapping?) throws(ConfigError) -> ServerSettings {
        var server = ServerSettings()
        guard let section else { return server }
        server.bind = try section.nonEmptyString("bind", required: false) ?? server.bind
        server.httpPort = try readHTTPPort(section, default: server.httpPort)
        try readHTTPS(section, into: &server)
        server.threads = try section.int("threads", in: 1...256) ?? server.threads
        if let domains = try section.stringList("virtual_host_domains") {
            server.virtualHostDomains = try domains.enumerated().map { (index, domain) throws(ConfigError) in
                try normalizedDomain(domain, path: "\(section.path(of: "virtual_host_domains"))[\(index)]")
            }
        }
        server.skipSignatureValidation = try section.bool("skip_signature_validation") ?? server.skipSignatureValidation
        server.maxClockSkewSeconds = try section.int64("max_clock_skew_seconds", in: 1...3600) ?? server.maxClockSkewSeconds
        server.idleTimeoutSeconds = try section.int64("idle_timeout_seconds", in: positive) ?? server.idleTimeoutSeconds
        server.maxHeaderBytes = try section.int("max_header_bytes", in: 1024...(1 << 20)) ?? server.maxHeaderBytes
        server.maxHeaderCount = try section.int("max_header_count", in: 1...10_000) ?? server.maxHeaderCount
        server.dotSegmentKeys = try section.choice("dot_segment_keys", as: DotSegmentKeys.self) ?? server.dotSegmentKeys
        server.corsPreflight = try section.choice("cors_preflight", as: CORSPreflightHandling.self) ?? server.corsPreflight
        // 0: close connections with requests in flight at once.
        server.shutdownGraceSeconds = try section.int64("shutdown_grace_seconds", in: 0...3600) ?? server.shutdownGraceSeconds
        return server
    }

    /// `http_port: off` (or `false`) turns the plain listener off, for HTTPS-only gateways.
    private static func readHTTPPort(_ section: ConfigMapping, default port: Int?) throws(ConfigError) -> Int? {
        if let node = section.node("http_port"), node.tagName == .bool {
            guard node.bool == false else {
                throw ConfigError(path: section.path(of: "http_port"), message: "expected a port number, or off to serve HTTPS only")
            }
            return nil
        }
        return try section.int("http_port", in: ports) ?? port
    }

    /// `https_port` and `tls` come together; the certificate files must load now, so that a typo
    /// or a bad certificate fails `check-config` rather than the first client's handshake.
    private static func readHTTPS(_ section: ConfigMapping, into server: inout ServerSettings) throws(ConfigError) {
        server.httpsPort = try section.int("https_port", in: ports)
        server.tls = try section.mapping("tls", allowedKeys: ServerTLSSettings.keys).map {
            (tls) throws(ConfigError) in try ServerTLSSettings(tls)
        }
        switch (server.httpsPort, server.tls) {
        case (nil, nil):
            if server.httpPort == nil {
                throw ConfigError(path: section.path(of: "http_port"), message: "http_port is off and there is no https_port: osp would not listen at all")
            }
            return
        case (.some, nil):
            throw ConfigError(path: section.path(of: "tls"), message: "https_port needs a 'tls' section (cert_file, key_file)")
        case (nil, .some):
            throw ConfigError(path: section.path(of: "https_port"), message: "the tls section is only used by an https_port; add one")
        case (let httpsPort?, let tls?):
            if httpsPort == server.httpPort {
                throw ConfigError(path: section.path(of: "https_port"), message: "\(httpsPort) is also http_port")
            }
            _ = try ServerTLSContext.load(tls)
        }
    }

    private static func normalizedDomain(_ domain: String, path: String) throws(ConfigError) -> String {
        var domain = domain.lowercased()
        if domain.hasSuffix(".") { domain.removeLast() }
        guard !domain.isEmpty else {
            throw ConfigError(path: path, message: "a virtual-host domain must not be empty")
        }
        guard !domain.contains(where: { $0 == "/" || $0 == ":" || $0.isWhitespace }), !domain.hasPrefix(".") else {
            throw ConfigError(
                path: path,
                message: "'\(domain)' is not a domain name (no scheme, port, path, spaces or leading dot)"
            )
        }
        return domain
    }

    private static func readAdmin(_ section: ConfigMapping) throws(ConfigError) -> AdminSettings {
        guard let port = try section.int("port", in: ports) else {
            throw ConfigError(path: section.path(of: "port"), message: "missing required key 'port'")
        }
        return AdminSettings(bind: try section.nonEmptyString("bind", required: false) ?? "127.0.0.1", port: port)
    }

    /// The proxy keys fall back on the environment even without an `upstream` section.
    private static func readUpstream(_ section: ConfigMapping?, environment: [String: String]) throws(ConfigError) -> UpstreamSettings {
        var upstream = UpstreamSettings()
        upstream.proxy = try UpstreamProxySettings.read(section, environment: environment)
        guard let section else { return upstream }
        upstream.verify = try section.bool("verify") ?? upstream.verify
        upstream.caFile = try section.nonEmptyString("ca_file", required: false)
        upstream.connectTimeoutSeconds = try section.int64("connect_timeout_seconds", in: positive) ?? upstream.connectTimeoutSeconds
        upstream.readTimeoutSeconds = try section.int64("read_timeout_seconds", in: positive) ?? upstream.readTimeoutSeconds
        upstream.maxIdleConnectionsPerHost =
            try section.int("max_idle_connections_per_host", in: 0...100_000) ?? upstream.maxIdleConnectionsPerHost
        return upstream
    }

    private static func readBuckets(_ section: ConfigMapping) throws(ConfigError) -> BucketMap {
        guard !section.entries.isEmpty else {
            throw ConfigError(path: section.path, message: "no buckets configured; add at least one bucket or a '*' default route")
        }
        var map = BucketMap()
        for (name, node) in section.entries {
            let entryPath = section.path(of: name)
            guard name == "*" || BucketNameRules.isValid(name) else {
                throw ConfigError(
                    path: entryPath,
                    message: "'\(name)' is not a valid S3 bucket name (3–63 characters: lowercase letters, digits, '.', '-'; starting and ending with a letter or digit), nor '*'"
                )
            }
            let entry = try ConfigMapping(node, path: entryPath, allowedKeys: Keys.bucket, interpolation: section.interpolation)
            let route = try readBucketRoute(name: name, entry)
            if name == "*" {
                map.defaultRoute = route
            } else {
                map.routes[name] = route
            }
        }
        return map
    }

    private static func readBucketRoute(name: String, _ entry: ConfigMapping) throws(ConfigError) -> BucketRoute {
        let host = try entry.nonEmptyString("host", required: true)!
        guard !host.contains(where: { $0 == "/" || $0.isWhitespace }) else {
            throw ConfigError(path: entry.path(of: "host"), message: "'\(host)' is not a host name or address (no scheme or path)")
        }
        let tls = try entry.bool("tls") ?? false
        let port = try entry.int("port", in: ports)
        let region = try entry.nonEmptyString("region", required: false) ?? "us-east-1"

        let addressingStyle = try entry.choice("addressing_style", as: AddressingStyle.self) ?? .path

        let backendBucket = try entry.string("backend_bucket")
        if let backendBucket, !BucketNameRules.isValid(backendBucket) {
            throw ConfigError(path: entry.path(of: "backend_bucket"), message: "'\(backendBucket)' is not a valid S3 bucket name")
        }

        let accessKey = try entry.nonEmptyString("access_key", required: false)
        let secretKey = try entry.nonEmptyString("secret_key", required: false)
        let sessionToken = try entry.nonEmptyString("session_token", required: false)
        var credentials: BackendCredentials?
        switch (accessKey, secretKey) {
        case (let accessKey?, let secretKey?):
            credentials = BackendCredentials(accessKey: accessKey, secretKey: secretKey, sessionToken: sessionToken)
        case (.some, nil):
            throw ConfigError(path: entry.path(of: "secret_key"), message: "access_key is set but secret_key is missing")
        case (nil, .some):
            throw ConfigError(path: entry.path(of: "access_key"), message: "secret_key is set but access_key is missing")
        case (nil, nil):
            if sessionToken != nil {
                throw ConfigError(path: entry.path(of: "session_token"), message: "session_token needs access_key and secret_key")
            }
        }
        let ibmIAM = try readIBMIAM(entry, hasHMACKeys: credentials != nil)
        let caFile = try entry.nonEmptyString("ca_file", required: false)
        if let caFile {
            guard tls else {
                throw ConfigError(path: entry.path(of: "ca_file"), message: "ca_file is only used for a TLS backend; set tls: true or remove it")
            }
            guard FileManager.default.isReadableFile(atPath: caFile) else {
                throw ConfigError(path: entry.path(of: "ca_file"), message: "cannot read the CA bundle '\(caFile)'")
            }
        }

        return BucketRoute(
            name: name,
            host: host,
            port: port,
            tls: tls,
            region: region,
            addressingStyle: addressingStyle,
            backendBucket: backendBucket,
            credentials: credentials,
            ibmIAM: ibmIAM,
            ttlSeconds: try entry.int64("ttl", in: 0...Int.max),
            caFile: caFile
        )
    }

    /// `api_key` (and optionally `iam_endpoint`): the bucket authenticates with IBM IAM bearer tokens,
    /// which replaces HMAC keys rather than adding to them.
    private static func readIBMIAM(_ entry: ConfigMapping, hasHMACKeys: Bool) throws(ConfigError) -> IBMIAMKey? {
        let apiKey = try entry.nonEmptyString("api_key", required: false)
        let endpoint = try entry.nonEmptyString("iam_endpoint", required: false)
        guard let apiKey else {
            if endpoint != nil {
                throw ConfigError(path: entry.path(of: "iam_endpoint"), message: "iam_endpoint needs api_key")
            }
            return nil
        }
        if hasHMACKeys {
            throw ConfigError(
                path: entry.path(of: "api_key"),
                message: "a bucket authenticates either with api_key (IBM IAM) or with access_key/secret_key, not both"
            )
        }
        guard let endpoint else { return IBMIAMKey(apiKey: apiKey) }
        let lowered = endpoint.lowercased()
        guard lowered.hasPrefix("https://") || lowered.hasPrefix("http://"), !endpoint.contains(where: { $0.isWhitespace || $0 == "?" || $0 == "#" }) else {
            throw ConfigError(
                path: entry.path(of: "iam_endpoint"),
                message: "'\(endpoint)' is not an http(s) URL without query or fragment (e.g. \(IBMIAMKey.defaultEndpoint))"
            )
        }
        return IBMIAMKey(apiKey: apiKey, endpoint: endpoint)
    }

    private static func readKeystore(_ items: [Node], interpolation: EnvironmentInterpolation) throws(ConfigError) -> [KeystoreEntry] {
        var entries: [KeystoreEntry] = []
        var firstIndexByAccessKey: [String: Int] = [:]
        for (index, item) in items.enumerated() {
            let entry = try ConfigMapping(item, path: "keystore[\(index)]", allowedKeys: Keys.keystoreEntry, interpolation: interpolation)
            let accessKey = try entry.nonEmptyString("access_key", required: true)!
            if let first = firstIndexByAccessKey[accessKey] {
                throw ConfigError(path: entry.path(of: "access_key"), message: "duplicate access_key: keystore[\(first)] has the same one")
            }
            firstIndexByAccessKey[accessKey] = index
            entries.append(
                KeystoreEntry(
                    accessKey: accessKey,
                    secretKey: try entry.nonEmptyString("secret_key", required: true)!,
                    principal: try entry.nonEmptyString("principal", required: true)!,
                    groups: try entry.stringList("groups") ?? []
                )
            )
        }
        return entries
    }

    // MARK: Helpers

    private static func bindsOverlap(_ first: String, _ second: String) -> Bool {
        let wildcards: Set<String> = ["0.0.0.0", "::", "[::]", "*"]
        return first == second || wildcards.contains(first) || wildcards.contains(second)
    }

    /// A YAML syntax error's position and problem, without the snippet Yams would quote: that line
    /// could hold a secret.
    private static func describe(_ error: any Error) -> String {
        guard let error = error as? YamlError else { return "unreadable document" }
        switch error {
        case .scanner(_, let problem, let mark, _), .parser(_, let problem, let mark, _), .composer(_, let problem, let mark, _):
            return "\(problem) at line \(mark.line), column \(mark.column)"
        case .duplicatedKeysInMapping(let duplicates, let context):
            return "duplicate key(s) \(duplicates.map { "'\($0)'" }.joined(separator: ", ")) in the mapping at line \(context.mark.line)"
        case .reader(let problem, _, _, _):
            return problem
        default:
            return "unreadable document"
        }
    }
}
