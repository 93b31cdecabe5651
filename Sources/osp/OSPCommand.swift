import Foundation
import ArgumentParser
import Logging
import Metrics
import NIOPosix
import OSPCore
import Prometheus
import ServiceLifecycle
import UnixSignals

@main
struct OSPCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "osp",
        abstract: "An S3 gateway: verifies client signatures, re-signs for the real backend, streams both ways.",
        subcommands: [Serve.self, CheckConfig.self, Version.self]
    )
}

/// The version osp reports; bumped on release.
let ospVersion = "0.1.0"

struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Run the gateway with a config file.")

    @Option(name: .shortAndLong, help: "Path to the YAML config file.")
    var config: String

    @Option(help: "Log level: trace, debug, info, notice, warning, error, critical (default: the config's logging.level, else info).")
    var logLevel: Logger.Level?

    func run() async throws {
        // The config names the level, so it is read before logging starts; its errors go to stderr
        // through a logger of their own.
        let loaded: OSPConfig
        do {
            loaded = try ConfigLoader.load(path: self.config)
        } catch {
            var early = Logger(label: "osp") { StreamLogHandler.standardError(label: $0) }
            early.logLevel = .info
            early.critical("invalid config", metadata: ["file": "\(self.config)", "error": "\(error)"])
            throw ExitCode(2)
        }
        let level = self.logLevel ?? loaded.logging.level ?? .info
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
        let logger = Logger(label: "osp")
        let accessLog: AccessLog
        do {
            accessLog = try AccessLog.open(loaded.logging.accessLog)
        } catch {
            logger.critical("cannot open the access log", metadata: ["error": "\(error)"])
            throw ExitCode(2)
        }
        // One registry for osp's series and any library's swift-metrics: the admin port renders it.
        let metrics = OSPMetrics(registry: PrometheusCollectorRegistry())
        MetricsSystem.bootstrap(metrics.factory)
        metrics.recordBuildInfo(version: ospVersion)
        logger.info("osp starting", metadata: ["version": "\(ospVersion)", "config": "\(self.config)", "log_level": "\(level)"])
        if loaded.server.skipSignatureValidation {
            logger.critical(
                "SIGNATURE VALIDATION IS DISABLED (server.skip_signature_validation: true). Any client can act as any key. Development only — never run this in production."
            )
        }
        switch loaded.authorization?.backend {
        case nil:
            logger.critical(
                "NO AUTHORIZATION CONFIGURED: every authenticated client may do anything on every bucket. Add an 'authorization' section (rules, opa, redis) before production use."
            )
        case .allowAll?:
            logger.critical("authorization.backend is allow-all: every authenticated client may do anything. Development only.")
        case let backend?:
            logger.info("authorization", metadata: ["backend": "\(backend.rawValue)"])
        }
        logger.info(
            "client secrets and backend credentials",
            metadata: ["secrets": "\(loaded.secrets.backend.rawValue)", "credentials": "\(loaded.credentials.backend.rawValue)"]
        )
        switch loaded.logging.accessLog {
        case .stdout: logger.info("access log: one JSON line per request on stdout")
        case .file(let path): logger.info("access log: one JSON line per request", metadata: ["file": "\(path)"])
        case .off: logger.info("access log: off")
        }
        let tracing: (any Service)?
        do {
            tracing = try TracingExporter.install(loaded.tracing, logger: logger)
        } catch {
            logger.critical("cannot start the span exporter", metadata: ["error": "\(error)"])
            throw ExitCode(2)
        }
        if let files = OpenFileLimit.raiseToHardLimit() {
            logger.info("open file limit", metadata: ["soft_limit": "\(files.after)", "was": "\(files.before)"])
        }
        let group = MultiThreadedEventLoopGroup(numberOfThreads: loaded.server.threads)
        // A reloaded config gets a gateway like the first: same metrics registry, same access log.
        let makeGateway: @Sendable (OSPConfig) -> Gateway = { config in
            Gateway(config: config, logger: logger, metrics: metrics, accessLog: accessLog)
        }
        let gateway = makeGateway(loaded)
        let server = OSPServer(gateway: gateway, group: group, makeGateway: makeGateway)
        let hangups = await UnixSignalsSequence(trapping: .sighup)
        try await server.start()
        // Shut down in reverse order: SIGHUP handling ends first, then the server drains.
        let services = ServiceGroup(
            configuration: .init(
                // The exporter first: services stop in reverse order, so it flushes the server's last
                // spans. Tracing is not worth an outage: if the exporter ends, osp keeps serving.
                services: (tracing.map {
                    [.init(service: $0, successTerminationBehavior: .ignore, failureTerminationBehavior: .ignore)]
                } ?? []) + [
                    .init(service: server),
                    .init(service: ReloadOnHangup(server: server, configPath: self.config, logger: logger, hangups: hangups)),
                ],
                gracefulShutdownSignals: [.sigterm, .sigint],
                logger: logger
            )
        )
        try await services.run()
        accessLog.flush()
        await gateway.shutdown()
        try await group.shutdownGracefully()
    }
}

struct CheckConfig: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "check-config",
        abstract: "Validate a config file and exit (0 valid, 2 invalid)."
    )

    @Argument(help: "Path to the YAML config file.")
    var file: String

    func run() throws {
        do {
            let config = try ConfigLoader.load(path: self.file)
            print("config OK: \(config.buckets.routes.count) bucket route(s)\(config.buckets.defaultRoute == nil ? "" : " + default route"), \(config.keystore.count) client key(s)")
        } catch {
            printToStandardError("config invalid: \(error)")
            throw ExitCode(2)
        }
    }
}

struct Version: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Print the osp version.")

    func run() {
        print("osp \(ospVersion)")
    }
}

func printToStandardError(_ message: String) {
    FileHandle.standardError.write(Data((message + "\n").utf8))
}
