/// Compares two signatures without an early exit, so the time taken does not reveal how many
/// leading characters of a forged signature were right. Only the length may leak, and signature
/// lengths are public anyway.
public func constantTimeEquals(_ a: some StringProtocol, _ b: some StringProtocol) -> Bool {
    a.withContiguousUTF8 { a in b.withContiguousUTF8 { b in constantTimeEquals(bytes: a, b) } }
}

func constantTimeEquals(bytes a: some Collection<UInt8>, _ b: some Collection<UInt8>) -> Bool {
    guard a.count == b.count else { return false }
    var difference: UInt8 = 0
    for (x, y) in zip(a, b) {
        difference |= x ^ y
    }
    return difference == 0
}

/// Whether `provided` spells `digest` in hex, in constant time and without writing `digest` out as
/// text first. `provided` was checked to be hex digits: `| 0x20` lowercases `A`–`F` and leaves
/// digits alone (S3 accepts either case).
func constantTimeEqualsHex(digest: UnsafeRawBufferPointer, provided: some StringProtocol) -> Bool {
    provided.withContiguousUTF8 { b in
        guard b.count == digest.count * 2 else { return false }
        var difference: UInt8 = 0
        for (index, byte) in digest.enumerated() {
            difference |= Hex.digits[Int(byte >> 4)] ^ (b[2 * index] | 0x20)
            difference |= Hex.digits[Int(byte & 0x0F)] ^ (b[2 * index + 1] | 0x20)
        }
        return difference == 0
    }
}
