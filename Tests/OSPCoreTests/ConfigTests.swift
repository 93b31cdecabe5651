import Foundation
import Testing

@testable import OSPCore

// MARK: - Fixtures

private let environment = [
    "BACKEND_ACCESS_KEY": "backend-access-key-0001",
    "BACKEND_SECRET_KEY": "backend-secret-value-0001",
    "CLIENT_ACCESS_KEY": "client-access-key-0001",
    "CLIENT_SECRET_KEY": "client-secret-value-0001",
]

private let fullConfig = """
    server:
      bind: 0.0.0.0
      http_port: 6190
      threads: 2
      virtual_host_domains: [s3.local, S3.Example.COM.]
      skip_signature_validation: false
      max_clock_skew_seconds: 600
      idle_timeout_seconds: 30
      max_header_bytes: 32768
      max_header_count: 100
      dot_segment_keys: literal
      cors_preflight: forward
      shutdown_grace_seconds: 5
    admin: {bind: 127.0.0.1, port: 9090}
    upstream:
      verify: false
      ca_file: /etc/osp/ca.pem
      connect_timeout_seconds: 3
      read_timeout_seconds: 120
      max_idle_connections_per_host: 16
    buckets:
      proxy-bucket01:
        host: 127.0.0.1
        port: 9000
        tls: false
        region: eu-west-1
        addressing_style: path
        backend_bucket: real-bucket
        access_key: "${BACKEND_ACCESS_KEY}"
        secret_key: "${BACKEND_SECRET_KEY}"
        ttl: 300
      virtual-bucket: {host: s3.amazonaws.com, tls: true, addressing_style: virtual}
      "*": {host: 127.0.0.1, port: 9000, region: us-east-1, access_key: "${BACKEND_ACCESS_KEY}",
            secret_key: "${BACKEND_SECRET_KEY}"}
    keystore:
      - {access_key: "${CLIENT_ACCESS_KEY}", secret_key: "${CLIENT_SECRET_KEY}", principal: alice, groups: [analysts]}
      - {access_key: second-key, secret_key: second-secret, principal: bob}
    """

/// The smallest valid config around one section under test.
private func minimal(
    server: String = "",
    bucket: String = "{host: 127.0.0.1}",
    keystore: String = "[{access_key: AK, secret_key: SK, principal: alice}]",
    extra: String = ""
) -> String {
    """
    \(server.isEmpty ? "" : "server: \(server)\n")buckets:
      bucket-one: \(bucket)
    keystore: \(keystore)
    \(extra)
    """
}

private func parseError(_ yaml: String, environment: [String: String] = [:]) -> ConfigError? {
    do {
        _ = try ConfigLoader.parse(yaml: yaml, environment: environment)
        return nil
    } catch {
        return error
    }
}

// MARK: - Valid files

@Suite("Config: valid files")
struct ConfigValidTests {
    @Test("a full file reads into the expected model")
    func fullFile() throws {
        let config = try ConfigLoader.parse(yaml: fullConfig, environment: environment)
        let backendCredentials = BackendCredentials(accessKey: "backend-access-key-0001", secretKey: "backend-secret-value-0001")
        let expected = OSPConfig(
            server: ServerSettings(
                bind: "0.0.0.0",
                httpPort: 6190,
                threads: 2,
                virtualHostDomains: ["s3.local", "s3.example.com"],
                skipSignatureValidation: false,
                maxClockSkewSeconds: 600,
                idleTimeoutSeconds: 30,
                maxHeaderBytes: 32768,
                maxHeaderCount: 100,
                dotSegmentKeys: .literal,
                corsPreflight: .forward,
                shutdownGraceSeconds: 5
            ),
            admin: AdminSettings(bind: "127.0.0.1", port: 9090),
            upstream: UpstreamSettings(
                verify: false,
                caFile: "/etc/osp/ca.pem",
                connectTimeoutSeconds: 3,
                readTimeoutSeconds: 120,
                maxIdleConnectionsPerHost: 16
            ),
            buckets: BucketMap(
                routes: [
                    "proxy-bucket01": BucketRoute(
                        name: "proxy-bucket01",
                        host: "127.0.0.1",
                        port: 9000,
                        tls: false,
                        region: "eu-west-1",
                        addressingStyle: .path,
                        backendBucket: "real-bucket",
                        credentials: backendCredentials,
                        ttlSeconds: 300
                    ),
                    "virtual-bucket": BucketRoute(
                        name: "virtual-bucket",
                        host: "s3.amazonaws.com",
                        port: 443,
                        tls: true,
                        addressingStyle: .virtual
                    ),
                ],
                defaultRoute: BucketRoute(name: "*", host: "127.0.0.1", port: 9000, credentials: backendCredentials)
            ),
            keystore: [
                KeystoreEntry(
                    accessKey: "client-access-key-0001",
                    secretKey: "client-secret-value-0001",
                    principal: "alice",
                    groups: ["analysts"]
                ),
                KeystoreEntry(accessKey: "second-key", secretKey: "second-secret", principal: "bob"),
            ]
        )
        #expect(config == expected)
    }

