import NIOHTTP1

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
        var first = true
        for segment in path.split(separator: UInt8(ascii: "/"), omittingEmptySubsequences: false) {
            if !first { out.append(UInt8(ascii: "/")) }
            first = false
            let decoded = percentDecodedBytes(segment, lenient: true) ?? Array(segment)
            appendEncoded(decoded, encodeSlash: true, to: &out)
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// The canonical query string: parameters split on `&` and the first `=`, decoded (`+` stays a
    /// literal plus, hence `%2B`), re-encoded, sorted by name then value in byte order and joined.
    /// Names in `excluding` (e.g. `X-Amz-Signature` for presigned requests) are left out.
    public static func canonicalQuery(rawQuery: some StringProtocol, excluding: Set<String> = []) -> String {
        var pairs: [(name: [UInt8], value: [UInt8])] = []
        for part in rawQuery.utf8.split(separator: UInt8(ascii: "&"), omittingEmptySubsequences: true) {
            let (rawName, rawValue) = splitOnFirstEquals(part)
            let name = percentDecodedBytes(rawName, lenient: true) ?? Array(rawName)
            if !excluding.isEmpty, excluding.contains(String(decoding: name, as: UTF8.self)) { continue }
            let value = percentDecodedBytes(rawValue, lenient: true) ?? Array(rawValue)
            var encodedName: [UInt8] = []
            appendEncoded(name, encodeSlash: true, to: &encodedName)
            var encodedValue: [UInt8] = []
            appendEncoded(value, encodeSlash: true, to: &encodedValue)
            pairs.append((encodedName, encodedValue))
        }
        pairs.sort { a, b in
            if a.name != b.name { return a.name.lexicographicallyPrecedes(b.name) }
            return a.value.lexicographicallyPrecedes(b.value)
        }
        var out: [UInt8] = []
        for (index, pair) in pairs.enumerated() {
            if index > 0 { out.append(UInt8(ascii: "&")) }
            out.append(contentsOf: pair.name)
            out.append(UInt8(ascii: "="))
            out.append(contentsOf: pair.value)
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// The canonical headers block: one `name:value\n` line per signed header, in the order given,
    /// values trimmed with inner runs of whitespace collapsed, repeated headers joined with `,`.
    /// `missing` names the first signed header the request does not carry.
    public static func canonicalHeaders(
        _ headers: HTTPHeaders,
        signedHeaders: [String]
    ) -> (canonical: String, missing: String?) {
        var out = ""
        var missing: String?
        for name in signedHeaders {
            let values = headers[name]
            if values.isEmpty, missing == nil {
                missing = name
            }
            out += name
            out += ":"
            for (index, value) in values.enumerated() {
                if index > 0 { out += "," }
                out += trimAll(value)
            }
            out += "\n"
        }
        return (out, missing)
    }

    /// The canonical request; `canonicalHeaders` is the block from `canonicalHeaders(_:signedHeaders:)`
    /// (each line already ends in `\n`).
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

    /// Decodes `%XX`. When `lenient`, a `%` not followed by two hex digits is kept as a literal `%`;
    /// otherwise it makes the whole decode fail.
    static func percentDecodedBytes(_ bytes: some Collection<UInt8>, lenient: Bool) -> [UInt8]? {
        let input = Array(bytes)
        var out: [UInt8] = []
        out.reserveCapacity(input.count)
        var i = 0
        while i < input.count {
            let c = input[i]
            if c == UInt8(ascii: "%") {
                if i + 2 < input.count, let hi = Hex.value(input[i + 1]), let lo = Hex.value(input[i + 2])
                {
                    out.append(hi << 4 | lo)
                    i += 3
                    continue
                }
                guard lenient else { return nil }
            }
            out.append(c)
            i += 1
        }
        return out
    }

    static func splitOnFirstEquals<C: Collection<UInt8>>(_ part: C) -> (C.SubSequence, C.SubSequence) {
        if let eq = part.firstIndex(of: UInt8(ascii: "=")) {
            return (part[part.startIndex..<eq], part[part.index(after: eq)...])
        }
        return (part[...], part[part.endIndex...])
    }

    /// SigV4's Trimall: no leading or trailing whitespace, inner runs of spaces/tabs as one space.
    static func trimAll(_ value: String) -> String {
        var out: [UInt8] = []
        out.reserveCapacity(value.utf8.count)
        var pendingSpace = false
        for c in value.utf8 {
            if c == UInt8(ascii: " ") || c == UInt8(ascii: "\t") {
                pendingSpace = !out.isEmpty
            } else {
                if pendingSpace {
                    out.append(UInt8(ascii: " "))
                    pendingSpace = false
                }
                out.append(c)
            }
        }
        return String(decoding: out, as: UTF8.self)
    }
}
