import NIOCore
import NIOSSL
import NIOTLS
import S3Signing

/// How a client connection reached osp, as its requests are judged: whether it is TLS (policy's
/// `SecureTransport`) and whether the listener binds a verified client certificate to the keys
/// used on the connection.
struct ClientTransport: Sendable {
    var secure: Bool
    /// The certificate name that must match the request's principal; nil: no binding (plain HTTP,
    /// no `client_ca_file`, or `principal_from: none`).
    var principalFrom: CertificatePrincipalSource?

    static let plain = ClientTransport(secure: false, principalFrom: nil)

    /// The HTTPS listener with these TLS settings.
    static func tls(_ settings: ServerTLSSettings) -> ClientTransport {
        let source = settings.clientCertificates?.principalFrom
        return ClientTransport(secure: true, principalFrom: source == CertificatePrincipalSource.none ? nil : source)
    }

    /// What is known of the client certificate before the handshake has finished.
    var initialCertificate: ClientCertificateIdentity {
        self.principalFrom == nil ? .notBound : .pending
    }
}

/// What a connection's verified client certificate says about who may use it, and the rule that
/// binds it to each request: a request whose key belongs to another principal than the one the
/// certificate names is refused, so a stolen key is useless without the matching certificate and
/// a certificate lends no authority beyond its own principal's keys.
enum ClientCertificateIdentity: Sendable, Equatable {
    /// The listener does not bind certificates to keys.
    case notBound
    /// Binding is on, but the handshake's outcome has not been seen: nothing may pass (fail closed).
    case pending
    /// No certificate was presented (`client_auth: optional`): the key alone authenticates.
    case absent
    /// A verified certificate, with the names it carries of the configured kind (possibly none).
    case presented(names: [String])

    /// The verdict for a request authenticated as `principal`: success with the certificate principal
    /// policy may see (`TLSClientPrincipal`; nil when no certificate is bound), or the refusal.
    func bind(principal: String) -> Result<String?, S3Error> {
        switch self {
        case .notBound, .absent:
            return .success(nil)
        case .pending:
            return .failure(S3Error(.accessDenied, "The client certificate was not verified."))
        case .presented(let names):
            guard names.contains(principal) else {
                return .failure(S3Error(.accessDenied, "The client certificate does not match the access key's principal."))
            }
            return .success(principal)
        }
    }
}

extension CertificatePrincipalSource {
    /// The names of this kind in `certificate`: the last subject CN, or every subjectAltName entry
    /// of the kind (a certificate may vouch for several DNS names; any of them may match).
    func names(in certificate: NIOSSLCertificate) -> [String] {
        switch self {
        case .none:
            return []
        case .commonName:
            return certificate.subjectName.last { $0.type == .commonName }.map { [$0.value] } ?? []
        case .sanDNS:
            return Self.alternativeNames(in: certificate, of: .dnsName)
        case .sanEmail:
            return Self.alternativeNames(in: certificate, of: .email)
        case .sanURI:
            return Self.alternativeNames(in: certificate, of: .uri)
        }
    }

    private static func alternativeNames(in certificate: NIOSSLCertificate, of type: _SubjectAlternativeName.NameType) -> [String] {
        certificate._subjectAlternativeNames().compactMap { name in
            guard name.nameType == type else { return nil }
            // IA5String: ASCII. Anything else (or an embedded NUL) names nobody.
            guard !name.contents.isEmpty, name.contents.allSatisfy({ $0 > 0x20 && $0 < 0x7F }) else { return nil }
            return String(decoding: name.contents, as: UTF8.self)
        }
    }
}

/// Tells the handlers behind it what the client certificate of this connection is, once the TLS
/// handshake has verified it; sits right behind `NIOSSLServerHandler`.
final class ClientCertificateReader: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = NIOAny

    private let source: CertificatePrincipalSource

    init(source: CertificatePrincipalSource) {
        self.source = source
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        guard case .handshakeCompleted? = event as? TLSUserEvent else {
            context.fireUserInboundEventTriggered(event)
            return
        }
        let identity: ClientCertificateIdentity
        do {
            // NIOSSL only completes the handshake for a certificate that verified against client_ca_file.
            if let certificate = try context.pipeline.syncOperations.nioSSL_peerCertificate() {
                identity = .presented(names: self.source.names(in: certificate))
            } else {
                identity = .absent
            }
        } catch {
            identity = .pending
        }
        context.fireUserInboundEventTriggered(event)
        context.fireUserInboundEventTriggered(ClientCertificateEvent(identity: identity))
        context.pipeline.syncOperations.removeHandler(context: context, promise: nil)
    }
}

/// The client certificate of the connection, as `ClientCertificateReader` found it.
struct ClientCertificateEvent: Sendable {
    var identity: ClientCertificateIdentity
}
