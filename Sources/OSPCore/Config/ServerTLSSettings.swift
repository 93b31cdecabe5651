/// The HTTPS listener's TLS (`server.tls`): the certificate osp presents and, with `client_ca_file`,
/// the client certificates it asks for. Files are named, not embedded, so a SIGHUP can reload them
/// without a restart; the loader checks at load time that they exist and parse.
public struct ServerTLSSettings: Sendable, Equatable {
    /// PEM certificate chain, leaf first.
    public var certFile: String
    /// PEM private key of the leaf certificate (unencrypted).
    public var keyFile: String
    /// Client certificates (mutual TLS); nil: none is asked for.
    public var clientCertificates: ClientCertificateSettings?

    public init(certFile: String, keyFile: String, clientCertificates: ClientCertificateSettings? = nil) {
        self.certFile = certFile
        self.keyFile = keyFile
        self.clientCertificates = clientCertificates
    }

    static let keys = ["cert_file", "key_file", "client_ca_file", "client_auth", "principal_from"]

    init(_ section: ConfigMapping) throws(ConfigError) {
        let certFile = try section.nonEmptyString("cert_file", required: true)!
        let keyFile = try section.nonEmptyString("key_file", required: true)!
        let caFile = try section.nonEmptyString("client_ca_file", required: false)
        let requirement = try section.choice("client_auth", as: ClientCertificateRequirement.self)
        let principalFrom = try section.choice("principal_from", as: CertificatePrincipalSource.self)

        guard let caFile else {
            if let requirement, requirement != .none {
                throw ConfigError(
                    path: section.path(of: "client_auth"),
                    message: "client_auth '\(requirement.rawValue)' needs client_ca_file (the CA that client certificates are verified against)"
                )
            }
            if principalFrom != nil {
                throw ConfigError(path: section.path(of: "principal_from"), message: "principal_from needs client_ca_file")
            }
            self.init(certFile: certFile, keyFile: keyFile)
            return
        }
        let mode: ClientCertificateSettings.Mode
        switch requirement ?? .require {
        case .none:
            throw ConfigError(
                path: section.path(of: "client_auth"),
                message: "client_auth is none, but client_ca_file is set; use optional or require, or remove client_ca_file"
            )
        case .optional: mode = .optional
        case .require: mode = .require
        }
        self.init(
            certFile: certFile,
            keyFile: keyFile,
            clientCertificates: ClientCertificateSettings(caFile: caFile, mode: mode, principalFrom: principalFrom ?? .commonName)
        )
    }
}

/// `client_auth`: whether the HTTPS listener asks for a client certificate.
public enum ClientCertificateRequirement: String, Sendable, CaseIterable {
    /// Not asked for (the only choice without `client_ca_file`).
    case none
    /// Asked for; a client may connect without one, but one it presents must verify.
    case optional
    /// The handshake fails without a certificate that verifies against `client_ca_file`.
    case require
}

/// Which name of a verified client certificate is the principal it vouches for (`principal_from`).
public enum CertificatePrincipalSource: String, Sendable, CaseIterable {
    /// The subject's common name (the last CN, the most specific one).
    case commonName = "cn"
    /// A DNS name in the subjectAltName extension.
    case sanDNS = "san_dns"
    /// An email address (rfc822Name) in the subjectAltName extension.
    case sanEmail = "san_email"
    /// A URI (e.g. a SPIFFE ID) in the subjectAltName extension.
    case sanURI = "san_uri"
    /// The certificate names no principal: it only admits the connection, and any valid key may
    /// be used on it.
    case none
}

/// Mutual TLS on the HTTPS listener: the CA that client certificates must chain to, whether one is
/// required, and how a certificate's principal is bound to the requests sent on its connection.
public struct ClientCertificateSettings: Sendable, Equatable {
    public enum Mode: String, Sendable {
        case optional
        case require
    }

    /// PEM bundle of the CA certificate(s) client certificates are verified against (and only those:
    /// the system roots are not trusted for clients).
    public var caFile: String
    public var mode: Mode
    public var principalFrom: CertificatePrincipalSource

    public init(caFile: String, mode: Mode = .require, principalFrom: CertificatePrincipalSource = .commonName) {
        self.caFile = caFile
        self.mode = mode
        self.principalFrom = principalFrom
    }
}
