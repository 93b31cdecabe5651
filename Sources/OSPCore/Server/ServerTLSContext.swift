import Foundation
import NIOConcurrencyHelpers
import NIOSSL
import S3Signing

/// The HTTPS listener's TLS context, replaceable while osp runs: each new connection takes the
/// context current when it is accepted, and connections already open keep the one they started
/// with, so a certificate renewal (SIGHUP) drops nothing. A reload that fails keeps the old context.
public final class ServerTLSContext: Sendable {
    public let settings: ServerTLSSettings
    private let current: NIOLockedValueBox<Loaded>

    private struct Loaded: Sendable {
        var context: NIOSSLContext
        var certificate: ServedCertificate
    }

    /// Loads the files named by `settings`; errors name the offending `server.tls` key.
    public init(settings: ServerTLSSettings) throws(ConfigError) {
        self.settings = settings
        let (context, certificate) = try Self.load(settings)
        self.current = NIOLockedValueBox(Loaded(context: context, certificate: certificate))
    }

    /// The context for a connection accepted now.
    var context: NIOSSLContext {
        self.current.withLockedValue { $0.context }
    }

    /// The certificate new connections are served.
    public var certificate: ServedCertificate {
        self.current.withLockedValue { $0.certificate }
    }

    /// Reads the certificate, key and client CA files again and serves them to new connections. On
    /// any error the previous context stays in use.
    @discardableResult
    public func reload() throws(ConfigError) -> ServedCertificate {
        let (context, certificate) = try Self.load(self.settings)
        self.current.withLockedValue { $0 = Loaded(context: context, certificate: certificate) }
        return certificate
    }

    // MARK: Loading

    private static let path = "server.tls"

    private static func keyPath(_ key: String) -> String { "\(path).\(key)" }

    /// Builds a server context from the files, checking each on its own first so an error names the
    /// key to fix. Messages never quote file contents (the key file is a secret).
    static func load(_ settings: ServerTLSSettings) throws(ConfigError) -> (NIOSSLContext, ServedCertificate) {
        let chain = try certificates(in: settings.certFile, key: "cert_file")
        let leaf = chain[0]
        let now = time(nil)
        if leaf.notValidAfter < now {
            throw ConfigError(path: keyPath("cert_file"), message: "the certificate expired (\(ServedCertificate.date(leaf.notValidAfter)))")
        }
        try requireReadable(settings.keyFile, key: "key_file")
        let privateKey: NIOSSLPrivateKey
        do {
            privateKey = try NIOSSLPrivateKey(file: settings.keyFile, format: .pem)
        } catch {
            throw ConfigError(path: keyPath("key_file"), message: "not a PEM private key (encrypted keys are not supported)")
        }

        var configuration = TLSConfiguration.makeServerConfiguration(
            certificateChain: chain.map { .certificate($0) },
            privateKey: .privateKey(privateKey)
        )
        configuration.minimumTLSVersion = .tlsv12
        if let clients = settings.clientCertificates {
            let authorities = try certificates(in: clients.caFile, key: "client_ca_file")
            configuration.trustRoots = .certificates(authorities)
            // Tell clients which CAs are accepted, so one holding several certificates picks right.
            configuration.sendCANameList = true
            switch clients.mode {
            case .require: configuration.certificateVerification = .noHostnameVerification
            case .optional: configuration.certificateVerification = .optionalVerification
            }
        }
        do {
            let context = try NIOSSLContext(configuration: configuration)
            return (context, ServedCertificate(leaf))
        } catch {
            throw ConfigError(
                path: keyPath("key_file"),
                message: "cannot serve cert_file with this key (does the key belong to the certificate?): \(error)"
            )
        }
    }

    private static func certificates(in file: String, key: String) throws(ConfigError) -> [NIOSSLCertificate] {
        try requireReadable(file, key: key)
        let certificates: [NIOSSLCertificate]
        do {
            certificates = try NIOSSLCertificate.fromPEMFile(file)
        } catch {
            throw ConfigError(path: keyPath(key), message: "not a PEM certificate file")
        }
        guard !certificates.isEmpty else {
            throw ConfigError(path: keyPath(key), message: "no PEM certificate in the file")
        }
        return certificates
    }

    private static func requireReadable(_ file: String, key: String) throws(ConfigError) {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: file, isDirectory: &isDirectory), !isDirectory.boolValue else {
            throw ConfigError(path: keyPath(key), message: "no such file: '\(file)'")
        }
        guard FileManager.default.isReadableFile(atPath: file) else {
            throw ConfigError(path: keyPath(key), message: "cannot read '\(file)'")
        }
    }
}

/// What osp says about the certificate it serves, in logs: enough to tell a renewal took effect
/// (serial, subject, expiry), nothing secret.
public struct ServedCertificate: Sendable, Equatable, CustomStringConvertible {
    /// Lower-case hex, as `openssl x509 -serial` prints it (without leading zero bytes).
    public var serial: String
    public var subject: String
    public var notValidAfter: Int

    init(_ certificate: NIOSSLCertificate) {
        var serialBytes = certificate.serialNumber[...]
        while serialBytes.count > 1, serialBytes.first == 0 { serialBytes = serialBytes.dropFirst() }
        self.serial = serialBytes.map { byte in
            let hex = String(byte, radix: 16)
            return byte < 16 ? "0" + hex : hex
        }.joined()
        self.subject = certificate.subjectName.map { "\(Self.attributeName($0.type))=\($0.value)" }.joined(separator: ",")
        self.notValidAfter = Int(certificate.notValidAfter)
    }

    public var description: String {
        "serial \(serial), subject \(subject.isEmpty ? "(empty)" : subject), expires \(Self.date(time_t(notValidAfter)))"
    }

    static func date(_ time: time_t) -> String {
        ListAllMyBucketsResult.iso8601(AmzDate(secondsSinceEpoch: Int64(time)))
    }

    private static func attributeName(_ type: SSLCertificateNameType) -> String {
        switch type {
        case .commonName: return "CN"
        case .organization: return "O"
        case .organizationalUnit: return "OU"
        case .country: return "C"
        case .state: return "ST"
        case .city: return "L"
        case .emailAddress: return "emailAddress"
        case .userId: return "UID"
        default: return "?"
        }
    }
}
