import S3Signing

/// A cursor over a small S3 request document (DeleteObjects' `<Delete>`, RestoreObject's
/// `<RestoreRequest>`) that reads only the constructs S3's own documents use: an optional UTF-8
/// declaration, start tags without prefixes or attributes (`xmlns` where allowed), text with the
/// predefined entities and character references, end tags, white space between elements.
///
/// osp judges such a body as it reads it and the backend acts on it as its XML parser reads it, so
/// anything two parsers could read two ways — a prefix, an attribute, an empty-element tag, a
/// comment, CDATA, a DTD, a processing instruction, another encoding — is `MalformedXML` here.
/// The grammar of each document (which elements, how often) is its reader's.
struct StrictXMLReader {
    static let malformed = S3Error(
        .malformedXML, "The XML you provided was not well-formed or did not validate against our published schema."
    )

    let bytes: [UInt8]
    var index = 0

    init(bytes: [UInt8]) { self.bytes = bytes }

    var isAtEnd: Bool { index == bytes.count }

    mutating func skipWhitespace() {
        while index < bytes.count, Self.isWhitespace(bytes[index]) { index += 1 }
    }

    static func isWhitespace(_ byte: UInt8) -> Bool {
        byte == 0x20 || byte == 0x09 || byte == 0x0D || byte == 0x0A
    }

    /// Whether the unread bytes start with `text` (compared in place: this runs per element).
    private func hasPrefix(_ text: String) -> Bool {
        bytes[index...].starts(with: text.utf8)
    }

    /// `<?xml version="1.0" encoding="UTF-8"?>` at the very start; another encoding would make
    /// the backend read other keys from the same bytes.
    mutating func skipDeclaration() throws(S3Error) {
        guard hasPrefix("<?xml"), index + 5 < bytes.count, Self.isWhitespace(bytes[index + 5]) else { return }
        // It ends at its first `>`, which must close `?>`; no `<` before it.
        guard let end = bytes[index...].firstIndex(of: UInt8(ascii: ">")), bytes[end - 1] == UInt8(ascii: "?"),
            !bytes[(index + 5)..<end].contains(UInt8(ascii: "<"))
        else { throw Self.malformed }
        let close = end - 1
        let declaration = String(decoding: bytes[index..<close], as: UTF8.self).lowercased()
        if let range = declaration.range(of: "encoding") {
            let value = declaration[range.upperBound...].drop { $0 == " " || $0 == "=" || $0 == "\t" }
            guard value.hasPrefix("\"utf-8\"") || value.hasPrefix("'utf-8'") else { throw Self.malformed }
        }
        index = close + 2
    }

    /// A start tag's name: no prefix, no attribute (but `xmlns` where allowed), not empty (`/>`).
    mutating func startTag(allowingNamespace: Bool = false) throws(S3Error) -> String {
        guard index < bytes.count, bytes[index] == UInt8(ascii: "<") else { throw Self.malformed }
        index += 1
        let name = try self.name()
        while true {
            let before = index
            skipWhitespace()
            guard index < bytes.count else { throw Self.malformed }
            if bytes[index] == UInt8(ascii: ">") {
                index += 1
                return name
            }
            guard allowingNamespace, index > before, hasPrefix("xmlns") else { throw Self.malformed }
            index += 5
            try attributeValue(forbidding: [UInt8(ascii: "<"), UInt8(ascii: "&")], emptyTagMayFollow: false)
        }
    }

    /// A start tag whose attributes are skipped, for documents whose attributes osp never reads
    /// (`BucketDestinations`: a logging target's grantee carries `xsi:type`); `isEmpty` for an
    /// empty-element tag (`<Tag/>`, which botocore writes for an element with nothing in it).
    /// The name itself is as strict as `startTag`'s: no prefix, so no element hides in another
    /// namespace from a reader that compares names.
    mutating func startTagSkippingAttributes() throws(S3Error) -> (name: String, isEmpty: Bool) {
        guard index < bytes.count, bytes[index] == UInt8(ascii: "<") else { throw Self.malformed }
        index += 1
        let name = try self.name()
        while true {
            let before = index
            skipWhitespace()
            guard index < bytes.count else { throw Self.malformed }
            if bytes[index] == UInt8(ascii: ">") {
                index += 1
                return (name, false)
            }
            if hasPrefix("/>") {
                index += 2
                return (name, true)
            }
            // `name="value"`, after white space; the value holds no `<`.
            let attributeStart = index
            while index < bytes.count, Self.isNameByte(bytes[index]) || bytes[index] == UInt8(ascii: ":")
                || bytes[index] == UInt8(ascii: "-") || bytes[index] == UInt8(ascii: "_") || bytes[index] == UInt8(ascii: ".")
            {
                index += 1
            }
            // White space before it: `<Tag.x="…">` is one element named `Tag.x` to an XML parser.
            guard attributeStart > before, index > attributeStart else { throw Self.malformed }
            try attributeValue(forbidding: [UInt8(ascii: "<")], emptyTagMayFollow: true)
        }
    }

