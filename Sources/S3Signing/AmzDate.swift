#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// An instant, to the second, as SigV4 and SigV2 carry it: `x-amz-date` / `X-Amz-Date` in ISO 8601
/// basic form (`20130524T000000Z`) or an RFC 1123 `Date` header. Parsed and formatted by hand so that
/// the per-request path never touches Foundation's date machinery.
public struct AmzDate: Sendable, Hashable, Comparable, CustomStringConvertible {
    public var secondsSinceEpoch: Int64

    public init(secondsSinceEpoch: Int64) {
        self.secondsSinceEpoch = secondsSinceEpoch
    }

    /// The current time from the system clock.
    public static func now() -> AmzDate {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        return AmzDate(secondsSinceEpoch: Int64(ts.tv_sec))
    }

    public static func < (lhs: AmzDate, rhs: AmzDate) -> Bool {
        lhs.secondsSinceEpoch < rhs.secondsSinceEpoch
    }

    public var description: String { amzDate }

    // MARK: Parsing

    /// Parses `YYYYMMDD'T'HHMMSS'Z'` exactly; anything else is nil.
    public init?(iso8601Basic text: some StringProtocol) {
        // Read in place (every SigV4 request has one): a copy only for a non-contiguous string.
        let parsed = text.utf8.withContiguousStorageIfAvailable(AmzDate.init(iso8601BasicUTF8:))
            ?? Array(text.utf8).withUnsafeBufferPointer(AmzDate.init(iso8601BasicUTF8:))
        guard let date = parsed else { return nil }
        self = date
    }

    /// `iso8601Basic` from UTF-8 bytes.
    init?(iso8601BasicUTF8 b: UnsafeBufferPointer<UInt8>) {
        guard b.count == 16, b[8] == UInt8(ascii: "T"), b[15] == UInt8(ascii: "Z"),
            let year = Self.digits(b, 0, 4), let month = Self.digits(b, 4, 2), let day = Self.digits(b, 6, 2),
            let hour = Self.digits(b, 9, 2), let minute = Self.digits(b, 11, 2), let second = Self.digits(b, 13, 2)
        else { return nil }
        self.init(year: year, month: month, day: day, hour: hour, minute: minute, second: second, offsetSeconds: 0)
    }

    /// Parses an HTTP date in RFC 1123 form, `Sun, 29 Nov 2026 22:02:16 GMT`. The weekday is optional
    /// (and not checked); the zone may be `GMT`, `UT`, `UTC`, `Z` or a numeric `+hhmm`/`-hhmm` offset, as
    /// SigV2 clients send (`Tue, 27 Mar 2007 19:36:42 +0000`).
    public init?(rfc1123 text: some StringProtocol) {
        var fields = Substring(text).split(separator: " ", omittingEmptySubsequences: true)
        if let first = fields.first, first.hasSuffix(",") {
            fields.removeFirst()
        }
        guard fields.count == 5,
            let day = Self.number(fields[0], maxDigits: 2),
            let month = Self.monthNumber(fields[1]),
            fields[2].utf8.count == 4, let year = Self.number(fields[2], maxDigits: 4)
        else { return nil }
        let time = fields[3].split(separator: ":", omittingEmptySubsequences: false)
        guard time.count == 3, time.allSatisfy({ $0.utf8.count == 2 }),
            let hour = Self.number(time[0], maxDigits: 2),
            let minute = Self.number(time[1], maxDigits: 2),
            let second = Self.number(time[2], maxDigits: 2),
            let offset = Self.zoneOffset(fields[4])
        else { return nil }
        self.init(year: year, month: month, day: day, hour: hour, minute: minute, second: second, offsetSeconds: offset)
    }

    /// Either form: what SigV2's `x-amz-date` and SigV4's `Date` fallback may contain.
    public init?(httpOrAmzDate text: some StringProtocol) {
        if let date = AmzDate(iso8601Basic: text) {
            self = date
        } else if let date = AmzDate(rfc1123: text) {
            self = date
        } else {
            return nil
        }
    }

