/// The query string split into parameters: names decoded, values still as sent. S3 selects operations by
/// parameter *names* (`?acl`, `?uploads`), so routing reads names; values are decoded only on demand.
struct RequestQuery {
    struct Parameter {
        var name: Substring
        /// The value as sent (percent-encoded); empty for `?acl` and `?acl=`.
        var rawValue: Substring
    }

    var parameters: [Parameter]

    init<Query: StringProtocol>(rawQuery: Query) where Query.SubSequence == Substring {
        parameters = []
        for item in rawQuery.split(separator: "&", omittingEmptySubsequences: true) {
            let equals = item.firstIndex(of: "=") ?? item.endIndex
            var name = item[..<equals]
            if name.utf8.contains(UInt8(ascii: "%")), let decoded = PercentDecoding.decode(name) {
                name = Substring(decoded)
            }
            let rawValue = equals == item.endIndex ? item[equals...] : item[item.index(after: equals)...]
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
