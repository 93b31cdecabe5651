import S3Signing

/// The query string split into parameters: names decoded, values still as sent. S3 selects operations by
/// parameter *names* (`?acl`, `?uploads`), so routing reads names; values are decoded only on demand.
struct RequestQuery {
    struct Parameter {
        var name: Substring
        /// The value as sent (percent-encoded); empty for `?acl` and `?acl=`.
        var rawValue: Substring
    }

    var parameters: [Parameter]

    /// Splits on the UTF-8 bytes (`&` and `=` are ASCII): byte offsets found in one pass over
    /// contiguous storage, each turned into a substring as found: no grapheme-cluster or `String.Index`
    /// work per byte on a string parsed for every request.
    init<Query: StringProtocol>(rawQuery: Query) where Query.SubSequence == Substring {
        parameters = []
        if rawQuery.isEmpty { return }
        let whole = Substring(rawQuery)
        let utf8 = whole.utf8
        func substring(_ range: Range<Int>) -> Substring {
            let lower = utf8.index(utf8.startIndex, offsetBy: range.lowerBound)
            return Substring(utf8[lower..<utf8.index(lower, offsetBy: range.count)])
        }
        var parameters: [Parameter] = []
        parameters.reserveCapacity(8)
        whole.withContiguousUTF8 { bytes in
            RawQueryParameter.forEach(in: bytes) { parameter in
                var name = substring(parameter.name)
                if name.utf8.contains(UInt8(ascii: "%")), let decoded = PercentDecoding.decode(name) {
                    name = Substring(decoded)
                }
                parameters.append(Parameter(name: name, rawValue: substring(parameter.value)))
            }
        }
        self.parameters = parameters
    }

    func contains(_ name: String) -> Bool {
        parameters.contains { $0.name == name }
    }

    /// The decoded value of the first parameter called `name`.
    func value(of name: String) -> String? {
        parameters.first { $0.name == name }.flatMap { PercentDecoding.decode($0.rawValue) }
    }
}
