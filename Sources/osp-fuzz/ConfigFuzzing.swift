import OSPCore

/// The config target: the input is the YAML text of a config file, with a fixed environment for
/// `${VAR}` references. An operator's typo must end in a `ConfigError` naming the key, never a crash
/// of `osp serve` or `osp check-config`.
enum ConfigFuzzing {
    static let environment = [
        "OSP_CLIENT_SECRET": "client-secret",
        "OSP_BACKEND_SECRET": "backend-secret",
        "OSP_PORT": "6190",
        "OSP_VERIFY": "true",
        "EMPTY": "",
    ]

    static func run(_ input: [UInt8]) -> FuzzOutcome {
        let yaml = String(decoding: input, as: UTF8.self)
        let config: OSPConfig
        do {
            config = try ConfigLoader.parse(yaml: yaml, environment: environment)
        } catch {
            return .refused("\(error)")
        }
        invariant(
            !config.buckets.routes.isEmpty || config.buckets.defaultRoute != nil,
            "a config without buckets was accepted")
        return .accepted("\(config.buckets.routes.count) buckets, \(config.keystore.count) keys")
    }
}
