import S3Signing

/// A RestoreObject (`POST /bucket/key?restore`) body, read before the request is forwarded to learn
/// whether the restore does only what `s3:RestoreObject` on its object was asked for.
///
/// A plain restore brings an archived object back for some days. A `SELECT` restore
/// (`<Type>SELECT</Type>`, `<SelectParameters>`) instead runs a query over the archived object and
/// writes the result to its `<OutputLocation>`: another bucket and prefix, which osp would never
/// authorize and the backend would write with osp's backend key. So the body is read strictly
/// (`StrictXMLReader`): the root `<RestoreRequest>` (its one attribute `xmlns`) holding `Days`,
/// `GlacierJobParameters` (with its `Tier`), `Tier` and `Description`, each at most once, is a plain
/// restore and is forwarded as sent; a `Type`, `SelectParameters` or `OutputLocation` is 501
/// `NotImplemented`; anything else is 400 `MalformedXML`. An empty body is forwarded: it asks for
/// nothing, and the backend answers it.
package struct RestoreObjectRequest: Equatable {
    /// A plain restore request is a few hundred bytes; this leaves room for a long description.
    package static let maximumBodyBytes = 64 << 10

    package var days: String?
    package var tier: String?

    package init(xml bytes: [UInt8]) throws(S3Error) {
        guard bytes.count <= Self.maximumBodyBytes else { throw DecisionBody.restoreObject.tooLarge }
        var reader = StrictXMLReader(bytes: bytes)
        reader.skipWhitespace()
        if reader.isAtEnd { return }
        try reader.skipDeclaration()
        reader.skipWhitespace()
        guard try reader.startTag(allowingNamespace: true) == "RestoreRequest" else { throw StrictXMLReader.malformed }
        var seen: Set<String> = []
        while true {
            reader.skipWhitespace()
            if try reader.endTagIfAny("RestoreRequest") { break }
            let name = try reader.startTag()
            if Self.selectFields.contains(name) { throw Self.selectRestore }
            guard seen.insert(name).inserted else { throw StrictXMLReader.malformed }
            switch name {
            case "Days": days = try reader.textAndEndTag(name)
            case "Tier": tier = try reader.textAndEndTag(name)
            case "Description": _ = try reader.textAndEndTag(name)
            case "GlacierJobParameters":
                reader.skipWhitespace()
                guard try reader.startTag() == "Tier" else { throw StrictXMLReader.malformed }
                tier = try reader.textAndEndTag("Tier")
                reader.skipWhitespace()
                guard try reader.endTagIfAny(name) else { throw StrictXMLReader.malformed }
            default:
                throw StrictXMLReader.malformed
            }
        }
        reader.skipWhitespace()
        guard reader.isAtEnd else { throw StrictXMLReader.malformed }
    }

    /// What makes a restore a `SELECT` restore, whose output goes where osp cannot authorize.
    package static let selectFields: Set<String> = ["Type", "SelectParameters", "OutputLocation"]

    static let selectRestore = S3Error(
        .notImplemented,
        "This gateway does not pass on SELECT restores: their output is written to a location it cannot authorize."
    )
}
