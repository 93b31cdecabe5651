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
        var identities: [String: ClientIdentity] = [:]
        for entry in entries {
            identities[entry.accessKey] = ClientIdentity(
                accessKey: entry.accessKey,
                secretKey: entry.secretKey,
                principal: entry.principal,
                groups: entry.groups
            )
        }
        self.identities = identities
    }

    public func identity(forAccessKey accessKey: String, on eventLoop: any EventLoop) -> EventLoopFuture<ClientIdentity?> {
        eventLoop.makeSucceededFuture(self.identities[accessKey])
    }
}
