/// The `name=value` parameters of a raw query string, in order, decoded only when asked for. Values
/// are percent-decoded with `+` kept as a plus (S3 does not treat `+` as a space in signed requests).
///
/// Every request's query is searched for credentials (`X-Amz-Credential`, `AWSAccessKeyId`, …), so
/// parsing records where each parameter is and decodes nothing: a lookup compares names decoding
/// on the fly, and only the values asked for become strings.
struct QueryParameters: Sendable {
    private typealias Bytes = Substring.UTF8View
    private let query: Substring
    private var parts: [(name: Range<String.Index>, value: Range<String.Index>, hasEquals: Bool)] = []

    init(rawQuery: some StringProtocol) {
        self.query = Substring(rawQuery)
        let bytes = self.query.utf8
        self.parts.reserveCapacity(8)
        var start = bytes.startIndex
        while start != bytes.endIndex {
            let end = bytes[start...].firstIndex(of: UInt8(ascii: "&")) ?? bytes.endIndex
            if start != end {
                let equals = bytes[start..<end].firstIndex(of: UInt8(ascii: "="))
                let nameEnd = equals ?? end
                let valueStart = equals.map { bytes.index(after: $0) } ?? end
                self.parts.append((start..<nameEnd, valueStart..<end, equals != nil))
            }
            start = end == bytes.endIndex ? end : bytes.index(after: end)
        }
    }

    /// The first value of `name` (exact, case-sensitive: S3 query parameter names are).
    subscript(name: String) -> String? {
        guard let part = self.parts.first(where: { Self.decoded(self.query.utf8[$0.name], equals: name.utf8) }) else {
            return nil
        }
        return Self.decode(self.query.utf8[part.value])
    }

    func contains(_ name: String) -> Bool {
        self.parts.contains { Self.decoded(self.query.utf8[$0.name], equals: name.utf8) }
    }

    /// Every parameter decoded (SigV2 query authentication reads the `x-amz-*` ones).
    var pairs: [(name: String, value: String, hasEquals: Bool)] {
        self.parts.map { part in
            (Self.decode(self.query.utf8[part.name]), Self.decode(self.query.utf8[part.value]), part.hasEquals)
        }
    }

    private static func decode(_ raw: Bytes.SubSequence) -> String {
        String(decoding: SigV4Canonical.percentDecodedBytes(raw, lenient: true) ?? Array(raw), as: UTF8.self)
    }

    /// Whether `raw`, percent-decoded (leniently: a `%` without two hex digits is itself), is `expected`.
    private static func decoded(_ raw: Bytes.SubSequence, equals expected: String.UTF8View) -> Bool {
        var wanted = expected.makeIterator()
        var i = raw.startIndex
        while i != raw.endIndex {
            var c = raw[i]
            i = raw.index(after: i)
            if c == UInt8(ascii: "%"), i != raw.endIndex, let hi = Hex.value(raw[i]) {
                let next = raw.index(after: i)
                if next != raw.endIndex, let lo = Hex.value(raw[next]) {
                    c = hi << 4 | lo
                    i = raw.index(after: next)
                }
            }
            guard let w = wanted.next(), w == c else { return false }
        }
        return wanted.next() == nil
    }
}
