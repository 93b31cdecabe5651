import OSPCore

/// The DeleteObjects target: the input is the request body. Every key it yields is authorized on its
/// own before anything is deleted, so besides not crashing, what it reads must be what it would read
/// again: the keys and version ids, escaped back into a `<Delete>` document, parse to the same list.
enum DeleteObjectsFuzzing {
    static func run(_ input: [UInt8]) -> FuzzOutcome {
        let request: DeleteObjectsRequest
        do {
            request = try DeleteObjectsRequest(xml: input)
        } catch {
            return .refused(error.message)
        }
        invariant(
            !request.objects.isEmpty && request.objects.count <= DeleteObjectsRequest.maximumObjects,
            "\(request.objects.count) objects accepted")

        var document = "<Delete>"
        for object in request.objects {
            document += "<Object><Key>" + escaped(object.key) + "</Key>"
            if let versionId = object.versionId {
                document += "<VersionId>" + escaped(versionId) + "</VersionId>"
            }
            document += "</Object>"
        }
        document += "</Delete>"
        do {
            let reread = try DeleteObjectsRequest(xml: Array(document.utf8))
            invariant(reread.objects == request.objects, "the escaped keys read back differently")
        } catch {
            invariant(false, "the escaped keys were refused: \(error)")
        }
        return .accepted("\(request.objects.count) objects")
    }

    /// XML character data for `text`: the five predefined entities, and a CR as `&#13;` (a raw
    /// one is read as a line break, LF).
    static func escaped(_ text: String) -> String {
        var out = ""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\r": out += "&#13;"
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            case "'": out += "&apos;"
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out
    }
}
