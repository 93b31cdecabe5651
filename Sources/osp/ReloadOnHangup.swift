import Logging
import OSPCore
import ServiceLifecycle
import UnixSignals

/// SIGHUP: re-read the config file and serve it from the next request on; then re-read the HTTPS
/// certificate, key and client CA, for new connections. A config file that does not load (syntax,
/// unknown key, impossible value) or cannot be served is refused with its error and the running
/// config stays; a certificate that does not load leaves the one in use. The two are independent:
/// a typo in the config does not hold back a renewed certificate.
///
/// This is the one place osp reacts to SIGHUP: anything else that should reload on it goes into
/// `reload()`.
struct ReloadOnHangup: Service {
    let server: OSPServer
    let configPath: String
    let logger: Logger
    /// Trapped before the server starts: SIGHUP's default action ends the process, so a signal
    /// sent as soon as the port answers must already find the handler.
    let hangups: UnixSignalsSequence

    func run() async throws {
        for await _ in self.hangups.cancelOnGracefulShutdown() {
            await self.reload()
        }
    }

    func reload() async {
        await self.reloadConfig()
        self.reloadCertificates()
    }

    private func reloadConfig() async {
        self.logger.info("SIGHUP: reloading the config file", metadata: ["file": "\(self.configPath)"])
        let config: OSPConfig
        do {
            config = try ConfigLoader.load(path: self.configPath)
        } catch {
            // ConfigError names the key path and never echoes a value, so no secret reaches the log.
            self.logger.error(
                "config reload refused; the running config stays",
                metadata: ["file": "\(self.configPath)", "error": "\(error)"]
            )
            return
        }
        do {
            try await self.server.reload(config: config)
        } catch {
            self.logger.error(
                "config reload refused; the running config stays",
                metadata: ["file": "\(self.configPath)", "error": "\(type(of: error)): \(error)"]
            )
        }
    }

    private func reloadCertificates() {
        do {
            if let certificate = try self.server.reloadCertificates() {
                self.logger.notice("SIGHUP: HTTPS certificate reloaded; new connections get it", metadata: ["certificate": "\(certificate)"])
            }
        } catch {
            self.logger.error("SIGHUP: HTTPS certificate not reloaded, the previous one stays in use", metadata: ["error": "\(error)"])
        }
    }
}
