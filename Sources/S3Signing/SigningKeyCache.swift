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

    /// swift-crypto 3.x does not mark `SymmetricKey` `Sendable`, although it is an immutable value.
    private struct SendableKey: @unchecked Sendable {
        let key: SymmetricKey
    }

    private let entries = Mutex<[Key: SendableKey]>([:])
    public let capacity: Int

    public init(capacity: Int = 4096) {
        self.capacity = max(1, capacity)
    }

    /// The signing key for `secret` on `dateStamp` (`YYYYMMDD`) in `region` for `service`.
    public func signingKey(secret: String, dateStamp: String, region: String, service: String) -> SymmetricKey {
        let key = Key(secret: secret, dateStamp: dateStamp, region: region, service: service)
        if let cached = entries.withLock({ $0[key] }) {
            return cached.key
        }
        // Derive outside the lock; two threads racing on the same miss derive the same value.
        let derived = Self.deriveSigningKey(secret: secret, dateStamp: dateStamp, region: region, service: service)
        let entry = SendableKey(key: derived)
        entries.withLock { entries in
            if entries.count >= capacity {
                entries.removeAll(keepingCapacity: true)
            }
            entries[key] = entry
        }
        return derived
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
