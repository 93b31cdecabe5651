import NIOCore

/// Where the secrets of osp-issued client keys come from (the original's `hmac_keystore` /
/// `hmac_fetcher`). Answers on the given event loop; `nil` means the key is unknown.
public protocol ClientSecretSource: Sendable {
    func identity(forAccessKey accessKey: String, on eventLoop: any EventLoop) -> EventLoopFuture<ClientIdentity?>
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
}
