extension StringProtocol {
    /// Whether this equals `lowercase` (which must be lower-case ASCII) ignoring ASCII case, without
    /// allocating: header names are compared this way for every header of every request.
    @inlinable
    public func equalsLowercaseASCII(_ lowercase: String) -> Bool {
        guard self.utf8.count == lowercase.utf8.count else { return false }
        return zip(self.utf8, lowercase.utf8).allSatisfy { a, b in
            a == b || (a >= UInt8(ascii: "A") && a <= UInt8(ascii: "Z") && a | 0x20 == b)
        }
    }
}
