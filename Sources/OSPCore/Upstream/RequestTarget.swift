import S3Signing

/// The request target as the client sent it, split at the first `?` and never decoded:
/// signatures are computed over these exact bytes, on both sides of osp.
public struct RequestTarget: Sendable, Equatable {
    public var rawPath: String
    public var rawQuery: String

    public init(uri: String) {
        if let mark = uri.utf8.firstIndex(of: UInt8(ascii: "?")) {
            self.rawPath = String(uri[..<mark])
            self.rawQuery = String(uri[uri.index(after: mark)...])
        } else {
            self.rawPath = uri
            self.rawQuery = ""
        }
    }

    public init(rawPath: String, rawQuery: String) {
        self.rawPath = rawPath
        self.rawQuery = rawQuery
    }

    public var uri: String { rawQuery.isEmpty ? rawPath : "\(rawPath)?\(rawQuery)" }

    /// The query with the parameters for which `drop(name)` is true removed; every other
    /// parameter is kept byte for byte and in order.
    public func query(dropping drop: (Substring) -> Bool) -> String {
        if rawQuery.isEmpty { return "" }
        var kept = ""
        kept.reserveCapacity(rawQuery.utf8.count)
        for part in rawQuery.utf8.split(separator: UInt8(ascii: "&"), omittingEmptySubsequences: true) {
            let nameEnd = part.firstIndex(of: UInt8(ascii: "=")) ?? part.endIndex
            if drop(Substring(part[..<nameEnd])) { continue }
            if !kept.isEmpty { kept.append("&") }
            kept.append(contentsOf: Substring(part))
        }
        return kept
    }

    /// The query without the parameters that carry the client's presigned credentials: they are
    /// never forwarded, and never shown to a policy backend (a presigned signature is a bearer token).
    public func queryWithoutCredentials(of authentication: ClientAuthentication) -> String {
        switch authentication {
        case .sigV4Query: return query(dropping: { Self.sigV4QueryAuth.contains($0) })
        case .sigV2Query: return query(dropping: { Self.sigV2QueryAuth.contains($0) })
        default: return rawQuery
        }
    }

    private static let sigV4QueryAuth: Set<Substring> = [
        "X-Amz-Algorithm", "X-Amz-Credential", "X-Amz-Date", "X-Amz-Expires",
        "X-Amz-SignedHeaders", "X-Amz-Signature", "X-Amz-Security-Token",
    ]
    private static let sigV2QueryAuth: Set<Substring> = [
        "AWSAccessKeyId", "Signature", "Expires", "x-amz-security-token",
    ]
}
