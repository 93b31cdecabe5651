import NIOHTTP1
import Testing

@testable import S3Signing

@Suite("Verifying requests")
struct RequestVerifierTests {
    let cache = SigningKeyCache()
    let secret = "verifier-test-secret/+="
    let date = AmzDate(iso8601Basic: "20261129T220216Z")!
    var verifier: RequestVerifier { RequestVerifier(keyCache: cache) }
    var signer: SigV4Signer {
        SigV4Signer(accessKey: "OSPKEY", secretKey: secret, region: "us-east-1", keyCache: cache)
    }

    /// A request signed by `SigV4Signer`, as a client would send it.
    func signedRequest(
        method: String = "GET", path: String = "/bucket/key", query: String = "", extraHeaders: [(String, String)] = [],
        payloadHash: String = AWSExample.emptySHA256, at date: AmzDate? = nil
    ) -> IncomingRequest {
        var headers = makeHeaders([("Host", "osp.example.com")] + extraHeaders)
        signer.signHeaders(method: method, rawPath: path, rawQuery: query, headers: &headers, payloadHash: payloadHash, date: date ?? self.date)
        return IncomingRequest(method: method, rawPath: path, rawQuery: query, headers: headers)
    }

    func verify(_ request: IncomingRequest, now: AmzDate? = nil, secret: String? = nil) throws -> VerifiedRequest {
        let auth = try ClientAuthentication.parse(headers: request.headers, rawQuery: request.rawQuery)
        return try verifier.verify(auth, request: request, secretKey: secret ?? self.secret, now: now ?? date)
    }

    @Test(
        "what SigV4Signer signs, RequestVerifier accepts — for awkward keys and queries too",
        arguments: [
            ("/bucket/key", ""),
            ("/bucket/a%2Bb%20c%40%28%29%3D%26%3A%2C%3B%24%21%2A%27", ""),
            ("/bucket/%C3%BC/%E6%97%A5%E6%9C%AC", "prefix=%C3%BC"),
            ("/bucket/raw+(parens)", "delimiter=%2F&prefix=a%20b"),
            ("/bucket//double/./dots/../", "list-type=2&prefix=a+b&prefix=z"),
            ("/bucket/dir/", "uploads"),
        ])
    func roundTrip(path: String, query: String) throws {
        let request = signedRequest(path: path, query: query, extraHeaders: [("x-amz-meta-a", "  one   two "), ("X-Amz-Meta-a", "three"), ("User-Agent", "test")])
        let verified = try verify(request)
        #expect(verified.accessKey == "OSPKEY")
        #expect(verified.version == .v4)
        #expect(!verified.isPresigned)
    }

    /// integration/fuzz/regressions/sigv4-header/date-offset-before-year-0: a `Date` header (no
    /// x-amz-date) that its zone offset puts before year 0 made formatting the date stamp trap, before
    /// authentication (later formatted as a wrong date instead). It is not a valid date.
    @Test("a Date header before year 0 is refused as an invalid date, not a crash")
    func dateBeforeYearZero() {
        var headers = makeHeaders([
            ("Host", "osp.example.com"), ("Date", "Sat, 01 Jan 0000 00:00:00 +0100"),
            ("x-amz-content-sha256", "UNSIGNED-PAYLOAD"),
        ])
        headers.add(
            name: "Authorization",
            value: "AWS4-HMAC-SHA256 Credential=OSPKEY/00000101/us-east-1/s3/aws4_request, SignedHeaders=date;host;x-amz-content-sha256, Signature=\(String(repeating: "0", count: 64))")
        let request = IncomingRequest(method: "GET", rawPath: "/bucket/key", rawQuery: "", headers: headers)
        expectS3Error(.accessDenied) { try verify(request) }
    }

