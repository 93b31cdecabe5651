/// The decoded `name=value` pairs of a raw query string, in order. Values are percent-decoded with
/// `+` kept as a plus (S3 does not treat `+` as a space in signed requests).
struct QueryParameters: Sendable {
    var pairs: [(name: String, value: String, hasEquals: Bool)]

    init(rawQuery: some StringProtocol) {
        pairs = []
        for part in rawQuery.utf8.split(separator: UInt8(ascii: "&"), omittingEmptySubsequences: true) {
            let (rawName, rawValue) = SigV4Canonical.splitOnFirstEquals(part)
            let name = SigV4Canonical.percentDecodedBytes(rawName, lenient: true) ?? Array(rawName)
            let value = SigV4Canonical.percentDecodedBytes(rawValue, lenient: true) ?? Array(rawValue)
            pairs.append(
                (
                    String(decoding: name, as: UTF8.self), String(decoding: value, as: UTF8.self),
                    rawName.count != part.count
                ))
        }
    }

    /// The first value of `name` (exact, case-sensitive: S3 query parameter names are).
    subscript(name: String) -> String? {
        pairs.first(where: { $0.name == name })?.value
    }

    func contains(_ name: String) -> Bool {
        pairs.contains(where: { $0.name == name })
    }
}
