/// The `tracing:` section: where osp exports its request spans over OTLP/HTTP.
///
///     tracing:
///       otlp_endpoint: http://127.0.0.1:4318   # an OTLP/HTTP receiver (collector); spans go to /v1/traces
///       service_name: osp                      # default osp
///       sample_ratio: 1.0                      # share of new traces kept, 0...1; default 1
///
/// The exporter is compiled in only with the package trait `OpenTelemetry`
/// (`swift build --traits OpenTelemetry`); a binary built without it refuses a config that asks for
/// one, rather than silently not tracing. A client's sampled `traceparent` is honoured whatever
/// the ratio (parent-based sampling).
public struct TracingSettings: Sendable, Equatable {
    /// The OTLP/HTTP base URL (`http://host:port`); spans are posted to `<base>/v1/traces`, or to
    /// the URL as given when it already has a path.
    public var otlpEndpoint: String
    public var serviceName: String
    public var sampleRatio: Double

    public init(otlpEndpoint: String, serviceName: String = "osp", sampleRatio: Double = 1.0) {
        self.otlpEndpoint = otlpEndpoint
        self.serviceName = serviceName
        self.sampleRatio = sampleRatio
    }

    /// Whether this build can export spans (built with the `OpenTelemetry` trait).
    public static var exporterCompiledIn: Bool {
        #if OpenTelemetry
        return true
        #else
        return false
        #endif
    }

    /// The URL spans are posted to.
    public var tracesURL: String {
        guard let scheme = self.otlpEndpoint.firstRange(of: "://") else { return self.otlpEndpoint }
        let authorityAndPath = self.otlpEndpoint[scheme.upperBound...]
        if let slash = authorityAndPath.firstIndex(of: "/"), authorityAndPath[slash...] != "/" {
            return self.otlpEndpoint
        }
        return (self.otlpEndpoint.hasSuffix("/") ? String(self.otlpEndpoint.dropLast()) : self.otlpEndpoint) + "/v1/traces"
    }

    static let keys = ["otlp_endpoint", "service_name", "sample_ratio"]

    init(_ section: ConfigMapping) throws(ConfigError) {
        let endpoint = try section.nonEmptyString("otlp_endpoint", required: true)!
        let lowercased = endpoint.lowercased()
        guard lowercased.hasPrefix("http://") || lowercased.hasPrefix("https://"),
            endpoint.utf8.count > "https://".utf8.count,
            !endpoint.utf8.contains(where: { $0 <= 0x20 || $0 == 0x7F })
        else {
            throw ConfigError(path: section.path(of: "otlp_endpoint"), message: "expected an http:// or https:// URL of an OTLP/HTTP receiver")
        }
        guard Self.exporterCompiledIn else {
            throw ConfigError(
                path: section.path(of: "otlp_endpoint"),
                message: "this osp binary was built without OpenTelemetry, so it cannot export spans; build it with `swift build --traits OpenTelemetry` or remove the tracing section"
            )
        }
        var settings = TracingSettings(otlpEndpoint: endpoint)
        if let name = try section.nonEmptyString("service_name", required: false) {
            settings.serviceName = name
        }
        if let ratioText = try section.string("sample_ratio") {
            guard let ratio = Double(ratioText), ratio >= 0, ratio <= 1 else {
                throw ConfigError(path: section.path(of: "sample_ratio"), message: "expected a number from 0 to 1")
            }
            settings.sampleRatio = ratio
        }
        self = settings
    }
}
