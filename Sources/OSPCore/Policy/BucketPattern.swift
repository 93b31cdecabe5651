/// A grant's bucket name or glob, compiled once: `"*"` (every bucket), `"logs-*"` (a name prefix) or
/// an exact name. Bucket names are compared byte for byte, as S3 does.
enum BucketPattern: Sendable, Hashable {
    case any
    case exact(String)
    case prefix(String)

    /// `nil` for an empty name or a `*` anywhere but at the end.
    init?(_ text: String) {
        guard !text.isEmpty else { return nil }
        if text == "*" {
            self = .any
            return
        }
        let stem = text.last == "*" ? String(text.dropLast()) : text
        guard !stem.utf8.contains(UInt8(ascii: "*")) else { return nil }
        self = text.last == "*" ? .prefix(stem) : .exact(text)
    }

    func matches(_ bucket: String) -> Bool {
        switch self {
        case .any: return true
        case .exact(let name): return bucket.utf8.elementsEqual(name.utf8)
        case .prefix(let stem): return bucket.utf8.starts(with: stem.utf8)
        }
    }
}
