import NIOCore

/// Where the secrets of osp-issued client keys come from (the original's `hmac_keystore` /
/// `hmac_fetcher`). Answers on the given event loop; `nil` means the key is unknown.
public protocol ClientSecretSource: Sendable {
    func identity(forAccessKey accessKey: String, on eventLoop: any EventLoop) -> EventLoopFuture<ClientIdentity?>
    /// The answer when it is at hand without waiting (an in-memory keystore, a warm cache): `nil`
    /// means "not known now, ask `identity(forAccessKey:on:)`"; `.some(nil)` is a key known to be
    /// unknown. Lets the per-request hot path authenticate without a future.
    func identityNow(forAccessKey accessKey: String) -> ClientIdentity??
}

extension ClientSecretSource {
    public func identityNow(forAccessKey accessKey: String) -> ClientIdentity?? { nil }
}

/// The keystore from the config file: an immutable dictionary, answered without leaving the loop.
public struct StaticKeystore: ClientSecretSource {
    private let identities: [String: ClientIdentity]

    public init(_ entries: [KeystoreEntry]) {
        // Duplicate access keys are a config error, so the last one never silently wins here.
        self.identities = Dictionary(entries.map { ($0.accessKey, $0) }, uniquingKeysWith: { first, _ in first })
    }

    public func identity(forAccessKey accessKey: String, on eventLoop: any EventLoop) -> EventLoopFuture<ClientIdentity?> {
        eventLoop.makeSucceededFuture(self.identities[accessKey])
    }

    public func identityNow(forAccessKey accessKey: String) -> ClientIdentity?? { .some(self.identities[accessKey]) }
}