    @Test("omitted settings take their documented defaults")
    func defaults() throws {
        let config = try ConfigLoader.parse(yaml: minimal(), environment: [:])
        #expect(config.server == ServerSettings())
        #expect(config.server.bind == "127.0.0.1")
        #expect(config.server.httpPort == 6190)
        #expect(config.server.threads == ServerSettings.defaultThreads)
        #expect(config.server.virtualHostDomains.isEmpty)
        #expect(config.server.skipSignatureValidation == false)
        #expect(config.server.maxClockSkewSeconds == 900)
        #expect(config.server.idleTimeoutSeconds == 60)
        #expect(config.server.maxHeaderBytes == 16384)
        #expect(config.server.maxHeaderCount == 200)
        #expect(config.server.shutdownGraceSeconds == 30)
        #expect(config.server.dotSegmentKeys == .refuse)
        #expect(config.server.corsPreflight == .refuse)
        #expect(config.admin == nil)
        #expect(config.upstream == UpstreamSettings(verify: true, caFile: nil, connectTimeoutSeconds: 5, readTimeoutSeconds: 300, maxIdleConnectionsPerHost: 64))
        let route = try #require(config.buckets.routes["bucket-one"])
        #expect(route == BucketRoute(name: "bucket-one", host: "127.0.0.1", port: 80, tls: false, region: "us-east-1", addressingStyle: .path))
        #expect(route.credentials == nil && route.backendBucket == nil && route.ttlSeconds == nil)
        #expect(config.buckets.defaultRoute == nil)
        #expect(config.keystore == [KeystoreEntry(accessKey: "AK", secretKey: "SK", principal: "alice", groups: [])])
    }

    @Test("the backend port defaults to 443 with TLS and 80 without")
    func defaultPortFollowsTLS() throws {
        let tls = try ConfigLoader.parse(yaml: minimal(bucket: "{host: example.com, tls: true}"), environment: [:])
        #expect(tls.buckets.routes["bucket-one"]?.port == 443)
        let plain = try ConfigLoader.parse(yaml: minimal(bucket: "{host: example.com, tls: false}"), environment: [:])
        #expect(plain.buckets.routes["bucket-one"]?.port == 80)
    }

    @Test("a bucket with api_key authenticates with IBM IAM, at IBM's endpoint unless iam_endpoint names another")
    func ibmIAMBucket() throws {
        let ibm = try ConfigLoader.parse(yaml: minimal(bucket: "{host: s3.eu-de.cloud-object-storage.appdomain.cloud, tls: true, api_key: '${KEY}'}"), environment: ["KEY": "apikey-1"])
        #expect(ibm.buckets.routes["bucket-one"]?.ibmIAM == IBMIAMKey(apiKey: "apikey-1", endpoint: "https://iam.cloud.ibm.com"))
        #expect(ibm.buckets.routes["bucket-one"]?.credentials == nil)
        let local = try ConfigLoader.parse(yaml: minimal(bucket: "{host: h, api_key: k, iam_endpoint: 'http://127.0.0.1:8080/'}"), environment: [:])
        #expect(local.buckets.routes["bucket-one"]?.ibmIAM?.tokenURL == "http://127.0.0.1:8080/identity/token")
    }

    @Test("an empty keystore is accepted when signature validation is skipped")
    func emptyKeystoreWithSkip() throws {
        let yaml = minimal(server: "{skip_signature_validation: true}", keystore: "[]")
        #expect(try ConfigLoader.parse(yaml: yaml, environment: [:]).keystore.isEmpty)
    }

    @Test("YAML 1.1 words stay strings where a string is expected")
    func stringsStayStrings() throws {
        let config = try ConfigLoader.parse(yaml: minimal(bucket: "{host: 127.0.0.1, region: no}"), environment: [:])
        #expect(config.buckets.routes["bucket-one"]?.region == "no")
    }

    @Test("load(path:) reads a file")
    func loadFromFile() throws {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("osp-config-\(UUID().uuidString).yaml")
        try fullConfig.write(to: url, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(at: url) }
        let config = try ConfigLoader.load(path: url.path, environment: environment)
        #expect(config.buckets.routes["proxy-bucket01"]?.backendBucket == "real-bucket")
    }

    @Test("load(path:) of a missing file is a ConfigError")
    func loadMissingFile() {
        #expect(throws: ConfigError.self) {
            try ConfigLoader.load(path: "/nonexistent/osp-\(UUID().uuidString).yaml", environment: [:])
        }
    }
}

// MARK: - Bucket map

@Suite("Config: bucket map")
struct BucketMapTests {
    let exact = BucketRoute(name: "alias-bucket", host: "a.example", backendBucket: "real-bucket")
    let fallback = BucketRoute(name: "*", host: "b.example")

