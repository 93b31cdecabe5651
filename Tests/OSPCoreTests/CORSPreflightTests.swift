import NIOHTTP1
import S3Signing
import Testing

@testable import OSPCore

private let browserPreflight: [(String, String)] = [
    ("Host", "127.0.0.1:6190"),
    ("Origin", "https://app.example.com"),
    ("Access-Control-Request-Method", "PUT"),
    ("Access-Control-Request-Headers", "content-type, x-amz-meta-a"),
    ("User-Agent", "Mozilla/5.0"),
    ("Cookie", "session=1"),
]

private func classify(
    _ headers: [(String, String)] = browserPreflight,
    method: HTTPMethod = .OPTIONS,
    bucket: String? = "photos",
    rawQuery: String = "",
    handling: CORSPreflightHandling = .forward
) -> CORSPreflight {
    let head = HTTPRequestHead(version: .http1_1, method: method, uri: "/photos/a.jpg", headers: HTTPHeaders(headers))
    let operation: S3Operation = method == .OPTIONS ? .preflightRequest : .unknown
    return CORSPreflight(operation: operation, bucket: bucket, head: head, rawQuery: rawQuery, handling: handling)
}

private func refusal(_ preflight: CORSPreflight) -> S3ErrorCode? {
    if case .refused(let error) = preflight { return error.code }
    return nil
}

@Suite("CORS preflights")
struct CORSPreflightTests {
    @Test("a browser's preflight is forwarded with its Origin and Access-Control-Request-* headers only")
    func forwardedHeaders() throws {
        guard case .preflight(let headers) = classify() else {
            Issue.record("not classified as a forwardable preflight")
            return
        }
        #expect(headers["origin"] == ["https://app.example.com"])
        #expect(headers["access-control-request-method"] == ["PUT"])
        #expect(headers["access-control-request-headers"] == ["content-type, x-amz-meta-a"])
        #expect(headers["content-length"] == ["0"])
        #expect(!headers.contains(name: "cookie") && !headers.contains(name: "user-agent") && !headers.contains(name: "host"))
    }

    @Test("refused by osp unless `cors_preflight: forward`")
    func refusedByDefault() {
        #expect(refusal(classify(handling: .refuse)) == .accessForbidden)
        #expect(CORSPreflight.notEnabled.code.httpStatus == 403)
    }

    @Test("an OPTIONS request with credentials is authenticated, not a preflight", arguments: [
        (headers: [("Authorization", "AWS4-HMAC-SHA256 Credential=AK/20260101/us-east-1/s3/aws4_request, SignedHeaders=host, Signature=00")], query: ""),
        (headers: [("Authorization", "garbage")], query: ""),
        (headers: [], query: "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AK%2F20260101%2Fus-east-1%2Fs3%2Faws4_request"),
        (headers: [], query: "AWSAccessKeyId=AK&Signature=abc&Expires=1"),
    ])
    func credentialsMeanAuthentication(extra: (headers: [(String, String)], query: String)) {
        #expect(classify(browserPreflight + extra.headers, rawQuery: extra.query) == .notPreflight)
        #expect(classify(browserPreflight + extra.headers, rawQuery: extra.query, handling: .refuse) == .notPreflight)
    }

    @Test("other methods are never preflights")
    func otherMethods() {
        #expect(classify(method: .GET) == .notPreflight)
        #expect(classify(method: .PUT) == .notPreflight)
    }

    @Test("what a browser would not send is refused before the backend hears of it")
    func malformed() {
        let without = { (name: String) in browserPreflight.filter { $0.0 != name } }
        #expect(refusal(classify(without("Origin"))) == .badRequest)
        #expect(refusal(classify(without("Origin") + [("Origin", "")])) == .badRequest)
        #expect(refusal(classify(browserPreflight + [("Origin", "https://other.example")])) == .badRequest)
        #expect(refusal(classify(without("Access-Control-Request-Method"))) == .badRequest)
        #expect(refusal(classify(browserPreflight + [("Content-Length", "5")])) == .invalidRequest)
        #expect(refusal(classify(browserPreflight + [("Transfer-Encoding", "chunked")])) == .invalidRequest)
        #expect(refusal(classify(bucket: nil)) == .badRequest)
        // An explicit empty body is still no body.
        guard case .preflight = classify(browserPreflight + [("Content-Length", "0")]) else {
            Issue.record("Content-Length: 0 refused")
            return
        }
    }
}