    @Test("the signer signs host, content-type and x-amz-*, never user-agent, content-length or hop-by-hop headers")
    func signedHeaderSelection() throws {
        let request = signedRequest(
            method: "PUT",
            extraHeaders: [
                ("Content-Type", "text/plain"), ("Content-Length", "5"), ("User-Agent", "ua"), ("Connection", "keep-alive"),
                ("Expect", "100-continue"), ("X-Amz-Storage-Class", "STANDARD"), ("Transfer-Encoding", "chunked"),
            ])
        let auth = try ClientAuthentication.parse(headers: request.headers, rawQuery: "")
        guard case .sigV4Header(let header) = auth else {
            Issue.record("expected a SigV4 header")
            return
        }
        #expect(header.signedHeaders == ["content-type", "host", "x-amz-content-sha256", "x-amz-date", "x-amz-storage-class"])
        // Those unsigned headers may change in transit without breaking the signature.
        var changed = request
        changed.headers.replaceOrAdd(name: "User-Agent", value: "proxy")
        changed.headers.remove(name: "Connection")
        _ = try verify(changed)
    }

    @Test("a request whose path, query, signed header or method changed no longer verifies")
    func tampering() {
        let request = signedRequest(path: "/bucket/key", query: "prefix=a", extraHeaders: [("x-amz-meta-a", "1")])
        var path = request
        path.rawPath = "/bucket/kez"
        var query = request
        query.rawQuery = "prefix=b"
        var header = request
        header.headers.replaceOrAdd(name: "x-amz-meta-a", value: "2")
        var method = request
        method.method = "DELETE"
        for tampered in [path, query, header, method] {
            let error = expectS3Error(.signatureDoesNotMatch) { try verify(tampered) }
            #expect(error?.message == "The request signature we calculated does not match the signature you provided. Check your key and signing method.")
        }
        expectS3Error(.signatureDoesNotMatch) { try verify(request, secret: "another secret") }
    }

    @Test("a signed header the request no longer carries fails the signature")
    func missingSignedHeader() {
        var request = signedRequest(extraHeaders: [("x-amz-meta-a", "1")])
        request.headers.remove(name: "x-amz-meta-a")
        expectS3Error(.signatureDoesNotMatch) { try verify(request) }
    }

    @Test(
        "an x-amz-* header added after signing is AccessDenied naming it, as AWS refuses (HeadersNotSigned); other headers may be unsigned",
        arguments: ["x-amz-acl", "X-Amz-Copy-Source", "x-amz-tagging", "x-amz-meta-owner"])
    func amzHeaderAddedAfterSigning(_ name: String) throws {
        var request = signedRequest(method: "PUT", extraHeaders: [("x-amz-meta-signed", "1")])
        _ = try verify(request)
        request.headers.add(name: "User-Agent", value: "added later")
        _ = try verify(request)
        request.headers.add(name: name, value: "added later")
        let error = expectS3Error(.accessDenied) { try verify(request) }
        #expect(error?.message == "There were headers present in the request which were not signed: \(name.lowercased())")
    }

    @Test("a presigned URL carries no x-amz-* header it was not signed with: whoever holds it cannot add a copy source or an ACL")
    func presignedWithAddedAmzHeader() throws {
        var request = presigned()
        _ = try verify(request)
        request.headers.add(name: "x-amz-copy-source", value: "/bucket/secret")
        expectS3Error(.accessDenied) { try verify(request) }
    }

    @Test("more than 15 minutes between the request's date and now is RequestTimeTooSkewed, either way")
    func skew() throws {
        let request = signedRequest()
        _ = try verify(request, now: AmzDate(secondsSinceEpoch: date.secondsSinceEpoch + 900))
        _ = try verify(request, now: AmzDate(secondsSinceEpoch: date.secondsSinceEpoch - 900))
        expectS3Error(.requestTimeTooSkewed) { try verify(request, now: AmzDate(secondsSinceEpoch: date.secondsSinceEpoch + 901)) }
        expectS3Error(.requestTimeTooSkewed) { try verify(request, now: AmzDate(secondsSinceEpoch: date.secondsSinceEpoch - 901)) }
    }

