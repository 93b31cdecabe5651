/// What reloading a config file changes in a running server.
///
/// Almost everything is read per request from the gateway (buckets, keystore, policy, secret and
/// credential sources, signature and clock-skew settings) or per connection (header limits, idle
/// timeout), and the backend pools take new upstream settings. What belongs to sockets and
/// threads that already exist cannot change without a restart: the S3 listeners' address, ports
/// and TLS settings, their event-loop count, the admin listener, logging (level and
/// access-log file) and the span exporter (`tracing`). Those keep their running values, and
/// `needsRestart` names the keys whose new values wait for one.
public struct ConfigReload: Sendable, Equatable {
    /// The config that serves from now on: the loaded one, with the running listener settings.
    public let config: OSPConfig
    /// Key paths (`server.http_port`, …) whose new values were not applied.
    public let needsRestart: [String]
    /// The upstream section differs: backend pools drop their idle connections and use the new settings.
    public let upstreamChanged: Bool

    public init(running: OSPConfig, loaded: OSPConfig) {
        var config = loaded
        var needsRestart: [String] = []
        /// A setting only a restart applies: a changed value is named and the running one kept.
        func keepRunning<Value: Equatable>(_ setting: WritableKeyPath<OSPConfig, Value>, _ name: String) {
            guard loaded[keyPath: setting] != running[keyPath: setting] else { return }
            needsRestart.append(name)
            config[keyPath: setting] = running[keyPath: setting]
        }
        keepRunning(\.server.bind, "server.bind")
        keepRunning(\.server.httpPort, "server.http_port")
        keepRunning(\.server.httpsPort, "server.https_port")
        // The HTTPS listener's files are re-read on SIGHUP (`reloadCertificates`), from the paths
        // and with the client-certificate rules it was started with.
        keepRunning(\.server.tls, "server.tls")
        keepRunning(\.server.threads, "server.threads")
        keepRunning(\.admin, "admin")
        // The log level is bootstrapped once and the access log opened once, at start-up.
        keepRunning(\.logging, "logging")
        // The span exporter is installed once, at start-up, as the process's tracer.
        keepRunning(\.tracing, "tracing")
        self.config = config
        self.needsRestart = needsRestart
        self.upstreamChanged = loaded.upstream != running.upstream
    }
}
