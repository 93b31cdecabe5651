import Yams

/// The `authorization:` section: which policy backend decides, its settings, and how long its
/// answers are cached. Absent, every authenticated client may do anything (logged loudly at
/// start-up, like `allow-all`), which keeps configs written for plain re-signing working.
public struct AuthorizationSettings: Sendable, Equatable {
    public var backend: AuthorizationBackendKind
    /// The `rules` backend's grants.
    public var rules: RulesSettings
    /// The `opa` backend's endpoint and the request headers it may see.
    public var opa: OPASettings?
    /// How long remote backends' answers are cached.
    public var cache: DecisionCacheSettings

    public init(
        backend: AuthorizationBackendKind,
        rules: RulesSettings = RulesSettings(grants: []),
        opa: OPASettings? = nil,
        cache: DecisionCacheSettings = DecisionCacheSettings()
    ) {
        self.backend = backend
        self.rules = rules
        self.opa = opa
        self.cache = cache
    }

    /// Request headers a policy backend is shown (only OPA's input carries any).
    public var requestHeaders: [String] { opa?.headers ?? [] }

    static let keys = ["backend", "rules", "opa", "cache"]
    static let cacheKeys = ["allow_ttl_seconds", "deny_ttl_seconds", "capacity"]

    init(_ section: ConfigMapping) throws(ConfigError) {
        guard let backend = try AuthorizationBackendKind.read(section) else {
            throw ConfigError(path: section.path(of: "backend"), message: "missing required key 'backend' (rules, opa, redis or allow-all)")
        }
        let rules = try RulesSettings(section.list("rules") ?? [], path: section.path(of: "rules"), interpolation: section.interpolation)
        if backend == .rules && rules.grants.isEmpty {
            throw ConfigError(path: section.path(of: "rules"), message: "the rules backend needs at least one grant (everything would be denied)")
        }
        if backend != .rules && !rules.grants.isEmpty {
            throw ConfigError(path: section.path(of: "rules"), message: "rules are only used by the rules backend, not '\(backend.rawValue)'")
        }
        let opa = try section.mapping("opa", allowedKeys: OPASettings.configKeys).map { (mapping) throws(ConfigError) in try OPASettings(mapping) }
        if backend == .opa && opa == nil {
            throw ConfigError(path: section.path(of: "opa"), message: "the opa backend needs an 'opa' section with its url")
        }
        if backend != .opa && opa != nil {
            throw ConfigError(path: section.path(of: "opa"), message: "the opa section is only used by the opa backend, not '\(backend.rawValue)'")
        }
        var cache = DecisionCacheSettings()
        if let section = try section.mapping("cache", allowedKeys: Self.cacheKeys) {
            cache.allowTTLSeconds = try section.int64("allow_ttl_seconds", in: 0...86_400) ?? cache.allowTTLSeconds
            cache.denyTTLSeconds = try section.int64("deny_ttl_seconds", in: 0...86_400) ?? cache.denyTTLSeconds
            cache.capacity = try section.int("capacity", in: 0...10_000_000) ?? cache.capacity
        }
        self.init(backend: backend, rules: rules, opa: opa, cache: cache)
    }
}
