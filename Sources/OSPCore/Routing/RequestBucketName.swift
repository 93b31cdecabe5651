/// The bucket names osp accepts in requests: 1–255 characters of letters, digits, `.`, `-` and `_`
/// (legacy buckets allowed upper case and underscores). Anything else, notably an encoded `/`,
/// would let one bucket name be read two ways, so it is refused before routing.
enum RequestBucketName {
    static func isAcceptable<Name: StringProtocol>(_ name: Name) -> Bool {
        let utf8 = name.utf8
        guard (1...255).contains(utf8.count) else { return false }
        return utf8.allSatisfy { byte in
            switch byte {
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
                UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "."), UInt8(ascii: "-"), UInt8(ascii: "_"):
                return true
            default:
                return false
            }
        }
    }
}
