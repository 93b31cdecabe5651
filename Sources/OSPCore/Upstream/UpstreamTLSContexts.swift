import Logging
import NIOSSL

/// The TLS client contexts for backend connections: one with `upstream.ca_file` (or the system
/// roots) and one per distinct bucket `ca_file`. Built once at start-up, so a bad bundle fails
/// there, and every handshake reuses a loaded trust store.
struct UpstreamTLSContexts: Sendable {
    /// What the contexts were built from: a reload with the same trust keeps them.
    struct Trust: Equatable, Sendable {
        var usesTLS: Bool
        var verify: Bool
        var caFile: String?
        var bucketCAFiles: Set<String>

        init(_ config: OSPConfig) {
            let routes = Array(config.buckets.routes.values) + [config.buckets.defaultRoute].compactMap { $0 }
            let tlsRoutes = routes.filter(\.tls)
            self.usesTLS = !tlsRoutes.isEmpty
            self.verify = config.upstream.verify
            self.caFile = config.upstream.caFile
            self.bucketCAFiles = Set(tlsRoutes.compactMap(\.caFile))
        }
    }

    let trust: Trust
    private let shared: NIOSSLContext?
    private let byCAFile: [String: NIOSSLContext]

    /// Nothing is built when no route uses TLS. With `upstream.verify` off, says so loudly:
    /// backend certificates are then not checked at all, by any route.
    init(config: OSPConfig, logger: Logger? = nil) throws {
        self.trust = Trust(config)
        var routes = Array(config.buckets.routes.values)
        if let defaultRoute = config.buckets.defaultRoute { routes.append(defaultRoute) }
        let tlsRoutes = routes.filter(\.tls)
        guard !tlsRoutes.isEmpty else {
            self.shared = nil
            self.byCAFile = [:]
            return
        }
        let upstream = config.upstream
        if !upstream.verify {
            logger?.warning(
                "upstream.verify is false: backend TLS certificates and host names are NOT verified; anyone on the path can impersonate a backend and read its credentials and data. Use this only with test backends.",
                metadata: ["tls_backends": "\(Set(tlsRoutes.map { "\($0.host):\($0.port)" }).sorted().joined(separator: ","))"]
            )
        }
        self.shared = try Self.makeContext(verify: upstream.verify, caFile: upstream.caFile)
        var byCAFile: [String: NIOSSLContext] = [:]
        for caFile in Set(tlsRoutes.compactMap(\.caFile)) {
            byCAFile[caFile] = try Self.makeContext(verify: upstream.verify, caFile: caFile)
        }
        self.byCAFile = byCAFile
    }

    /// The context for a TLS endpoint; nil when TLS was not configured (no route used it).
    func context(for endpoint: BackendEndpoint) -> NIOSSLContext? {
        if let caFile = endpoint.caFile {
            return byCAFile[caFile]
        }
        return shared
    }

    private static func makeContext(verify: Bool, caFile: String?) throws -> NIOSSLContext {
        var tls = TLSConfiguration.makeClientConfiguration()
        tls.certificateVerification = verify ? .fullVerification : .none
        if let caFile {
            tls.trustRoots = .file(caFile)
        }
        return try NIOSSLContext(configuration: tls)
    }
}