    @Test func exactRouteWinsOverDefault() {
        let map = BucketMap(routes: ["alias-bucket": exact], defaultRoute: fallback)
        #expect(map.route(for: "alias-bucket") == exact)
        var named = fallback
        named.name = "other-bucket"
        named.isDefaultRoute = true
        #expect(map.route(for: "other-bucket") == named, "the default route is named for the bucket the client asked for")
        #expect(map.route(for: "alias-bucket")?.isDefaultRoute == false)
    }

    @Test func noDefaultMeansNoRoute() {
        let map = BucketMap(routes: ["alias-bucket": exact])
        #expect(map.route(for: "other-bucket") == nil)
    }

    @Test func backendBucketNameFollowsAlias() {
        #expect(exact.backendBucketName(for: "alias-bucket") == "real-bucket")
        #expect(fallback.backendBucketName(for: "whatever-bucket") == "whatever-bucket")
    }
}

// MARK: - Errors

struct ConfigErrorCase: Sendable, CustomTestStringConvertible {
    var name: String
    var yaml: String
    var path: String
    var fragment: String
    var testDescription: String { name }

    init(_ name: String, _ yaml: String, path: String, _ fragment: String) {
        self.name = name
        self.yaml = yaml
        self.path = path
        self.fragment = fragment
    }
}

