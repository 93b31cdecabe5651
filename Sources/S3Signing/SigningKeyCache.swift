import Crypto
import Synchronization

/// Derived SigV4 signing keys, shared by every connection. Deriving a key costs four HMACs and only
/// changes once a day per (secret, region, service), so verifying and re-signing a request should
/// cost one HMAC over the string to sign, not five.
///
/// Bounded: when full it simply starts over, which is cheap because entries are one derivation each.
public final class SigningKeyCache: Sendable, CustomStringConvertible {
    private struct Key: Hashable {
        var secret: String
        var dateStamp: String
        var region: String
        var service: String
    }

    private let entries = Mutex<[Key: SigV4SigningKey]>([:])
    public let capacity: Int

    public init(capacity: Int = 4096) {
        self.capacity = max(1, capacity)
    }

    /// The signing key for `secret` on `dateStamp` (`YYYYMMDD`) in `region` for `service`.
    public func signingKey(secret: String, dateStamp: String, region: String, service: String) -> SymmetricKey {
        self.entry(secret: secret, dateStamp: dateStamp, region: region, service: service).key
    }

    /// The signing key with its HMAC state, ready to sign.
    func entry(secret: String, dateStamp: String, region: String, service: String) -> SigV4SigningKey {
        let key = Key(secret: secret, dateStamp: dateStamp, region: region, service: service)
        if let cached = entries.withLock({ $0[key] }) {
            return cached
        }
        // Derive outside the lock; two threads racing on the same miss derive the same value.
        let entry = SigV4SigningKey(
            Self.deriveSigningKey(secret: secret, dateStamp: dateStamp, region: region, service: service),
            scope: SigV4SigningKey.scope(dateStamp: dateStamp, region: region, service: service)
        )
        entries.withLock { entries in
            if entries.count >= capacity {
                entries.removeAll(keepingCapacity: true)
            }
            entries[key] = entry
        }
        return entry
    }

    /// The number of keys currently held.
    public var count: Int { entries.withLock { $0.count } }

    /// Never lists the keys: they embed secrets.
    public var description: String { "SigningKeyCache(count: \(count), capacity: \(capacity))" }

    /// kSigning = HMAC(HMAC(HMAC(HMAC("AWS4" + secret, date), region), service), "aws4_request").
    public static func deriveSigningKey(secret: String, dateStamp: String, region: String, service: String)
        -> SymmetricKey
    {
        func hmac(_ key: SymmetricKey, _ message: String) -> SymmetricKey {
            SymmetricKey(data: Array(HMAC<SHA256>.authenticationCode(for: Array(message.utf8), using: key)))
        }
        let kSecret = SymmetricKey(data: Array(("AWS4" + secret).utf8))
        let kDate = hmac(kSecret, dateStamp)
        let kRegion = hmac(kDate, region)
        let kService = hmac(kRegion, service)
        return hmac(kService, "aws4_request")
    }
}

/// A derived SigV4 signing key together with an HMAC that has already absorbed it. Starting an
/// HMAC pads and hashes the key (six allocations in swift-crypto); a copy of this one starts from
/// there, so a signature costs the hashing of its message only.
///
/// `@unchecked Sendable`: swift-crypto 3.x marks neither `SymmetricKey` nor `HMAC` `Sendable`,
/// although both are values never mutated in place here (signing mutates a copy).
struct SigV4SigningKey: @unchecked Sendable {
    let key: SymmetricKey
    /// `<date>/<region>/<service>/aws4_request`: what the key was derived for, written once here
    /// rather than for every string to sign.
    let scope: String
    private let keyed: HMAC<SHA256>

    init(_ key: SymmetricKey, scope: String) {
        self.key = key
        self.scope = scope
        self.keyed = HMAC<SHA256>(key: key)
    }

    static func scope(dateStamp: String, region: String, service: String) -> String {
        var scope = dateStamp
        scope.reserveCapacity(dateStamp.utf8.count + region.utf8.count + service.utf8.count + 16)
        scope += "/"
        scope += region
        scope += "/"
        scope += service
        scope += "/aws4_request"
        return scope
    }

    /// HMAC-SHA256 of `message` under this key.
    func authenticationCode(for message: UnsafeRawBufferPointer) -> HashedAuthenticationCode<SHA256> {
        var hmac = self.keyed
        hmac.update(data: message)
        return hmac.finalize()
    }
}
