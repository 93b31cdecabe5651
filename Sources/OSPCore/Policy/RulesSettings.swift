import Yams

/// Which policy backend answers authorization questions (`authorization.backend`).
public enum AuthorizationBackendKind: String, Sendable, CaseIterable {
    case rules, opa, redis
    case allowAll = "allow-all"
}

/// The `rules` backend's configuration: the grants of `authorization.rules`, validated and in file
/// order (deny reasons name them by index).
public struct RulesSettings: Sendable, Equatable {
    public var grants: [Grant]

    public init(grants: [Grant]) {
        self.grants = grants
    }
}

extension RulesSettings {
    /// Reads the list under `authorization.rules`; `path` is that list's key path, so errors read
    /// `authorization.rules[1].actions[0]: unknown action 'raed' …`.
    init(_ items: [Node], path: String, interpolation: EnvironmentInterpolation) throws(ConfigError) {
        var grants: [Grant] = []
        for (index, item) in items.enumerated() {
            let mapping = try ConfigMapping(item, path: "\(path)[\(index)]", allowedKeys: Grant.configKeys, interpolation: interpolation)
            grants.append(try Grant(mapping))
        }
        self.init(grants: grants)
    }
}

extension AuthorizationBackendKind {
    /// Reads `key` (normally `authorization.backend`) of `mapping`; `nil` when absent.
    static func read(_ mapping: ConfigMapping, key: String = "backend") throws(ConfigError) -> AuthorizationBackendKind? {
        try mapping.choice(key, as: AuthorizationBackendKind.self, noun: "backend")
    }
}

extension Grant {
    static let configKeys = ["principals", "principal", "buckets", "bucket", "prefix", "actions", "effect"]

    /// One entry of `authorization.rules`, in the JSON shape (see `Grant.init(from:)`), validated.
    init(_ mapping: ConfigMapping) throws(ConfigError) {
        let principals = try Self.names(mapping, plural: "principals", singular: "principal")
        let buckets = try Self.names(mapping, plural: "buckets", singular: "bucket")
        let actions = try Self.names(mapping, plural: "actions", singular: nil)
        let effectText = try mapping.requiredString("effect")
        guard let effect = Effect(parsing: effectText) else {
            throw ConfigError(path: mapping.path(of: "effect"), message: "expected allow or deny, found '\(effectText)'")
        }
        do {
            try Self.validate(principals: principals, buckets: buckets, actions: actions)
        } catch {
            throw ConfigError(path: mapping.path(of: error.field), message: error.message)
        }
        self.init(principals: principals, buckets: buckets, prefix: try mapping.string("prefix") ?? "", actions: actions, effect: effect)
    }

    /// A list under `plural`, or one string (or a list) under `singular`; exactly one of them.
    private static func names(_ mapping: ConfigMapping, plural: String, singular: String?) throws(ConfigError) -> [String] {
        if let singular, mapping.node(singular) != nil {
            if mapping.node(plural) != nil {
                throw ConfigError(path: mapping.path(of: singular), message: "give either '\(plural)' or '\(singular)', not both")
            }
            if case .sequence = mapping.node(singular) { return try mapping.stringList(singular) ?? [] }
            return [try mapping.requiredString(singular)]
        }
        if let node = mapping.node(plural), case .scalar = node {
            return [try mapping.requiredString(plural)]
        }
        guard let values = try mapping.stringList(plural) else {
            throw ConfigError(path: mapping.path(of: plural), message: "missing required key '\(plural)'")
        }
        return values
    }
}
