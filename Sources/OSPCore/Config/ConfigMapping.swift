import Yams

/// One YAML mapping of the config file, read key by key with the path of every key at hand, so each
/// unknown key, wrong type and missing value is reported where it is. Scalar values pass through
/// `${VAR}` interpolation before they are typed.
struct ConfigMapping {
    let path: String
    let interpolation: EnvironmentInterpolation
    /// Entries in file order; values are never null (a null value counts as absent).
    let entries: [(key: String, value: Node)]

    /// Reads `node` as a mapping whose keys must all be in `allowedKeys` (`nil`: any key, e.g. bucket names).
    init(_ node: Node, path: String, allowedKeys: [String]?, interpolation: EnvironmentInterpolation) throws(ConfigError) {
        guard case .mapping(let mapping) = node else {
            throw ConfigError(path: path, message: "expected a mapping, found \(ConfigMapping.kind(of: node))")
        }
        var entries: [(key: String, value: Node)] = []
        for (keyNode, value) in mapping {
            guard case .scalar(let keyScalar) = keyNode, keyNode.tagName != .null else {
                throw ConfigError(path: path, message: "keys must be plain strings, found \(ConfigMapping.kind(of: keyNode))")
            }
            let key = keyScalar.string
            if let allowedKeys, !allowedKeys.contains(key) {
                throw ConfigMapping.unknownKey(key, in: path, allowed: allowedKeys)
            }
            if value.tagName == .null, case .scalar = value { continue }
            entries.append((key, value))
        }
        self.path = path
        self.interpolation = interpolation
        self.entries = entries
    }

    /// For a mapping read with any keys (`allowedKeys: nil`) whose keys the caller checks later,
    /// once it knows which are allowed: the first other key is an error.
    func requireKnownKeys(_ allowed: [String]) throws(ConfigError) {
        for entry in entries where !allowed.contains(entry.key) {
            throw ConfigMapping.unknownKey(entry.key, in: path, allowed: allowed)
        }
    }

    private static func unknownKey(_ key: String, in path: String, allowed: [String]) -> ConfigError {
        let location = path.isEmpty ? "at the top level" : "in \(path)"
        return ConfigError(
            path: ConfigMapping.join(path, key),
            message: "unknown key '\(key)' \(location); expected one of: \(allowed.joined(separator: ", "))"
        )
    }

    static func join(_ path: String, _ key: String) -> String {
        path.isEmpty ? key : "\(path).\(key)"
    }

    func path(of key: String) -> String { ConfigMapping.join(path, key) }

    func node(_ key: String) -> Node? {
        entries.first { $0.key == key }?.value
    }

    func mapping(_ key: String, allowedKeys: [String]?) throws(ConfigError) -> ConfigMapping? {
        guard let node = node(key) else { return nil }
        return try ConfigMapping(node, path: path(of: key), allowedKeys: allowedKeys, interpolation: interpolation)
    }

    // MARK: Typed values

    func string(_ key: String) throws(ConfigError) -> String? {
        guard let node = node(key) else { return nil }
        return try stringValue(node, path: path(of: key))
    }

    func requiredString(_ key: String) throws(ConfigError) -> String {
        guard let value = try string(key) else {
            throw ConfigError(path: path(of: key), message: "missing required key '\(key)'")
        }
        return value
    }

    /// A string that must not be empty once interpolated.
    func nonEmptyString(_ key: String, required: Bool) throws(ConfigError) -> String? {
        let value = required ? try requiredString(key) : try string(key)
        if let value, value.isEmpty {
            throw ConfigError(path: path(of: key), message: "must not be empty")
        }
        return value
    }

    func int(_ key: String, in range: ClosedRange<Int>) throws(ConfigError) -> Int? {
        guard let node = node(key) else { return nil }
        let keyPath = path(of: key)
        guard case .scalar(let scalar) = node else {
            throw ConfigError(path: keyPath, message: "expected an integer, found \(ConfigMapping.kind(of: node))")
        }
        let text: String
        if node.tagName == .int {
            text = scalar.string
        } else if EnvironmentInterpolation.mentionsVariable(scalar.string) {
            text = try interpolation.interpolate(scalar.string, path: keyPath)
        } else {
            throw ConfigError(path: keyPath, message: "expected an integer, found \(ConfigMapping.kind(of: node))")
        }
        guard let value = Int(text.trimmingSpaces) else {
            throw ConfigError(path: keyPath, message: "expected a decimal integer")
        }
        guard range.contains(value) else {
            throw ConfigError(path: keyPath, message: "\(value) is outside \(range.lowerBound)…\(range.upperBound)")
        }
        return value
    }

