import Yams

@testable import OSPCore

/// Config sections as the loader hands them to their readers, for tests of one reader at a time.
enum ConfigFixture {
    /// `yaml` (a mapping) as the section at key path `path`.
    static func mapping(_ yaml: String, at path: String, environment: [String: String] = [:]) throws(ConfigError) -> ConfigMapping {
        try ConfigMapping(
            try! Yams.compose(yaml: yaml)!, path: path, allowedKeys: nil, interpolation: EnvironmentInterpolation(environment: environment)
        )
    }

    /// `yaml` (a list) as the items of a list section.
    static func items(_ yaml: String) -> [Node] {
        guard case .sequence(let items)? = try? Yams.compose(yaml: yaml) else { fatalError("the test YAML must be a list") }
        return Array(items)
    }

    /// The `ConfigError` that `read` throws, or nil when it reads fine.
    static func error<Value>(_ read: () throws(ConfigError) -> Value) -> ConfigError? {
        do {
            _ = try read()
            return nil
        } catch {
            return error
        }
    }
}
