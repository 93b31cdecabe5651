import Crypto
import NIOHTTP1

/// Signs requests for a backend with the backend's own credentials (SigV4, header or presigned
/// query) and produces the chunk-signing context for re-signing aws-chunked bodies. Holds a shared
/// key cache so the signing key is derived once a day, not per request.
public struct SigV4Signer: Sendable, CustomStringConvertible {
    public let accessKey: String
    private let secretKey: String
    public let sessionToken: String?
    public let region: String
    public let service: String
    private let keyCache: SigningKeyCache

    public init(
        accessKey: String, secretKey: String, sessionToken: String? = nil, region: String, service: String = "s3",
        keyCache: SigningKeyCache
    ) {
        self.accessKey = accessKey
        self.secretKey = secretKey
        self.sessionToken = sessionToken
        self.region = region
        self.service = service
        self.keyCache = keyCache
    }

    /// Never shows the secret or the session token.
    public var description: String { "SigV4Signer(accessKey: \(accessKey), region: \(region), service: \(service))" }

    /// `<date>/<region>/<service>/aws4_request`
    public func scope(for date: AmzDate) -> String { SigV4SigningKey.scope(dateStamp: date.dateStamp, region: region, service: service) }

    /// Signs the request in place: sets `x-amz-date`, `x-amz-content-sha256` (= `payloadHash`),
    /// `x-amz-security-token` (with a session token) and `Authorization`. Signs `host` (which the
    /// caller must already have set), `content-md5`, `content-type` and every `x-amz-*` header — never
    /// headers a hop may rewrite (hop-by-hop headers, `user-agent`, `content-length`).
    /// Returns the signature, which is the seed of an aws-chunked body's chunk chain.
    @discardableResult
    public func signHeaders(
        method: String, rawPath: String, rawQuery: String, headers: inout HTTPHeaders, payloadHash: String,
        date: AmzDate
    ) -> String {
        let amzDate = date.amzDate
        let dateStamp = date.dateStamp
        // Removing only what is there, found in one pass (`HTTPHeaders.remove` rewrites its storage
        // either way): a gateway has usually dropped all four already, and then they are only added.
        if headers.contains(where: { name, _ in Self.setBySigning.contains(where: { name.equalsLowercaseASCII($0) }) }) {
            for name in Self.setBySigning { headers.remove(name: name) }
        }
        headers.add(name: "x-amz-date", value: amzDate)
        headers.add(name: "x-amz-content-sha256", value: payloadHash)
        if let sessionToken {
            headers.add(name: "x-amz-security-token", value: sessionToken)
        }

        var signedHeaders: [String] = []
        signedHeaders.reserveCapacity(8)
        for (name, _) in headers where Self.isSigned(name) {
            // Most clients send lower-case names already: those are used as they are, not copied.
            let lower = name.utf8.contains(where: { $0 >= UInt8(ascii: "A") && $0 <= UInt8(ascii: "Z") }) ? name.lowercased() : name
            if !signedHeaders.contains(lower) { signedHeaders.append(lower) }
        }
        signedHeaders.sort { $0.utf8.lexicographicallyPrecedes($1.utf8) }
        let signingKey = keyCache.entry(secret: secretKey, dateStamp: dateStamp, region: region, service: service)
        let scope = signingKey.scope
        let canonicalRequest = SigV4Canonical.canonicalRequestHash(
            method: method, rawPath: rawPath, rawQuery: rawQuery, excludingSignatureParameter: false,
            headers: headers, signedHeaders: signedHeaders, payloadHash: payloadHash)
        let signature = SigV4Canonical.signature(
            signingKey: signingKey, amzDate: amzDate, scope: scope, canonicalRequestHash: canonicalRequest.hash)

        headers.add(name: "Authorization", value: Self.authorization(accessKey: accessKey, scope: scope, signedHeaders: signedHeaders, signature: signature))
        return signature
    }

