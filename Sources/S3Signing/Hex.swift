import Crypto

/// Lowercase hexadecimal, the form SigV4 puts hashes and signatures in.
enum Hex {
    static let digits: [UInt8] = Array("0123456789abcdef".utf8)

    static func append(_ bytes: some Sequence<UInt8>, to out: inout [UInt8]) {
        for byte in bytes {
            out.append(digits[Int(byte >> 4)])
            out.append(digits[Int(byte & 0x0F)])
        }
    }

    // Digests and MACs are read in place: iterating them as a `Sequence` copies them into an array
    // first, and these run several times per signed request.

    static func append(_ digest: SHA256Digest, to out: inout [UInt8]) {
        digest.withUnsafeBytes { append($0, to: &out) }
    }

    static func append(_ mac: HashedAuthenticationCode<SHA256>, to out: inout [UInt8]) {
        mac.withUnsafeBytes { append($0, to: &out) }
    }

    /// One string allocation, no intermediate array.
    static func encode(_ mac: HashedAuthenticationCode<SHA256>) -> String {
        mac.withUnsafeBytes { bytes in
            String(unsafeUninitializedCapacity: bytes.count * 2) { out in
                for (index, byte) in bytes.enumerated() {
                    out[2 * index] = digits[Int(byte >> 4)]
                    out[2 * index + 1] = digits[Int(byte & 0x0F)]
                }
                return bytes.count * 2
            }
        }
    }

    /// The value of one hex digit, either case.
    @inline(__always)
    static func value(_ c: UInt8) -> UInt8? {
        switch c {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): return c &- UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): return c &- UInt8(ascii: "a") &+ 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): return c &- UInt8(ascii: "A") &+ 10
        default: return nil
        }
    }

    /// Whether `s` is exactly `count` hex digits (either case).
    static func isHex(_ s: some StringProtocol, count: Int) -> Bool {
        s.withContiguousUTF8 { isHex($0, count: count) }
    }

    /// Whether `bytes` are exactly `count` hex digits (either case).
    static func isHex(_ bytes: UnsafeBufferPointer<UInt8>, count: Int) -> Bool {
        bytes.count == count && bytes.allSatisfy { value($0) != nil }
    }
}
