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
        if loaded.server.bind != running.server.bind {
            needsRestart.append("server.bind")
            config.server.bind = running.server.bind
        }
        if loaded.server.httpPort != running.server.httpPort {
            needsRestart.append("server.http_port")
            config.server.httpPort = running.server.httpPort
        }
        if loaded.server.httpsPort != running.server.httpsPort {
            needsRestart.append("server.https_port")
            config.server.httpsPort = running.server.httpsPort
        }
        // The HTTPS listener's files are re-read on SIGHUP (`reloadCertificates`), from the paths
        // and with the client-certificate rules it was started with.
        if loaded.server.tls != running.server.tls {
            needsRestart.append("server.tls")
            config.server.tls = running.server.tls
        }
        if loaded.server.threads != running.server.threads {
            needsRestart.append("server.threads")
            config.server.threads = running.server.threads
        }
        if loaded.admin != running.admin {
            needsRestart.append("admin")
            config.admin = running.admin
        }
        // The log level is bootstrapped once and the access log opened once, at start-up.
        if loaded.logging != running.logging {
            needsRestart.append("logging")
            config.logging = running.logging
        }
        // The span exporter is installed once, at start-up, as the process's tracer.
        if loaded.tracing != running.tracing {
            needsRestart.append("tracing")
            config.tracing = running.tracing
        }
        self.config = config
        self.needsRestart = needsRestart
        self.upstreamChanged = loaded.upstream != running.upstream
    }
}
