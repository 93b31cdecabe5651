import Dispatch
import Foundation
import Logging
import OSPCore

/// SIGHUP → `OSPServer.reloadCertificates()`: renewed HTTPS certificates (and client CA) are served
/// to new connections without a restart and without touching open ones. A file that does not load
/// is logged and the certificate in use stays. Other SIGHUP work (config reload) may watch the same
/// signal: every dispatch source for it is told.
final class CertificateReloadSignal {
    private let source: any DispatchSourceSignal

    /// Starts watching; without an HTTPS listener there is nothing to watch for.
    static func watch(_ server: OSPServer, config: OSPConfig, logger: Logger) -> CertificateReloadSignal? {
        guard config.server.tls != nil else { return nil }
        return CertificateReloadSignal(server: server, logger: logger)
    }

    private init(server: OSPServer, logger: Logger) {
        // The default action of SIGHUP ends the process; the dispatch source needs it ignored.
        signal(SIGHUP, SIG_IGN)
        let source = DispatchSource.makeSignalSource(signal: SIGHUP, queue: DispatchQueue(label: "osp.certificate-reload"))
        source.setEventHandler {
            do {
                if let certificate = try server.reloadCertificates() {
                    logger.notice("SIGHUP: HTTPS certificate reloaded; new connections get it", metadata: ["certificate": "\(certificate)"])
                }
            } catch {
                logger.error("SIGHUP: HTTPS certificate not reloaded, the previous one stays in use", metadata: ["error": "\(error)"])
            }
        }
        source.resume()
        self.source = source
    }

    func cancel() {
        self.source.cancel()
    }
}
