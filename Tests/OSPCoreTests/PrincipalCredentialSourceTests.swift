import NIOCore
import NIOEmbedded
import S3Signing
import Testing
import Yams

@testable import OSPCore

/// Static backend credentials per (principal, bucket pattern): the first matching rule wins, the
/// bucket's own keys serve everyone else, and with neither the request is refused — never signed
/// with someone else's identity.
@Suite("Principal bucket credentials")
struct PrincipalCredentialSourceTests {
    static let aliceLogs = BackendCredentials(accessKey: "ALICELOGS000", secretKey: "alice-logs-secret")
    static let aliceAll = BackendCredentials(accessKey: "ALICEALL0000", secretKey: "alice-all-secret", sessionToken: "alice-token")
    static let bobReports = BackendCredentials(accessKey: "BOBREPORTS00", secretKey: "bob-reports-secret")
    static let bucketOwn = BackendCredentials(accessKey: "BUCKETOWN000", secretKey: "bucket-own-secret")

    static let source = PrincipalBucketCredentials([
        PrincipalCredentialRule(principal: "alice", buckets: ["logs-*", "audit"], credentials: aliceLogs),
        PrincipalCredentialRule(principal: "alice", buckets: ["*"], credentials: aliceAll),
        PrincipalCredentialRule(principal: "bob", buckets: ["reports"], credentials: bobReports),
    ])

    static func route(_ name: String, credentials: BackendCredentials? = nil) -> BucketRoute {
        BucketRoute(name: name, host: "127.0.0.1", port: 9000, credentials: credentials)
    }

    /// The answer through the future, after checking that the synchronous answer the hot path
    /// uses is the same.
    func credentials(_ principal: String, _ route: BucketRoute) throws -> BackendCredentials {
        let later = Result { try Self.source.credentials(for: route, principal: principal, on: EmbeddedEventLoop()).wait() }
        let now = try #require(Self.source.credentialsNow(for: route, principal: principal))
        #expect((try? now.get()) == (try? later.get()))
        #expect(Self.refusal(now) == Self.refusal(later))
        return try later.get()
    }

    static func refusal(_ result: Result<BackendCredentials, any Error>) -> S3Error? {
        guard case .failure(let error) = result else { return nil }
        return error as? S3Error
    }

    func refusal(_ principal: String, _ route: BucketRoute) -> S3Error? {
        do {
            _ = try credentials(principal, route)
            return nil
        } catch {
            return error as? S3Error
        }
    }

    @Test func theFirstMatchingRuleOfThePrincipalWins() throws {
        #expect(try credentials("alice", Self.route("logs-2024", credentials: Self.bucketOwn)) == Self.aliceLogs)
        #expect(try credentials("alice", Self.route("audit")) == Self.aliceLogs)
        // Later rules catch what earlier ones do not; "logs-" is a prefix pattern, not a substring.
        #expect(try credentials("alice", Self.route("audit-2", credentials: Self.bucketOwn)) == Self.aliceAll)
        #expect(try credentials("alice", Self.route("my-logs-1")) == Self.aliceAll)
        #expect(try credentials("bob", Self.route("reports")) == Self.bobReports)
    }

    @Test func otherwiseTheBucketsOwnKeysServeAndWithoutThemTheRequestIsRefused() throws {
        // bob has no rule for logs-1: the bucket's keys, not alice's.
        #expect(try credentials("bob", Self.route("logs-1", credentials: Self.bucketOwn)) == Self.bucketOwn)
        #expect(try credentials("carol", Self.route("reports", credentials: Self.bucketOwn)) == Self.bucketOwn)
        let denied = S3Error(.accessDenied, "No backend credentials for this principal and bucket.")
        #expect(refusal("bob", Self.route("logs-1")) == denied)
        #expect(refusal("carol", Self.route("reports")) == denied)
        // Principals are compared exactly.
        #expect(refusal("Alice", Self.route("audit")) == denied)
        #expect(Self.source.match(principal: "bob", bucket: "reports-old") == nil)
    }

    func read(_ yaml: String, environment: [String: String] = [:]) throws(ConfigError) -> [PrincipalCredentialRule] {
        try PrincipalCredentialRule.read(
            ConfigFixture.items(yaml), path: "credentials.principals", interpolation: EnvironmentInterpolation(environment: environment)
        )
    }

    func error(_ yaml: String, environment: [String: String] = [:]) -> ConfigError? {
        ConfigFixture.error { () throws(ConfigError) in try read(yaml, environment: environment) }
    }

    @Test func rulesAreReadFromTheConfigFile() throws {
        let rules = try read(
            """
            - principal: alice
              buckets: ["logs-*", audit]
              access_key: ${ALICE_KEY}
              secret_key: ${ALICE_SECRET}
            - principal: alice
              buckets: ["*"]
              access_key: ALICEALL0000
              secret_key: alice-all-secret
              session_token: alice-token
            """,
            environment: ["ALICE_KEY": "ALICELOGS000", "ALICE_SECRET": "alice-logs-secret"]
        )
        #expect(rules == [
            PrincipalCredentialRule(principal: "alice", buckets: ["logs-*", "audit"], credentials: Self.aliceLogs),
            PrincipalCredentialRule(principal: "alice", buckets: ["*"], credentials: Self.aliceAll),
        ])
        #expect(try read("[]").isEmpty)
    }

    @Test func badRulesAreRefusedWhereTheyAre() {
        let valid = "access_key: K\n  secret_key: S"
        #expect(error("- buckets: [b]\n  \(valid)")?.path == "credentials.principals[0].principal")
        #expect(error("- principal: a\n  \(valid)")?.path == "credentials.principals[0].buckets")
        #expect(error("- principal: a\n  buckets: []\n  \(valid)")?.path == "credentials.principals[0].buckets")
        #expect(error("- principal: a\n  buckets: [\"a*b\"]\n  \(valid)")?.path == "credentials.principals[0].buckets[0]")
        #expect(error("- principal: a\n  buckets: [b]\n  access_key: K")?.path == "credentials.principals[0].secret_key")
        #expect(error("- principal: a\n  buckets: [b]\n  \(valid)\n  bucket: c")?.path == "credentials.principals[0].bucket")
        #expect(error("- principal: a\n  buckets: [b]\n  \(valid)\n  session_token: \"\"")?.path == "credentials.principals[0].session_token")
        // The same pattern for the same principal twice: the later one could never match.
        let duplicate = error("- principal: a\n  buckets: [b]\n  \(valid)\n- principal: a\n  buckets: [c, b]\n  \(valid)")
        #expect(duplicate?.path == "credentials.principals[1].buckets[1]")
        #expect(error("- principal: a\n  buckets: [b, b]\n  \(valid)")?.path == "credentials.principals[0].buckets[1]")
        #expect(error("- principal: a\n  buckets: [b]\n  \(valid)\n- principal: c\n  buckets: [b]\n  \(valid)") == nil)
        // Messages never repeat a secret.
        let missing = error("- principal: a\n  buckets: [b]\n  access_key: K\n  secret_key: ${NOPE}")
        #expect(missing != nil)
    }

    @Test func rulesNeverShowTheirSecrets() {
        let text = "\(Self.source.rules)" + String(reflecting: Self.source.rules)
        #expect(!text.contains("alice-logs-secret"))
        #expect(!text.contains("alice-token"))
    }
}
