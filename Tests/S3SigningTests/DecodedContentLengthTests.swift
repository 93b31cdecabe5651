import Testing

@testable import S3Signing

@Suite("DecodedContentLength")
struct DecodedContentLengthTests {
    @Test("a plain decimal length not above Content-Length is accepted")
    func accepted() throws {
        #expect(try DecodedContentLength.parse(makeHeaders([("x-amz-decoded-content-length", "20000"), ("Content-Length", "20250")])) == 20000)
        #expect(try DecodedContentLength.parse(makeHeaders([("x-amz-decoded-content-length", "0"), ("Content-Length", "86")])) == 0)
        // Transfer-Encoding: chunked carries no Content-Length to compare with.
        #expect(try DecodedContentLength.parse(makeHeaders([("x-amz-decoded-content-length", "9223372036854775807")])) == Int64.max)
    }

    @Test("a missing length is MissingContentLength")
    func missing() {
        expectS3Error(.missingContentLength) { try DecodedContentLength.parse(makeHeaders([("Content-Length", "86")])) }
    }

    @Test(
        "anything but one non-negative Int64 of plain digits is InvalidArgument",
        arguments: ["", "-5", "+5", " 5", "5 ", "abc", "0x10", "2e4", "5,5", "9223372036854775808", "99999999999999999999"])
    func malformed(value: String) {
        expectS3Error(.invalidArgument) {
            try DecodedContentLength.parse(makeHeaders([("x-amz-decoded-content-length", value), ("Content-Length", "100")]))
        }
    }

    @Test("two headers, or more object bytes than the whole body has, are InvalidArgument")
    func inconsistent() {
        expectS3Error(.invalidArgument) {
            try DecodedContentLength.parse(makeHeaders([
                ("x-amz-decoded-content-length", "5"), ("x-amz-decoded-content-length", "5"), ("Content-Length", "100"),
            ]))
        }
        expectS3Error(.invalidArgument) {
            try DecodedContentLength.parse(makeHeaders([("x-amz-decoded-content-length", "101"), ("Content-Length", "100")]))
        }
    }
}
