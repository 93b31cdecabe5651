/// The request target as the client sent it, split at the first `?` and never decoded:
/// signatures are computed over these exact bytes, on both sides of osp.
public struct RequestTarget: Sendable, Equatable {
    public var rawPath: String
    public var rawQuery: String

    public init(uri: String) {
        if let mark = uri.utf8.firstIndex(of: UInt8(ascii: "?")) {
            self.rawPath = String(uri[..<mark])
            self.rawQuery = String(uri[uri.index(after: mark)...])
        } else {
            self.rawPath = uri
            self.rawQuery = ""
        }
    }

    public init(rawPath: String, rawQuery: String) {
        self.rawPath = rawPath
        self.rawQuery = rawQuery
    }

    public var uri: String { rawQuery.isEmpty ? rawPath : "\(rawPath)?\(rawQuery)" }

    /// The query with the parameters for which `drop(name)` is true removed; every other
    /// parameter is kept byte for byte and in order.
    public func query(dropping drop: (Substring) -> Bool) -> String {
        if rawQuery.isEmpty { return "" }
        var kept = ""
        kept.reserveCapacity(rawQuery.utf8.count)
        for part in rawQuery.utf8.split(separator: UInt8(ascii: "&"), omittingEmptySubsequences: true) {
            let nameEnd = part.firstIndex(of: UInt8(ascii: "=")) ?? part.endIndex
            if drop(Substring(part[..<nameEnd])) { continue }
            if !kept.isEmpty { kept.append("&") }
            kept.append(contentsOf: Substring(part))
        }
        return kept
    }
}
