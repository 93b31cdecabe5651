import Crypto

/// What it takes to sign (or check) the chunks of one aws-chunked body: the request's signing key,
/// date and scope, and the request signature that seeds the chain. One exists per direction — the
/// client's chain to verify and the backend's chain to re-sign.
///
/// `@unchecked` only because swift-crypto 3.x does not mark `SymmetricKey` `Sendable`; the key is an
/// immutable value and every stored property is a `let`.
public struct ChunkSigningContext: @unchecked Sendable {
    public let signingKey: SymmetricKey
    /// `x-amz-date` of the request, `20130524T000000Z`.
    public let amzDate: String
    /// `20130524/us-east-1/s3/aws4_request`
    public let scope: String
    /// The signature of the request itself; the first chunk's "previous signature".
    public let seedSignature: String

    /// "AWS4-HMAC-SHA256-PAYLOAD\n<date>\n<scope>\n", computed once per body.
    private let chunkPrefix: [UInt8]
    /// "AWS4-HMAC-SHA256-TRAILER\n<date>\n<scope>\n"
    private let trailerPrefix: [UInt8]

    /// Hex SHA-256 of the empty string: the fifth line of every chunk's string to sign.
    static let emptySHA256Hex: [UInt8] = Array(PayloadHashCheck.emptyBodySHA256.utf8)

    public init(signingKey: SymmetricKey, amzDate: String, scope: String, seedSignature: String) {
        self.signingKey = signingKey
        self.amzDate = amzDate
        self.scope = scope
        self.seedSignature = seedSignature
        self.chunkPrefix = Array("AWS4-HMAC-SHA256-PAYLOAD\n\(amzDate)\n\(scope)\n".utf8)
        self.trailerPrefix = Array("AWS4-HMAC-SHA256-TRAILER\n\(amzDate)\n\(scope)\n".utf8)
    }

    /// The signature of one chunk: HMAC over
    /// `AWS4-HMAC-SHA256-PAYLOAD\n<date>\n<scope>\n<previous>\n<sha256("")>\n<chunkDataHash>`.
    public func chunkSignature(previous: String, chunkDataHash: String) -> String {
        var hmac = HMAC<SHA256>(key: signingKey)
        hmac.update(data: chunkPrefix)
        hmac.update(data: Array(previous.utf8))
        hmac.update(data: Self.newline)
        hmac.update(data: Self.emptySHA256Hex)
        hmac.update(data: Self.newline)
        hmac.update(data: Array(chunkDataHash.utf8))
        return Hex.encode(hmac.finalize())
    }

    /// The signature of the trailer: HMAC over
    /// `AWS4-HMAC-SHA256-TRAILER\n<date>\n<scope>\n<previous>\n<hex sha256(canonicalTrailer)>`, where
    /// the canonical trailer is each trailing header as `name:value\n` (as the AWS SDKs build it).
    public func trailerSignature(previous: String, canonicalTrailer: String) -> String {
        var signature: [UInt8] = []
        signTrailer(previous: Array(previous.utf8), canonicalTrailer: Array(canonicalTrailer.utf8), into: &signature)
        return String(decoding: signature, as: UTF8.self)
    }

    // MARK: Hot path: reusable byte buffers instead of strings

    private static let newline: [UInt8] = [UInt8(ascii: "\n")]

    /// Writes the hex chunk signature into `out` (replacing its contents, keeping its capacity).
    func signChunk(previous: [UInt8], dataDigest: SHA256Digest, into out: inout [UInt8]) {
        var hmac = HMAC<SHA256>(key: signingKey)
        hmac.update(data: chunkPrefix)
        hmac.update(data: previous)
        hmac.update(data: Self.newline)
        hmac.update(data: Self.emptySHA256Hex)
        hmac.update(data: Self.newline)
        out.removeAll(keepingCapacity: true)
        Hex.append(dataDigest, to: &out)
        hmac.update(data: out)
        let mac = hmac.finalize()
        out.removeAll(keepingCapacity: true)
        Hex.append(mac, to: &out)
    }

    func signTrailer(previous: [UInt8], canonicalTrailer: [UInt8], into out: inout [UInt8]) {
        var hmac = HMAC<SHA256>(key: signingKey)
        hmac.update(data: trailerPrefix)
        hmac.update(data: previous)
        hmac.update(data: Self.newline)
        out.removeAll(keepingCapacity: true)
        Hex.append(SHA256.hash(data: canonicalTrailer), to: &out)
        hmac.update(data: out)
        let mac = hmac.finalize()
        out.removeAll(keepingCapacity: true)
        Hex.append(mac, to: &out)
    }
}
