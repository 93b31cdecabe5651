/// One key pair osp issues to a client (the hmac_keystore): the access key the client signs with,
/// its secret, and who that client is for policy decisions. The secret never appears in text.
public struct KeystoreEntry: Sendable, Equatable {
    public var accessKey: String
    public var secretKey: String
    /// The identity policy decisions are made for (MinIO's `account`).
    public var principal: String
    public var groups: [String]

    public init(accessKey: String, secretKey: String, principal: String, groups: [String] = []) {
        self.accessKey = accessKey
        self.secretKey = secretKey
        self.principal = principal
        self.groups = groups
    }
}

extension KeystoreEntry: CustomStringConvertible, CustomDebugStringConvertible, CustomReflectable {
    public var description: String {
        "KeystoreEntry(accessKey: \(accessKey), secretKey: \(Redacted.marker), principal: \(principal), groups: \(groups))"
    }

    public var debugDescription: String { description }

    public var customMirror: Mirror {
        Mirror(
            self,
            children: [
                "accessKey": accessKey,
                "secretKey": Redacted.marker,
                "principal": principal,
                "groups": groups,
            ],
            displayStyle: .struct
        )
    }
}
