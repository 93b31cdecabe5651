/// Who a client key belongs to: the access key the client signs with, the secret osp verifies
/// its signatures with, and the principal (and groups) policy decisions are made for. Every
/// secret source yields these; in the config file they are the `keystore` (the original's
/// hmac_keystore). The secret never appears in text.
public struct ClientIdentity: Sendable, Equatable {
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

    /// Who an unverified request is taken for in development mode (`skip_signature_validation`)
    /// when its key is unknown.
    static let anonymous = ClientIdentity(accessKey: "", secretKey: "", principal: "anonymous")
}

extension ClientIdentity: CustomStringConvertible, CustomDebugStringConvertible, CustomReflectable {
    public var description: String {
        "ClientIdentity(accessKey: \(accessKey), secretKey: \(Redacted.marker), principal: \(principal), groups: \(groups))"
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