    private init?(year: Int, month: Int, day: Int, hour: Int, minute: Int, second: Int, offsetSeconds: Int) {
        guard (1...12).contains(month), day >= 1, day <= Self.daysIn(month: month, year: year),
            (0...23).contains(hour), (0...59).contains(minute), (0...59).contains(second)
        else { return nil }
        let days = Self.daysFromCivil(year: year, month: month, day: day)
        let instant = days * 86_400 + Int64(hour * 3600 + minute * 60 + second) - Int64(offsetSeconds)
        // A zone offset can move a date in year 0000 or 9999 into a year that has no four-digit form
        // (`Sat, 01 Jan 0000 00:00:00 +0100` is in year -1): refuse it here rather than format it later.
        guard Self.fourDigitYears.contains(instant) else { return nil }
        secondsSinceEpoch = instant
    }

    /// 0000-01-01T00:00:00Z through 9999-12-31T23:59:59Z: the instants every form here can write.
    private static let fourDigitYears: ClosedRange<Int64> =
        daysFromCivil(year: 0, month: 1, day: 1) * 86_400...daysFromCivil(year: 9999, month: 12, day: 31) * 86_400 + 86_399

    // MARK: Formatting

    /// `20130524T000000Z`, the `x-amz-date` form and the second line of a SigV4 string to sign.
    /// (Written straight into the string's storage: this runs several times per signed request.)
    public var amzDate: String {
        let p = parts
        return String(unsafeUninitializedCapacity: 16) { out in
            var i = 0
            Self.write(p.year, width: 4, to: out, at: &i)
            Self.write(p.month, width: 2, to: out, at: &i)
            Self.write(p.day, width: 2, to: out, at: &i)
            out[i] = UInt8(ascii: "T")
            i += 1
            Self.write(p.hour, width: 2, to: out, at: &i)
            Self.write(p.minute, width: 2, to: out, at: &i)
            Self.write(p.second, width: 2, to: out, at: &i)
            out[i] = UInt8(ascii: "Z")
            return i + 1
        }
    }

    /// `20130524`, the date of a SigV4 credential scope.
    public var dateStamp: String {
        let p = parts
        return String(unsafeUninitializedCapacity: 8) { out in
            var i = 0
            Self.write(p.year, width: 4, to: out, at: &i)
            Self.write(p.month, width: 2, to: out, at: &i)
            Self.write(p.day, width: 2, to: out, at: &i)
            return i
        }
    }

    /// `value` as exactly `width` decimal digits (the years here are 0000–9999).
    private static func write(_ value: Int, width: Int, to out: UnsafeMutableBufferPointer<UInt8>, at index: inout Int) {
        var rest = max(0, value)
        for position in stride(from: index + width - 1, through: index, by: -1) {
            out[position] = UInt8(ascii: "0") + UInt8(rest % 10)
            rest /= 10
        }
        index += width
    }

    /// `Fri, 24 May 2013 00:00:00 GMT`.
    public var rfc1123: String {
        let p = parts
        let weekday = Self.weekdayNames[Int((Self.floorDiv(secondsSinceEpoch, 86_400) % 7 + 11) % 7)]
        var out: [UInt8] = Array(weekday.utf8)
        out.append(contentsOf: ", ".utf8)
        Self.append(p.day, width: 2, to: &out)
        out.append(UInt8(ascii: " "))
        out.append(contentsOf: Self.monthNames[p.month - 1].utf8)
        out.append(UInt8(ascii: " "))
        Self.append(p.year, width: 4, to: &out)
        out.append(UInt8(ascii: " "))
        Self.append(p.hour, width: 2, to: &out)
        out.append(UInt8(ascii: ":"))
        Self.append(p.minute, width: 2, to: &out)
        out.append(UInt8(ascii: ":"))
        Self.append(p.second, width: 2, to: &out)
        out.append(contentsOf: " GMT".utf8)
        return String(decoding: out, as: UTF8.self)
    }

