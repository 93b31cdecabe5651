import Testing

@testable import S3Signing

@Suite("AmzDate")
struct AmzDateTests {
    @Test("x-amz-date and RFC 1123 forms parse to the same instant and format back")
    func roundTrip() throws {
        let iso = try #require(AmzDate(iso8601Basic: "20261129T220216Z"))
        let http = try #require(AmzDate(rfc1123: "Sun, 29 Nov 2026 22:02:16 GMT"))
        #expect(iso == http)
        #expect(iso.secondsSinceEpoch == 1_795_989_736)
        #expect(iso.amzDate == "20261129T220216Z")
        #expect(iso.dateStamp == "20261129")
        #expect(iso.rfc1123 == "Sun, 29 Nov 2026 22:02:16 GMT")
    }

    @Test("well-known instants: the epoch, a leap day, the AWS example date")
    func knownInstants() throws {
        #expect(AmzDate(secondsSinceEpoch: 0).amzDate == "19700101T000000Z")
        #expect(AmzDate(secondsSinceEpoch: 0).rfc1123 == "Thu, 01 Jan 1970 00:00:00 GMT")
        #expect(AmzDate(iso8601Basic: "20240229T235959Z")?.secondsSinceEpoch == 1_709_251_199)
        #expect(AmzDate(iso8601Basic: "20130524T000000Z")?.rfc1123 == "Fri, 24 May 2013 00:00:00 GMT")
        #expect(AmzDate(secondsSinceEpoch: 1_175_139_620).rfc1123 == "Thu, 29 Mar 2007 03:40:20 GMT")
    }

    @Test("numeric zones are applied; the weekday is optional")
    func zones() {
        let utc = AmzDate(rfc1123: "Tue, 27 Mar 2007 19:36:42 +0000")
        #expect(utc?.amzDate == "20070327T193642Z")
        #expect(AmzDate(rfc1123: "Tue, 27 Mar 2007 21:36:42 +0200") == utc)
        #expect(AmzDate(rfc1123: "27 Mar 2007 19:36:42 GMT") == utc)
        #expect(AmzDate(httpOrAmzDate: "20070327T193642Z") == utc)
    }

    @Test(
        "malformed dates are refused",
        arguments: [
            "2013-05-24T00:00:00Z", "20130524T000000", "20130524T240000Z", "20130230T000000Z", "20131324T000000Z",
            "2013052T000000Z", "20130524T0000000Z", "20130524X000000Z", "",
        ])
    func malformedISO(text: String) {
        #expect(AmzDate(iso8601Basic: text) == nil)
    }

    @Test(
        "malformed HTTP dates are refused",
        arguments: ["Fri, 24 Mey 2013 00:00:00 GMT", "Fri, 24 May 13 00:00:00 GMT", "Fri, 24 May 2013 0:00:00 GMT", "Fri, 24 May 2013 00:00:00 PST", "yesterday"])
    func malformedHTTP(text: String) {
        #expect(AmzDate(rfc1123: text) == nil)
    }

    /// integration/fuzz/regressions/sigv4-header/date-offset-before-year-0: a numeric zone moved
    /// `0000-01-01` into year -1, which no S3 date form can write (formatting it trapped, later wrote
    /// another date).
    @Test(
        "a zone offset that moves a date out of the years 0000–9999 is refused",
        arguments: ["Sat, 01 Jan 0000 00:00:00 +0100", "01 Jan 0000 00:59:59 +0100", "Fri, 31 Dec 9999 23:59:59 -0001"])
    func offsetOutOfRange(text: String) {
        #expect(AmzDate(rfc1123: text) == nil)
    }

    @Test("the first and last instants of the four-digit years parse, format and read back")
    func fourDigitYearEdges() {
        let first = AmzDate(rfc1123: "01 Jan 0000 01:00:00 +0100")
        #expect(first?.amzDate == "00000101T000000Z")
        #expect(first.flatMap { AmzDate(rfc1123: $0.rfc1123) } == first)
        let last = AmzDate(rfc1123: "Fri, 31 Dec 9999 22:59:59 -0100")
        #expect(last?.amzDate == "99991231T235959Z")
        #expect(last.flatMap { AmzDate(iso8601Basic: $0.amzDate) } == last)
    }

    @Test("now() reads the system clock")
    func now() {
        #expect(AmzDate.now().secondsSinceEpoch > 1_700_000_000)
    }
}
