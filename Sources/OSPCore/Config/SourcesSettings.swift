import Yams

/// Where the secrets of client keys come from (`secrets:`): the config `keystore` (static), the
/// shared `redis:` store, or an HTTP callout (the original's `hmac_fetcher`). Remote answers are
/// cached (`cache:`); the keystore is always consulted first.
public struct SecretsSettings: Sendable, Equatable {
    public enum Backend: String, Sendable, CaseIterable { case `static`, redis, http }

    public var backend: Backend
    public var http: HTTPCalloutSettings?
    public var cache: SecretCacheSettings

    public init(backend: Backend = .static, http: HTTPCalloutSettings? = nil, cache: SecretCacheSettings = SecretCacheSettings()) {
        self.backend = backend
        self.http = http
        self.cache = cache
    }

    static let keys = ["backend", "http", "cache"]

    init(_ section: ConfigMapping) throws(ConfigError) {
        let backend = try readBackend(section, Backend.self) ?? .static
        let http = try section.mapping("http", allowedKeys: HTTPCalloutSettings.configKeys).map {
            (mapping) throws(ConfigError) in try HTTPCalloutSettings(mapping)
        }
        try requireSubsection(section, "http", present: http != nil, when: backend == .http, backend: backend.rawValue)
        let cache = try section.mapping("cache", allowedKeys: SecretCacheSettings.configKeys).map {
            (mapping) throws(ConfigError) in try SecretCacheSettings(mapping)
        } ?? SecretCacheSettings()
        self.init(backend: backend, http: http, cache: cache)
    }
}

/// Where backend credentials come from (`credentials:`): the keys written next to each bucket, with
/// optional per-(principal, bucket pattern) overrides (`principals:`), the shared `redis:` store, or an
/// HTTP callout (the original's `bucket_creds_fetcher`), keyed by principal when the answer says so.
public struct CredentialsSettings: Sendable, Equatable {
    public enum Backend: String, Sendable, CaseIterable { case `static`, redis, http }

    public var backend: Backend
    public var principals: [PrincipalCredentialRule]
    public var http: HTTPCalloutSettings?
    public var cache: CredentialCacheSettings

    public init(
        backend: Backend = .static,
        principals: [PrincipalCredentialRule] = [],
        http: HTTPCalloutSettings? = nil,
        cache: CredentialCacheSettings = CredentialCacheSettings()
    ) {
        self.backend = backend
        self.principals = principals
        self.http = http
        self.cache = cache
    }

    static let keys = ["backend", "principals", "http", "cache"]

    init(_ section: ConfigMapping) throws(ConfigError) {
        let backend = try readBackend(section, Backend.self) ?? .static
        let principals = try PrincipalCredentialRule.read(
            section.list("principals") ?? [], path: section.path(of: "principals"), interpolation: section.interpolation
        )
        if backend != .static && !principals.isEmpty {
            throw ConfigError(path: section.path(of: "principals"), message: "per-principal credentials are used by the static backend only")
        }
        let http = try section.mapping("http", allowedKeys: HTTPCalloutSettings.configKeys).map {
            (mapping) throws(ConfigError) in try HTTPCalloutSettings(mapping)
        }
        try requireSubsection(section, "http", present: http != nil, when: backend == .http, backend: backend.rawValue)
        let cache = try section.mapping("cache", allowedKeys: CredentialCacheSettings.configKeys).map {
            (mapping) throws(ConfigError) in try CredentialCacheSettings(mapping)
        } ?? CredentialCacheSettings()
        self.init(backend: backend, principals: principals, http: http, cache: cache)
    }
}

/// `backend:` of a sources section, checked against the backend's cases.
private func readBackend<Backend: RawRepresentable & CaseIterable>(
    _ section: ConfigMapping,
    _: Backend.Type
) throws(ConfigError) -> Backend? where Backend.RawValue == String {
    try section.choice("backend", as: Backend.self, noun: "backend")
}

/// A backend's own sub-section must be present exactly when that backend is chosen.
private func requireSubsection(_ section: ConfigMapping, _ key: String, present: Bool, when needed: Bool, backend: String) throws(ConfigError) {
    if needed && !present {
        throw ConfigError(path: section.path(of: key), message: "the \(key) backend needs its '\(key)' section")
    }
    if !needed && present {
        throw ConfigError(path: section.path(of: key), message: "'\(key)' is not used by the '\(backend)' backend")
    }
}