private let errorCases: [ConfigErrorCase] = [
    .init("invalid YAML", "server: [unclosed", path: "", "invalid YAML"),
    .init("empty document", "", path: "", "empty"),
    .init("top level is a list", "- a\n- b", path: "", "expected a mapping"),
    .init("duplicate key", minimal(extra: "keystore: []"), path: "", "duplicate"),
    .init("unknown top-level key", minimal(extra: "servr: {}"), path: "servr", "unknown key 'servr' at the top level; expected one of: server, admin"),
    .init("unknown server key", minimal(server: "{bnd: 0.0.0.0}"), path: "server.bnd", "unknown key 'bnd' in server"),
    .init("unknown bucket key", minimal(bucket: "{host: h, prot: 1}"), path: "buckets.bucket-one.prot",
          "unknown key 'prot' in buckets.bucket-one; expected one of: host, port, tls"),
    .init("unknown keystore key", minimal(keystore: "[{access_key: a, secret_key: s, principal: p, role: x}]"),
          path: "keystore[0].role", "unknown key 'role' in keystore[0]"),
    .init("server is not a mapping", minimal(server: "[1, 2]"), path: "server", "expected a mapping, found a list"),
    .init("http_port too large", minimal(server: "{http_port: 70000}"), path: "server.http_port", "70000 is outside 1…65535"),
    .init("http_port zero", minimal(server: "{http_port: 0}"), path: "server.http_port", "outside 1…65535"),
    .init("http_port as a string", minimal(server: "{http_port: \"6190\"}"), path: "server.http_port", "expected an integer, found a string"),
    .init("http_port as a fraction", minimal(server: "{http_port: 6190.5}"), path: "server.http_port", "expected an integer, found a number"),
    .init("http_port true", minimal(server: "{http_port: true}"), path: "server.http_port", "expected a port number, or off"),
    .init("http_port off without https_port", minimal(server: "{http_port: off}"), path: "server.http_port", "would not listen at all"),
    .init("https_port without tls", minimal(server: "{https_port: 6443}"), path: "server.tls", "needs a 'tls' section"),
    .init("tls without https_port", minimal(server: "{tls: {cert_file: c.pem, key_file: k.pem}}"), path: "server.https_port", "only used by an https_port"),
    .init("https_port zero", minimal(server: "{https_port: 0, tls: {cert_file: c.pem, key_file: k.pem}}"), path: "server.https_port", "outside 1…65535"),
    .init("https_port equals http_port", minimal(server: "{https_port: 6190, tls: {cert_file: c.pem, key_file: k.pem}}"), path: "server.https_port", "6190 is also http_port"),
    .init("unknown tls key", minimal(server: "{https_port: 6443, tls: {cert_file: c.pem, key_file: k.pem, ca_file: x}}"), path: "server.tls.ca_file",
          "unknown key 'ca_file' in server.tls; expected one of: cert_file, key_file, client_ca_file, client_auth, principal_from"),
    .init("tls without key_file", minimal(server: "{https_port: 6443, tls: {cert_file: c.pem}}"), path: "server.tls.key_file", "missing required key"),
    .init("tls without cert_file", minimal(server: "{https_port: 6443, tls: {key_file: k.pem}}"), path: "server.tls.cert_file", "missing required key"),
    .init("client_auth without client_ca_file", minimal(server: "{https_port: 6443, tls: {cert_file: c.pem, key_file: k.pem, client_auth: require}}"),
          path: "server.tls.client_auth", "needs client_ca_file"),
    .init("principal_from without client_ca_file", minimal(server: "{https_port: 6443, tls: {cert_file: c.pem, key_file: k.pem, principal_from: cn}}"),
          path: "server.tls.principal_from", "needs client_ca_file"),
    .init("client_auth none with client_ca_file",
          minimal(server: "{https_port: 6443, tls: {cert_file: c.pem, key_file: k.pem, client_ca_file: ca.pem, client_auth: none}}"),
          path: "server.tls.client_auth", "client_auth is none, but client_ca_file is set"),
    .init("unknown client_auth", minimal(server: "{https_port: 6443, tls: {cert_file: c.pem, key_file: k.pem, client_ca_file: ca.pem, client_auth: always}}"),
          path: "server.tls.client_auth", "'always' is not valid here; expected one of: none, optional, require"),
    .init("unknown principal_from", minimal(server: "{https_port: 6443, tls: {cert_file: c.pem, key_file: k.pem, client_ca_file: ca.pem, principal_from: subject}}"),
          path: "server.tls.principal_from", "expected one of: cn, san_dns, san_email, san_uri, none"),
    .init("missing certificate file", minimal(server: "{https_port: 6443, tls: {cert_file: /nonexistent/osp-cert.pem, key_file: /nonexistent/osp-key.pem}}"),
          path: "server.tls.cert_file", "no such file: '/nonexistent/osp-cert.pem'"),
    .init("threads zero", minimal(server: "{threads: 0}"), path: "server.threads", "outside 1…256"),
    .init("threads too many", minimal(server: "{threads: 257}"), path: "server.threads", "outside 1…256"),
    .init("clock skew zero", minimal(server: "{max_clock_skew_seconds: 0}"), path: "server.max_clock_skew_seconds", "outside 1…3600"),
    .init("clock skew too large", minimal(server: "{max_clock_skew_seconds: 3601}"), path: "server.max_clock_skew_seconds", "outside 1…3600"),
    .init("shutdown grace negative", minimal(server: "{shutdown_grace_seconds: -1}"), path: "server.shutdown_grace_seconds", "outside 0…3600"),
    .init("shutdown grace too long", minimal(server: "{shutdown_grace_seconds: 3601}"), path: "server.shutdown_grace_seconds", "outside 0…3600"),
    .init("shutdown grace as a string", minimal(server: "{shutdown_grace_seconds: soon}"), path: "server.shutdown_grace_seconds", "expected an integer"),
    .init("unknown dot_segment_keys", minimal(server: "{dot_segment_keys: normalise}"), path: "server.dot_segment_keys",
          "'normalise' is not valid here; expected one of: refuse, literal"),
    .init("unknown cors_preflight", minimal(server: "{cors_preflight: allow}"), path: "server.cors_preflight",
          "'allow' is not valid here; expected one of: refuse, forward"),
    .init("skip flag not a boolean", minimal(server: "{skip_signature_validation: maybe}"), path: "server.skip_signature_validation", "expected true or false"),
    .init("empty virtual-host domain", minimal(server: "{virtual_host_domains: [s3.local, \"\"]}"), path: "server.virtual_host_domains[1]", "must not be empty"),
    .init("virtual-host domain with port", minimal(server: "{virtual_host_domains: [\"s3.local:9000\"]}"), path: "server.virtual_host_domains[0]", "not a domain name"),
    .init("virtual-host domain with scheme", minimal(server: "{virtual_host_domains: [\"http://s3.local\"]}"), path: "server.virtual_host_domains[0]", "not a domain name"),
    .init("virtual-host domains not a list", minimal(server: "{virtual_host_domains: s3.local}"), path: "server.virtual_host_domains", "expected a list"),
    .init("admin port out of range", minimal(extra: "admin: {port: 65536}"), path: "admin.port", "outside 1…65535"),
    .init("admin without port", minimal(extra: "admin: {bind: 127.0.0.1}"), path: "admin.port", "missing required key 'port'"),
    .init("admin port equals server port", minimal(extra: "admin: {port: 6190}"), path: "admin.port", "also server.http_port"),
    .init("upstream timeout zero", minimal(extra: "upstream: {connect_timeout_seconds: 0}"), path: "upstream.connect_timeout_seconds", "outside"),
    .init("upstream verify not a boolean", minimal(extra: "upstream: {verify: 1}"), path: "upstream.verify", "expected true or false, found an integer"),
    .init("missing buckets", "keystore: [{access_key: a, secret_key: s, principal: p}]", path: "buckets", "missing required key 'buckets'"),
    .init("empty buckets", "buckets: {}\nkeystore: [{access_key: a, secret_key: s, principal: p}]", path: "buckets", "no buckets configured"),
    .init("bucket entry not a mapping", minimal(bucket: "127.0.0.1"), path: "buckets.bucket-one", "expected a mapping, found a string"),
    .init("bucket port out of range", minimal(bucket: "{host: h, port: 70000}"), path: "buckets.bucket-one.port", "outside 1…65535"),
    .init("bucket without host", minimal(bucket: "{port: 9000}"), path: "buckets.bucket-one.host", "missing required key 'host'"),
    .init("bucket with empty host", minimal(bucket: "{host: \"\"}"), path: "buckets.bucket-one.host", "must not be empty"),
    .init("bucket host with scheme", minimal(bucket: "{host: \"http://h\"}"), path: "buckets.bucket-one.host", "not a host name"),
    .init("bad addressing style", minimal(bucket: "{host: h, addressing_style: dns}"), path: "buckets.bucket-one.addressing_style", "expected one of: path, virtual"),
    .init("access_key without secret_key", minimal(bucket: "{host: h, access_key: a}"), path: "buckets.bucket-one.secret_key", "secret_key is missing"),
    .init("secret_key without access_key", minimal(bucket: "{host: h, secret_key: s}"), path: "buckets.bucket-one.access_key", "access_key is missing"),
    .init("session token alone", minimal(bucket: "{host: h, session_token: t}"), path: "buckets.bucket-one.session_token", "needs access_key"),
    .init("api_key with HMAC keys", minimal(bucket: "{host: h, api_key: k, access_key: a, secret_key: s}"), path: "buckets.bucket-one.api_key", "not both"),
    .init("iam_endpoint without api_key", minimal(bucket: "{host: h, iam_endpoint: 'https://iam.example'}"), path: "buckets.bucket-one.iam_endpoint", "needs api_key"),
    .init("iam_endpoint not a URL", minimal(bucket: "{host: h, api_key: k, iam_endpoint: iam.example}"), path: "buckets.bucket-one.iam_endpoint", "not an http(s) URL"),
    .init("negative ttl", minimal(bucket: "{host: h, ttl: -1}"), path: "buckets.bucket-one.ttl", "outside"),
    .init("tls not a boolean", minimal(bucket: "{host: h, tls: sure}"), path: "buckets.bucket-one.tls", "expected true or false, found a string"),
    .init("invalid backend_bucket", minimal(bucket: "{host: h, backend_bucket: Real_Bucket}"), path: "buckets.bucket-one.backend_bucket", "not a valid S3 bucket name"),
    .init("bucket name with upper case",
          "buckets:\n  Bad_Bucket: {host: h}\nkeystore: [{access_key: a, secret_key: s, principal: p}]",
          path: "buckets.Bad_Bucket", "not a valid S3 bucket name"),
    .init("bucket name too short",
          "buckets:\n  ab: {host: h}\nkeystore: [{access_key: a, secret_key: s, principal: p}]",
          path: "buckets.ab", "not a valid S3 bucket name"),
    .init("bucket name too long",
          "buckets:\n  \(String(repeating: "a", count: 64)): {host: h}\nkeystore: [{access_key: a, secret_key: s, principal: p}]",
          path: "buckets.\(String(repeating: "a", count: 64))", "not a valid S3 bucket name"),
    .init("bucket name ending in a dash",
          "buckets:\n  bucket-: {host: h}\nkeystore: [{access_key: a, secret_key: s, principal: p}]",
          path: "buckets.bucket-", "not a valid S3 bucket name"),
    .init("keystore not a list", minimal(keystore: "{access_key: a}"), path: "keystore", "expected a list"),
    .init("keystore entry not a mapping", minimal(keystore: "[plain]"), path: "keystore[0]", "expected a mapping"),
    .init("keystore empty without skip", minimal(keystore: "[]"), path: "keystore", "no client could authenticate"),
    .init("keystore missing entirely", "buckets:\n  bucket-one: {host: h}", path: "keystore", "no client could authenticate"),
    .init("keystore empty access_key", minimal(keystore: "[{access_key: \"\", secret_key: s, principal: p}]"), path: "keystore[0].access_key", "must not be empty"),
    .init("keystore missing secret_key", minimal(keystore: "[{access_key: a, principal: p}]"), path: "keystore[0].secret_key", "missing required key"),
    .init("keystore missing principal", minimal(keystore: "[{access_key: a, secret_key: s}]"), path: "keystore[0].principal", "missing required key"),
    .init("keystore groups not a list", minimal(keystore: "[{access_key: a, secret_key: s, principal: p, groups: analysts}]"), path: "keystore[0].groups", "expected a list"),
    .init("duplicate keystore access keys",
          minimal(keystore: "[{access_key: a, secret_key: s, principal: p}, {access_key: b, secret_key: s, principal: q}, {access_key: a, secret_key: t, principal: r}]"),
          path: "keystore[2].access_key", "keystore[0] has the same one"),
]

