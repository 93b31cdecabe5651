/// S3's naming rules for buckets osp is configured with: 3–63 characters of lowercase letters,
/// digits, `.` and `-`, starting and ending with a letter or digit, no `..`. Requests may still name
/// legacy buckets; only configured names are held to the modern rule.
enum BucketNameRules {
    static func isValid(_ name: String) -> Bool {
        let bytes = Array(name.utf8)
        guard (3...63).contains(bytes.count) else { return false }
        func isLowerAlphanumeric(_ byte: UInt8) -> Bool {
            (byte >= UInt8(ascii: "a") && byte <= UInt8(ascii: "z")) || (byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9"))
        }
        guard isLowerAlphanumeric(bytes[0]), isLowerAlphanumeric(bytes[bytes.count - 1]) else { return false }
        var previous: UInt8 = 0
        for byte in bytes {
            guard isLowerAlphanumeric(byte) || byte == UInt8(ascii: ".") || byte == UInt8(ascii: "-") else { return false }
            if byte == UInt8(ascii: "."), previous == UInt8(ascii: ".") { return false }
            previous = byte
        }
        return true
    }
}