    // MARK: Calendar arithmetic (proleptic Gregorian, H. Hinnant's days-from-civil algorithms)

    private var parts: (year: Int, month: Int, day: Int, hour: Int, minute: Int, second: Int) {
        let days = Self.floorDiv(secondsSinceEpoch, 86_400)
        let secondOfDay = Int(secondsSinceEpoch - days * 86_400)
        let (y, m, d) = Self.civilFromDays(days)
        return (y, m, d, secondOfDay / 3600, secondOfDay / 60 % 60, secondOfDay % 60)
    }

    private static func floorDiv(_ a: Int64, _ b: Int64) -> Int64 {
        let q = a / b
        return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q
    }

    private static func daysFromCivil(year: Int, month: Int, day: Int) -> Int64 {
        let y = Int64(month <= 2 ? year - 1 : year)
        let era = (y >= 0 ? y : y - 399) / 400
        let yoe = y - era * 400
        let mp = Int64((month + 9) % 12)
        let doy = (153 * mp + 2) / 5 + Int64(day) - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        return era * 146_097 + doe - 719_468
    }

    /// (year, month, day) of a day count since 1970-01-01: H. Hinnant's civil-from-days (proleptic
    /// Gregorian). Shared with the access log's timestamps.
    package static func civilFromDays(_ days: Int64) -> (Int, Int, Int) {
        let z = days + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let doe = z - era * 146_097
        let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let d = doy - (153 * mp + 2) / 5 + 1
        let m = mp < 10 ? mp + 3 : mp - 9
        let y = yoe + era * 400 + (m <= 2 ? 1 : 0)
        return (Int(y), Int(m), Int(d))
    }

    private static func daysIn(month: Int, year: Int) -> Int {
        switch month {
        case 2: return (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 ? 29 : 28
        case 4, 6, 9, 11: return 30
        default: return 31
        }
    }

    private static let monthNames = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
    private static let weekdayNames = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"]

    private static func monthNumber(_ name: Substring) -> Int? {
        for (index, candidate) in monthNames.enumerated() where candidate.utf8.elementsEqual(name.utf8) {
            return index + 1
        }
        return nil
    }

    private static func zoneOffset(_ zone: Substring) -> Int? {
        switch zone {
        case "GMT", "UT", "UTC", "Z": return 0
        default:
            let b = Array(zone.utf8)
            guard b.count == 5, b[0] == UInt8(ascii: "+") || b[0] == UInt8(ascii: "-"),
                let hours = digits(b, 1, 2), let minutes = digits(b, 3, 2), minutes < 60
            else { return nil }
            let offset = hours * 3600 + minutes * 60
            return b[0] == UInt8(ascii: "-") ? -offset : offset
        }
    }

    private static func digits<Bytes: RandomAccessCollection<UInt8>>(_ b: Bytes, _ start: Int, _ count: Int) -> Int?
    where Bytes.Index == Int {
        var value = 0
        for c in b[start..<start + count] {
            guard c >= UInt8(ascii: "0"), c <= UInt8(ascii: "9") else { return nil }
            value = value * 10 + Int(c - UInt8(ascii: "0"))
        }
        return value
    }

    private static func number(_ s: Substring, maxDigits: Int) -> Int? {
        let b = Array(s.utf8)
        guard !b.isEmpty, b.count <= maxDigits else { return nil }
        return digits(b, 0, b.count)
    }

    /// `value` as exactly `width` decimal digits (zero-padded; higher digits cut), without allocating.
    /// Shared with the access log's timestamps.
    package static func append(_ value: Int, width: Int, to out: inout [UInt8]) {
        var divisor = 1
        for _ in 1..<width { divisor *= 10 }
        var rest = max(0, value)
        while divisor > 0 {
            out.append(UInt8(ascii: "0") + UInt8(rest / divisor % 10))
            rest %= divisor
            divisor /= 10
        }
    }
}
