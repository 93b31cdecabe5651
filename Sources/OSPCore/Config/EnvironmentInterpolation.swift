/// `${VAR}` substitution in config scalars, so secrets stay in the environment rather than the file.
/// Several references per scalar are allowed, `$${` is a literal `${`, and a `$` not followed by `{`
/// is kept as is. Substituted text is not scanned again.
struct EnvironmentInterpolation {
    let environment: [String: String]

    /// Whether `text` needs interpolation at all (it contains `${`, possibly escaped).
    static func mentionsVariable(_ text: String) -> Bool {
        text.contains("${")
    }

    /// `text` with every `${NAME}` replaced; errors name the variable and `path`, never a value.
    func interpolate(_ text: String, path: String) throws(ConfigError) -> String {
        guard Self.mentionsVariable(text) else { return text }
        let scalars = Array(text.unicodeScalars)
        var result = String.UnicodeScalarView()
        var index = 0
        while index < scalars.count {
            let scalar = scalars[index]
            if scalar == "$", index + 2 < scalars.count, scalars[index + 1] == "$", scalars[index + 2] == "{" {
                result.append(contentsOf: "${".unicodeScalars)
                index += 3
                continue
            }
            guard scalar == "$", index + 1 < scalars.count, scalars[index + 1] == "{" else {
                result.append(scalar)
                index += 1
                continue
            }
            guard let close = scalars[(index + 2)...].firstIndex(of: "}") else {
                throw ConfigError(path: path, message: "unterminated '${' (missing '}'); write '$${' for a literal '${'")
            }
            let name = String(String.UnicodeScalarView(scalars[(index + 2)..<close]))
            guard Self.isValidName(name) else {
                throw ConfigError(
                    path: path,
                    message: "'${\(name)}' is not a valid environment variable reference (letters, digits and '_', not starting with a digit)"
                )
            }
            guard let value = environment[name] else {
                throw ConfigError(path: path, message: "environment variable '\(name)' is not set")
            }
            result.append(contentsOf: value.unicodeScalars)
            index = close + 1
        }
        return String(result)
    }

    private static func isValidName(_ name: String) -> Bool {
        guard let first = name.unicodeScalars.first, !("0"..."9").contains(first) else { return false }
        return name.unicodeScalars.allSatisfy { scalar in
            ("a"..."z").contains(scalar) || ("A"..."Z").contains(scalar) || ("0"..."9").contains(scalar) || scalar == "_"
        }
    }
}