@Suite("Config: refused files")
struct ConfigErrorTests {
    @Test(arguments: errorCases)
    func refusedWithPath(_ testCase: ConfigErrorCase) throws {
        let error = try #require(parseError(testCase.yaml))
        #expect(error.path == testCase.path)
        #expect(error.message.contains(testCase.fragment), "message was: \(error.message)")
    }

    @Test("the description leads with the path")
    func descriptionHasPath() throws {
        let error = try #require(parseError(minimal(bucket: "{host: h, port: 0}")))
        #expect(error.description == "buckets.bucket-one.port: 0 is outside 1…65535")
    }

    @Test("YAML syntax errors do not quote the offending line")
    func yamlErrorsDoNotQuote() throws {
        let yaml = "keystore: [{access_key: a, secret_key: \"hunter2-secret, principal: p}]\nbuckets: [\n"
        let error = try #require(parseError(yaml))
        #expect(error.message.contains("invalid YAML"))
        #expect(!error.description.contains("hunter2"))
    }

    @Test("type errors never echo the value")
    func typeErrorsDoNotEcho() throws {
        let error = try #require(parseError(minimal(keystore: "[{access_key: a, secret_key: [hunter2], principal: p}]")))
        #expect(error.path == "keystore[0].secret_key")
        #expect(!error.description.contains("hunter2"))
    }
}

