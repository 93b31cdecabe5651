/// Request ids in S3's shape (16 upper-case hex digits): unique per process without coordination,
/// a random per-process prefix plus a counter, so generating one costs no syscall and no lock
/// contention beyond one atomic-free per-loop increment.
struct RequestIDGenerator {
    private let prefix: UInt32
    private var counter: UInt32 = 0

    init() {
        self.prefix = UInt32.random(in: 0 ... .max)
    }

    mutating func next() -> String {
        self.counter &+= 1
        let value = (UInt64(self.prefix) << 32) | UInt64(self.counter)
        return hex16(value)
    }
}

private func hex16(_ value: UInt64) -> String {
    String(unsafeUninitializedCapacity: 16) { out in
        for i in 0..<16 {
            let digit = UInt8((value >> UInt64((15 - i) * 4)) & 0xF)
            out[i] = digit < 10 ? UInt8(ascii: "0") + digit : UInt8(ascii: "A") + digit - 10
        }
        return 16
    }
}
