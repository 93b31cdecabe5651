/// The `name=value` parameters of a raw query string, in order, decoded only when asked for. Values
/// are percent-decoded with `+` kept as a plus (S3 does not treat `+` as a space in signed requests).
///
/// Every request's query is searched for credentials (`X-Amz-Credential`, `AWSAccessKeyId`, …), so
/// parsing records where each parameter is and decodes nothing: a lookup compares names decoding
/// on the fly, and only the values asked for become strings.
struct QueryParameters: Sendable {
    /// A `String`, not a `Substring`: every lookup reads its bytes in place, and a `Substring`'s
    /// contiguous-storage access goes through the generic `Slice` path each time.
    private let query: String

    /// Where one parameter is, as byte offsets into `query`'s UTF-8.
    private struct Part {
        var name: Range<Int>
        var value: Range<Int>
        var hasEquals: Bool
        /// The name has no `%`: it is its own decoding, so a lookup compares lengths first and
        /// bytes only when they match (most lookups miss most names).
        var nameIsPlain: Bool
    }

    /// Parsed once, read by every lookup.
    private var parts: [Part] = []

    init(rawQuery: String) {
        self.query = rawQuery
        var parts: [Part] = []
        parts.reserveCapacity(8)
        self.query.withContiguousUTF8 { bytes in
            RawQueryParameter.forEach(in: bytes) { parameter in
                let nameIsPlain = !bytes[parameter.name].contains(UInt8(ascii: "%"))
                parts.append(Part(name: parameter.name, value: parameter.value, hasEquals: parameter.hasEquals, nameIsPlain: nameIsPlain))
            }
        }
        self.parts = parts
    }

    /// Whether `part` is called `name` (decoded).
    private static func part(_ part: Part, in bytes: UnsafeBufferPointer<UInt8>, isNamed name: String) -> Bool {
        guard part.nameIsPlain else { return RawQueryParameter.decoded(bytes[part.name], equals: name) }
        guard part.name.count == name.utf8.count else { return false }
        return name.withContiguousUTF8 { bytes[part.name].elementsEqual($0) }
    }

    private func firstPart(named name: String, in bytes: UnsafeBufferPointer<UInt8>) -> Part? {
        self.parts.first { Self.part($0, in: bytes, isNamed: name) }
    }

    /// The first value of `name` (exact, case-sensitive: S3 query parameter names are).
    subscript(name: String) -> String? {
        self.query.withContiguousUTF8 { bytes in
            guard let part = self.firstPart(named: name, in: bytes) else {
                return nil
            }
            return Self.decode(bytes[part.value])
        }
    }

    /// Whether the first `name` parameter, decoded, is `expected`; nil when there is none. Compared
    /// in place: no value string is made.
    func first(_ name: String, equals expected: String) -> Bool? {
        self.query.withContiguousUTF8 { bytes in
            guard let part = self.firstPart(named: name, in: bytes) else {
                return nil
            }
            return RawQueryParameter.decoded(bytes[part.value], equals: expected)
        }
    }

    /// `body` applied to the first value of `name` as bytes (decoded only when it has a `%`);
    /// nil when there is none.
    func withFirstValue<Result>(_ name: String, _ body: (UnsafeBufferPointer<UInt8>) -> Result) -> Result? {
        self.query.withContiguousUTF8 { bytes in
            guard let part = self.firstPart(named: name, in: bytes) else {
                return nil
            }
            return Self.withDecoded(bytes[part.value], body)
        }
    }

    func contains(_ name: String) -> Bool {
        self.query.withContiguousUTF8 { bytes in
            self.parts.contains { Self.part($0, in: bytes, isNamed: name) }
        }
    }

    /// Every parameter decoded (SigV2 query authentication reads the `x-amz-*` ones).
    var pairs: [(name: String, value: String, hasEquals: Bool)] {
        self.query.withContiguousUTF8 { bytes in
            self.parts.map { part in
                (Self.decode(bytes[part.name]), Self.decode(bytes[part.value]), part.hasEquals)
            }
        }
    }

    /// A raw parameter name or value, percent-decoded leniently (a `%` without two hex digits is
    /// itself) with `+` kept as a plus.
    static func decode(_ raw: Slice<UnsafeBufferPointer<UInt8>>) -> String {
        Self.withDecoded(raw) { String(decoding: $0, as: UTF8.self) }
    }

    /// `body` applied to `raw` percent-decoded as `decode` does it; to `raw` itself (no copy) when it
    /// has no `%`, which is nearly always.
    private static func withDecoded<Result>(
        _ raw: Slice<UnsafeBufferPointer<UInt8>>, _ body: (UnsafeBufferPointer<UInt8>) -> Result
    ) -> Result {
        guard raw.contains(UInt8(ascii: "%")) else { return body(UnsafeBufferPointer(rebasing: raw)) }
        let decoded = SigV4Canonical.percentDecodedBytes(raw, lenient: true) ?? Array(raw)
        return decoded.withUnsafeBufferPointer(body)
    }
}
