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

    /// The query without the parameters called any of `names` (compared percent-decoded, as the
    /// verifier reads them: `X-Amz-Signatur%65` is `X-Amz-Signature`); every other parameter is
    /// kept byte for byte and in order, and empty ones (`&&`) go.
    ///
    /// One pass over the query's bytes (this runs for every presigned request): names are matched
    /// in place and the kept parameters gathered in scratch memory, so only a non-empty result longer
    /// than a small string allocates.
    public func query(droppingNamed names: [String]) -> String {
        if rawQuery.isEmpty { return "" }
        return rawQuery.withContiguousUTF8 { bytes in
            withUnsafeTemporaryAllocation(of: UInt8.self, capacity: bytes.count) { out in
                var count = 0
                RawQueryParameter.forEach(in: bytes) { parameter in
                    let name = bytes[parameter.name]
                    if names.contains(where: { RawQueryParameter.decoded(name, equals: $0) }) { return }
                    if count > 0 {
                        out[count] = UInt8(ascii: "&")
                        count += 1
                    }
                    let kept = UnsafeBufferPointer(rebasing: bytes[parameter.whole])
                    _ = UnsafeMutableBufferPointer(rebasing: out[count..<count + kept.count]).initialize(from: kept)
                    count += kept.count
                }
                return String(decoding: UnsafeBufferPointer(rebasing: out[..<count]), as: UTF8.self)
            }
        }
    }

    /// The query without the parameters that carry the client's presigned credentials: they are
    /// never forwarded, and never shown to a policy backend (a presigned signature is a bearer token).
    public func queryWithoutCredentials(of authentication: ClientAuthentication) -> String {
        switch authentication {
        case .sigV4Query: return query(droppingNamed: Self.sigV4QueryAuth)
        case .sigV2Query: return query(droppingNamed: Self.sigV2QueryAuth)
        default: return rawQuery
        }
    }

    private static let sigV4QueryAuth = [
        "X-Amz-Algorithm", "X-Amz-Credential", "X-Amz-Date", "X-Amz-Expires",
        "X-Amz-SignedHeaders", "X-Amz-Signature", "X-Amz-Security-Token",
    ]
    private static let sigV2QueryAuth = [
        "AWSAccessKeyId", "Signature", "Expires", "x-amz-security-token",
    ]
}
