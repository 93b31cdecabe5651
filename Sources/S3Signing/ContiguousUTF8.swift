extension StringProtocol {
    /// Calls `body` with the string's UTF-8 bytes, in place when they are stored contiguously (native
    /// strings and their substrings always are), else in a temporary copy.
    ///
    /// Why: the per-request parsers (query strings, canonical requests, header names) walk bytes.
    /// Walking a `String.UTF8View` goes through `String.Index` arithmetic on every step; walking a
    /// buffer is plain integer indexing, several times faster on this hot path.
    @inlinable
    public func withContiguousUTF8<Result>(_ body: (UnsafeBufferPointer<UInt8>) throws -> Result) rethrows -> Result {
        if let result = try self.utf8.withContiguousStorageIfAvailable(body) { return result }
        return try Array(self.utf8).withUnsafeBufferPointer(body)
    }
}

/// Where one `name=value` parameter of a raw query string lies, as byte offsets into the query's
/// UTF-8: `name` ends at the first `=` (or the parameter's end when there is none), `value` follows it.
public struct RawQueryParameter: Sendable {
    public var name: Range<Int>
    public var value: Range<Int>
    /// The whole `name=value` text.
    public var whole: Range<Int>
    /// Whether there was an `=` (`?acl` and `?acl=` differ in some signatures).
    public var hasEquals: Bool

    /// Calls `body` for each non-empty `&`-separated parameter of `query`, in order: the one split
    /// the verifier, the router and the credential stripper all read a query with.
    @inlinable
    public static func forEach(in query: UnsafeBufferPointer<UInt8>, _ body: (RawQueryParameter) -> Void) {
        var start = 0
        while start < query.count {
            var end = start
            var equals: Int?
            while end < query.count, query[end] != UInt8(ascii: "&") {
                if equals == nil, query[end] == UInt8(ascii: "=") { equals = end }
                end += 1
            }
            if start != end {
                body(RawQueryParameter(
                    name: start..<(equals ?? end), value: (equals.map { $0 + 1 } ?? end)..<end,
                    whole: start..<end, hasEquals: equals != nil
                ))
            }
            start = end + 1
        }
    }

    @inlinable
    init(name: Range<Int>, value: Range<Int>, whole: Range<Int>, hasEquals: Bool) {
        self.name = name
        self.value = value
        self.whole = whole
        self.hasEquals = hasEquals
    }

    /// Whether `raw` (a name or value as sent), percent-decoded leniently (a `%` without two hex
    /// digits is itself) with `+` kept as a plus, is `expected`. Compared in place: nothing is
    /// decoded into a new string, as the verifier and the credential stripper test every
    /// parameter name of a presigned request this way.
    public static func decoded(_ raw: Slice<UnsafeBufferPointer<UInt8>>, equals expected: String) -> Bool {
        expected.withContiguousUTF8 { wanted in
            var w = 0
            var i = raw.startIndex
            while i != raw.endIndex {
                var c = raw[i]
                i += 1
                if c == UInt8(ascii: "%"), i + 1 < raw.endIndex, let hi = Hex.value(raw[i]), let lo = Hex.value(raw[i + 1]) {
                    c = hi << 4 | lo
                    i += 2
                }
                guard w < wanted.count, wanted[w] == c else { return false }
                w += 1
            }
            return w == wanted.count
        }
    }
}
