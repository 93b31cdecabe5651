extension StringProtocol {
    /// Whether this equals `lowercase` (which must be lower-case ASCII) ignoring ASCII case, without
    /// allocating: header names are compared this way for every header of every request.
    @inlinable
    public func equalsLowercaseASCII(_ lowercase: String) -> Bool {
        self.utf8.count == lowercase.utf8.count && self.hasLowercaseASCIIPrefix(lowercase)
    }

    /// Whether this starts with `lowercase` (which must be lower-case ASCII) ignoring ASCII case,
    /// compared in place: query parameter names (`X-Amz-*`) and header names (`x-amz-*`) are tested
    /// this way for every parameter and header of every request.
    @inlinable
    public func hasLowercaseASCIIPrefix(_ lowercase: String) -> Bool {
        guard self.utf8.count >= lowercase.utf8.count else { return false }
        return self.withContiguousUTF8 { mine in
            lowercase.withContiguousUTF8 { wanted in
                for i in 0..<wanted.count {
                    let a = mine[i], b = wanted[i]
                    guard a == b || (a >= UInt8(ascii: "A") && a <= UInt8(ascii: "Z") && a | 0x20 == b) else { return false }
                }
                return true
            }
        }
    }
}
