import NIOHTTP1
import S3Signing
import Testing

@testable import OSPCore

/// Requests the HTTP parser rejects get an S3 error code, not NIO's bare 400. (The whole answer —
/// XML body, request id, `Connection: close`, nothing forwarded — is checked end to end by
/// integration/test_refusals.py and test_hostile_http.py.)
@Suite("Malformed HTTP")
struct MalformedRequestTests {
    @Test("Content-Length together with Transfer-Encoding (a smuggling attempt) is an S3 InvalidRequest")
    func smuggling() {
        let error = S3Error(malformedRequest: .unexpectedContentLength)
        #expect(error.code == .invalidRequest)
        #expect(error.code.httpStatus == 400)
    }

    @Test("oversize or too many headers is RequestHeaderSectionTooLarge")
    func tooManyHeaders() {
        #expect(S3Error(malformedRequest: .headerOverflow).code == .requestHeaderSectionTooLarge)
    }

    @Test("bad chunk sizes and garbage request lines are InvalidRequest")
    func garbage() {
        #expect(S3Error(malformedRequest: .invalidChunkSize).code == .invalidRequest)
        #expect(S3Error(malformedRequest: .invalidMethod).code == .invalidRequest)
    }
}
