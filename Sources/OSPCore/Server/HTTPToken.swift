/// RFC 9110's `token`: what a header name — and a form field name, which may become one — is made
/// of. Names outside it are read differently by different parsers (trimmed, cut at a NUL,
/// refused), so osp refuses them rather than guess which reading the next hop will take.
enum HTTPToken {
    static func isValid(_ name: some StringProtocol) -> Bool {
        !name.isEmpty && name.utf8.allSatisfy(isCharacter)
    }

    static func isCharacter(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "0")...UInt8(ascii: "9"):
            return true
        default:
            return "!#$%&'*+-.^_`|~".utf8.contains(byte)
        }
    }
}
