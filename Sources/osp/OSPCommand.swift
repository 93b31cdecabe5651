import Foundation
import ArgumentParser
import Logging
import NIOPosix
import OSPCore
import ServiceLifecycle

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

    @Option(help: "Log level: trace, debug, info, notice, warning, error, critical.")
    var logLevel: Logger.Level = .info

    func run() async throws {
        let level = self.logLevel
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
        let logger = Logger(label: "osp")
        let loaded: OSPConfig
        do {
            loaded = try ConfigLoader.load(path: self.config)
        } catch {
            logger.critical("invalid config", metadata: ["file": "\(self.config)", "error": "\(error)"])
            throw ExitCode(2)
        }
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
        let group = MultiThreadedEventLoopGroup(numberOfThreads: loaded.server.threads)
        let gateway = Gateway(config: loaded, logger: logger)
        let server = OSPServer(gateway: gateway, group: group)
        try await server.start()
        let services = ServiceGroup(
            configuration: .init(
                services: [.init(service: server)],
                gracefulShutdownSignals: [.sigterm, .sigint],
                logger: logger
            )
        )
        try await services.run()
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