// MARK: - HTTPS listener

/// `server.https_port` and `server.tls`, with certificate files the test issues (TestPKI): the files
/// are checked at load time, each error naming its key.
@Suite("Config: HTTPS listener")
struct ConfigHTTPSTests {
    let pki: TestPKI
    let server: TestPKI.Issued

    init() throws {
        pki = try TestPKI.make()
        server = try pki.issue("server", subject: "/CN=localhost", subjectAltNames: "DNS:localhost,IP:127.0.0.1")
    }

    private func tls(_ extra: String = "", certFile: String? = nil, keyFile: String? = nil) -> String {
        "{cert_file: '\(certFile ?? server.certificate)', key_file: '\(keyFile ?? server.key)'\(extra.isEmpty ? "" : ", " + extra)}"
    }

    @Test("https_port with mutual TLS reads into the model; client_auth defaults to require, principal_from to cn")
    func mutualTLS() throws {
        defer { pki.remove() }
        let yaml = minimal(server: "{https_port: 6443, tls: \(tls("client_ca_file: '\(pki.caFile)'"))}")
        let config = try ConfigLoader.parse(yaml: yaml, environment: [:])
        #expect(config.server.httpPort == 6190)
        #expect(config.server.httpsPort == 6443)
        #expect(
            config.server.tls
                == ServerTLSSettings(
                    certFile: server.certificate,
                    keyFile: server.key,
                    clientCertificates: ClientCertificateSettings(caFile: pki.caFile, mode: .require, principalFrom: .commonName)
                )
        )
    }

    @Test("client_auth optional and principal_from a SAN kind; HTTPS only with http_port: off")
    func optionalHTTPSOnly() throws {
        defer { pki.remove() }
        let yaml = minimal(
            server: "{http_port: off, https_port: 6443, tls: \(tls("client_ca_file: '\(pki.caFile)', client_auth: optional, principal_from: san_uri"))}"
        )
        let config = try ConfigLoader.parse(yaml: yaml, environment: [:])
        #expect(config.server.httpPort == nil)
        #expect(config.server.tls?.clientCertificates == ClientCertificateSettings(caFile: pki.caFile, mode: .optional, principalFrom: .sanURI))
    }

    @Test("HTTPS without client certificates; client_auth none is accepted")
    func serverOnly() throws {
        defer { pki.remove() }
        let config = try ConfigLoader.parse(yaml: minimal(server: "{https_port: 6443, tls: \(tls("client_auth: none"))}"), environment: [:])
        #expect(config.server.tls == ServerTLSSettings(certFile: server.certificate, keyFile: server.key))
    }

    @Test("a file that is not what its key says is refused, naming the key")
    func badFiles() throws {
        defer { pki.remove() }
        let garbage = pki.path("garbage.pem")
        try "-----BEGIN CERTIFICATE-----\nnot base64 at all\n-----END CERTIFICATE-----\n".write(toFile: garbage, atomically: true, encoding: .utf8)
        let other = try pki.issue("other", subject: "/CN=other")
        let cases: [(String, String, String)] = [
            (tls(certFile: garbage), "server.tls.cert_file", "not a PEM certificate"),
            (tls(keyFile: server.certificate), "server.tls.key_file", "not a PEM private key"),
            (tls(keyFile: other.key), "server.tls.key_file", "does the key belong to the certificate"),
            (tls("client_ca_file: '\(garbage)'"), "server.tls.client_ca_file", "not a PEM certificate"),
            (tls("client_ca_file: '\(pki.path("absent.pem"))'"), "server.tls.client_ca_file", "no such file"),
            (tls(keyFile: pki.directory.path), "server.tls.key_file", "no such file"),
        ]
        for (section, path, fragment) in cases {
            let error = try #require(parseError(minimal(server: "{https_port: 6443, tls: \(section)}")), "\(section)")
            #expect(error.path == path)
            #expect(error.message.contains(fragment), "message was: \(error.message)")
        }
    }

    @Test("the admin port must differ from https_port")
    func adminPortClash() throws {
        defer { pki.remove() }
        let error = try #require(parseError(minimal(server: "{https_port: 6443, tls: \(tls())}", extra: "admin: {port: 6443}")))
        #expect(error.path == "admin.port")
        #expect(error.message.contains("also server.https_port"))
    }
}

// MARK: - Environment interpolation