    @Test("S3 SigV4 header auth requires x-amz-content-sha256, and requires it signed")
    func contentSHA256Required() {
        var request = signedRequest()
        request.headers.remove(name: "x-amz-content-sha256")
        let error = expectS3Error(.invalidRequest) { try verify(request) }
        #expect(error?.message == "Missing required header for this request: x-amz-content-sha256")

        var unsigned = signedRequest()
        let authorization = unsigned.headers.first(name: "authorization")!
        unsigned.headers.replaceOrAdd(name: "Authorization", value: authorization.replacingOccurrences(";x-amz-content-sha256", with: ""))
        expectS3Error(.accessDenied) { try verify(unsigned) }
    }

    @Test("a credential scope dated another day than x-amz-date is refused")
    func scopeDateMismatch() {
        var request = signedRequest()
        request.headers.replaceOrAdd(name: "x-amz-date", value: "20261128T235959Z")
        expectS3Error(.authorizationHeaderMalformed) { try verify(request, now: AmzDate(iso8601Basic: "20261128T235959Z")) }
    }

    @Test("an unparseable x-amz-date is AccessDenied")
    func badDate() {
        var request = signedRequest()
        request.headers.replaceOrAdd(name: "x-amz-date", value: "yesterday")
        expectS3Error(.accessDenied) { try verify(request) }
    }

    @Test("anonymous requests are refused")
    func anonymous() {
        let error = expectS3Error(.accessDenied) {
            try verifier.verify(.anonymous, request: IncomingRequest(method: "GET", target: "/", headers: HTTPHeaders()), secretKey: "", now: date)
        }
        #expect(error?.message == "Anonymous access is not allowed")
    }

    @Test("a streaming signed upload yields the client's chunk context seeded with the request signature")
    func streamingContext() throws {
        let request = signedRequest(method: "PUT", extraHeaders: [("x-amz-decoded-content-length", "10")], payloadHash: "STREAMING-AWS4-HMAC-SHA256-PAYLOAD")
        let verified = try verify(request)
        #expect(verified.payloadMode == .streamingSigned)
        let context = try #require(verified.chunkSigning)
        let authorization = request.headers.first(name: "authorization")!
        #expect(authorization.hasSuffix("Signature=\(context.seedSignature)"))
        #expect(context.amzDate == date.amzDate)
        #expect(context.scope == "20261129/us-east-1/s3/aws4_request")
    }

    // MARK: Presigned

    func presigned(expires: Int64 = 3600, at date: AmzDate? = nil, query: String = "") -> IncomingRequest {
        let q = signer.presignedQuery(method: "GET", rawPath: "/bucket/a%20b", rawQuery: query, host: "osp.example.com", date: date ?? self.date, expires: expires)
        return IncomingRequest(method: "GET", rawPath: "/bucket/a%20b", rawQuery: q, headers: makeHeaders([("Host", "osp.example.com")]))
    }

    @Test("a presigned URL verifies until it expires, then is AccessDenied 'Request has expired'")
    func presignedExpiry() throws {
        let request = presigned(expires: 3600, query: "response-content-type=text%2Fplain")
        let verified = try verify(request, now: AmzDate(secondsSinceEpoch: date.secondsSinceEpoch + 3600))
        #expect(verified.isPresigned)
        #expect(verified.payloadMode == .unsigned)
        let error = expectS3Error(.accessDenied) { try verify(request, now: AmzDate(secondsSinceEpoch: date.secondsSinceEpoch + 3601)) }
        #expect(error?.message == "Request has expired")
    }

    @Test("a presigned URL dated more than 15 minutes ahead is 'Request is not valid yet'")
    func presignedNotYetValid() throws {
        let request = presigned()
        _ = try verify(request, now: AmzDate(secondsSinceEpoch: date.secondsSinceEpoch - 900))
        let error = expectS3Error(.accessDenied) { try verify(request, now: AmzDate(secondsSinceEpoch: date.secondsSinceEpoch - 901)) }
        #expect(error?.message == "Request is not valid yet")
    }