    /// An attribute's `= "value"` (or single quotes), after its name: the value holds none of
    /// `forbidden`, and white space or the tag's end (`>`, or `/>` where allowed) follows it.
    private mutating func attributeValue(forbidding forbidden: [UInt8], emptyTagMayFollow: Bool) throws(S3Error) {
        skipWhitespace()
        guard index < bytes.count, bytes[index] == UInt8(ascii: "=") else { throw Self.malformed }
        index += 1
        skipWhitespace()
        guard index < bytes.count, bytes[index] == UInt8(ascii: "\"") || bytes[index] == UInt8(ascii: "'") else {
            throw Self.malformed
        }
        let quote = bytes[index]
        guard let close = bytes[(index + 1)...].firstIndex(of: quote),
            !bytes[(index + 1)..<close].contains(where: { forbidden.contains($0) })
        else { throw Self.malformed }
        index = close + 1
        guard index < bytes.count,
            Self.isWhitespace(bytes[index]) || bytes[index] == UInt8(ascii: ">") || (emptyTagMayFollow && bytes[index] == UInt8(ascii: "/"))
        else { throw Self.malformed }
    }

    /// Whether the cursor is at a start tag (`<` and a name), not an end tag or text.
    var isAtStartTag: Bool {
        index + 1 < bytes.count && bytes[index] == UInt8(ascii: "<") && Self.isNameByte(bytes[index + 1])
    }

    /// `</name>` (white space allowed before `>`) if the cursor is at an end tag, which must be
    /// `name`'s; false at anything else.
    mutating func endTagIfAny(_ name: String) throws(S3Error) -> Bool {
        guard hasPrefix("</") else { return false }
        index += 2
        guard try self.name() == name else { throw Self.malformed }
        skipWhitespace()
        guard index < bytes.count, bytes[index] == UInt8(ascii: ">") else { throw Self.malformed }
        index += 1
        return true
    }

    /// An element's text up to its end tag `</name>`, unescaped.
    mutating func textAndEndTag(_ name: String) throws(S3Error) -> String {
        let start = index
        guard let end = bytes[index...].firstIndex(of: UInt8(ascii: "<")) else { throw Self.malformed }
        index = end
        guard try endTagIfAny(name) else { throw Self.malformed }
        return try Self.unescape(bytes[start..<end])
    }

    /// A name of ASCII letters and digits: every element S3's document has, and no prefix.
    private mutating func name() throws(S3Error) -> String {
        let start = index
        while index < bytes.count, Self.isNameByte(bytes[index]) { index += 1 }
        guard index > start, !(bytes[start] >= UInt8(ascii: "0") && bytes[start] <= UInt8(ascii: "9")) else { throw Self.malformed }
        return String(decoding: bytes[start..<index], as: UTF8.self)
    }

    private static func isNameByte(_ byte: UInt8) -> Bool {
        (byte >= UInt8(ascii: "a") && byte <= UInt8(ascii: "z")) || (byte >= UInt8(ascii: "A") && byte <= UInt8(ascii: "Z"))
            || (byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9"))
    }

    /// XML character data with the five predefined entities and numeric references resolved, and
    /// line breaks normalised as every XML parser does (a raw CR LF or lone CR is one LF; `&#13;`
    /// stays a CR): a key is authorized as the backend will read it.
    static func unescape(_ text: ArraySlice<UInt8>) throws(S3Error) -> String {
        var out: [UInt8] = []
        out.reserveCapacity(text.count)
        var index = text.startIndex
        while index < text.endIndex {
            let byte = text[index]
            if byte == UInt8(ascii: "<") { throw Self.malformed }
            if byte == 0x0D {
                out.append(0x0A)
                index += text.index(after: index) < text.endIndex && text[index + 1] == 0x0A ? 2 : 1
                continue
            }
            guard byte == UInt8(ascii: "&") else {
                out.append(byte)
                index += 1
                continue
            }
            guard let semicolon = text[index...].firstIndex(of: UInt8(ascii: ";")), semicolon - index <= 10 else {
                throw Self.malformed
            }
            let entity = String(decoding: text[(index + 1)..<semicolon], as: UTF8.self)
            switch entity {
            case "lt": out.append(UInt8(ascii: "<"))
            case "gt": out.append(UInt8(ascii: ">"))
            case "amp": out.append(UInt8(ascii: "&"))
            case "quot": out.append(UInt8(ascii: "\""))
            case "apos": out.append(UInt8(ascii: "'"))
            default:
                let scalar: UInt32?
                if entity.hasPrefix("#x") {
                    scalar = UInt32(entity.dropFirst(2), radix: 16)
                } else if entity.hasPrefix("#") {
                    scalar = UInt32(entity.dropFirst(), radix: 10)
                } else {
                    scalar = nil
                }
                guard let value = scalar, let unicode = Unicode.Scalar(value) else { throw Self.malformed }
                out.append(contentsOf: Array(String(Character(unicode)).utf8))
            }
            index = semicolon + 1
        }
        guard let string = String(validating: out, as: UTF8.self) else { throw Self.malformed }
        return string
    }
}
