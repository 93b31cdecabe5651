/// Writes JSON text byte by byte, for the access log: one object per request, built without
/// Foundation or a generic encoder, because it runs once per request on the event loop.
///
/// Strings are escaped as RFC 8259 requires — `"`, `\` and every control character below U+0020 —
/// so an object key or a user agent holding quotes, newlines or raw control bytes can neither end a
/// field early nor split the line. Other characters (UTF-8 from a Swift `String`, always valid) pass
/// through unchanged.
enum JSONText {
    /// Appends `value` as a quoted, escaped JSON string.
    static func appendString(_ value: some StringProtocol, to out: inout [UInt8]) {
        out.append(UInt8(ascii: "\""))
        for byte in value.utf8 {
            switch byte {
            case UInt8(ascii: "\""):
                out.append(UInt8(ascii: "\\"))
                out.append(UInt8(ascii: "\""))
            case UInt8(ascii: "\\"):
                out.append(UInt8(ascii: "\\"))
                out.append(UInt8(ascii: "\\"))
            case 0x0A:
                out.append(UInt8(ascii: "\\"))
                out.append(UInt8(ascii: "n"))
            case 0x0D:
                out.append(UInt8(ascii: "\\"))
                out.append(UInt8(ascii: "r"))
            case 0x09:
                out.append(UInt8(ascii: "\\"))
                out.append(UInt8(ascii: "t"))
            case 0x00..<0x20, 0x7F:
                // DEL is legal in JSON, but escaping it keeps terminals and log viewers honest.
                out.append(contentsOf: "\\u00".utf8)
                out.append(hexDigits[Int(byte >> 4)])
                out.append(hexDigits[Int(byte & 0x0F)])
            default:
                out.append(byte)
            }
        }
        out.append(UInt8(ascii: "\""))
    }

    /// Appends `value` as a JSON string, or `null` when it is absent.
    static func appendString(_ value: String?, to out: inout [UInt8]) {
        if let value {
            appendString(value, to: &out)
        } else {
            out.append(contentsOf: "null".utf8)
        }
    }

    /// Appends a decimal integer without going through `String(describing:)`.
    static func appendInteger(_ value: Int, to out: inout [UInt8]) {
        if value < 0 {
            out.append(UInt8(ascii: "-"))
            // `Int.min` has no positive counterpart: go through its magnitude.
            appendUnsigned(value.magnitude, to: &out)
        } else {
            appendUnsigned(UInt(value), to: &out)
        }
    }

    /// Appends a decimal integer, or `null` when it is absent.
    static func appendInteger(_ value: Int?, to out: inout [UInt8]) {
        if let value {
            appendInteger(value, to: &out)
        } else {
            out.append(contentsOf: "null".utf8)
        }
    }

    /// Appends `value` with exactly three decimals (milliseconds from microseconds, say), so
    /// durations are numbers a log pipeline can sum without parsing strings.
    static func appendFixedPoint(_ thousandths: Int, to out: inout [UInt8]) {
        let magnitude = thousandths.magnitude
        if thousandths < 0 { out.append(UInt8(ascii: "-")) }
        appendUnsigned(magnitude / 1000, to: &out)
        out.append(UInt8(ascii: "."))
        let fraction = magnitude % 1000
        out.append(UInt8(ascii: "0") + UInt8(fraction / 100))
        out.append(UInt8(ascii: "0") + UInt8(fraction / 10 % 10))
        out.append(UInt8(ascii: "0") + UInt8(fraction % 10))
    }

    private static func appendUnsigned(_ value: UInt, to out: inout [UInt8]) {
        if value < 10 {
            out.append(UInt8(ascii: "0") + UInt8(value))
            return
        }
        var digits: (UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8,
                     UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8) =
            (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
        var count = 0
        var rest = value
        withUnsafeMutableBytes(of: &digits) { buffer in
            while rest > 0 {
                buffer[count] = UInt8(ascii: "0") + UInt8(rest % 10)
                rest /= 10
                count += 1
            }
            for index in stride(from: count - 1, through: 0, by: -1) {
                out.append(buffer[index])
            }
        }
    }

    private static let hexDigits: [UInt8] = Array("0123456789abcdef".utf8)
}