    @Test("a presigned URL with a changed parameter or host fails")
    func presignedTampering() {
        var request = presigned(query: "versionId=1")
        request.rawQuery = request.rawQuery.replacingOccurrences("versionId=1", with: "versionId=2")
        expectS3Error(.signatureDoesNotMatch) { try verify(request) }
        var host = presigned()
        host.headers.replaceOrAdd(name: "Host", value: "evil.example.com")
        expectS3Error(.signatureDoesNotMatch) { try verify(host) }
    }

    @Test("a verifier configured for shorter presigned URLs refuses longer ones")
    func presignedLimit() {
        let strict = RequestVerifier(keyCache: cache, maxPresignExpirySeconds: 3600)
        let request = presigned(expires: 7200)
        expectS3Error(.authorizationQueryParametersError) {
            try strict.verify(try ClientAuthentication.parse(headers: request.headers, rawQuery: request.rawQuery), request: request, secretKey: secret, now: date)
        }
    }

    // MARK: SigV2

    func sigV2Request(method: String = "GET", target: String, headers: [(String, String)], stringToSign: String) -> IncomingRequest {
        let signature = SigV2.signature(secret: secret, stringToSign: stringToSign)
        return IncomingRequest(method: method, target: target, headers: makeHeaders(headers + [("Authorization", "AWS OSPKEY:\(signature)")]))
    }

    @Test("SigV2 signs sub-resources (sorted, values decoded) but not other query parameters")
    func sigV2SubResources() throws {
        let request = sigV2Request(
            target: "/bucket/key?versionId=a%2Fb&prefix=x&acl",
            headers: [("Date", date.rfc1123), ("x-amz-meta-b", " 2 "), ("X-Amz-Meta-A", "1"), ("x-amz-meta-b", "3")],
            stringToSign: "GET\n\n\n\(date.rfc1123)\nx-amz-meta-a:1\nx-amz-meta-b:2,3\n/bucket/key?acl&versionId=a/b")
        let verified = try verify(request)
        #expect(verified.version == .v2)
        #expect(verified.payloadMode == .unsigned)
    }

    @Test("with x-amz-date, SigV2's Date line is empty")
    func sigV2AmzDate() throws {
        let request = sigV2Request(
            method: "PUT", target: "/bucket/key",
            headers: [("x-amz-date", date.rfc1123), ("Content-Type", "text/plain"), ("Content-MD5", "1B2M2Y8AsgTpgAmY7PhCfg==")],
            stringToSign: "PUT\n1B2M2Y8AsgTpgAmY7PhCfg==\ntext/plain\n\nx-amz-date:\(date.rfc1123)\n/bucket/key")
        _ = try verify(request)
    }

    @Test("SigV2 header requests are held to the same 15-minute skew")
    func sigV2Skew() {
        let request = sigV2Request(target: "/bucket/key", headers: [("Date", date.rfc1123)], stringToSign: "GET\n\n\n\(date.rfc1123)\n/bucket/key")
        expectS3Error(.requestTimeTooSkewed) { try verify(request, now: AmzDate(secondsSinceEpoch: date.secondsSinceEpoch + 901)) }
    }

    @Test("SigV2 cannot carry signed aws-chunked bodies")
    func sigV2Streaming() {
        let request = sigV2Request(
            method: "PUT", target: "/bucket/key",
            headers: [("Date", date.rfc1123), ("x-amz-content-sha256", "STREAMING-AWS4-HMAC-SHA256-PAYLOAD")],
            stringToSign: "PUT\n\n\n\(date.rfc1123)\nx-amz-content-sha256:STREAMING-AWS4-HMAC-SHA256-PAYLOAD\n/bucket/key")
        expectS3Error(.invalidRequest) { try verify(request) }
    }
}

extension String {
    func replacingOccurrences(_ target: String, with replacement: String) -> String {
        split(separator: target, omittingEmptySubsequences: false).joined(separator: replacement)
    }
}
