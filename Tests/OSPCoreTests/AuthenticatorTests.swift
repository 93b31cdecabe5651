import NIOConcurrencyHelpers
import NIOCore
import NIOEmbedded
import NIOHTTP1
import S3Signing
import Testing

@testable import OSPCore

/// A remote-style secret store: answers only through a future, and counts how often it is asked.
final class CountingSecretStore: ClientSecretSource {
    private let identities: [String: ClientIdentity]
    private let calls = NIOLockedValueBox(0)

    init(_ identities: [ClientIdentity]) {
        self.identities = Dictionary(uniqueKeysWithValues: identities.map { ($0.accessKey, $0) })
    }

    var callCount: Int { calls.withLockedValue { $0 } }

    func identity(forAccessKey accessKey: String, on eventLoop: any EventLoop) -> EventLoopFuture<ClientIdentity?> {
        calls.withLockedValue { $0 += 1 }
        return eventLoop.makeSucceededFuture(identities[accessKey])
    }
}

/// Authentication decides on the spot when the secret is at hand (keystore, warm cache) and says
/// what is missing otherwise; either way the verdict is the one the future-based path gives.
@Suite("Authenticator")
struct AuthenticatorTests {
    static let alice = ClientIdentity(accessKey: "OSPALICEKEY00001", secretKey: "alice-secret-0000000000000000000000001", principal: "alice")
    static let now = AmzDate(secondsSinceEpoch: 1_795_000_000)

    /// A GET signed by `identity` (or with a wrong secret).
    func signed(by identity: ClientIdentity, secret: String? = nil) -> IncomingRequest {
        var headers = HTTPHeaders([("host", "127.0.0.1:6190")])
        SigV4Signer(accessKey: identity.accessKey, secretKey: secret ?? identity.secretKey, region: "us-east-1", keyCache: SigningKeyCache())
            .signHeaders(method: "GET", rawPath: "/data/a.csv", rawQuery: "", headers: &headers, payloadHash: "UNSIGNED-PAYLOAD", date: Self.now)
        return IncomingRequest(method: "GET", rawPath: "/data/a.csv", rawQuery: "", headers: headers)
    }

    func authenticator(_ secrets: any ClientSecretSource, skip: Bool = false) -> Authenticator {
        Authenticator(secrets: secrets, verifier: RequestVerifier(keyCache: SigningKeyCache()), skipSignatureValidation: skip)
    }

    /// The principal, or the S3 error code; nil when not decided yet.
    func verdict(_ progress: Authenticator.Progress) -> String? {
        guard case .done(let result) = progress else { return nil }
        switch result {
        case .success(let authenticated): return authenticated.identity.principal
        case .failure(let error): return (error as? S3Error)?.code.rawValue ?? "\(error)"
        }
    }

    @Test("with the config keystore every verdict is reached without a future")
    func keystoreDecidesAtOnce() {
        let auth = authenticator(StaticKeystore([KeystoreEntry(accessKey: Self.alice.accessKey, secretKey: Self.alice.secretKey, principal: "alice")]))
        #expect(verdict(auth.authenticateNow(signed(by: Self.alice), sigV2ResourcePath: "/data/a.csv", now: Self.now)) == "alice")
        #expect(verdict(auth.authenticateNow(signed(by: Self.alice, secret: "wrong"), sigV2ResourcePath: "/data/a.csv", now: Self.now)) == "SignatureDoesNotMatch")
        let stranger = ClientIdentity(accessKey: "OSPNOBODYKEY0001", secretKey: "x", principal: "x")
        #expect(verdict(auth.authenticateNow(signed(by: stranger), sigV2ResourcePath: "/data/a.csv", now: Self.now)) == "InvalidAccessKeyId")
        let unsigned = IncomingRequest(method: "GET", rawPath: "/data/a.csv", rawQuery: "", headers: HTTPHeaders([("host", "h")]))
        #expect(verdict(auth.authenticateNow(unsigned, sigV2ResourcePath: "/data/a.csv", now: Self.now)) == "AccessDenied")
    }

    @Test("a remote store is asked once; after that its cache answers on the spot, and a cold miss counts once")
    func remoteStoreThroughCache() throws {
        let store = CountingSecretStore([Self.alice])
        let cached = CachedSecretSource(store, settings: SecretCacheSettings())
        let auth = authenticator(cached)
        let loop = EmbeddedEventLoop()
        let request = signed(by: Self.alice)

        let first = auth.authenticateNow(request, sigV2ResourcePath: "/data/a.csv", now: Self.now)
        guard case .lookUp(_, let accessKey) = first else {
            Issue.record("a cold cache cannot answer now: \(first)")
            return
        }
        #expect(accessKey == Self.alice.accessKey)
        #expect(store.callCount == 0)
        let completed = try auth.complete(first, request, sigV2ResourcePath: "/data/a.csv", now: Self.now, on: loop).wait()
        #expect(completed.identity.principal == "alice")
        #expect(store.callCount == 1)
        #expect(cached.statistics.misses == 1)

        #expect(verdict(auth.authenticateNow(request, sigV2ResourcePath: "/data/a.csv", now: Self.now)) == "alice")
        #expect(verdict(auth.authenticateNow(signed(by: Self.alice, secret: "wrong"), sigV2ResourcePath: "/data/a.csv", now: Self.now)) == "SignatureDoesNotMatch")
        #expect(store.callCount == 1)
        #expect(cached.statistics.hits == 2)
    }

    @Test("the keystore answers first, then the store behind it")
    func keystoreThenStore() {
        let bob = ClientIdentity(accessKey: "OSPBOBKEY0000001", secretKey: "bob-secret-00000000000000000000000001", principal: "bob")
        let store = CountingSecretStore([bob])
        let auth = authenticator(KeystoreFirst(
            keystore: StaticKeystore([KeystoreEntry(accessKey: Self.alice.accessKey, secretKey: Self.alice.secretKey, principal: "alice")]),
            then: CachedSecretSource(store)
        ))
        #expect(verdict(auth.authenticateNow(signed(by: Self.alice), sigV2ResourcePath: "/data/a.csv", now: Self.now)) == "alice")
        guard case .lookUp = auth.authenticateNow(signed(by: bob), sigV2ResourcePath: "/data/a.csv", now: Self.now) else {
            Issue.record("bob's key is only in the store")
            return
        }
    }

    @Test("development mode goes the unverified way, whatever the signature")
    func skipMode() {
        let auth = authenticator(StaticKeystore([]), skip: true)
        guard case .unverified = auth.authenticateNow(signed(by: Self.alice, secret: "wrong"), sigV2ResourcePath: "/data/a.csv", now: Self.now) else {
            Issue.record("skip_signature_validation must not verify")
            return
        }
    }
}
