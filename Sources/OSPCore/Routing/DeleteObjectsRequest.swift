import S3Signing

/// The keys a DeleteObjects (`POST /bucket?delete`) body names, so that each one can be authorized
/// before anything is deleted.
///
/// Every key is authorized as osp reads it and deleted as the backend's XML parser reads it, so the
/// two readings must not differ: `<Object >`, a second `<Key>`, a `<s3:Key>` or a processing
/// instruction are all XML a backend reads, and a scan that looked for `<Object><Key>` alone once
/// let a key it never saw be deleted. So this is a strict reader of S3's `<Delete>` document, not
/// a scan (`StrictXMLReader`): an optional UTF-8 XML declaration; the root `<Delete>` (its one attribute `xmlns`);
/// in it `<Quiet>` at most once and 1 to 1000 `<Object>`s; in each exactly one `<Key>`, at most one
/// `<VersionId>`, `<ETag>`, `<LastModifiedTime>` and `<Size>`; white space between elements. Text
/// has the five predefined entities and character references resolved and line breaks normalised
/// as XML parsers do. Anything else — another element or attribute, a prefix, an empty-element tag,
/// a comment, CDATA, a DTD, a processing instruction, text between elements — is refused: when in
/// doubt, nothing is deleted.
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
        guard bytes.count <= Self.maximumBodyBytes else { throw DecisionBody.deleteObjects.tooLarge }
        var reader = StrictXMLReader(bytes: bytes)
        try reader.skipDeclaration()
        reader.skipWhitespace()
        guard try reader.startTag(allowingNamespace: true) == "Delete" else { throw StrictXMLReader.malformed }
        var objects: [Object] = []
        var quiet = false
        while true {
            reader.skipWhitespace()
            if try reader.endTagIfAny("Delete") { break }
            switch try reader.startTag() {
            case "Quiet" where !quiet:
                quiet = true
                _ = try reader.textAndEndTag("Quiet")
            case "Object":
                objects.append(try Self.object(&reader))
                guard objects.count <= Self.maximumObjects else {
                    throw S3Error(.malformedXML, "A DeleteObjects request names at most \(Self.maximumObjects) objects.")
                }
            default:
                throw StrictXMLReader.malformed
            }
        }
        reader.skipWhitespace()
        guard reader.isAtEnd, !objects.isEmpty else { throw StrictXMLReader.malformed }
        self.objects = objects
    }

    /// The children of an `<Object>` whose start tag was read, through its end tag.
    private static func object(_ reader: inout StrictXMLReader) throws(S3Error) -> Object {
        var key: String?
        var versionId: String?
        var seen: Set<String> = []
        while true {
            reader.skipWhitespace()
            if try reader.endTagIfAny("Object") { break }
            let name = try reader.startTag()
            guard Self.objectFields.contains(name), seen.insert(name).inserted else { throw StrictXMLReader.malformed }
            let text = try reader.textAndEndTag(name)
            switch name {
            case "Key": key = text
            case "VersionId": versionId = text
            default: break  // ETag, LastModifiedTime, Size: conditions the backend checks
            }
        }
        guard let key else { throw StrictXMLReader.malformed }
        return Object(key: key, versionId: versionId)
    }

    /// What an `<Object>` may hold (S3's conditional deletes added the last three).
    private static let objectFields: Set<String> = ["Key", "VersionId", "ETag", "LastModifiedTime", "Size"]
}
