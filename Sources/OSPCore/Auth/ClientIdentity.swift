/// Who a client key belongs to: the secret osp verifies its signatures with and the principal
/// (and groups) that policy decisions are made for.
public struct ClientIdentity: Sendable, Equatable, CustomStringConvertible {
    public var accessKey: String
    public var secretKey: String
    public var principal: String
    public var groups: [String]

    public init(accessKey: String, secretKey: String, principal: String, groups: [String] = []) {
        self.accessKey = accessKey
        self.secretKey = secretKey
        self.principal = principal
        self.groups = groups
    }

    /// Never prints the secret.
    public var description: String {
        "ClientIdentity(accessKey: \(accessKey), principal: \(principal), groups: \(groups))"
    }
}
