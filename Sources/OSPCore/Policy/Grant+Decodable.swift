/// Grants stored as JSON (Redis keeps a JSON list of them per principal), in the same shape as the
/// config file: `principals` or `principal`, `buckets` or `bucket` (a string or a list each), `prefix`
/// (default `""`), `actions` (a list, or one string), `effect` (`allow` | `deny`, required).
///
/// Unknown keys are refused rather than ignored: a misspelled `"efect": "deny"` must not turn an
/// exception into nothing. A grant that fails `validate()` is refused too.
extension Grant: Decodable {
    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: GrantKey.self)
        for key in container.allKeys where !GrantKey.known.contains(key.stringValue) {
            throw DecodingError.dataCorruptedError(
                forKey: key, in: container,
                debugDescription: "unknown grant key '\(key.stringValue)'; expected one of: \(GrantKey.known.joined(separator: ", "))"
            )
        }
        let principals = try Self.decodeNames(container, plural: "principals", singular: "principal")
        let buckets = try Self.decodeNames(container, plural: "buckets", singular: "bucket")
        let actions = try Self.decodeNames(container, plural: "actions", singular: nil)
        let prefix = try container.decodeIfPresent(String.self, forKey: GrantKey("prefix")) ?? ""
        let effectKey = GrantKey("effect")
        let effectText = try container.decode(String.self, forKey: effectKey)
        guard let effect = Effect(parsing: effectText) else {
            throw DecodingError.dataCorruptedError(forKey: effectKey, in: container, debugDescription: "effect must be allow or deny")
        }
        do {
            try Self.validate(principals: principals, buckets: buckets, actions: actions)
        } catch {
            throw DecodingError.dataCorrupted(
                DecodingError.Context(codingPath: decoder.codingPath, debugDescription: error.description)
            )
        }
        self.init(principals: principals, buckets: buckets, prefix: prefix, actions: actions, effect: effect)
    }

    /// A list under `plural`, or a string or list under `singular`; exactly one of them.
    private static func decodeNames(
        _ container: KeyedDecodingContainer<GrantKey>,
        plural: String,
        singular: String?
    ) throws -> [String] {
        let keys = [plural, singular].compactMap { $0 }.map(GrantKey.init).filter(container.contains)
        guard let key = keys.first else {
            throw DecodingError.keyNotFound(
                GrantKey(plural),
                DecodingError.Context(codingPath: container.codingPath, debugDescription: "missing '\(plural)'")
            )
        }
        if keys.count > 1 {
            throw DecodingError.dataCorruptedError(
                forKey: key, in: container, debugDescription: "give either '\(plural)' or '\(singular ?? plural)', not both"
            )
        }
        if let one = try? container.decode(String.self, forKey: key) {
            return [one]
        }
        return try container.decode([String].self, forKey: key)
    }
}

private struct GrantKey: CodingKey {
    static let known = ["principals", "principal", "buckets", "bucket", "prefix", "actions", "effect"]

    var stringValue: String
    var intValue: Int? { nil }

    init(_ name: String) { stringValue = name }
    init?(stringValue: String) { self.stringValue = stringValue }
    init?(intValue: Int) { nil }
}