    /// `AWS4-HMAC-SHA256 Credential=<key>/<scope>, SignedHeaders=<a;b;c>, Signature=<hex>`, written
    /// into the string's own storage in one pass (appending piece by piece re-checks the string's
    /// capacity and ASCII-ness every time, on every forwarded request).
    static func authorization(accessKey: String, scope: String, signedHeaders: [String], signature: String) -> String {
        let credentialPrefix: StaticString = "AWS4-HMAC-SHA256 Credential="
        let signedHeadersPrefix: StaticString = ", SignedHeaders="
        let signaturePrefix: StaticString = ", Signature="
        var length = credentialPrefix.utf8CodeUnitCount + accessKey.utf8.count + 1 + scope.utf8.count
        length += signedHeadersPrefix.utf8CodeUnitCount + max(0, signedHeaders.count - 1)
        for name in signedHeaders { length += name.utf8.count }
        length += signaturePrefix.utf8CodeUnitCount + signature.utf8.count
        return String(unsafeUninitializedCapacity: length) { out in
            var i = 0
            func put(_ bytes: UnsafeBufferPointer<UInt8>) {
                _ = UnsafeMutableBufferPointer(rebasing: out[i..<i + bytes.count]).initialize(from: bytes)
                i += bytes.count
            }
            func put(_ text: StaticString) { put(UnsafeBufferPointer(start: text.utf8Start, count: text.utf8CodeUnitCount)) }
            func put(_ text: String) { text.withContiguousUTF8 { put($0) } }
            put(credentialPrefix)
            put(accessKey)
            out[i] = UInt8(ascii: "/")
            i += 1
            put(scope)
            put(signedHeadersPrefix)
            for (index, name) in signedHeaders.enumerated() {
                if index > 0 {
                    out[i] = UInt8(ascii: ";")
                    i += 1
                }
                put(name)
            }
            put(signaturePrefix)
            put(signature)
            return i
        }
    }

    /// The headers a signature sets anew (the old ones removed first).
    private static let setBySigning = ["authorization", "x-amz-date", "x-amz-content-sha256", "x-amz-security-token"]

    /// `host`, `content-md5`, `content-type` or `x-amz-*`, in any case (checked without allocating:
    /// this runs for every header of every forwarded request).
    private static func isSigned(_ name: String) -> Bool {
        isAmzHeader(name)
            || name.equalsLowercaseASCII("host") || name.equalsLowercaseASCII("content-md5")
            || name.equalsLowercaseASCII("content-type")
    }

    /// An `x-amz-<something>` header: what SigV4 must sign, so what osp signs for the backend and
    /// what a client's signature must cover (`RequestVerifier`).
    static func isAmzHeader(_ name: String) -> Bool {
        name.utf8.count > 6 && name.hasLowercaseASCIIPrefix("x-amz-")
    }

    /// The context for re-signing the chunks of a body whose request was signed with `seedSignature`
    /// (the value `signHeaders` returned) at `date`.
    public func chunkSigningContext(seedSignature: String, date: AmzDate) -> ChunkSigningContext {
        ChunkSigningContext(
            signingKey: signingKey(for: date), amzDate: date.amzDate, scope: scope(for: date),
            seedSignature: seedSignature)
    }

    /// A presigned URL's query string: `rawQuery` (if any) followed by the `X-Amz-*` parameters and
    /// `X-Amz-Signature`. Signs only `host`; the payload is `UNSIGNED-PAYLOAD`.
    public func presignedQuery(
        method: String, rawPath: String, rawQuery: String, host: String, date: AmzDate, expires: Int64
    ) -> String {
        let scope = scope(for: date)
        var query = rawQuery
        func add(_ name: String, _ value: String) {
            if !query.isEmpty { query += "&" }
            query += name + "=" + SigV4Canonical.uriEncode(value, encodeSlash: true)
        }
        add("X-Amz-Algorithm", "AWS4-HMAC-SHA256")
        add("X-Amz-Credential", "\(accessKey)/\(scope)")
        add("X-Amz-Date", date.amzDate)
        add("X-Amz-Expires", String(expires))
        if let sessionToken {
            add("X-Amz-Security-Token", sessionToken)
        }
        add("X-Amz-SignedHeaders", "host")
        var headers = HTTPHeaders()
        headers.add(name: "host", value: host)
        let signature = signature(
            method: method, rawPath: rawPath, rawQuery: query,
            headers: headers, signedHeaders: ["host"], payloadHash: "UNSIGNED-PAYLOAD", date: date, scope: scope)
        add("X-Amz-Signature", signature)
        return query
    }

    private func signingKey(for date: AmzDate) -> SymmetricKey {
        keyCache.signingKey(secret: secretKey, dateStamp: date.dateStamp, region: region, service: service)
    }

    private func signature(
        method: String, rawPath: String, rawQuery: String, headers: HTTPHeaders, signedHeaders: [String],
        payloadHash: String, date: AmzDate, scope: String
    ) -> String {
        // Every signed header is in `headers`: the names were taken from them.
        let canonicalRequest = SigV4Canonical.canonicalRequestHash(
            method: method, rawPath: rawPath, rawQuery: rawQuery, excludingSignatureParameter: false,
            headers: headers, signedHeaders: signedHeaders, payloadHash: payloadHash)
        return SigV4Canonical.signature(
            signingKey: keyCache.entry(secret: secretKey, dateStamp: date.dateStamp, region: region, service: service),
            amzDate: date.amzDate, scope: scope, canonicalRequestHash: canonicalRequest.hash)
    }
}