    func int64(_ key: String, in range: ClosedRange<Int>) throws(ConfigError) -> Int64? {
        try int(key, in: range).map(Int64.init)
    }

    func bool(_ key: String) throws(ConfigError) -> Bool? {
        guard let node = node(key) else { return nil }
        let keyPath = path(of: key)
        guard case .scalar(let scalar) = node else {
            throw ConfigError(path: keyPath, message: "expected true or false, found \(ConfigMapping.kind(of: node))")
        }
        if node.tagName == .bool, let value = node.bool {
            return value
        }
        if EnvironmentInterpolation.mentionsVariable(scalar.string) {
            switch try interpolation.interpolate(scalar.string, path: keyPath).trimmingSpaces {
            case "true": return true
            case "false": return false
            default: break
            }
        }
        throw ConfigError(path: keyPath, message: "expected true or false, found \(ConfigMapping.kind(of: node))")
    }

    /// One of an enumeration's raw values; anything else is an error that lists the choices.
    /// - Parameter noun: what the values are (`backend`), for the message "unknown backend 'x'".
    func choice<Value: RawRepresentable & CaseIterable>(_ key: String, as type: Value.Type, noun: String? = nil) throws(ConfigError) -> Value?
    where Value.RawValue == String {
        guard let text = try self.string(key) else { return nil }
        guard let value = Value(rawValue: text) else {
            let what = noun.map { "unknown \($0) '\(text)'" } ?? "'\(text)' is not valid here"
            throw ConfigError(
                path: self.path(of: key),
                message: "\(what); expected one of: \(Value.allCases.map(\.rawValue).joined(separator: ", "))"
            )
        }
        return value
    }

    func stringList(_ key: String) throws(ConfigError) -> [String]? {
        guard let node = node(key) else { return nil }
        let keyPath = path(of: key)
        guard case .sequence(let sequence) = node else {
            throw ConfigError(path: keyPath, message: "expected a list of strings, found \(ConfigMapping.kind(of: node))")
        }
        var values: [String] = []
        for (index, item) in sequence.enumerated() {
            values.append(try stringValue(item, path: "\(keyPath)[\(index)]"))
        }
        return values
    }

    func list(_ key: String) throws(ConfigError) -> [Node]? {
        guard let node = node(key) else { return nil }
        guard case .sequence(let sequence) = node else {
            throw ConfigError(path: path(of: key), message: "expected a list, found \(ConfigMapping.kind(of: node))")
        }
        return Array(sequence)
    }

    /// Any scalar reads as its text (a bucket region `no` is a string, not YAML 1.1's false).
    private func stringValue(_ node: Node, path: String) throws(ConfigError) -> String {
        guard case .scalar(let scalar) = node, node.tagName != .null else {
            throw ConfigError(path: path, message: "expected a string, found \(ConfigMapping.kind(of: node))")
        }
        return try interpolation.interpolate(scalar.string, path: path)
    }

    /// What a node is, for messages; never its value, which could be a secret.
    static func kind(of node: Node) -> String {
        switch node {
        case .mapping: return "a mapping"
        case .sequence: return "a list"
        case .alias: return "an alias"
        case .scalar:
            switch node.tagName {
            case .int: return "an integer"
            case .float: return "a number"
            case .bool: return "a boolean"
            case .null: return "no value"
            default: return "a string"
            }
        }
    }
}

extension String {
    fileprivate var trimmingSpaces: Substring {
        var text = Substring(self)
        while text.first == " " { text.removeFirst() }
        while text.last == " " { text.removeLast() }
        return text
    }
}

extension Node {
    /// The node's resolved YAML type (`int`, `bool`, `null`, `str`, …).
    var tagName: Tag.Name { Tag.Name(rawValue: tag.description) }
}
