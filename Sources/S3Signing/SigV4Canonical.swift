import Crypto
import NIOHTTP1

/// SHA-256 of a string's UTF-8 bytes, hashed in place (no copy into an array).
func sha256(_ text: String) -> SHA256Digest {
    var text = text
    return text.withUTF8 { SHA256.hash(data: UnsafeRawBufferPointer($0)) }
}

/// The pieces of a SigV4 canonical request, built the way S3 builds them: from the request target
/// exactly as the client sent it, encoded once, never normalised. Pure functions, so the verifier
/// (client side) and the signer (backend side) cannot drift apart.
public enum SigV4Canonical {
    /// RFC 3986 percent-encoding of the UTF-8 bytes of `s`: `A-Za-z0-9-._~` stay, everything else
    /// becomes `%XX` (uppercase). `/` stays only when `encodeSlash` is false.
    public static func uriEncode(_ s: some StringProtocol, encodeSlash: Bool) -> String {
        var out: [UInt8] = []
        out.reserveCapacity(s.utf8.count)
        appendEncoded(s.utf8, encodeSlash: encodeSlash, to: &out)
        return String(decoding: out, as: UTF8.self)
    }

    /// Decodes `%XX` sequences. `+` is not a space (S3 keys may contain `+`). An invalid sequence, or
    /// bytes that are not UTF-8 once decoded, give nil.
    public static func percentDecode(_ s: some StringProtocol) -> String? {
        guard let bytes = percentDecodedBytes(s.utf8, lenient: false) else { return nil }
        return String(validating: bytes, as: UTF8.self)
    }

    /// The canonical URI of an S3 request: each `/`-separated segment of the raw path is decoded and
    /// re-encoded once, so `%2b` becomes `%2B`, a raw `(` becomes `%28` and `%20` stays. Empty segments,
    /// `.` and `..` are kept, because S3 keys may contain them. A `%` that does not start a valid escape
    /// is taken literally (`%25`).
    public static func canonicalURI(rawPath: some StringProtocol) -> String {
        let path = rawPath.utf8
        if path.isEmpty { return "/" }
        var out: [UInt8] = []
        out.reserveCapacity(path.count + 16)
        // Decoding a segment and encoding it again is one pass: each byte (or `%XX` escape) maps to its
        // canonical form on its own. A raw `/` separates segments and stays; an escaped one stays escaped.
        appendCanonicalEncoding(path, keepingRawSlash: true, to: &out)
        return String(decoding: out, as: UTF8.self)
    }

