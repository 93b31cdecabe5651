/// One line of a permission table: who (principals or groups) may — or may not — do which actions
/// on which buckets, under which key prefix. Grants come from the config file (`authorization.rules`)
/// or from Redis (JSON lists per principal) and are evaluated together by a `RuleSet`; on its own a
/// grant is only data, so it can be compared, stored and reported as written.
public struct Grant: Sendable, Equatable, Hashable {
    /// What a matching grant does. Deny beats allow, whatever the order.
    public enum Effect: String, Sendable {
        case allow, deny
    }

    /// Principal names; `"group:NAME"` names a group; `"*"` is anyone authenticated.
    public var principals: [String]
    /// Bucket names as the client names them; `"*"` is every bucket and a trailing `*` is a name
    /// prefix (`"logs-*"`).
    public var buckets: [String]
    /// Key prefix (`""` = the whole bucket). Object actions need the key to start with it; bucket-level
    /// actions need the request's `prefix` condition to start with it. Compared byte for byte.
    public var prefix: String
    /// `"s3:GetObject"`, `"s3:Get*"`, `"s3:*"`, `"*"`, or a group: `read`, `write`, `list`, `delete`.
    public var actions: [String]
    public var effect: Effect

    public init(principals: [String], buckets: [String], prefix: String = "", actions: [String], effect: Effect) {
        self.principals = principals
        self.buckets = buckets
        self.prefix = prefix
        self.actions = actions
        self.effect = effect
    }

    /// Checks what a `RuleSet` relies on: non-empty principal, bucket and action lists, principals and
    /// buckets that are not empty strings, bucket globs with `*` only at the end, and action patterns
    /// it understands. The config reader and the JSON decoder call it, so a typo in a deny rule is an
    /// error instead of a rule that silently matches nothing.
    public func validate() throws(GrantValidationError) {
        try Self.validate(principals: principals, buckets: buckets, actions: actions)
    }

    static func validate(principals: [String], buckets: [String], actions: [String]) throws(GrantValidationError) {
        if principals.isEmpty { throw GrantValidationError(field: "principals", message: "must name at least one principal, group or \"*\"") }
        for (index, principal) in principals.enumerated() {
            if principal.isEmpty || principal == Grant.groupMarker {
                throw GrantValidationError(field: "principals[\(index)]", message: "must not be empty")
            }
        }
        if buckets.isEmpty { throw GrantValidationError(field: "buckets", message: "must name at least one bucket or \"*\"") }
        for (index, bucket) in buckets.enumerated() where BucketPattern(bucket) == nil {
            throw GrantValidationError(
                field: "buckets[\(index)]",
                message: "'\(bucket)' is not a bucket name or glob (\"*\", or a name ending in '*')"
            )
        }
        if actions.isEmpty { throw GrantValidationError(field: "actions", message: "must name at least one action or group") }
        for (index, action) in actions.enumerated() where ActionPattern.compile(action) == nil {
            throw GrantValidationError(
                field: "actions[\(index)]",
                message: "unknown action '\(action)'; expected \"*\", a group (\(ActionPattern.groupNames.joined(separator: ", "))) or \"s3:Name\" with an optional trailing '*'"
            )
        }
    }

    static let groupMarker = "group:"
}

extension Grant.Effect {
    /// `allow` or `deny`, in any letter case (IAM documents write `Allow`).
    init?(parsing text: String) {
        switch text.lowercased() {
        case "allow": self = .allow
        case "deny": self = .deny
        default: return nil
        }
    }
}

/// Why a grant was refused, naming the field (`actions[2]`) so the config or JSON reader can point at it.
public struct GrantValidationError: Error, Sendable, Equatable, CustomStringConvertible {
    public var field: String
    public var message: String

    public init(field: String, message: String) {
        self.field = field
        self.message = message
    }

    public var description: String { "\(field): \(message)" }
}
