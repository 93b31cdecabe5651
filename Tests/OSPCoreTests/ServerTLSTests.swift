import Foundation
import NIOSSL
import S3Signing
import Testing

@testable import OSPCore

/// The HTTPS listener's certificate holder and the client-certificate rules, on certificates the
/// tests issue themselves (TestPKI, openssl).
@Suite("HTTPS: certificates and client-certificate binding")
struct ServerTLSTests {
    @Test("the served certificate is reloaded from its files; a broken file keeps the old one")
    func reloadKeepsOldOnError() throws {
        let pki = try TestPKI.make()
        defer { pki.remove() }
        let server = try pki.issue("server", subject: "/CN=localhost", subjectAltNames: "DNS:localhost,IP:127.0.0.1", serial: 1000)
        let tls = try ServerTLSContext(settings: ServerTLSSettings(certFile: server.certificate, keyFile: server.key))
        #expect(tls.certificate.serial == "03e8")
        #expect(tls.certificate.subject == "CN=localhost")

        try pki.issue("server", subject: "/CN=localhost", subjectAltNames: "DNS:localhost", serial: 2000)
        #expect(try tls.reload().serial == "07d0")
        #expect(tls.certificate.serial == "07d0")

        let before = tls.context
        try "not a certificate\n".write(toFile: server.certificate, atomically: true, encoding: .utf8)
        let error = try #require(throws: ConfigError.self) { try tls.reload() }
        #expect(error.path == "server.tls.cert_file")
        #expect(tls.certificate.serial == "07d0")
        #expect(tls.context === before, "new connections keep getting the last good context")
    }

    @Test("a key that is not the certificate's is refused, naming key_file and never quoting the key")
    func mismatchedKey() throws {
        let pki = try TestPKI.make()
        defer { pki.remove() }
        let server = try pki.issue("server", subject: "/CN=localhost")
        let other = try pki.issue("other", subject: "/CN=other")
        let error = try #require(throws: ConfigError.self) {
            try ServerTLSContext(settings: ServerTLSSettings(certFile: server.certificate, keyFile: other.key))
        }
        #expect(error.path == "server.tls.key_file")
        #expect(error.message.contains("does the key belong"))
        let keyText = try String(contentsOfFile: other.key, encoding: .utf8)
        let keyBody = keyText.split(separator: "\n").dropFirst().first.map(String.init) ?? keyText
        #expect(!error.description.contains(keyBody))
    }

    @Test("principal_from picks the subject CN or subjectAltName entries of one kind")
    func principalNames() throws {
        let pki = try TestPKI.make()
        defer { pki.remove() }
        let client = try pki.issue(
            "alice",
            subject: "/O=Example/CN=ignored/CN=alice",
            subjectAltNames: "DNS:alice.example,DNS:alice2.example,email:alice@example.com,URI:spiffe://example.org/alice,IP:127.0.0.1"
        )
        let certificate = try #require(try NIOSSLCertificate.fromPEMFile(client.certificate).first)
        #expect(CertificatePrincipalSource.commonName.names(in: certificate) == ["alice"], "the last (most specific) CN")
        #expect(CertificatePrincipalSource.sanDNS.names(in: certificate) == ["alice.example", "alice2.example"])
        #expect(CertificatePrincipalSource.sanEmail.names(in: certificate) == ["alice@example.com"])
        #expect(CertificatePrincipalSource.sanURI.names(in: certificate) == ["spiffe://example.org/alice"])
        #expect(CertificatePrincipalSource.none.names(in: certificate).isEmpty)

        let bare = try pki.issue("bare", subject: "/O=Example")
        let bareCertificate = try #require(try NIOSSLCertificate.fromPEMFile(bare.certificate).first)
        #expect(CertificatePrincipalSource.commonName.names(in: bareCertificate).isEmpty)
        #expect(CertificatePrincipalSource.sanDNS.names(in: bareCertificate).isEmpty)
    }

    @Test("a presented certificate binds the request's principal; absent or unbound does not; unknown refuses")
    func bindingRule() {
        #expect(ClientCertificateIdentity.notBound.bind(principal: "alice") == .success(nil))
        #expect(ClientCertificateIdentity.absent.bind(principal: "alice") == .success(nil))
        #expect(ClientCertificateIdentity.presented(names: ["alice"]).bind(principal: "alice") == .success("alice"))
        #expect(ClientCertificateIdentity.presented(names: ["a.example", "alice"]).bind(principal: "alice") == .success("alice"))
        for identity in [ClientCertificateIdentity.presented(names: ["bob"]), .presented(names: []), .pending] {
            guard case .failure(let refusal) = identity.bind(principal: "alice") else {
                Issue.record("\(identity) let alice's key through")
                continue
            }
            #expect(refusal.code == .accessDenied)
        }
        guard case .failure(let mismatch) = ClientCertificateIdentity.presented(names: ["bob"]).bind(principal: "alice") else { return }
        #expect(mismatch.message == "The client certificate does not match the access key's principal.")
    }

    @Test("the listener binds certificates only with client_ca_file and a principal_from other than none")
    func transportBinding() {
        let plain = ServerTLSSettings(certFile: "c", keyFile: "k")
        #expect(ClientTransport.tls(plain).secure)
        #expect(ClientTransport.tls(plain).initialCertificate == .notBound)
        let bound = ServerTLSSettings(certFile: "c", keyFile: "k", clientCertificates: ClientCertificateSettings(caFile: "ca"))
        #expect(ClientTransport.tls(bound).principalFrom == .commonName)
        #expect(ClientTransport.tls(bound).initialCertificate == .pending)
        let admitOnly = ServerTLSSettings(
            certFile: "c", keyFile: "k", clientCertificates: ClientCertificateSettings(caFile: "ca", principalFrom: .none)
        )
        #expect(ClientTransport.tls(admitOnly).initialCertificate == .notBound)
        #expect(!ClientTransport.plain.secure)
        #expect(ClientTransport.plain.initialCertificate == .notBound)
    }
}
