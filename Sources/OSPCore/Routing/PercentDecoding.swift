/// RFC 3986 percent-decoding as S3 applies it to paths: `%XX` becomes a byte, `+` stays a plus, and
/// the result must be UTF-8. `nil` means the text is not validly encoded.
enum PercentDecoding {
    static func decode<Text: StringProtocol>(_ text: Text) -> String? {
        let utf8 = text.utf8
        guard utf8.contains(UInt8(ascii: "%")) else { return String(text) }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(utf8.count)
        var index = utf8.startIndex
        while index != utf8.endIndex {
            let byte = utf8[index]
            guard byte == UInt8(ascii: "%") else {
                bytes.append(byte)
                utf8.formIndex(after: &index)
                continue
            }
            let high = utf8.index(after: index)
            guard high != utf8.endIndex else { return nil }
            let low = utf8.index(after: high)
            guard low != utf8.endIndex, let highValue = hexValue(utf8[high]), let lowValue = hexValue(utf8[low]) else {
                return nil
            }
            bytes.append(highValue << 4 | lowValue)
            index = utf8.index(after: low)
        }
        return String(validating: bytes, as: UTF8.self)
    }

    private static func hexValue(_ byte: UInt8) -> UInt8? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): return byte - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): return byte - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): return byte - UInt8(ascii: "A") + 10
        default: return nil
        }
    }
}
