/// The HMAC key pair osp signs backend requests with. Clients never see it, and neither do logs:
/// every textual form of this value (print, string interpolation, `dump`) redacts the secrets.
public struct BackendCredentials: Sendable, Equatable {
    public var accessKey: String
    public var secretKey: String
    public var sessionToken: String?

    public init(accessKey: String, secretKey: String, sessionToken: String? = nil) {
        self.accessKey = accessKey
        self.secretKey = secretKey
        self.sessionToken = sessionToken
    }
}

extension BackendCredentials: CustomStringConvertible, CustomDebugStringConvertible, CustomReflectable {
    public var description: String {
        var text = "BackendCredentials(accessKey: \(Redacted.accessKeyHint(accessKey)), secretKey: \(Redacted.marker)"
        if sessionToken != nil {
            text += ", sessionToken: \(Redacted.marker)"
        }
        return text + ")"
    }

    public var debugDescription: String { description }

    public var customMirror: Mirror {
        Mirror(
            self,
            children: [
                "accessKey": Redacted.accessKeyHint(accessKey),
                "secretKey": Redacted.marker,
                "sessionToken": sessionToken.map { _ in Redacted.marker } as Any,
            ],
            displayStyle: .struct
        )
    }
}

/// How secrets appear in text: never at all, and access keys only by their first characters.
enum Redacted {
    static let marker = "<redacted>"

    /// Enough of an access key to tell keys apart in a log, not enough to use it.
    static func accessKeyHint(_ accessKey: String) -> String {
        accessKey.count > 8 ? "\(accessKey.prefix(4))…" : "…"
    }
}
