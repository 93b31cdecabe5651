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
        // One pass over the contiguous bytes (this runs for every presigned request); kept
        // parameters are copied as they were sent.
        var kept = ""
        let utf8 = rawQuery.utf8
        func index(_ offset: Int) -> String.Index { utf8.index(utf8.startIndex, offsetBy: offset) }
        rawQuery.withContiguousUTF8 { bytes in
            RawQueryParameter.forEach(in: bytes) { parameter in
                if drop(rawQuery[index(parameter.name.lowerBound)..<index(parameter.name.upperBound)]) { return }
                if kept.isEmpty {
                    kept.reserveCapacity(bytes.count)
                } else {
                    kept.append("&")
                }
                kept.append(contentsOf: rawQuery[index(parameter.whole.lowerBound)..<index(parameter.whole.upperBound)])
            }
        }
        return kept
    }

    /// The query without the parameters that carry the client's presigned credentials: they are
    /// never forwarded, and never shown to a policy backend (a presigned signature is a bearer token).
    /// Names are compared decoded, as the verifier reads them: `X-Amz-Signatur%65` goes too.
    public func queryWithoutCredentials(of authentication: ClientAuthentication) -> String {
        switch authentication {
        case .sigV4Query: return query(dropping: { Self.names(Self.sigV4QueryAuth, contain: $0) })
        case .sigV2Query: return query(dropping: { Self.names(Self.sigV2QueryAuth, contain: $0) })
        default: return rawQuery
        }
    }

    private static func names(_ names: Set<Substring>, contain rawName: Substring) -> Bool {
        if names.contains(rawName) { return true }
        guard rawName.utf8.contains(UInt8(ascii: "%")) else { return false }
        // An undecodable name is not a credential name: it stays (and the backend judges it).
        return PercentDecoding.decode(rawName).map { names.contains(Substring($0)) } ?? false
    }

    private static let sigV4QueryAuth: Set<Substring> = [
        "X-Amz-Algorithm", "X-Amz-Credential", "X-Amz-Date", "X-Amz-Expires",
        "X-Amz-SignedHeaders", "X-Amz-Signature", "X-Amz-Security-Token",
    ]
    private static let sigV2QueryAuth: Set<Substring> = [
        "AWSAccessKeyId", "Signature", "Expires", "x-amz-security-token",
    ]
}