@Suite("Config: ${VAR} interpolation")
struct ConfigInterpolationTests {
    private func bucketRoute(_ bucket: String, _ environment: [String: String]) throws -> BucketRoute {
        let config = try ConfigLoader.parse(yaml: minimal(bucket: "\n" + bucket), environment: environment)
        return try #require(config.buckets.routes["bucket-one"])
    }

    @Test("several variables in one scalar")
    func severalPerScalar() throws {
        let route = try bucketRoute(
            """
                host: "${HOST_PREFIX}.${HOST_SUFFIX}"
                access_key: "${USER}-${USER}"
                secret_key: plain
            """,
            ["HOST_PREFIX": "minio", "HOST_SUFFIX": "internal", "USER": "svc"]
        )
        #expect(route.host == "minio.internal")
        #expect(route.credentials?.accessKey == "svc-svc")
    }

    @Test("$${ is a literal ${, a lone $ stays, and substituted text is not expanded again")
    func escapes() throws {
        let route = try bucketRoute(
            """
                host: h
                access_key: "$${NOT_A_VAR}-$5-$$-${NESTED}"
                secret_key: s
            """,
            ["NESTED": "${NOT_A_VAR}"]
        )
        #expect(route.credentials?.accessKey == "${NOT_A_VAR}-$5-$$-${NOT_A_VAR}")
    }

    @Test("integers and booleans may come from the environment")
    func typedValues() throws {
        let route = try bucketRoute(
            """
                host: h
                port: ${BACKEND_PORT}
                tls: "${BACKEND_TLS}"
            """,
            ["BACKEND_PORT": "9443", "BACKEND_TLS": "true"]
        )
        #expect(route.port == 9443)
        #expect(route.tls)
    }

    @Test("an interpolated integer is still range-checked")
    func interpolatedRange() throws {
        let error = try #require(parseError(minimal(bucket: "\n    host: h\n    port: ${P}"), environment: ["P": "99999"]))
        #expect(error.path == "buckets.bucket-one.port")
        #expect(error.message.contains("outside"))
    }

    @Test("interpolation reaches list items")
    func listItems() throws {
        let yaml = minimal(keystore: "[{access_key: a, secret_key: s, principal: p, groups: [\"${TEAM}\", ops]}]")
        let config = try ConfigLoader.parse(yaml: yaml, environment: ["TEAM": "analysts"])
        #expect(config.keystore.first?.groups == ["analysts", "ops"])
    }

    @Test("an unset variable names the variable and the key, and no value")
    func unsetVariable() throws {
        let yaml = minimal(bucket: "{host: h, access_key: \"${BACKEND_ACCESS_KEY}\", secret_key: \"${MISSING_SECRET}\"}")
        let error = try #require(parseError(yaml, environment: ["BACKEND_ACCESS_KEY": "visible-access-key-value"]))
        #expect(error.path == "buckets.bucket-one.secret_key")
        #expect(error.message.contains("'MISSING_SECRET'"))
        #expect(error.message.contains("not set"))
        #expect(!error.description.contains("visible-access-key-value"))
    }

    @Test("an unterminated reference is an error", arguments: ["\"${OPEN\"", "\"${}\"", "\"${1ABC}\"", "\"${A-B}\""])
    func malformedReference(_ value: String) throws {
        let error = try #require(parseError(minimal(bucket: "{host: \(value)}"), environment: ["OPEN": "x", "A": "y"]))
        #expect(error.path == "buckets.bucket-one.host")
    }
}

// MARK: - Secrets stay out of text

@Suite("Config: secrets are redacted")
struct ConfigRedactionTests {
    @Test("printing, interpolating or dumping the config never shows a secret")
    func noSecretsInText() throws {
        let config = try ConfigLoader.parse(yaml: fullConfig, environment: environment)
        var dumped = ""
        dump(config, to: &dumped)
        for text in ["\(config)", String(reflecting: config), dumped] {
            #expect(!text.contains("backend-secret-value-0001"))
            #expect(!text.contains("client-secret-value-0001"))
            #expect(!text.contains("second-secret"))
            #expect(!text.contains("backend-access-key-0001"))
        }
    }

    @Test func backendCredentialsDescription() {
        let credentials = BackendCredentials(accessKey: "AKIAEXAMPLE123", secretKey: "very-secret", sessionToken: "token-value")
        #expect(credentials.description == "BackendCredentials(accessKey: AKIA…, secretKey: <redacted>, sessionToken: <redacted>)")
    }

    @Test func keystoreEntryDescription() {
        let entry = KeystoreEntry(accessKey: "client-key", secretKey: "very-secret", principal: "alice", groups: ["g"])
        #expect(!entry.description.contains("very-secret"))
        #expect(entry.description.contains("client-key"))
    }
}

// MARK: - Upstream proxy and per-bucket CA