    /// The canonical query string: parameters split on `&` and the first `=`, decoded (`+` stays a
    /// literal plus, hence `%2B`), re-encoded, sorted by name then value in byte order and joined.
    /// Names in `excluding` (e.g. `X-Amz-Signature` for presigned requests) are left out.
    public static func canonicalQuery(rawQuery: some StringProtocol, excluding: Set<String> = []) -> String {
        var out: [UInt8] = []
        appendCanonicalQuery(rawQuery, to: &out) { encodedName in
            !excluding.isEmpty && Self.isExcluded(encodedName, excluding)
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// Appends the canonical query string to `out`; `isExcluded` sees each canonically encoded name.
    ///
    /// Runs twice per forwarded request, so every name and value is encoded into one scratch buffer
    /// and the sort moves ranges, not arrays.
    static func appendCanonicalQuery(
        _ rawQuery: some StringProtocol, to out: inout [UInt8], excluding isExcluded: (ArraySlice<UInt8>) -> Bool
    ) {
        if rawQuery.isEmpty { return }
        rawQuery.withContiguousUTF8 { query in appendCanonicalQuery(bytes: query, to: &out, excluding: isExcluded) }
    }

    private static func appendCanonicalQuery(
        bytes query: UnsafeBufferPointer<UInt8>, to out: inout [UInt8], excluding isExcluded: (ArraySlice<UInt8>) -> Bool
    ) {
        var scratch: [UInt8] = []
        scratch.reserveCapacity(query.count + 32)
        var pairs: [(name: Range<Int>, value: Range<Int>)] = []
        pairs.reserveCapacity(8)
        RawQueryParameter.forEach(in: query) { parameter in
            let nameStart = scratch.count
            appendCanonicalEncoding(query[parameter.name], keepingRawSlash: false, to: &scratch)
            let name = nameStart..<scratch.count
            if isExcluded(scratch[name]) {
                scratch.removeSubrange(name)
                return
            }
            let valueStart = scratch.count
            appendCanonicalEncoding(query[parameter.value], keepingRawSlash: false, to: &scratch)
            pairs.append((name, valueStart..<scratch.count))
        }
        pairs.sort { a, b in
            let nameA = scratch[a.name], nameB = scratch[b.name]
            if !nameA.elementsEqual(nameB) { return nameA.lexicographicallyPrecedes(nameB) }
            return scratch[a.value].lexicographicallyPrecedes(scratch[b.value])
        }
        out.reserveCapacity(out.count + scratch.count + 2 * pairs.count)
        for (index, pair) in pairs.enumerated() {
            if index > 0 { out.append(UInt8(ascii: "&")) }
            out.append(contentsOf: scratch[pair.name])
            out.append(UInt8(ascii: "="))
            out.append(contentsOf: scratch[pair.value])
        }
    }

    /// Whether a canonically encoded query name is `X-Amz-Signature`. Comparing the encoded form is
    /// comparing the decoded name: its letters are unreserved, so every spelling that decodes to it
    /// (`X-Amz-Signatur%65`) encodes to exactly these bytes, and nothing else does.
    static func isSignatureParameter(_ encodedName: ArraySlice<UInt8>) -> Bool {
        encodedName.count == signatureParameterName.count && encodedName.elementsEqual(signatureParameterName)
    }

    /// As bytes: comparing with a `String`'s UTF-8 view steps through string indices, and every
    /// parameter of every presigned request is compared with it.
    private static let signatureParameterName: [UInt8] = Array("X-Amz-Signature".utf8)

    /// Whether a canonically encoded name is one of `excluding` (compared decoded, as S3 does).
    private static func isExcluded(_ encodedName: ArraySlice<UInt8>, _ excluding: Set<String>) -> Bool {
        guard let decoded = percentDecodedBytes(encodedName, lenient: true) else { return false }
        return excluding.contains(String(decoding: decoded, as: UTF8.self))
    }

    /// The canonical headers block: one `name:value\n` line per signed header, in the order given,
    /// values trimmed with inner runs of whitespace collapsed, repeated headers joined with `,`.
    /// `missing` names the first signed header the request does not carry.
    public static func canonicalHeaders(
        _ headers: HTTPHeaders,
        signedHeaders: [String]
    ) -> (canonical: String, missing: String?) {
        var out: [UInt8] = []
        let missing = appendCanonicalHeaders(headers, signedHeaders: signedHeaders, to: &out)
        return (String(decoding: out, as: UTF8.self), missing)
    }

    /// Appends the canonical headers block to `out`; returns the first signed header the request
    /// does not carry. Reads the headers in place (no per-header arrays or strings).
    static func appendCanonicalHeaders(_ headers: HTTPHeaders, signedHeaders: [String], to out: inout [UInt8]) -> String? {
        var missing: String?
        for name in signedHeaders {
            out.append(contentsOf: name.utf8)
            out.append(UInt8(ascii: ":"))
            var found = false
            for (headerName, value) in headers where headerName.equalsLowercaseASCII(name) {
                if found { out.append(UInt8(ascii: ",")) }
                found = true
                appendTrimAll(value, to: &out)
            }
            if !found, missing == nil { missing = name }
            out.append(UInt8(ascii: "\n"))
        }
        return missing
    }

    /// The SHA-256 of the canonical request, assembled as bytes in one buffer and hashed in place —
    /// the verifier and the signer each build one per forwarded request — and whether a signed
    /// header is missing from `headers` (the verifier refuses such a request).
    static func canonicalRequestHash(
        method: String,
        rawPath: some StringProtocol,
        rawQuery: some StringProtocol,
        excludingSignatureParameter: Bool,
        headers: HTTPHeaders,
        signedHeaders: [String],
        payloadHash: String
    ) -> (hash: SHA256Digest, missingSignedHeader: Bool) {
        var out: [UInt8] = []
        out.reserveCapacity(384 + rawPath.utf8.count + 2 * rawQuery.utf8.count)
        out.append(contentsOf: method.utf8)
        out.append(UInt8(ascii: "\n"))
        if rawPath.utf8.isEmpty {
            out.append(UInt8(ascii: "/"))
        } else {
            rawPath.withContiguousUTF8 { appendCanonicalEncoding($0, keepingRawSlash: true, to: &out) }
        }
        out.append(UInt8(ascii: "\n"))
        if excludingSignatureParameter {
            appendCanonicalQuery(rawQuery, to: &out, excluding: isSignatureParameter)
        } else {
            appendCanonicalQuery(rawQuery, to: &out) { _ in false }
        }
        out.append(UInt8(ascii: "\n"))
        let missing = appendCanonicalHeaders(headers, signedHeaders: signedHeaders, to: &out) != nil
        out.append(UInt8(ascii: "\n"))
        for (index, name) in signedHeaders.enumerated() {
            if index > 0 { out.append(UInt8(ascii: ";")) }
            out.append(contentsOf: name.utf8)
        }
        out.append(UInt8(ascii: "\n"))
        out.append(contentsOf: payloadHash.utf8)
        return (out.withUnsafeBytes { SHA256.hash(data: $0) }, missing)
    }

    /// The SigV4 signature (lowercase hex) of the string to sign
    /// `AWS4-HMAC-SHA256\n<amzDate>\n<scope>\n<hex canonical request hash>`, built as bytes.
    static func signature(
        signingKey: SigV4SigningKey, amzDate: String, scope: String, canonicalRequestHash: SHA256Digest
    ) -> String {
        Hex.encode(signatureMAC(signingKey: signingKey, amzDate: amzDate, scope: scope, canonicalRequestHash: canonicalRequestHash))
    }

    /// The signature as a MAC, for a verifier that compares it in place rather than as hex text.
    /// The string to sign is written into stack memory: it is about 150 bytes, once per request.
    static func signatureMAC(
        signingKey: SigV4SigningKey, amzDate: String, scope: String, canonicalRequestHash: SHA256Digest
    ) -> HashedAuthenticationCode<SHA256> {
        let algorithm: StaticString = "AWS4-HMAC-SHA256\n"
        let length = algorithm.utf8CodeUnitCount + amzDate.utf8.count + 1 + scope.utf8.count + 1 + 64
        return withUnsafeTemporaryAllocation(of: UInt8.self, capacity: length) { buffer in
            var i = 0
            func put(_ bytes: UnsafeBufferPointer<UInt8>) {
                _ = UnsafeMutableBufferPointer(rebasing: buffer[i..<i + bytes.count]).initialize(from: bytes)
                i += bytes.count
            }
            func put(_ text: String) {
                var text = text
                text.withUTF8 { put($0) }
            }
            put(UnsafeBufferPointer(start: algorithm.utf8Start, count: algorithm.utf8CodeUnitCount))
            put(amzDate)
            buffer[i] = UInt8(ascii: "\n")
            i += 1
            put(scope)
            buffer[i] = UInt8(ascii: "\n")
            i += 1
            canonicalRequestHash.withUnsafeBytes { digest in
                for byte in digest {
                    buffer[i] = Hex.digits[Int(byte >> 4)]
                    buffer[i + 1] = Hex.digits[Int(byte & 0x0F)]
                    i += 2
                }
            }
            return signingKey.authenticationCode(for: UnsafeRawBufferPointer(UnsafeMutableBufferPointer(rebasing: buffer[..<i])))
        }
    }

    /// The canonical request; `canonicalHeaders` is the block from `canonicalHeaders(_:signedHeaders:)`
    /// (each line already ends in `\n`). The readable form of what `canonicalRequestHash` hashes (the
    /// verifier and signer use that one; tests hold the two to the same bytes).
    public static func canonicalRequest(
        method: String,
        canonicalURI: String,
        canonicalQuery: String,
        canonicalHeaders: String,
        signedHeaders: [String],
        payloadHash: String
    ) -> String {
        var out = method
        out += "\n"
        out += canonicalURI
        out += "\n"
        out += canonicalQuery
        out += "\n"
        out += canonicalHeaders
        out += "\n"
        out += signedHeaders.joined(separator: ";")
        out += "\n"
        out += payloadHash
        return out
    }

    /// `AWS4-HMAC-SHA256\n<amzDate>\n<scope>\n<hex sha256 of the canonical request>`.
    public static func stringToSign(amzDate: String, scope: String, canonicalRequestHash: String) -> String {
        "AWS4-HMAC-SHA256\n" + amzDate + "\n" + scope + "\n" + canonicalRequestHash
    }

    // MARK: - Byte-level helpers

    @inline(__always)
    static func isUnreserved(_ c: UInt8) -> Bool {
        switch c {
        case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"),
            UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"),
            UInt8(ascii: "~"):
            return true
        default:
            return false
        }
    }

    private static let upperHex: [UInt8] = Array("0123456789ABCDEF".utf8)

    static func appendEncoded(_ bytes: some Sequence<UInt8>, encodeSlash: Bool, to out: inout [UInt8]) {
        for c in bytes {
            if isUnreserved(c) || (!encodeSlash && c == UInt8(ascii: "/")) {
                out.append(c)
            } else {
                out.append(UInt8(ascii: "%"))
                out.append(upperHex[Int(c >> 4)])
                out.append(upperHex[Int(c & 0x0F)])
            }
        }
    }

    /// Appends the canonical form of raw (still percent-encoded) bytes: each `%XX` escape is decoded and
    /// each resulting byte encoded as `appendEncoded` does; a `%` not followed by two hex digits is a
    /// literal `%` (`%25`). With `keepingRawSlash`, an unescaped `/` stays (path separators).
    /// Equivalent to `appendEncoded(percentDecodedBytes(raw, lenient: true))`, in one pass.
    ///
    /// Bytes that are already in canonical form — unreserved characters, and `%XX` escapes in
    /// upper-case hex of bytes that must stay escaped — are copied in runs rather than one by one:
    /// most names and values (credentials, dates, keys) are nearly all such bytes.
    static func appendCanonicalEncoding<C: Collection<UInt8>>(_ raw: C, keepingRawSlash: Bool, to out: inout [UInt8]) {
        var runStart = raw.startIndex
        var i = raw.startIndex
        while i != raw.endIndex {
            let c = raw[i]
            if isUnreserved(c) || (keepingRawSlash && c == UInt8(ascii: "/")) {
                raw.formIndex(after: &i)
                continue
            }
            var next = raw.index(after: i)
            var byte = c
            if c == UInt8(ascii: "%"), next != raw.endIndex, let hi = Hex.value(raw[next]) {
                let second = raw.index(after: next)
                if second != raw.endIndex, let lo = Hex.value(raw[second]) {
                    byte = hi << 4 | lo
                    next = raw.index(after: second)
                    if !isUnreserved(byte) && isUpperHexDigit(raw[raw.index(after: i)]) && isUpperHexDigit(raw[second]) {
                        i = next  // already canonical: stays in the run
                        continue
                    }
                }
            }
            out.append(contentsOf: raw[runStart..<i])
            appendEncodedByte(byte, to: &out)
            i = next
            runStart = i
        }
        out.append(contentsOf: raw[runStart..<i])
    }

    @inline(__always)
    private static func isUpperHexDigit(_ c: UInt8) -> Bool {
        (c >= UInt8(ascii: "0") && c <= UInt8(ascii: "9")) || (c >= UInt8(ascii: "A") && c <= UInt8(ascii: "F"))
    }

    @inline(__always)
    private static func appendEncodedByte(_ c: UInt8, to out: inout [UInt8]) {
        if isUnreserved(c) {
            out.append(c)
        } else {
            out.append(UInt8(ascii: "%"))
            out.append(upperHex[Int(c >> 4)])
            out.append(upperHex[Int(c & 0x0F)])
        }
    }

    /// Decodes `%XX`. When `lenient`, a `%` not followed by two hex digits is kept as a literal `%`;
    /// otherwise it makes the whole decode fail.
    static func percentDecodedBytes<C: Collection<UInt8>>(_ bytes: C, lenient: Bool) -> [UInt8]? {
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count)
        var i = bytes.startIndex
        while i != bytes.endIndex {
            let c = bytes[i]
            bytes.formIndex(after: &i)
            if c == UInt8(ascii: "%") {
                if i != bytes.endIndex, let hi = Hex.value(bytes[i]) {
                    let next = bytes.index(after: i)
                    if next != bytes.endIndex, let lo = Hex.value(bytes[next]) {
                        out.append(hi << 4 | lo)
                        i = bytes.index(after: next)
                        continue
                    }
                }
                guard lenient else { return nil }
            }
            out.append(c)
        }
        return out
    }

    /// SigV4's Trimall: no leading or trailing whitespace, inner runs of spaces/tabs as one space.
    static func trimAll(_ value: String) -> String {
        var out: [UInt8] = []
        out.reserveCapacity(value.utf8.count)
        appendTrimAll(value, to: &out)
        return String(decoding: out, as: UTF8.self)
    }

    /// Appends `trimAll(value)` to `out`. Nearly every value is already trimmed (no tab, no leading,
    /// trailing or double space): that one is copied whole, as the verifier and the signer trim every
    /// signed header of every request.
    static func appendTrimAll(_ value: String, to out: inout [UInt8]) {
        value.withContiguousUTF8 { bytes in
            guard needsTrimAll(bytes) else {
                out.append(contentsOf: bytes)
                return
            }
            var pendingSpace = false
            var wroteAny = false
            for c in bytes {
                if c == UInt8(ascii: " ") || c == UInt8(ascii: "\t") {
                    pendingSpace = wroteAny
                } else {
                    wroteAny = true
                    if pendingSpace {
                        out.append(UInt8(ascii: " "))
                        pendingSpace = false
                    }
                    out.append(c)
                }
            }
        }
    }

    /// Whether Trimall changes `bytes`: a tab anywhere, a space first or last, or two spaces in a row.
    private static func needsTrimAll(_ bytes: UnsafeBufferPointer<UInt8>) -> Bool {
        guard let first = bytes.first, let last = bytes.last else { return false }
        if first == UInt8(ascii: " ") || last == UInt8(ascii: " ") { return true }
        var previousWasSpace = false
        for c in bytes {
            if c == UInt8(ascii: "\t") { return true }
            let isSpace = c == UInt8(ascii: " ")
            if isSpace && previousWasSpace { return true }
            previousWasSpace = isSpace
        }
        return false
    }
}
