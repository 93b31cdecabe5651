import S3Signing

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// A wall-clock instant to the millisecond, written as RFC 3339 in UTC (`2026-11-29T22:02:16.123Z`):
/// the `time` of an access-log line. Read from `CLOCK_REALTIME` and formatted with integer
/// arithmetic, so stamping a request costs no Foundation date and no allocation.
struct LogTimestamp: Sendable, Equatable {
    var millisecondsSinceEpoch: Int64

    init(millisecondsSinceEpoch: Int64) {
        self.millisecondsSinceEpoch = millisecondsSinceEpoch
    }

    static func now() -> LogTimestamp {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        return LogTimestamp(millisecondsSinceEpoch: Int64(ts.tv_sec) * 1000 + Int64(ts.tv_nsec) / 1_000_000)
    }

    /// Appends the instant as a JSON-safe RFC 3339 string body (no quotes).
    func append(to out: inout [UInt8]) {
        let milliseconds = Self.floorMod(millisecondsSinceEpoch, 1000)
        let seconds = (millisecondsSinceEpoch - milliseconds) / 1000
        let secondOfDay = Self.floorMod(seconds, 86_400)
        let days = (seconds - secondOfDay) / 86_400
        let (year, month, day) = AmzDate.civilFromDays(days)
        AmzDate.append(year, width: 4, to: &out)
        out.append(UInt8(ascii: "-"))
        AmzDate.append(month, width: 2, to: &out)
        out.append(UInt8(ascii: "-"))
        AmzDate.append(day, width: 2, to: &out)
        out.append(UInt8(ascii: "T"))
        AmzDate.append(Int(secondOfDay / 3600), width: 2, to: &out)
        out.append(UInt8(ascii: ":"))
        AmzDate.append(Int(secondOfDay / 60 % 60), width: 2, to: &out)
        out.append(UInt8(ascii: ":"))
        AmzDate.append(Int(secondOfDay % 60), width: 2, to: &out)
        out.append(UInt8(ascii: "."))
        AmzDate.append(Int(milliseconds), width: 3, to: &out)
        out.append(UInt8(ascii: "Z"))
    }

    var rfc3339: String {
        var out: [UInt8] = []
        out.reserveCapacity(24)
        append(to: &out)
        return String(decoding: out, as: UTF8.self)
    }

    private static func floorMod(_ a: Int64, _ b: Int64) -> Int64 {
        let r = a % b
        return r < 0 ? r + b : r
    }
}
