import NIOHTTP1

/// A fuzz input read as the text of an HTTP/1.1 request head, so that seeds are real requests:
///
///     GET /bucket/key?query HTTP/1.1
///     Host: bucket.s3.amazonaws.com
///     Authorization: AWS4-HMAC-SHA256 Credential=…
///
/// Lines end in LF (a CR before it is dropped). Header values lose surrounding spaces and tabs, as
/// NIO's HTTP parser strips them. Lines without a colon, or with a name that is not ASCII, are skipped;
/// an empty line ends the head.
/// Bytes that are not UTF-8 are repaired, as they would be when NIO hands the head over as strings.
struct RequestHeadInput {
    var method: String
    /// The request target as sent: path and query, still percent-encoded.
    var target: String
    var headers: HTTPHeaders
    /// Whether every header is one NIO's parser could have delivered: names are RFC 9110 tokens and
    /// values have no control characters but tab. Properties that assume a real request need it.
    var isWellFormed: Bool

    var rawPath: Substring {
        target.utf8.firstIndex(of: UInt8(ascii: "?")).map { target[..<$0] } ?? target[...]
    }

    var rawQuery: Substring {
        target.utf8.firstIndex(of: UInt8(ascii: "?")).map { target[target.index(after: $0)...] } ?? ""
    }

    init(_ bytes: [UInt8]) {
        var lines = bytes.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false).makeIterator()
        let requestLine = Self.text(lines.next() ?? [])
        let parts = requestLine.split(separator: " ", maxSplits: 2, omittingEmptySubsequences: false)
        if parts.count >= 2 {
            method = String(parts[0])
            target = String(parts[1])
        } else {
            method = "GET"
            target = requestLine
        }
        headers = HTTPHeaders()
        isWellFormed = true
        while let line = lines.next() {
            let text = Self.text(line)
            if text.isEmpty { break }
            guard let colon = text.firstIndex(of: ":") else { continue }
            let name = String(text[..<colon])
            // NIO's parser only ever delivers ASCII names (HTTPHeaders traps on others).
            guard name.utf8.allSatisfy({ $0 < 0x80 }) else { continue }
            let value = String(Self.trimmed(text[text.index(after: colon)...]))
            isWellFormed = isWellFormed && Self.isToken(name) && Self.isFieldValue(value)
            headers.add(name: name, value: value)
        }
    }

    private static func text(_ line: ArraySlice<UInt8>) -> String {
        let withoutCR = line.last == UInt8(ascii: "\r") ? line.dropLast() : line
        return String(decoding: withoutCR, as: UTF8.self)
    }

    private static func trimmed(_ text: Substring) -> Substring {
        var text = text
        while let first = text.first, first == " " || first == "\t" { text.removeFirst() }
        while let last = text.last, last == " " || last == "\t" { text.removeLast() }
        return text
    }

    /// RFC 9110 `token`: the characters a header name may have.
    static func isToken(_ name: String) -> Bool {
        !name.isEmpty
            && name.utf8.allSatisfy { c in
                switch c {
                case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
                    UInt8(ascii: "0")...UInt8(ascii: "9"):
                    return true
                default:
                    return "!#$%&'*+-.^_`|~".utf8.contains(c)
                }
            }
    }

    /// RFC 9110 `field-value`: no control characters but horizontal tab.
    static func isFieldValue(_ value: String) -> Bool {
        value.utf8.allSatisfy { $0 == UInt8(ascii: "\t") || ($0 >= 0x20 && $0 != 0x7F) }
    }
}
