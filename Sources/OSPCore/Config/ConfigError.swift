/// Why a configuration file was refused, pointing at the offending key so an operator can fix it
/// without guessing. Messages never repeat a configured value that could be a secret.
public struct ConfigError: Error, CustomStringConvertible, Sendable, Equatable {
    /// Dotted key path of the offending entry, e.g. `buckets.proxy-bucket01.port` or `keystore[2].access_key`;
    /// empty when the problem concerns the whole document.
    public var path: String
    public var message: String

    public init(path: String, message: String) {
        self.path = path
        self.message = message
    }

    public var description: String {
        path.isEmpty ? message : "\(path): \(message)"
    }
}
