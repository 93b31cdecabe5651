import S3Signing

/// The keys a DeleteObjects (`POST /bucket?delete`) body names, so that each one can be authorized
/// before anything is deleted. A bounded, non-validating scan of S3's `<Delete>` document: it reads
/// `<Object><Key>…</Key><VersionId>…</VersionId></Object>` and refuses what it cannot read with
/// certainty (DTDs and entity declarations, unknown entities, unterminated elements, more objects
/// than S3 accepts) — when in doubt, nothing is deleted.
///
/// `package`, not internal: the fuzz target (`osp-fuzz delete-objects`) feeds it arbitrary bodies.
package struct DeleteObjectsRequest: Equatable {
    package struct Object: Equatable {
        package var key: String
        package var versionId: String?
    }

    /// S3 accepts at most 1000 keys per request.
    package static let maximumObjects = 1000
    /// 1000 keys of up to 1024 bytes, escaped, with their markup.
    static let maximumBodyBytes = 2 << 20

    package var objects: [Object]

    package init(xml bytes: [UInt8]) throws(S3Error) {
        guard bytes.count <= Self.maximumBodyBytes else {
            throw S3Error(.malformedXML, "The DeleteObjects request body is too large.")
        }
        if Self.contains(bytes, "<!".utf8) {
            throw S3Error(.malformedXML, "Document type and entity declarations are not accepted.")
        }
        var objects: [Object] = []
        var cursor = bytes.startIndex
        while let objectStart = Self.find("<Object>".utf8, in: bytes, from: cursor) {
            guard let objectEnd = Self.find("</Object>".utf8, in: bytes, from: objectStart) else {
                throw Self.malformed
            }
            let body = bytes[objectStart..<objectEnd]
            guard let key = try Self.element("Key", in: body) else { throw Self.malformed }
            objects.append(Object(key: key, versionId: try Self.element("VersionId", in: body)))
            guard objects.count <= Self.maximumObjects else {
                throw S3Error(.malformedXML, "A DeleteObjects request names at most \(Self.maximumObjects) objects.")
            }
            cursor = objectEnd + "</Object>".utf8.count
        }
        guard !objects.isEmpty, Self.find("<Delete".utf8, in: bytes, from: bytes.startIndex) != nil else {
            throw Self.malformed
        }
        self.objects = objects
    }

    private static let malformed = S3Error(
        .malformedXML, "The XML you provided was not well-formed or did not validate against our published schema."
    )

    /// The text of `<name>…</name>` inside `body`, unescaped; nil if absent.
    private static func element(_ name: String, in body: ArraySlice<UInt8>) throws(S3Error) -> String? {
        guard let open = find("<\(name)>".utf8, in: body, from: body.startIndex) else { return nil }
        let start = open + name.utf8.count + 2
        guard let close = find("</\(name)>".utf8, in: body, from: start) else { throw malformed }
        return try unescape(body[start..<close])
    }

    /// XML character data with the five predefined entities and numeric references resolved.
    static func unescape(_ text: ArraySlice<UInt8>) throws(S3Error) -> String {
        var out: [UInt8] = []
        out.reserveCapacity(text.count)
        var index = text.startIndex
        while index < text.endIndex {
            let byte = text[index]
            if byte == UInt8(ascii: "<") { throw malformed }
            guard byte == UInt8(ascii: "&") else {
                out.append(byte)
                index += 1
                continue
            }
            guard let semicolon = text[index...].firstIndex(of: UInt8(ascii: ";")), semicolon - index <= 10 else {
                throw malformed
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
                guard let value = scalar, let unicode = Unicode.Scalar(value) else { throw malformed }
                out.append(contentsOf: Array(String(Character(unicode)).utf8))
            }
            index = semicolon + 1
        }
        guard let string = String(validating: out, as: UTF8.self) else { throw malformed }
        return string
    }

    private static func contains(_ bytes: [UInt8], _ needle: some Collection<UInt8>) -> Bool {
        find(needle, in: bytes[...], from: bytes.startIndex) != nil
    }

    private static func find(_ needle: some Collection<UInt8>, in bytes: [UInt8], from start: Int) -> Int? {
        find(needle, in: bytes[...], from: start)
    }

    /// Index of the first occurrence of `needle` in `bytes` at or after `start`.
    private static func find(_ needle: some Collection<UInt8>, in bytes: ArraySlice<UInt8>, from start: Int) -> Int? {
        let needle = Array(needle)
        guard let first = needle.first, needle.count <= bytes.count else { return nil }
        var index = start
        let last = bytes.endIndex - needle.count
        while index <= last {
            if bytes[index] == first && bytes[index..<(index + needle.count)].elementsEqual(needle) { return index }
            index += 1
        }
        return nil
    }
}
