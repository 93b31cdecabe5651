import Logging

/// Where the access log goes (`logging.access_log`).
public enum AccessLogDestination: Sendable, Equatable {
    /// One JSON line per request on standard output (the process log is on standard error).
    case stdout
    /// Appended to this file.
    case file(String)
    /// No access log.
    case off
}

/// The `logging:` section: the access log's destination and the process log's level.
public struct LoggingSettings: Sendable, Equatable {
    public var accessLog: AccessLogDestination
    /// nil: the command line's `--log-level`, else `info`.
    public var level: Logger.Level?

    public init(accessLog: AccessLogDestination = .stdout, level: Logger.Level? = nil) {
        self.accessLog = accessLog
        self.level = level
    }

    static let keys = ["access_log", "level"]

    init(_ section: ConfigMapping) throws(ConfigError) {
        var settings = LoggingSettings()
        // Read as text: YAML 1.1 would otherwise turn a bare `off` into false.
        if let destination = try section.nonEmptyString("access_log", required: false) {
            switch destination {
            case "stdout": settings.accessLog = .stdout
            case "off": settings.accessLog = .off
            default: settings.accessLog = .file(destination)
            }
        }
        if let level = try section.nonEmptyString("level", required: false) {
            guard let parsed = Logger.Level(rawValue: level) else {
                let names = Logger.Level.allCases.map(\.rawValue).joined(separator: ", ")
                throw ConfigError(path: section.path(of: "level"), message: "unknown level '\(level)'; expected one of: \(names)")
            }
            settings.level = parsed
        }
        self = settings
    }
}
