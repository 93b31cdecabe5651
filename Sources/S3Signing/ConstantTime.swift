/// Compares two signatures without an early exit, so the time taken does not reveal how many
/// leading characters of a forged signature were right. Only the length may leak, and signature
/// lengths are public anyway.
public func constantTimeEquals(_ a: some StringProtocol, _ b: some StringProtocol) -> Bool {
    constantTimeEquals(bytes: a.utf8, b.utf8)
}

func constantTimeEquals(bytes a: some Collection<UInt8>, _ b: some Collection<UInt8>) -> Bool {
    guard a.count == b.count else { return false }
    var difference: UInt8 = 0
    for (x, y) in zip(a, b) {
        difference |= x ^ y
    }
    return difference == 0
}
