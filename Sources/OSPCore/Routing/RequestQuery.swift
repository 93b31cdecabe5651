/// The query string split into parameters: names decoded, values still as sent. S3 selects operations by
/// parameter *names* (`?acl`, `?uploads`), so routing reads names; values are decoded only on demand.
struct RequestQuery {
    struct Parameter {
        var name: Substring
        /// The value as sent (percent-encoded); empty for `?acl` and `?acl=`.
        var rawValue: Substring
    }

    var parameters: [Parameter]

    /// Splits on the UTF-8 view: `&` and `=` are ASCII, and byte-wise splitting avoids
    /// grapheme-cluster work on a string parsed for every request.
    init<Query: StringProtocol>(rawQuery: Query) where Query.SubSequence == Substring {
        parameters = []
        if rawQuery.isEmpty { return }
        parameters.reserveCapacity(8)
        let whole = Substring(rawQuery).utf8
        var start = whole.startIndex
        while start != whole.endIndex {
            let end = whole[start...].firstIndex(of: UInt8(ascii: "&")) ?? whole.endIndex
            defer { start = end == whole.endIndex ? end : whole.index(after: end) }
            if start == end { continue }
            let item = whole[start..<end]
            let equals = item.firstIndex(of: UInt8(ascii: "=")) ?? item.endIndex
            var name = Substring(item[..<equals])
            if name.utf8.contains(UInt8(ascii: "%")), let decoded = PercentDecoding.decode(name) {
                name = Substring(decoded)
            }
            let rawValue = equals == item.endIndex ? Substring(item[equals...]) : Substring(item[item.index(after: equals)...])
            parameters.append(Parameter(name: name, rawValue: rawValue))
        }
    }

    func contains(_ name: String) -> Bool {
        parameters.contains { $0.name == name }
    }

    /// The decoded value of the first parameter called `name`.
    func value(of name: String) -> String? {
        parameters.first { $0.name == name }.flatMap { PercentDecoding.decode($0.rawValue) }
    }
}
