import OSPCore

/// The RestoreObject target: the input is the request body. osp forwards a restore it accepts as
/// sent, so what matters besides not crashing is that an accepted body is a plain restore to any
/// reader: no start tag in it names a SELECT restore's part (`Type`, `SelectParameters`,
/// `OutputLocation`), with or without a prefix — the strict reader refuses comments, CDATA and
/// entities that could hide one, so such a tag would have to appear as bytes. And what it read must
/// be what it would read again: its `Days` and `Tier`, escaped back into a `<RestoreRequest>`,
/// parse to the same request.
enum RestoreObjectFuzzing {
    static func run(_ input: [UInt8]) -> FuzzOutcome {
        let request: RestoreObjectRequest
        do {
            request = try RestoreObjectRequest(xml: input)
        } catch {
            return .refused(error.message)
        }
        for name in startTagNames(input) {
            let local = name.split(separator: ":").last.map(String.init) ?? name
            invariant(!RestoreObjectRequest.selectFields.contains(local), "a restore with <\(name)> was accepted")
        }

        var document = "<RestoreRequest>"
        if let days = request.days { document += "<Days>" + DeleteObjectsFuzzing.escaped(days) + "</Days>" }
        if let tier = request.tier { document += "<Tier>" + DeleteObjectsFuzzing.escaped(tier) + "</Tier>" }
        document += "</RestoreRequest>"
        do {
            let reread = try RestoreObjectRequest(xml: Array(document.utf8))
            invariant(reread == request, "the restore's fields read back differently")
        } catch {
            invariant(false, "the restore's fields, escaped, were refused: \(error)")
        }
        return .accepted("days \(request.days ?? "-"), tier \(request.tier ?? "-")")
    }

    /// The names after every `<` that starts a tag (not `</`, `<?`, `<!`), read as any XML parser
    /// would delimit them: up to white space, `/` or `>`.
    private static func startTagNames(_ bytes: [UInt8]) -> [String] {
        var names: [String] = []
        var index = 0
        while index < bytes.count {
            defer { index += 1 }
            guard bytes[index] == UInt8(ascii: "<"), index + 1 < bytes.count else { continue }
            let first = bytes[index + 1]
            guard first != UInt8(ascii: "/"), first != UInt8(ascii: "?"), first != UInt8(ascii: "!") else { continue }
            var end = index + 1
            while end < bytes.count, !isDelimiter(bytes[end]) { end += 1 }
            names.append(String(decoding: bytes[(index + 1)..<end], as: UTF8.self))
        }
        return names
    }

    private static func isDelimiter(_ byte: UInt8) -> Bool {
        byte == UInt8(ascii: " ") || byte == 0x09 || byte == 0x0A || byte == 0x0D
            || byte == UInt8(ascii: "/") || byte == UInt8(ascii: ">")
    }
}