@Suite("Config: upstream proxy and per-bucket ca_file")
struct ConfigUpstreamProxyTests {
    @Test("config keys give the proxies, the credentials and the no_proxy list")
    func configKeys() throws {
        let yaml = minimal(extra: """
            upstream:
              https_proxy: "http://corp%40user:p%3Ass@proxy.corp:3128"
              http_proxy: proxy.corp:8080
              no_proxy: [internal.corp, 10.0.0.0/8]
            """)
        let proxy = try ConfigLoader.parse(yaml: yaml, environment: ["HTTPS_PROXY": "http://env:1"]).upstream.proxy
        #expect(proxy.https == ProxyURL(host: "proxy.corp", port: 3128, username: "corp@user", password: "p:ss"))
        #expect(proxy.http == ProxyURL(host: "proxy.corp", port: 8080))
        #expect(proxy.proxy(forHost: "s3.internal.corp", tls: true) == nil)
        #expect(proxy.proxy(forHost: "10.2.3.4", tls: false) == nil)
        #expect(proxy.proxy(forHost: "s3.amazonaws.com", tls: true)?.port == 3128)
        #expect(proxy.proxy(forHost: "s3.amazonaws.com", tls: false)?.port == 8080)
    }

    @Test("without the keys, the environment variables apply, upper case first")
    func environmentFallback() throws {
        let environment = [
            "HTTPS_PROXY": "http://upper:3128", "https_proxy": "http://lower:3128",
            "http_proxy": "http://plain:8080", "no_proxy": "localhost,.example.com",
        ]
        let proxy = try ConfigLoader.parse(yaml: minimal(), environment: environment).upstream.proxy
        #expect(proxy.https?.host == "upper")
        #expect(proxy.http?.host == "plain")
        #expect(proxy.proxy(forHost: "bucket.s3.example.com", tls: true) == nil)
        #expect(proxy.proxy(forHost: "example.com", tls: true) == nil)
        #expect(proxy.proxy(forHost: "127.0.0.1", tls: true)?.host == "upper")
    }

    @Test("off overrides the environment; an empty no_proxy list overrides NO_PROXY")
    func explicitlyNone() throws {
        let yaml = minimal(extra: "upstream: {https_proxy: off, no_proxy: []}")
        let proxy = try ConfigLoader.parse(yaml: yaml, environment: ["HTTPS_PROXY": "http://p:1", "HTTP_PROXY": "http://p:2", "NO_PROXY": "*"])
            .upstream.proxy
        #expect(proxy.https == nil)
        #expect(proxy.http == ProxyURL(host: "p", port: 2))
        #expect(proxy.noProxy.isEmpty)
    }

    @Test("the proxy reaches the callout settings")
    func calloutsShareTheProxy() throws {
        let yaml = minimal(extra: """
            upstream: {http_proxy: "http://proxy:3128"}
            secrets: {backend: http, http: {url: "http://keys.internal/secret"}}
            """)
        let config = try ConfigLoader.parse(yaml: yaml, environment: [:])
        #expect(config.secrets.http?.calloutSettings.proxy.proxy(forURL: "http://keys.internal/secret") == ProxyURL(host: "proxy", port: 3128))
    }

    @Test("a bad proxy URL names the key, and never repeats the password")
    func badProxy() {
        let error = parseError(minimal(extra: "upstream: {https_proxy: \"https://u:hunter2@proxy:3128\"}"))
        #expect(error?.path == "upstream.https_proxy")
        #expect(error?.message.contains("http://") == true)
        #expect(error.map { !"\($0)".contains("hunter2") } == true)
        let fromEnvironment = parseError(minimal(), environment: ["HTTPS_PROXY": "http://u:hunter2@proxy:99999"])
        #expect(fromEnvironment?.path == "upstream.https_proxy")
        #expect(fromEnvironment?.message.contains("HTTPS_PROXY") == true)
        #expect(fromEnvironment.map { !"\($0)".contains("hunter2") } == true)
        #expect(parseError(minimal(extra: "upstream: {https_proxy: true}"))?.path == "upstream.https_proxy")
        #expect(parseError(minimal(extra: "upstream: {proxy: \"http://p:1\"}"))?.path == "upstream.proxy")
    }

    @Test("a bucket's ca_file is read, must exist and needs tls")
    func bucketCAFile() throws {
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("osp-ca-\(UUID().uuidString).pem").path
        _ = FileManager.default.createFile(atPath: file, contents: Data("not parsed here".utf8))
        defer { try? FileManager.default.removeItem(atPath: file) }
        let config = try ConfigLoader.parse(yaml: minimal(bucket: "{host: backend.corp, tls: true, ca_file: \"\(file)\"}"), environment: [:])
        let route = try #require(config.buckets.routes["bucket-one"])
        #expect(route.caFile == file)
        #expect(BackendEndpoint(route).caFile == file)
        #expect(BackendEndpoint(route) != BackendEndpoint(host: "backend.corp", port: 443, tls: true))
        #expect(parseError(minimal(bucket: "{host: backend.corp, ca_file: \"\(file)\"}"))?.path == "buckets.bucket-one.ca_file")
        #expect(parseError(minimal(bucket: "{host: backend.corp, tls: true, ca_file: /nonexistent/ca.pem}"))?.path == "buckets.bucket-one.ca_file")
    }
}
