import Foundation

/// A throwaway PKI in a temporary directory, made with the `openssl` command-line tool (no key
/// material is committed): a CA, and certificates it issues with chosen subjects, subjectAltNames
/// and serials. Every `openssl` run is bounded in time.
struct TestPKI {
    let directory: URL

    struct Issued {
        let certificate: String
        let key: String
    }

    /// A new directory with a CA named `caName` (`ca.pem`, `ca.key`).
    static func make(caName: String = "osp-test-ca") throws -> TestPKI {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("osp-pki-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let pki = TestPKI(directory: directory)
        try pki.openssl([
            "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
            "-keyout", pki.path("ca.key"), "-out", pki.path("ca.pem"), "-days", "2", "-subj", "/CN=\(caName)",
            "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign",
        ])
        return pki
    }

    var caFile: String { path("ca.pem") }

    func path(_ name: String) -> String {
        directory.appendingPathComponent(name).path
    }

    /// A leaf certificate `name.pem` / `name.key` signed by this CA.
    @discardableResult
    func issue(_ name: String, subject: String, subjectAltNames: String? = nil, serial: Int = 1000) throws -> Issued {
        let csr = path("\(name).csr")
        try openssl([
            "req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
            "-keyout", path("\(name).key"), "-out", csr, "-subj", subject,
        ])
        var extensions = "basicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth,clientAuth\n"
        if let subjectAltNames { extensions += "subjectAltName=\(subjectAltNames)\n" }
        let extensionsFile = path("\(name).ext")
        try extensions.write(toFile: extensionsFile, atomically: true, encoding: .utf8)
        try openssl([
            "x509", "-req", "-in", csr, "-CA", caFile, "-CAkey", path("ca.key"), "-set_serial", "\(serial)",
            "-days", "2", "-out", path("\(name).pem"), "-extfile", extensionsFile,
        ])
        return Issued(certificate: path("\(name).pem"), key: path("\(name).key"))
    }

    func remove() {
        try? FileManager.default.removeItem(at: directory)
    }

    private func openssl(_ arguments: [String]) throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["openssl"] + arguments
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        process.standardInput = FileHandle.nullDevice
        try process.run()
        let deadline = Date().addingTimeInterval(30)
        while process.isRunning && Date() < deadline { usleep(10_000) }
        if process.isRunning {
            process.terminate()
            throw PKIError(message: "openssl \(arguments.first ?? "") did not finish within 30 s")
        }
        guard process.terminationStatus == 0 else {
            throw PKIError(message: "openssl \(arguments.prefix(2).joined(separator: " ")) exited with \(process.terminationStatus)")
        }
    }

    struct PKIError: Error, CustomStringConvertible {
        var message: String
        var description: String { message }
    }
}
